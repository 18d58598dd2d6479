/**
 * A cluster of real `dialog-profiles serve` processes on loopback for the end-to-end tests
 * (run from source through tsx), with the HTTP calls the tests make against them.
 */
import { join } from 'node:path'
import type { StatusSnapshot } from '../../../src/server/status-feed.js'
import { freeTcpPort, waitUntil } from './processes.js'
import type { Proc, ProcessGroup } from './processes.js'

const ROOT = join(import.meta.dirname, '..', '..', '..')
const CLI = join(ROOT, 'src', 'cli', 'main.ts')
export const SECRET = 'e2e-cluster-secret'

/** One daemon of the cluster. */
export interface DaemonHandle {
  readonly nodeId: string
  readonly http: string
  readonly ws: string
  readonly proc: Proc
}

export interface ClusterSpec {
  readonly size: number
  readonly profiles: readonly string[]
  readonly mode?: 'eventual' | 'strict'
  readonly livenessTimeoutMs?: number
  readonly graceMs?: number
  readonly extra?: readonly string[]
}

/** Runs the CLI (`node --import tsx src/cli/main.ts ...args`) in `group`. */
export const startCli = (group: ProcessGroup, name: string, args: readonly string[]): Proc =>
  group.start(name, process.execPath, ['--import', 'tsx', CLI, ...args], { cwd: ROOT, env: { ...process.env, DP_LOG_LEVEL: 'warn' } })

/**
 * Whether this build's daemon runs `--mode strict` (the strict-admission issue may not have
 * landed): starts one daemon with it and sees whether it comes up.
 */
export const strictModeAvailable = async (group: ProcessGroup): Promise<boolean> => {
  const http = await freeTcpPort()
  const p = startCli(group, 'strict-probe', ['serve', '--node-id', 'probe', '--secret', SECRET, '--listen', '127.0.0.1:0', '--http', `127.0.0.1:${http}`, '--mode', 'strict', '--profile', 'total'])
  let up = false
  try {
    await waitUntil(async () => (up = await get(`http://127.0.0.1:${http}/healthz`).then((r) => r.status === 200, () => false)) || p.child.exitCode !== null, 'the strict-mode probe to start or exit', 30_000, 100)
  } catch { up = false }
  await p.stop()
  return up
}

/** Starts `spec.size` daemons, every one dialling every other; resolves once all are ready. */
export const startCluster = async (group: ProcessGroup, spec: ClusterSpec): Promise<DaemonHandle[]> => {
  const ports = await Promise.all(Array.from({ length: spec.size }, async () => ({ ws: await freeTcpPort(), http: await freeTcpPort() })))
  const daemons = ports.map(({ ws, http }, i): DaemonHandle => {
    const nodeId = `dp-${i + 1}`
    const peers = ports.filter((_, j) => j !== i).flatMap((p) => ['--peer', `ws://127.0.0.1:${p.ws}`])
    const args = [
      'serve', '--node-id', nodeId, '--listen', `127.0.0.1:${ws}`, '--http', `127.0.0.1:${http}`, '--secret', SECRET,
      ...spec.profiles.flatMap((p) => ['--profile', p]), ...peers,
      '--mode', spec.mode ?? 'eventual',
      '--liveness-timeout', String(spec.livenessTimeoutMs ?? 1000), '--grace', String(spec.graceMs ?? 1000),
      '--heartbeat-interval', '200', '--readiness', 'wait',
      ...(spec.extra ?? [])
    ]
    return { nodeId, http: `http://127.0.0.1:${http}`, ws: `ws://127.0.0.1:${ws}`, proc: startCli(group, nodeId, args) }
  })
  for (const d of daemons) {
    await waitUntil(async () => {
      if (d.proc.child.exitCode !== null) throw new Error(`${d.nodeId} exited: ${d.proc.output()}`)
      return (await get(`${d.http}/readyz`).catch(() => ({ status: 0 }))).status === 200
    }, `${d.nodeId} to be ready`, 30_000, 100)
  }
  return daemons
}

export const get = async (url: string): Promise<{ status: number; body: string }> => {
  const r = await fetch(url, { signal: AbortSignal.timeout(5000) })
  return { status: r.status, body: await r.text() }
}

/** POSTs a form body. */
export const postForm = async (url: string, fields: Record<string, string>): Promise<{ status: number; body: string }> => {
  const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields).toString(), signal: AbortSignal.timeout(5000) })
  return { status: r.status, body: await r.text() }
}

/** The cluster-wide size of `profile` as daemon `d` sees it. */
export const sizeOn = async (d: DaemonHandle, profile: string): Promise<number> => {
  const r = await get(`${d.http}/v1/profiles/${encodeURIComponent(profile)}/size`)
  if (r.status !== 200) throw new Error(`${d.nodeId} size: ${r.status} ${r.body}`)
  return (JSON.parse(r.body) as { size: number }).size
}

/** One status snapshot of daemon `d` (`GET /status.json`). */
export const statusOf = async (d: DaemonHandle): Promise<StatusSnapshot> => JSON.parse((await get(`${d.http}/status.json`)).body) as StatusSnapshot
