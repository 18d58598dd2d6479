/**
 * HTTP acquire (issue 10 item 3): what a SIP proxy's synchronous HTTP client waits for. One
 * real `dialog-profiles serve` daemon (a child process, no peers) answers `POST /v1/acquire`
 * (a form body, as Kamailio's http_client sends) and `POST /v1/dialogs/{id}/end` over
 * keep-alive loopback connections; the baseline is the same client doing the Redis Lua
 * check-and-add (SCARD + SADD in one EVALSHA) and SREM against the run's redis-server. Both
 * run in the same process, alternating in chunks, with 1 client and with 8 concurrent clients;
 * latency p50 and p99 of the acquire alone and of the acquire+end pair.
 * Checks: every acquire was admitted, and at the end both the daemon and Redis hold nothing.
 * Goal: HTTP acquire p50 within 2x of the Redis check-and-add p50.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { BenchContext, Scenario } from '../lib/types.js'
import { LatencyRecorder, nowNs } from '../lib/stats.js'
import { RedisAdmission, connectRedis } from '../implementations/redis.js'
import { RawHttpConnection } from '../lib/raw-http.js'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const LIMIT = 1_000_000
const CHUNK = 250

interface Daemon { child: ChildProcess, base: string }

const startDaemon = async (): Promise<Daemon> => {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src', 'cli', 'main.ts'), 'serve', '--node-id', 'bench',
    '--secret', 'bench-secret-0123456789', '--listen', '127.0.0.1:0', '--http', '127.0.0.1:0', '--profile', 'total', '--log-level', 'info'],
  { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  let err = ''
  child.stderr?.on('data', (b: Buffer) => { err += b.toString() })
  return await new Promise<Daemon>((resolve, reject) => {
    let buf = ''
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`daemon did not start in 30 s: ${err}`)) }, 30_000)
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`daemon exited with ${String(code)}: ${err}`)) })
    child.stdout?.on('data', (b: Buffer) => {
      buf += b.toString()
      const i = buf.indexOf('"event":"started"')
      if (i < 0) return
      const line = buf.slice(buf.lastIndexOf('\n', i) + 1, buf.indexOf('\n', i))
      clearTimeout(timer)
      child.stdout?.removeAllListeners('data')
      child.stdout?.resume()
      resolve({ child, base: (JSON.parse(line) as { http: string }).http })
    })
  })
}

const stopDaemon = async (d: Daemon): Promise<void> => {
  if (d.child.exitCode !== null || d.child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => { d.child.once('exit', () => { resolve() }) })
  d.child.kill('SIGTERM')
  const t = setTimeout(() => { d.child.kill('SIGKILL') }, 5000)
  await exited
  clearTimeout(t)
}

interface Recorders { acquire: LatencyRecorder, pair: LatencyRecorder }
const recorders = (n: number): Recorders => ({ acquire: new LatencyRecorder(n), pair: new LatencyRecorder(n) })

/** One call (acquire then end) by client number `client`, recording both latencies. */
type OneCall = (client: number, id: string, rec: Recorders | null) => Promise<void>

/** `count` calls shared by `clients` concurrent clients, each waiting for its answer before its next request. */
const runChunk = async (clients: number, count: number, first: number, tag: string, one: OneCall, rec: Recorders | null): Promise<void> => {
  let next = first
  const end = first + count
  await Promise.all(Array.from({ length: clients }, async (_x, client) => {
    while (next < end) await one(client, `${tag}-${next++}@bench`, rec)
  }))
}

