/**
 * Kamailio (the example configuration, examples/kamailio/kamailio.cfg) and SIPp (the scenarios
 * in examples/sipp/) as child processes of the end-to-end tests, and what the tests read back:
 * Kamailio's JSON-RPC over UDP, its DP-* log lines, SIPp's per-call log lines.
 */
import { createSocket } from 'node:dgram'
import { mkdtempSync, readFileSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freeUdpPort, waitUntil } from './processes.js'
import type { Proc, ProcessGroup } from './processes.js'

const ROOT = join(import.meta.dirname, '..', '..', '..')
export const KAMAILIO_CFG = join(ROOT, 'examples', 'kamailio', 'kamailio.cfg')
export const SCENARIOS = join(ROOT, 'examples', 'sipp')

/** A Kamailio instance. */
export interface Kamailio {
  readonly name: string
  readonly sipPort: number
  readonly rpcPort: number
  readonly proc: Proc
}

/** Starts Kamailio with the example configuration, asking the daemon at `daemonHttp`. */
export const startKamailio = async (group: ProcessGroup, name: string, o: { daemonHttp: string; nextHop: string; limit: number; profile?: string }): Promise<Kamailio> => {
  const sipPort = await freeUdpPort()
  const rpcPort = await freeUdpPort()
  const runDir = mkdtempSync(join(tmpdir(), `dp-e2e-${name}-`))
  const defines = {
    SIP_PORT: String(sipPort),
    DP_URL: `"${o.daemonHttp}"`,
    DP_HTTPCON: `"dp=>${o.daemonHttp}"`,
    NEXT_HOP: `"${o.nextHop}"`,
    DP_LIMIT: String(o.limit),
    DP_PROFILE: `"${o.profile ?? 'total'}"`,
    RUN_DIR: `"${runDir}"`,
    RPC_SOCKET: `"udp:127.0.0.1:${rpcPort}"`,
    DLG_TIMEOUT: '600'
  }
  const args = ['-f', KAMAILIO_CFG, '-DD', '-E', '-m', '64', '-M', '8', ...Object.entries(defines).flatMap(([k, v]) => ['-A', `${k}=${v}`])]
  const proc = group.start(name, '/usr/sbin/kamailio', args, { detached: true })
  const k = { name, sipPort, rpcPort, proc }
  await waitUntil(async () => {
    if (proc.child.exitCode !== null) throw new Error(`${name} exited: ${proc.output().slice(-3000)}`)
    return await rpc(k, 'core.version').then(() => true, () => false)
  }, `${name} to answer JSON-RPC`, 20_000, 100)
  return k
}

/** One JSON-RPC call over Kamailio's UDP datagram transport. */
export const rpc = async (k: Kamailio, method: string, params: unknown[] = []): Promise<unknown> => await new Promise((resolve, reject) => {
  const s = createSocket('udp4')
  const t = setTimeout(() => { s.close(); reject(new Error(`${k.name} ${method}: no answer`)) }, 1000)
  s.on('message', (m) => {
    clearTimeout(t); s.close()
    const r = JSON.parse(m.toString('utf8')) as { result?: unknown; error?: unknown }
    if (r.error !== undefined) reject(new Error(`${k.name} ${method}: ${JSON.stringify(r.error)}`)); else resolve(r.result)
  })
  s.on('error', (err) => { clearTimeout(t); s.close(); reject(err) })
  s.send(JSON.stringify({ jsonrpc: '2.0', method, params, id: 1 }), k.rpcPort, '127.0.0.1')
})

/** Dialogs Kamailio holds (`dlg.stats_active`: all states). */
export const activeDialogs = async (k: Kamailio): Promise<number> => {
  const r = await rpc(k, 'dlg.stats_active') as { all?: number }
  if (typeof r.all !== 'number') throw new Error(`${k.name} dlg.stats_active: ${JSON.stringify(r)}`)
  return r.all
}

