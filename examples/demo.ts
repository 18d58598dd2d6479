/**
 * `npm start`: a local cluster of three real `dialog-profiles serve` daemons on 127.0.0.1,
 * driven over their HTTP API the way SIP proxies drive their sidecars: each INVITE is an
 * `POST /v1/acquire` (per-caller limit, then the total limit) on a random live daemon, each BYE
 * a `POST /v1/dialogs/{id}/end`. Every second it prints the cluster-wide total each daemon
 * answers and who owns the calls; halfway one daemon is killed (SIGKILL, no goodbye) and its
 * calls leave the others' counts once its liveness timeout and grace have passed. Stops every
 * daemon it started at the end or on Ctrl-C.
 *
 *   npm start -- --seconds 20 --rate 60 --limit 40
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { Agent, request } from 'node:http'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Command, InvalidArgumentError } from 'commander'
import { seededRandom } from '../src/testing/index.js'

/** A whole number in [min, max], or a usage error (exit status 2) naming the flag. */
const intIn = (flag: string, min: number, max: number) => (raw: string): number => {
  const n = Number(raw)
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new InvalidArgumentError(`${flag} takes a whole number from ${min} to ${max} (got '${raw}')`)
  }
  return n
}
const opts = new Command('npm start --')
  .description('A local 3-daemon dialog-profiles cluster on 127.0.0.1 with simulated calls over HTTP; one daemon is killed halfway.')
  .option('--seconds <n>', 'how long the simulation runs (6-300)', intIn('--seconds', 6, 300), 16)
  .option('--rate <n>', 'new calls per second, cluster-wide (1-500)', intIn('--rate', 1, 500), 24)
  .option('--limit <n>', 'concurrent calls allowed in total (1-100000); each caller gets a quarter', intIn('--limit', 1, 100_000), 60)
  .option('--seed <n>', 'seed of the simulated traffic: the same seed makes the same random draws; timing still varies what is admitted (0-4294967295)', intIn('--seed', 0, 0xffffffff), 42)
  .exitOverride((err) => { process.exit(err.exitCode === 0 ? 0 : 2) })
  .parse(process.argv)
  .opts<{ seconds: number, rate: number, limit: number, seed: number }>()
const SECONDS = opts.seconds
const RATE = opts.rate // new calls per second, cluster-wide
const LIMIT = opts.limit // total concurrent calls allowed
const PER_CALLER = Math.max(1, Math.floor(LIMIT / 4))
const random = seededRandom(opts.seed)
const CALLERS = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank']
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const CLI = join(ROOT, 'src', 'cli', 'main.ts')
const LIVENESS = ['--heartbeat-interval', '250', '--liveness-timeout', '1000', '--grace', '500', '--purge-delay', '2000']

interface Daemon { readonly id: string; readonly child: ChildProcess; readonly http: string; readonly ws: string; killed: boolean }
const daemons: Daemon[] = []
const children = new Set<ChildProcess>()

const killAll = (signal: NodeJS.Signals): void => {
  for (const c of children) if (c.pid !== undefined && c.exitCode === null && c.signalCode === null) { try { process.kill(c.pid, signal) } catch { /* gone */ } }
}
process.on('exit', () => { killAll('SIGKILL') })
let interrupted = false
process.on('SIGINT', () => {
  if (interrupted) process.exit(130)
  interrupted = true
  console.log('\ninterrupted: stopping the daemons')
  void stopAll().then(() => process.exit(130))
})