export const httpAcquire: Scenario = {
  name: 'http-acquire',
  description: 'daemon HTTP acquire+end round trip vs Redis Lua check-and-add, 1 and 8 clients',
  budgetSeconds: { full: 240, quick: 90 },
  async run (ctx: BenchContext) {
    const server = await ctx.redis()
    if (server === null) { ctx.notice('no redis-server: scenario skipped'); return }
    const perConfig = ctx.quick ? 3000 : 20_000
    const warmup = ctx.quick ? 500 : 2000
    const daemon = await startDaemon()
    const redisClient = await connectRedis(server)
    // One keep-alive connection per client, as each SIP worker of a proxy holds its own.
    const url = new URL(daemon.base)
    const conns = await Promise.all(Array.from({ length: 8 }, async () => await RawHttpConnection.open(url.hostname, Number(url.port))))
    try {
      const redis = new RedisAdmission(redisClient, 'bench:http-acquire:total')
      await redis.init()
      let refused = 0
      const httpOne: OneCall = async (client, id, rec) => {
        const c = conns[client] as RawHttpConnection
        const t0 = nowNs()
        const a = await c.request('POST', '/v1/acquire', `dialog=${id}&profile=total&limit=${LIMIT}`)
        const t1 = nowNs()
        const e = await c.request('POST', `/v1/dialogs/${id}/end`, 'reason=bye')
        const t2 = nowNs()
        if (a.status !== 200 || e.status !== 204) refused++
        rec?.acquire.record(t1 - t0); rec?.pair.record(t2 - t0)
      }
      const redisOne: OneCall = async (_client, id, rec) => {
        const t0 = nowNs()
        const r = await redis.acquire(id, LIMIT)
        const t1 = nowNs()
        await redis.end(id)
        const t2 = nowNs()
        if (!r.admitted) refused++
        rec?.acquire.record(t1 - t0); rec?.pair.record(t2 - t0)
      }
      let seq = 0
      await runChunk(8, warmup, seq, 'warm', httpOne, null); seq += warmup
      await runChunk(8, warmup, seq, 'warm', redisOne, null); seq += warmup
      for (const clients of [1, 8]) {
        const h = recorders(perConfig)
        const r = recorders(perConfig)
        const bar = ctx.progress(`${clients} client${clients > 1 ? 's' : ''}`, 2 * perConfig)
        for (let done = 0; done < perConfig; done += CHUNK) {
          ctx.checkBudget()
          const n = Math.min(CHUNK, perConfig - done)
          await runChunk(clients, n, seq, 'h', httpOne, h); seq += n
          await runChunk(clients, n, seq, 'r', redisOne, r); seq += n
          bar.update(2 * (done + n))
        }
        bar.done()
        ctx.verify(refused === 0, `${refused} acquires refused below the limit (or ends not answered 204)`)
        const size = JSON.parse((await (conns[0] as RawHttpConnection).request('GET', '/v1/profiles/total/size')).body) as { size: number }
        ctx.verify(size.size === 0, `daemon holds ${size.size} memberships after every call ended`)
        ctx.verify(await redis.size() === 0, 'redis set not empty after every call ended')
        const label = `${clients} client${clients > 1 ? 's' : ''}`
        for (const [impl, rec] of [['daemon HTTP', h], ['Redis Lua', r]] as const) {
          ctx.report(impl, `${label}: acquire p50`, rec.acquire.percentile(50) / 1000, 'us')
          ctx.report(impl, `${label}: acquire p99`, rec.acquire.percentile(99) / 1000, 'us')
          ctx.report(impl, `${label}: acquire+end p50`, rec.pair.percentile(50) / 1000, 'us')
          ctx.report(impl, `${label}: acquire+end p99`, rec.pair.percentile(99) / 1000, 'us')
        }
        ctx.goal('HTTP/Redis', `${label}: acquire p50 ratio`, h.acquire.percentile(50) / r.acquire.percentile(50), 'x', '<=', 2, 'issue 10 item 3')
        ctx.report('HTTP/Redis', `${label}: acquire+end p50 ratio`, h.pair.percentile(50) / r.pair.percentile(50), 'x')
        ctx.report('HTTP/Redis', `${label}: acquire p99 ratio`, h.acquire.percentile(99) / r.acquire.percentile(99), 'x')
      }
    } finally {
      for (const c of conns) c.close()
      redisClient.disconnect()
      await stopDaemon(daemon)
    }
  }
}
