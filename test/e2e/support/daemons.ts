/**
 * A full-mesh cluster of real daemons for the Kamailio and browser tests, on top of the daemon
 * tests' process helpers (../support.ts): each daemon dials every one started before it.
 */
import type { StatusSnapshot } from '../../../src/server/status-feed.js'
import { http, size, startDaemon } from '../support.js'
import type { DaemonProcess } from '../support.js'
import { waitUntil } from './processes.js'

/** One daemon of the cluster. */
export interface DaemonHandle {
  readonly nodeId: string
  readonly http: string
  readonly proc: DaemonProcess
}

export interface ClusterSpec {
  readonly size: number
  readonly profiles: readonly string[]
  readonly mode?: 'eventual' | 'strict'
  readonly livenessTimeoutMs?: number
  readonly graceMs?: number
  /** More flags for every daemon. */
  readonly args?: readonly string[]
}

/** Starts `spec.size` daemons (`dp-1`...), each dialling those before it; resolves once all are ready. */
export const startCluster = async (spec: ClusterSpec): Promise<DaemonHandle[]> => {
  const daemons: DaemonHandle[] = []
  const ws: string[] = []
  for (let i = 0; i < spec.size; i++) {
    const nodeId = `dp-${i + 1}`
    const proc = await startDaemon([
      '--node-id', nodeId, ...spec.profiles.flatMap((p) => ['--profile', p]), ...ws.flatMap((u) => ['--peer', u]),
      '--mode', spec.mode ?? 'eventual', '--heartbeat-interval', '200',
      // strict: every daemon names the same node list, over which the limits' rights are split
      ...(spec.mode === 'strict' ? Array.from({ length: spec.size }, (_, k) => ['--admission-node', `dp-${k + 1}`]).flat() : []),
      '--liveness-timeout', String(spec.livenessTimeoutMs ?? 1000), '--grace', String(spec.graceMs ?? 1000), '--readiness', 'wait',
      ...(spec.args ?? [])
    ])
    daemons.push({ nodeId, http: proc.http, proc })
    ws.push(proc.ws)
  }
  for (const d of daemons) {
    await waitUntil(async () => (await http('GET', `${d.http}/readyz`)).status === 200, `${d.nodeId} to be ready`, 30_000, 100)
    await waitUntil(async () => (await statusOf(d)).nodes.filter((n) => !n.self && n.connected).length === spec.size - 1, `${d.nodeId} to see every peer`, 30_000, 100)
  }
  return daemons
}

/** SIGKILLs a daemon (no goodbye) and waits for its exit. */
export const killDaemon = async (d: DaemonHandle): Promise<void> => {
  d.proc.signal('SIGKILL')
  await d.proc.exited
}

/** The cluster-wide size of `profile` as daemon `d` sees it. */
export const sizeOn = async (d: DaemonHandle, profile: string): Promise<number> => await size(d.http, profile)

/** One status snapshot of daemon `d` (`GET /status.json`). */
export const statusOf = async (d: DaemonHandle): Promise<StatusSnapshot> => (await http('GET', `${d.http}/status.json`)).json as StatusSnapshot