/** Starts one daemon from source and waits for its "daemon started" log line (at most 30 s). */
const startDaemon = async (id: string, peers: readonly string[]): Promise<Daemon> => {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'serve', '--node-id', id, '--secret', 'demo-secret-not-for-production',
    '--listen', '127.0.0.1:0', '--http', '127.0.0.1:0', '--profile', 'total', '--profile', 'caller:value', '--readiness', 'wait',
    '--max-call-duration', '60', ...LIVENESS, ...peers.flatMap((p) => ['--peer', p])], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  children.add(child)
  child.once('exit', () => { children.delete(child) })
  let stderr = ''
  child.stderr?.on('data', (b: Buffer) => { stderr += b.toString() })
  return await new Promise<Daemon>((resolve, reject) => {
    let buf = ''
    const timer = setTimeout(() => { reject(new Error(`${id} did not start within 30 s: ${stderr}`)) }, 30_000)
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`${id} exited with ${String(code)}: ${stderr}`)) })
    child.stdout?.on('data', (b: Buffer) => {
      buf += b.toString()
      let i
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i); buf = buf.slice(i + 1)
        if (!line.includes('"event":"started"')) continue
        const l = JSON.parse(line) as { http: string, ws: string }
        clearTimeout(timer)
        resolve({ id, child, http: l.http, ws: l.ws, killed: false })
      }
    })
  })
}

const agent = new Agent({ keepAlive: true, maxSockets: 8 })
const call = async (method: string, url: string, body?: string): Promise<{ status: number, json: any }> => await new Promise((resolve, reject) => {
  const req = request(url, { method, agent, headers: body !== undefined ? { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) } : {} }, (res) => {
    let text = ''
    res.setEncoding('utf8')
    res.on('data', (s: string) => { text += s })
    res.on('end', () => { resolve({ status: res.statusCode ?? 0, json: text === '' ? undefined : JSON.parse(text) }) })
  })
  req.setTimeout(5000, () => { req.destroy(new Error(`${method} ${url} timed out`)) })
  req.on('error', reject)
  req.end(body)
})

const stopAll = async (): Promise<void> => {
  const waits = [...children].map(async (c) => await new Promise<void>((resolve) => { c.once('exit', () => { resolve() }) }))
  killAll('SIGTERM')
  const t = setTimeout(() => { killAll('SIGKILL') }, 5000)
  await Promise.all(waits)
  clearTimeout(t)
  agent.destroy()
}

interface Call { readonly id: string; readonly node: Daemon; readonly endsAt: number }
const calls: Call[] = []
let seq = 0; let admitted = 0; let refused = 0; let maxSeen = 0

/** One INVITE on a random live daemon: the caller's limit, then the total limit. */
const invite = async (now: number): Promise<void> => {
  const live = daemons.filter((d) => !d.killed)
  const node = live[Math.floor(random() * live.length)] as Daemon
  const caller = CALLERS[Math.floor(random() * CALLERS.length)] as string
  // drawn for every INVITE, admitted or not: the draws never depend on what was admitted
  const duration = 1000 + random() * 5000
  const id = `call-${++seq}@demo`
  const perCaller = await call('POST', `${node.http}/v1/acquire`, `dialog=${encodeURIComponent(id)}&profile=caller&value=${caller}&limit=${PER_CALLER}`)
  if (perCaller.status !== 200) { refused++; return }
  const total = await call('POST', `${node.http}/v1/acquire`, `dialog=${encodeURIComponent(id)}&profile=total&limit=${LIMIT}`)
  if (total.status !== 200) { await call('POST', `${node.http}/v1/dialogs/${encodeURIComponent(id)}/end`, 'reason=limit'); refused++; return }
  admitted++
  calls.push({ id, node, endsAt: now + duration })
}

const step = async (): Promise<void> => {
  const now = Date.now()
  // BYEs on the daemon that admitted the call (a killed daemon's proxy sends none)
  for (let i = calls.length - 1; i >= 0; i--) {
    const c = calls[i] as Call
    if (c.endsAt > now) continue
    calls.splice(i, 1)
    if (!c.node.killed) await call('POST', `${c.node.http}/v1/dialogs/${encodeURIComponent(c.id)}/end`, 'reason=bye')
  }
  const arrivals = Math.floor(RATE / 20) + (random() < (RATE / 20) % 1 ? 1 : 0)
  for (let i = 0; i < arrivals; i++) await invite(now)
}

let victimKilledAt: number | undefined
let victimGone = false

