/**
 * HTTP acquire (issue 10 item 3): what a SIP proxy's synchronous HTTP client waits for. One
 * real daemon (`node bin/dialog-profiles.js serve` over the compiled package, a child process,
 * no peers) answers `POST /v1/acquire` (a form body, as Kamailio's http_client sends) and
 * `POST /v1/dialogs/{id}/end` over keep-alive loopback connections; the baseline is the Redis
 * Lua check-and-add (SCARD + SADD in one EVALSHA) and SREM against the run's redis-server. Both
 * sides get the same client: one keep-alive connection per client with one request in flight,
 * the same minimal client design (bench/lib/raw-http.ts, bench/lib/raw-redis.ts: one write per
 * request, Nagle off), the same concurrency. Both run in the same process, alternating in
 * chunks, with 1 client and with 8 concurrent clients; latency p50 and p99 of the acquire alone
 * and of the acquire+end pair.
 * Checks: every acquire was admitted, and at the end both the daemon and Redis hold nothing.
 * Goal: HTTP acquire p50 within 2x of the Redis check-and-add p50.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import type { BenchContext, Scenario } from '../lib/types.js'
import { LatencyRecorder, nowNs } from '../lib/stats.js'
import { ACQUIRE_LUA } from '../implementations/redis.js'
import { RawHttpConnection } from '../lib/raw-http.js'
import { RawRedisConnection } from '../lib/raw-redis.js'
import { buildPackage } from '../lib/package-build.js'

const LIMIT = 1_000_000
const CHUNK = 250

interface Daemon { child: ChildProcess, base: string }

const startDaemon = async (bin: string): Promise<Daemon> => {
  const child = spawn(process.execPath, [bin, 'serve', '--node-id', 'bench',
    '--secret', 'bench-secret-0123456789', '--listen', '127.0.0.1:0', '--http', '127.0.0.1:0', '--profile', 'total', '--log-level', 'info'],
  { stdio: ['ignore', 'pipe', 'pipe'] })
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
  budgetSeconds: { full: 300, quick: 150 },
  async run (ctx: BenchContext) {
    const server = await ctx.redis()
    if (server === null) { ctx.notice('no redis-server: scenario skipped'); return }
    const perConfig = ctx.quick ? 3000 : 20_000
    // Calls per side before measuring: enough for V8 to optimise the daemon's request path (with
    // 500 the first 1-client chunks still ran partly unoptimised code).
    const warmup = ctx.quick ? 3000 : 5000
    const build = await buildPackage()
    let daemon: Daemon | undefined
    const conns: RawHttpConnection[] = []
    const redisConns: RawRedisConnection[] = []
    const key = 'bench:http-acquire:total'
    try {
      daemon = await startDaemon(build.bin)
      // One keep-alive connection per client on each side, as each SIP worker of a proxy holds its own.
      const url = new URL(daemon.base)
      for (let i = 0; i < 8; i++) {
        conns.push(await RawHttpConnection.open(url.hostname, Number(url.port)))
        redisConns.push(await RawRedisConnection.open(server.host, server.port))
      }
      const redis0 = redisConns[0] as RawRedisConnection
      const sha = String(await redis0.command('SCRIPT', 'LOAD', ACQUIRE_LUA))
      await redis0.command('DEL', key)
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
      const redisOne: OneCall = async (client, id, rec) => {
        const c = redisConns[client] as RawRedisConnection
        const t0 = nowNs()
        const r = await c.command('EVALSHA', sha, 1, key, id, LIMIT)
        const t1 = nowNs()
        const e = await c.command('SREM', key, id)
        const t2 = nowNs()
        if (!Array.isArray(r) || r[0] !== 1 || e !== 1) refused++
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
        ctx.verify(refused === 0, `${refused} acquires refused below the limit (or ends not answered 204 / not removing the dialog)`)
        const size = JSON.parse((await (conns[0] as RawHttpConnection).request('GET', '/v1/profiles/total/size')).body) as { size: number }
        ctx.verify(size.size === 0, `daemon holds ${size.size} memberships after every call ended`)
        ctx.verify(await redis0.command('SCARD', key) === 0, 'redis set not empty after every call ended')
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
      for (const c of [...conns, ...redisConns]) c.close()
      if (daemon !== undefined) await stopDaemon(daemon)
      build.remove()
    }
  }
}
