/**
 * Real daemon processes for the end-to-end tests: `dialog-profiles serve` run from source
 * (`node --import tsx src/cli/main.ts`), its JSON log lines parsed from stdout, stopped by pid.
 * Every process started here is killed when the test file ends (afterAll calls stopAll).
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Agent, request } from 'node:http'

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
export const CLI = join(ROOT, 'src', 'cli', 'main.ts')
export const SECRET = 'e2e-secret-0123456789'
/** Fast liveness for tests: silent 600 ms = suspect, 300 ms more = dead. */
export const FAST = ['--heartbeat-interval', '100', '--liveness-timeout', '600', '--grace', '300', '--purge-delay', '1000']

/** A parsed log line. */
export type LogLine = Record<string, unknown> & { msg?: string; event?: string }

/** A running (or exited) daemon process. */
export interface DaemonProcess {
  readonly pid: number
  readonly child: ChildProcess
  /** HTTP base url, e.g. http://127.0.0.1:41234 */
  readonly http: string
  /** Cluster WebSocket url (undefined for a hub node). */
  readonly ws: string
  /** The `started` log line. */
  readonly started: LogLine
  readonly logs: LogLine[]
  stderr (): string
  /** Resolves with the exit code (or the signal name) once the process exited. */
  readonly exited: Promise<number | string>
  /** Sends a signal by pid. */
  signal (sig: NodeJS.Signals): void
  /** Waits until a log line matches, at most `ms`. */
  waitLog (pred: (l: LogLine) => boolean, ms?: number): Promise<LogLine>
}

const running = new Set<ChildProcess>()

/** Spawns the CLI with `args`; collects stdout lines and stderr. */
export const spawnCli = (args: readonly string[], env: Record<string, string> = {}): { child: ChildProcess, logs: LogLine[], out: string[], stderr: () => string, exited: Promise<number | string> } => {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
    cwd: ROOT,
    env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  running.add(child)
  const logs: LogLine[] = []
  const out: string[] = []
  let err = ''
  let buf = ''
  child.stdout?.setEncoding('utf8')
  child.stdout?.on('data', (s: string) => {
    buf += s
    let i
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i); buf = buf.slice(i + 1)
      out.push(line)
      try { logs.push(JSON.parse(line) as LogLine) } catch { /* not a log line */ }
    }
  })
  child.stderr?.setEncoding('utf8')
  child.stderr?.on('data', (s: string) => { err += s })
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, sig) => { running.delete(child); resolve(code ?? sig ?? -1) })
  })
  return { child, logs, out, stderr: () => err, exited }
}

/** Runs the CLI to its end (bounded): exit code, stdout, stderr. */
export const runCli = async (args: readonly string[], env: Record<string, string> = {}, timeoutMs = 20_000): Promise<{ code: number | string, stdout: string, stderr: string }> => {
  const p = spawnCli(args, env)
  const t = setTimeout(() => { if (p.child.pid !== undefined) process.kill(p.child.pid, 'SIGKILL') }, timeoutMs)
  const code = await p.exited
  clearTimeout(t)
  return { code, stdout: p.out.join('\n'), stderr: p.stderr() }
}

const waitFor = async <T>(check: () => T | undefined, ms: number, what: string, failed?: () => string | undefined): Promise<T> => {
  const end = Date.now() + ms
  for (;;) {
    const v = check()
    if (v !== undefined) return v
    const f = failed?.()
    if (f !== undefined) throw new Error(`${what}: ${f}`)
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

/** Starts `dialog-profiles serve` with `args` (plus a secret, loopback ports 0) and waits for "daemon started". */
export const startDaemon = async (args: readonly string[], env: Record<string, string> = {}): Promise<DaemonProcess> =>
  await startServe(['--secret', SECRET, '--listen', '127.0.0.1:0', ...args], env)

/** Starts `dialog-profiles serve` with `args` only (plus an HTTP API on a free loopback port) and waits for "daemon started". */
export const startServe = async (args: readonly string[], env: Record<string, string> = {}): Promise<DaemonProcess> => {
  const p = spawnCli(['serve', '--http', '127.0.0.1:0', ...args], env)
  let exitCode: number | string | undefined
  void p.exited.then((c) => { exitCode = c })
  const started = await waitFor(() => p.logs.find((l) => l.event === 'started'), 30_000, 'daemon start',
    () => exitCode !== undefined ? `exited with ${String(exitCode)}: ${p.stderr()}` : undefined)
  const pid = p.child.pid as number
  return {
    pid,
    child: p.child,
    http: started['http'] as string,
    ws: started['ws'] as string,
    started,
    logs: p.logs,
    stderr: p.stderr,
    exited: p.exited,
    signal: (sig) => { try { process.kill(pid, sig) } catch { /* gone */ } },
    waitLog: async (pred, ms = 20_000) => await waitFor(() => p.logs.find(pred), ms, 'log line')
  }
}

/** Kills every process this file started (SIGKILL by pid) and waits for them. */
export const stopAll = async (): Promise<void> => {
  const all = [...running]
  for (const c of all) if (c.pid !== undefined && c.exitCode === null) { try { process.kill(c.pid, 'SIGKILL') } catch { /* gone */ } }
  await Promise.all(all.map(async (c) => await new Promise<void>((resolve) => { if (c.exitCode !== null || c.signalCode !== null) resolve(); else c.once('exit', () => { resolve() }) })))
}

const agent = new Agent({ keepAlive: true, maxSockets: 16 })

/** One HTTP answer. */
export interface Answer { status: number, headers: Record<string, string | string[] | undefined>, text: string, json: any }

/** An HTTP request with a raw body (string or Buffer) and headers, on a keep-alive agent. */
export const http = async (method: string, url: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<Answer> =>
  await new Promise((resolve, reject) => {
    const req = request(url, { method, headers: { ...headers, ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}) }, agent }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (s: string) => { text += s })
      res.on('end', () => {
        let json: unknown
        try { json = JSON.parse(text) } catch { json = undefined }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json })
      })
    })
    req.setTimeout(10_000, () => { req.destroy(new Error(`${method} ${url} timed out`)) })
    req.on('error', reject)
    if (body !== undefined) req.write(body)
    req.end()
  })

/** POST a form body (the content type SIP proxies send). */
export const form = async (url: string, fields: Record<string, string | number>): Promise<Answer> =>
  await http('POST', url, new URLSearchParams(Object.entries(fields).map(([k, v]): [string, string] => [k, String(v)])).toString(), { 'content-type': 'application/x-www-form-urlencoded' })

/** POST a JSON body. */
export const json = async (url: string, body: unknown): Promise<Answer> =>
  await http('POST', url, JSON.stringify(body), { 'content-type': 'application/json' })

/** Polls `check` every 50 ms until it returns true, at most `ms`; the last value is in the error. */
export const eventually = async (check: () => Promise<boolean>, ms: number, what: string): Promise<void> => {
  const end = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** Size of a profile (value) on a daemon. */
export const size = async (base: string, profile: string, value?: string): Promise<number> => {
  const r = await http('GET', `${base}/v1/profiles/${profile}/size${value !== undefined ? `?value=${encodeURIComponent(value)}` : ''}`)
  return (r.json as { size: number }).size
}