const report = async (): Promise<void> => {
  const cells: string[] = []
  for (const d of daemons) {
    if (d.killed) { cells.push(`${d.id}: (killed) `); continue }
    const s = (await call('GET', `${d.http}/v1/profiles/total/size`)).json.size as number
    maxSeen = Math.max(maxSeen, s)
    cells.push(`${d.id}: total=${String(s).padStart(3)}`)
  }
  const first = daemons.find((d) => !d.killed) as Daemon
  const members = (await call('GET', `${first.http}/v1/profiles/total/members`)).json.members as Array<{ node: string }>
  const owners = new Map<string, number>()
  for (const m of members) owners.set(m.node, (owners.get(m.node) ?? 0) + 1)
  const byOwner = daemons.map((d) => `${d.id.slice(-1)}=${owners.get(d.id) ?? 0}`).join(' ')
  console.log(`${new Date().toISOString().slice(11, 19)}  ${cells.join('  ')}  | at ${first.id} by owner: ${byOwner.padEnd(14)} | admitted ${admitted}, refused ${refused}`)
  const victim = daemons[2] as Daemon
  if (victimKilledAt !== undefined && !victimGone && (owners.get(victim.id) ?? 0) === 0) {
    victimGone = true
    console.log(`-- ${first.id} no longer counts any call of ${victim.id} (${Date.now() - victimKilledAt} ms after the kill): that capacity is free for the survivors' new calls`)
  }
}

const main = async (): Promise<number> => {
  console.log('starting 3 dialog-profiles daemons on 127.0.0.1 ...')
  daemons.push(await startDaemon('proxy-a', []))
  daemons.push(await startDaemon('proxy-b', [daemons[0]?.ws as string]))
  daemons.push(await startDaemon('proxy-c', daemons.map((d) => d.ws)))
  for (const d of daemons) {
    for (let i = 0; i < 100 && (await call('GET', `${d.http}/readyz`)).status !== 200; i++) await new Promise((resolve) => setTimeout(resolve, 100))
    console.log(`  ${d.id}: HTTP ${d.http}  cluster ${d.ws}  (pid ${String(d.child.pid)})`)
  }
  const a = daemons[0] as Daemon
  console.log(`try: curl -s ${a.http}/v1/profiles   |   curl -s ${a.http}/v1/profiles/caller/size?value=alice   |   curl -s ${a.http}/metrics`)
  console.log(`limit ${LIMIT} calls in total, ${PER_CALLER} per caller, ${RATE} new calls/s over HTTP for ${SECONDS} s; proxy-c is killed at ${SECONDS / 2} s\n`)
  const killAt = Date.now() + (SECONDS * 1000) / 2
  const endAt = Date.now() + SECONDS * 1000
  let lastReport = 0
  while (Date.now() < endAt && !interrupted) {
    await step()
    const victim = daemons[2] as Daemon
    if (!victim.killed && Date.now() >= killAt) {
      const held = calls.filter((c) => c.node === victim).length
      victim.killed = true
      victim.child.kill('SIGKILL')
      victimKilledAt = Date.now()
      console.log(`-- proxy-c killed (SIGKILL) with ${held} calls up: the others stop counting them after its liveness timeout + grace (1.5 s)`)
    }
    if (Date.now() - lastReport >= 1000) { await report(); lastReport = Date.now() }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  if (interrupted) return 130
  // every remaining call ends; the survivors must agree
  for (const c of calls.splice(0)) if (!c.node.killed) await call('POST', `${c.node.http}/v1/dialogs/${encodeURIComponent(c.id)}/end`, 'reason=bye')
  await new Promise((resolve) => setTimeout(resolve, 500))
  await report()
  const views = await Promise.all(daemons.filter((d) => !d.killed).map(async (d) => JSON.stringify((await call('GET', `${d.http}/v1/profiles`)).json)))
  const agree = views.every((v) => v === views[0])
  console.log(`done: ${admitted} admitted, ${refused} refused, highest total seen on a daemon ${maxSeen} (limit ${LIMIT}; eventual mode may overshoot by concurrent admissions); survivors agree: ${agree}`)
  return agree ? 0 : 1
}

main().then(async (code) => {
  await stopAll()
  process.exit(code)
}, async (err: unknown) => {
  console.error(err instanceof Error ? err.message : String(err))
  await stopAll()
  process.exit(1)
})
