/**
 * Two daemon builds side by side, for a change to the HTTP hot path:
 * `node --import tsx bench/daemon-ab.ts REF_A REF_B [--clients N] [--rounds N] [--env-a K=V,..] [--env-b K=V,..]`
 * (a REF is a git commit, or `.` for the working tree). Each is compiled as operators run it
 * (`git archive` of the commit, `tsc -p tsconfig.build.json`, `node bin/dialog-profiles.js
 * serve` in its own process, default settings plus its environment), and both are driven
 * alternately by the same raw client as the http-acquire scenario (bench/lib/raw-http.ts), in
 * rounds of 2,000 acquire+end calls each after 2 warm-up rounds: so both see the same machine
 * load, which on a shared machine moves absolute figures by tens of percent between runs.
 * Prints the medians over the rounds of each daemon's CPU per pair (from /proc) and of the
 * acquire latency, and B/A. Every acquire must be admitted and every end answered 204.
 */
import { execFileSync, spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { RawHttpConnection } from './lib/raw-http.js'
import { processCpuUs } from './lib/process-cpu.js'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const CHUNK = 2000

const args = process.argv.slice(2)
const flag = (name: string, fallback: string): string => {
  const i = args.indexOf(name)
  if (i < 0) return fallback
  const v = args[i + 1] ?? ''
  args.splice(i, 2)
  return v
}
const clients = Number(flag('--clients', '1'))
const rounds = Number(flag('--rounds', '8'))
const envA = flag('--env-a', '')
const envB = flag('--env-b', '')
const [refA, refB] = args
if (refA === undefined || refB === undefined || !(clients >= 1) || !(rounds >= 1)) {
  console.error('usage: node --import tsx bench/daemon-ab.ts REF_A REF_B [--clients N] [--rounds N] [--env-a K=V,..] [--env-b K=V,..]')
  process.exit(2)
}

/** Compiles the package at `ref` (`.`: the working tree) into a scratch folder; returns its bin. */
const build = (ref: string, dir: string): string => {
  let src = ROOT
  if (ref !== '.') {
    src = join(dir, 'src-tree')
    mkdirSync(src)
    execFileSync('sh', ['-c', `git -C "${ROOT}" archive "${ref}" | tar -x -C "${src}"`])
    symlinkSync(join(ROOT, 'node_modules'), join(src, 'node_modules'))
  }
  mkdirSync(join(dir, 'bin'))
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'dialog-profiles', type: 'module' }))
  copyFileSync(join(src, 'bin', 'dialog-profiles.js'), join(dir, 'bin', 'dialog-profiles.js'))
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'))
  execFileSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(src, 'tsconfig.build.json'), '--outDir', join(dir, 'dist')], { cwd: src })
  return join(dir, 'bin', 'dialog-profiles.js')
}

interface Side { name: string, child: ChildProcess, conns: RawHttpConnection[], cpu: number[], latency: number[] }

const start = async (name: string, bin: string, env: string): Promise<Side> => {
  const extra = Object.fromEntries(env.split(',').filter((kv) => kv !== '').map((kv) => kv.split('=') as [string, string]))
  const child = spawn(process.execPath, [bin, 'serve', '--node-id', name, '--secret', 'bench-secret-0123456789', '--listen', '127.0.0.1:0', '--http', '127.0.0.1:0', '--profile', 'total'],
    { env: { ...process.env, ...extra }, stdio: ['ignore', 'pipe', 'inherit'] })
  const url = await new Promise<URL>((resolve, reject) => {
    let out = ''
    child.once('exit', (code) => { reject(new Error(`daemon ${name} exited with ${String(code)}`)) })
    child.stdout?.on('data', (b: Buffer) => {
      out += b.toString()
      const m = /"http":"([^"]+)"/.exec(out)
      if (m !== null) { child.stdout?.removeAllListeners('data'); child.stdout?.resume(); resolve(new URL(m[1] as string)) }
    })
  })
  const conns = await Promise.all(Array.from({ length: clients }, async () => await RawHttpConnection.open(url.hostname, Number(url.port))))
  return { name, child, conns, cpu: [], latency: [] }
}

let seq = 0
const chunk = async (s: Side, record: boolean): Promise<void> => {
  let left = CHUNK
  await Promise.all(s.conns.map(async (c) => {
    while (left-- > 0) {
      const id = `ab-${seq++}`
      const t0 = process.hrtime.bigint()
      const a = await c.request('POST', '/v1/acquire', `dialog=${id}&profile=total&limit=1000000`)
      if (record) s.latency.push(Number(process.hrtime.bigint() - t0) / 1000)
      const e = await c.request('POST', `/v1/dialogs/${id}/end`, 'reason=bye')
      if (a.status !== 200 || e.status !== 204) throw new Error(`daemon ${s.name}: acquire ${a.status}, end ${e.status}`)
    }
  }))
}

const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN

const dir = mkdtempSync(join(tmpdir(), 'dp-daemon-ab-'))
const sides: Side[] = []
try {
  mkdirSync(join(dir, 'a')); mkdirSync(join(dir, 'b'))
  sides.push(await start('a', build(refA, join(dir, 'a')), envA))
  sides.push(await start('b', build(refB, join(dir, 'b')), envB))
  for (let i = 0; i < 2; i++) for (const s of sides) await chunk(s, false)
  for (let r = 0; r < rounds; r++) {
    for (const s of sides) {
      const c0 = processCpuUs(s.child.pid ?? -1)
      await chunk(s, true)
      const c1 = processCpuUs(s.child.pid ?? -1)
      if (c0 !== null && c1 !== null) s.cpu.push((c1 - c0) / CHUNK)
    }
  }
  const [a, b] = sides as [Side, Side]
  const line = (what: string, x: number, y: number): string => `${what}: A ${x.toFixed(0)} us, B ${y.toFixed(0)} us, B/A ${(y / x).toFixed(2)}`
  console.log(`A ${refA}${envA !== '' ? ` (${envA})` : ''}, B ${refB}${envB !== '' ? ` (${envB})` : ''}; ${clients} client(s), ${rounds} rounds of ${CHUNK} calls; load average ${(await import('node:os')).loadavg()[0]?.toFixed(1)}`)
  if (a.cpu.length > 0) console.log(line('daemon CPU per acquire+end (median of rounds)', median(a.cpu), median(b.cpu)))
  console.log(line('acquire p50', median(a.latency), median(b.latency)))
} finally {
  for (const s of sides) { for (const c of s.conns) c.close(); s.child.kill('SIGTERM') }
  rmSync(dir, { recursive: true, force: true })
}