/** The DP-* lines Kamailio's script logged so far. */
export const kamailioLog = (k: Kamailio): { admits: Array<{ t: number; callId: string }>; refusals: string[]; acquireUs: number[]; endUs: number[]; ends: Array<{ t: number; callId: string; code: number }> } => {
  const admits: Array<{ t: number; callId: string }> = []
  const refusals: string[] = []
  const acquireUs: number[] = []
  const endUs: number[] = []
  const ends: Array<{ t: number; callId: string; code: number }> = []
  for (const line of k.proc.output().split('\n')) {
    let m = /DP-ADMIT t=([\d.]+) callid=(\S+)/.exec(line)
    if (m !== null) { admits.push({ t: Number(m[1]), callId: m[2] as string }); continue }
    m = /DP-REFUSE callid=(\S+)/.exec(line)
    if (m !== null) { refusals.push(m[1] as string); continue }
    m = /DP-LATENCY op=acquire us=(\d+)/.exec(line)
    if (m !== null) { acquireUs.push(Number(m[1])); continue }
    m = /DP-LATENCY op=end us=(\d+) code=(-?\d+) t=([\d.]+) callid=(\S+)/.exec(line)
    if (m !== null) { endUs.push(Number(m[1])); ends.push({ t: Number(m[3]), callId: m[4] as string, code: Number(m[2]) }) }
  }
  return { admits, refusals, acquireUs, endUs, ends }
}

/** A SIPp run: the process and, once it ended, its per-call ADMITTED / REFUSED log lines. */
export interface SippRun {
  readonly proc: Proc
  readonly logFile: string
  /** Waits for the end; returns its exit code and the calls it saw admitted and refused. */
  done (): Promise<{ code: number | string; admitted: string[]; refused: string[] }>
  /** The calls it saw so far. */
  calls (): { admitted: string[]; refused: string[] }
}

/** Starts the SIPp UAS answering on a free port; returns it and its port. */
export const startUas = async (group: ProcessGroup): Promise<{ proc: Proc; port: number }> => {
  const port = await freeUdpPort()
  const proc = group.start('sipp-uas', '/usr/bin/sipp', ['-sf', join(SCENARIOS, 'uas.xml'), '-i', '127.0.0.1', '-p', String(port), '-nostdin', '-max_socket', '1000'])
  return { proc, port }
}

/** Starts a SIPp UAC sending `calls` calls at `rate` per second to the proxy at `proxyPort`, each held `holdMs`. */
export const startUac = async (group: ProcessGroup, name: string, o: { proxyPort: number; scenario?: string; calls: number; rate: number; holdMs: number }): Promise<SippRun> => {
  const port = await freeUdpPort()
  const dir = mkdtempSync(join(tmpdir(), `dp-e2e-${name}-`))
  const logFile = join(dir, 'calls.log')
  const proc = group.start(name, '/usr/bin/sipp', [
    `127.0.0.1:${o.proxyPort}`, '-sf', join(SCENARIOS, o.scenario ?? 'uac.xml'), '-i', '127.0.0.1', '-p', String(port),
    '-m', String(o.calls), '-r', String(o.rate), '-d', String(o.holdMs), '-l', String(o.calls),
    '-nostdin', '-trace_logs', '-log_file', logFile, '-trace_err', '-error_file', join(dir, 'errors.log'),
    '-timeout', String(Math.ceil((o.calls / o.rate) + o.holdMs / 1000 + 30)), '-timeout_error'
  ])
  const calls = (): { admitted: string[]; refused: string[] } => {
    const lines = existsSync(logFile) ? readFileSync(logFile, 'utf8').split('\n') : []
    return {
      admitted: lines.filter((l) => l.startsWith('ADMITTED ')).map((l) => l.slice(9).trim()),
      refused: lines.filter((l) => l.startsWith('REFUSED ')).map((l) => l.slice(8).trim())
    }
  }
  return { proc, logFile, calls, done: async () => { const code = await proc.exited; return { code, ...calls() } } }
}

/** Percentile (nearest rank) of `xs`. */
export const percentile = (xs: readonly number[], p: number): number => {
  if (xs.length === 0) return NaN
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] as number
}

/**
 * Most calls admitted at once, from the proxies' own timestamps: a call counts from the moment
 * its acquire returned to the end of its release call.
 */
export const maxConcurrent = (admits: ReadonlyArray<{ t: number; callId: string }>, ends: ReadonlyArray<{ t: number; callId: string }>): number => {
  const events = [...admits.map((a) => ({ t: a.t, d: 1 })), ...ends.filter((e) => admits.some((a) => a.callId === e.callId)).map((e) => ({ t: e.t, d: -1 }))]
  events.sort((a, b) => a.t - b.t || a.d - b.d)
  let now = 0; let max = 0
  for (const e of events) { now += e.d; max = Math.max(max, now) }
  return max
}
