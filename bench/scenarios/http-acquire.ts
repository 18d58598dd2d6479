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
import { fork, spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { BenchContext, Scenario } from '../lib/types.js'
import { LatencyRecorder, nowNs } from '../lib/stats.js'
import { ACQUIRE_LUA } from '../implementations/redis.js'
import { RawHttpConnection } from '../lib/raw-http.js'
import { RawRedisConnection } from '../lib/raw-redis.js'
import { buildPackage } from '../lib/package-build.js'
import { CpuMeter } from '../lib/process-cpu.js'

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

const FLOOR = join(dirname(fileURLToPath(import.meta.url)), '..', 'lib', 'floor-http-server.ts')

/** Starts the floor server (bench/lib/floor-http-server.ts) in its own process. */
const startFloor = async (): Promise<{ child: ChildProcess, port: number }> => {
  const child = fork(FLOOR, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  return await new Promise((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error('floor server did not start in 20 s')) }, 20_000)
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`floor server exited with ${String(code)}`)) })
    child.on('message', (m: { type?: string, port?: number }) => {
      if (m.type === 'up' && typeof m.port === 'number') { clearTimeout(timer); resolve({ child, port: m.port }) }
    })
  })
}

const stopChild = async (child: ChildProcess): Promise<void> => {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => { child.once('exit', () => { resolve() }) })
  child.kill('SIGTERM')
  const t = setTimeout(() => { child.kill('SIGKILL') }, 5000)
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
  description: 'daemon HTTP acquire+end round trip vs Redis Lua check-and-add and a bare node:http floor, 1 and 8 clients',
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
    let floor: ChildProcess | undefined
    const conns: RawHttpConnection[] = []
    const floorConns: RawHttpConnection[] = []
    const redisConns: RawRedisConnection[] = []
    const key = 'bench:http-acquire:total'
    try {
      daemon = await startDaemon(build.bin)
      const f = await startFloor()
      floor = f.child
      // One keep-alive connection per client on each side, as each SIP worker of a proxy holds its own.
      const url = new URL(daemon.base)
      for (let i = 0; i < 8; i++) {
        conns.push(await RawHttpConnection.open(url.hostname, Number(url.port)))
        floorConns.push(await RawHttpConnection.open('127.0.0.1', f.port))
        redisConns.push(await RawRedisConnection.open(server.host, server.port))
      }
      const redis0 = redisConns[0] as RawRedisConnection
      const sha = String(await redis0.command('SCRIPT', 'LOAD', ACQUIRE_LUA))
      await redis0.command('DEL', key)
      let refused = 0
      const httpCall = (to: readonly RawHttpConnection[]): OneCall => async (client, id, rec) => {
        const c = to[client] as RawHttpConnection
        const t0 = nowNs()
        const a = await c.request('POST', '/v1/acquire', `dialog=${id}&profile=total&limit=${LIMIT}`)
        const t1 = nowNs()
        const e = await c.request('POST', `/v1/dialogs/${id}/end`, 'reason=bye')
        const t2 = nowNs()
        if (a.status !== 200 || e.status !== 204) refused++
        rec?.acquire.record(t1 - t0); rec?.pair.record(t2 - t0)
      }
      const httpOne = httpCall(conns)
      const floorOne = httpCall(floorConns)
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
      await runChunk(8, warmup, seq, 'warm', floorOne, null); seq += warmup
      await runChunk(8, warmup, seq, 'warm', redisOne, null); seq += warmup
      for (const clients of [1, 8]) {
        const h = recorders(perConfig)
        const fl = recorders(perConfig)
        const r = recorders(perConfig)
        const cpu = { daemon: new CpuMeter(daemon.child.pid ?? -1), floor: new CpuMeter(floor.pid ?? -1), redis: new CpuMeter(server.pid) }
        const measured = async (meter: CpuMeter, n: number, tag: string, one: OneCall, rec: Recorders): Promise<void> => {
          meter.start()
          await runChunk(clients, n, seq, tag, one, rec); seq += n
          meter.stop()
        }
        const bar = ctx.progress(`${clients} client${clients > 1 ? 's' : ''}`, 3 * perConfig)
        for (let done = 0; done < perConfig; done += CHUNK) {
          ctx.checkBudget()
          const n = Math.min(CHUNK, perConfig - done)
          await measured(cpu.daemon, n, 'h', httpOne, h)
          await measured(cpu.floor, n, 'f', floorOne, fl)
          await measured(cpu.redis, n, 'r', redisOne, r)
          bar.update(3 * (done + n))
        }
        bar.done()
        ctx.verify(refused === 0, `${refused} acquires refused below the limit (or ends not answered 204 / not removing the dialog)`)
        // The size query goes over a connection of its own: a request the daemon's HTTP fast
        // path does not take hands its connection to node:http for good (the size query was
        // one until 2026-12-02), and a measured client's connection must not change path.
        const probe = await RawHttpConnection.open(url.hostname, Number(url.port))
        const size = JSON.parse((await probe.request('GET', '/v1/profiles/total/size')).body) as { size: number }
        probe.close()
        ctx.verify(size.size === 0, `daemon holds ${size.size} memberships after every call ended`)
        ctx.verify(await redis0.command('SCARD', key) === 0, 'redis set not empty after every call ended')
        const label = `${clients} client${clients > 1 ? 's' : ''}`
        for (const [impl, rec, meter] of [['daemon HTTP', h, cpu.daemon], ['floor HTTP', fl, cpu.floor], ['Redis Lua', r, cpu.redis]] as const) {
          ctx.report(impl, `${label}: acquire p50`, rec.acquire.percentile(50) / 1000, 'us')
          ctx.report(impl, `${label}: acquire p99`, rec.acquire.percentile(99) / 1000, 'us')
          ctx.report(impl, `${label}: acquire+end p50`, rec.pair.percentile(50) / 1000, 'us')
          ctx.report(impl, `${label}: acquire+end p99`, rec.pair.percentile(99) / 1000, 'us')
          if (meter.us !== null) ctx.report(impl, `${label}: server CPU per acquire+end`, meter.us / perConfig, 'us')
        }
        ctx.goal('HTTP/Redis', `${label}: acquire p50 ratio`, h.acquire.percentile(50) / r.acquire.percentile(50), 'x', '<=', 2, 'issue 10 item 3')
        ctx.report('HTTP/Redis', `${label}: acquire+end p50 ratio`, h.pair.percentile(50) / r.pair.percentile(50), 'x')
        ctx.report('HTTP/Redis', `${label}: acquire p99 ratio`, h.acquire.percentile(99) / r.acquire.percentile(99), 'x')
        ctx.report('floor/Redis', `${label}: acquire p50 ratio`, fl.acquire.percentile(50) / r.acquire.percentile(50), 'x')
        ctx.report('floor/Redis', `${label}: acquire+end p50 ratio`, fl.pair.percentile(50) / r.pair.percentile(50), 'x')
        ctx.report('HTTP/floor', `${label}: acquire p50 ratio`, h.acquire.percentile(50) / fl.acquire.percentile(50), 'x')
        ctx.report('HTTP/floor', `${label}: acquire+end p50 ratio`, h.pair.percentile(50) / fl.pair.percentile(50), 'x')
        if (cpu.daemon.us !== null && cpu.floor.us !== null && cpu.redis.us !== null) {
          ctx.report('HTTP/floor', `${label}: server CPU per acquire+end ratio`, cpu.daemon.us / cpu.floor.us, 'x')
          ctx.report('floor/Redis', `${label}: server CPU per acquire+end ratio`, cpu.floor.us / cpu.redis.us, 'x')
        }
      }
    } finally {
      for (const c of [...conns, ...floorConns, ...redisConns]) c.close()
      if (daemon !== undefined) await stopChild(daemon.child)
      if (floor !== undefined) await stopChild(floor)
      build.remove()
    }
  }
}
