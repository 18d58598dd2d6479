/**
 * Starts a throw-away `redis-server` on 127.0.0.1 and a free port, without persistence
 * (`--save '' --appendonly no`), and stops it by its pid. Stopped also when the process exits
 * on an error or a signal. Used by the Redis baselines; when no `redis-server` binary is found
 * the caller skips those rows.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { createConnection, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** A running redis-server started by the harness. */
export interface RedisServer {
  readonly host: '127.0.0.1'
  readonly port: number
  readonly pid: number
  /** Stops the server (SIGTERM, then SIGKILL after 2 s) and removes its working folder. */
  stop (): Promise<void>
}

const CANDIDATES = ['/usr/bin/redis-server', '/usr/local/bin/redis-server', '/usr/sbin/redis-server']

/** Path of a redis-server binary, or null when none is installed. `REDIS_SERVER` overrides. */
export const findRedisServer = (): string | null => {
  const env = process.env['REDIS_SERVER']
  if (env !== undefined && env !== '') return existsSync(env) ? env : null
  return CANDIDATES.find((p) => existsSync(p)) ?? null
}

const freePort = async (): Promise<number> => await new Promise((resolve, reject) => {
  const srv = createServer()
  srv.once('error', reject)
  srv.listen(0, '127.0.0.1', () => {
    const addr = srv.address()
    const port = typeof addr === 'object' && addr !== null ? addr.port : 0
    srv.close(() => { resolve(port) })
  })
})

const canConnect = async (port: number): Promise<boolean> => await new Promise((resolve) => {
  const sock = createConnection({ host: '127.0.0.1', port })
  const done = (ok: boolean): void => { sock.destroy(); resolve(ok) }
  sock.once('connect', () => { done(true) })
  sock.once('error', () => { done(false) })
  sock.setTimeout(500, () => { done(false) })
})

const live = new Set<ChildProcess>()
let hooked = false
const killAllOnExit = (): void => {
  for (const child of live) {
    if (child.pid !== undefined && child.exitCode === null) {
      try { process.kill(child.pid, 'SIGKILL') } catch { /* already gone */ }
    }
  }
}
const hookExit = (): void => {
  if (hooked) return
  hooked = true
  process.once('exit', killAllOnExit)
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => { killAllOnExit(); process.exit(130) })
  }
}

/**
 * Starts redis-server at `binary` on a free loopback port and waits (at most 10 s) until it
 * accepts connections.
 */
export const startRedisServer = async (binary: string): Promise<RedisServer> => {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'dp-bench-redis-'))
  const child = spawn(binary, [
    '--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no',
    '--daemonize', 'no', '--dir', dir, '--protected-mode', 'yes', '--loglevel', 'warning'
  ], { stdio: ['ignore', 'ignore', 'pipe'] })
  hookExit()
  live.add(child)
  let stderr = ''
  child.stderr?.on('data', (b: Buffer) => { stderr += b.toString() })
  const pid = child.pid
  const exited = new Promise<void>((resolve) => { child.once('exit', () => { live.delete(child); resolve() }) })
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null && pid !== undefined) {
      try { process.kill(pid, 'SIGTERM') } catch { /* gone */ }
      const timer = setTimeout(() => { try { process.kill(pid, 'SIGKILL') } catch { /* gone */ } }, 2000)
      await exited
      clearTimeout(timer)
    }
    rmSync(dir, { recursive: true, force: true })
  }
  if (pid === undefined) {
    await stop()
    throw new Error(`could not start ${binary}`)
  }
  const t0 = Date.now()
  for (let i = 0; i < 200 && Date.now() - t0 < 10_000; i++) {
    if (child.exitCode !== null) break
    if (await canConnect(port)) return { host: '127.0.0.1', port, pid, stop }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  await stop()
  throw new Error(`redis-server did not come up on 127.0.0.1:${port}: ${stderr.trim()}`)
}
