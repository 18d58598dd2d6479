/**
 * Child processes of the end-to-end tests: each one is started here, its output kept (bounded),
 * and stopped by its pid (SIGTERM, then SIGKILL after a bound) by the test that started it.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { createSocket } from 'node:dgram'

const MAX_OUTPUT_CHARS = 4 * 1024 * 1024

/** A started process. */
export interface Proc {
  readonly name: string
  readonly pid: number
  readonly child: ChildProcess
  /** stdout and stderr so far (the last 4 MiB). */
  output (): string
  /** Resolves with the exit code (or signal name) once it exited. */
  readonly exited: Promise<number | string>
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it exited. */
  stop (graceMs?: number): Promise<void>
  /** SIGKILL now; resolves once it exited. */
  kill (): Promise<void>
  /** SIGKILL to its process group (it and the children it forked; needs `detached`); resolves once it exited. */
  killGroup (): Promise<void>
}

/** Starts `cmd args`, keeping its output. Throws when it cannot be spawned. */
export interface StartOptions {
  readonly cwd?: string
  readonly env?: NodeJS.ProcessEnv
  /** Its own process group (for programs that fork workers, such as Kamailio). */
  readonly detached?: boolean
}

export const start = (name: string, cmd: string, args: readonly string[], options: StartOptions = {}): Proc => {
  const child = spawn(cmd, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'], detached: options.detached ?? false })
  if (child.pid === undefined) throw new Error(`${name}: could not start ${cmd}`)
  const pid = child.pid
  let out = ''
  const keep = (d: Buffer): void => { out += d.toString('utf8'); if (out.length > MAX_OUTPUT_CHARS) out = out.slice(-MAX_OUTPUT_CHARS / 2) }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  let done = false
  const exited = new Promise<number | string>((resolve) => {
    child.on('exit', (code, signal) => { done = true; resolve(code ?? signal ?? 'unknown') })
    child.on('error', () => { done = true; resolve('spawn-error') })
  })
  const signal = (sig: NodeJS.Signals): void => { if (!done) { try { process.kill(pid, sig) } catch { /* already gone */ } } }
  return {
    name,
    pid,
    child,
    output: () => out,
    exited,
    stop: async (graceMs = 5000) => {
      signal('SIGTERM')
      const t = setTimeout(() => { signal('SIGKILL') }, graceMs)
      await exited
      clearTimeout(t)
    },
    kill: async () => { signal('SIGKILL'); await exited },
    killGroup: async () => {
      try { process.kill(-pid, 'SIGKILL') } catch { /* already gone */ }
      await exited
    }
  }
}

/** Processes started by one test file, stopped together (each by its pid) in `afterAll`. */
export class ProcessGroup {
  private readonly procs: Proc[] = []
  start (name: string, cmd: string, args: readonly string[], options?: StartOptions): Proc {
    const p = start(name, cmd, args, options)
    this.procs.push(p)
    return p
  }

  async stopAll (): Promise<void> {
    await Promise.all(this.procs.splice(0).reverse().map(async (p) => { await p.stop() }))
  }
}

/** A UDP port free on 127.0.0.1 right now. */
export const freeUdpPort = async (): Promise<number> => await new Promise((resolve, reject) => {
  const s = createSocket('udp4')
  s.once('error', reject)
  s.bind(0, '127.0.0.1', () => {
    const port = s.address().port
    s.close(() => { resolve(port) })
  })
})

/** Polls `cond` every `everyMs` until it holds; throws naming `what` after `timeoutMs`. */
export const waitUntil = async (cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000, everyMs = 50): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  for (let i = 0; i < Math.ceil(timeoutMs / everyMs) + 1; i++) {
    if (await cond()) return
    if (Date.now() > deadline) break
    await sleep(everyMs)
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
}

export const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => { setTimeout(resolve, ms) }) }
