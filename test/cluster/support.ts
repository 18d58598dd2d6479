/**
 * Helpers for the cluster tests: bounded waiting, transports over bare Y.Docs, cluster nodes on
 * ephemeral loopback ports with fast timers.
 */
import * as Y from 'yjs'
import { ClusterNode } from '../../src/cluster-node.js'
import type { ClusterNodeOptions } from '../../src/cluster-node.js'
import { Transport } from '../../src/transport/transport.js'
import type { TransportOptions } from '../../src/transport/transport.js'

/** Polls `cond` every 10 ms until true; throws after `timeoutMs` (bounded in time and count). */
export const waitFor = async (cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  for (let i = 0; i < timeoutMs / 5 + 10; i++) {
    if (cond()) return
    if (Date.now() > deadline) break
    await sleep(10)
  }
  if (!cond()) throw new Error(`timed out waiting for ${what}`)
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => { setTimeout(resolve, ms) })

/** Silent logger that keeps the lines, so tests can assert on logged reasons. */
export const memoryLog = (): { lines: string[]; log: (level: string, msg: string) => void } => {
  const lines: string[] = []
  return { lines, log: (level, msg) => { lines.push(`${level}: ${msg}`); if (process.env['DP_TEST_LOG'] === '1') console.log(level, msg) } }
}

export interface DocNode {
  readonly id: string
  readonly doc: Y.Doc
  readonly transport: Transport
  readonly lines: string[]
  url: string
}

/**
 * A transport over a bare Y.Doc, listening on an ephemeral loopback port. The document checks
 * nothing it applies: these nodes only ever talk to each other. Hostile input goes to
 * ClusterNodes, whose store checks every update (`ProfileStore.applyUpdates`).
 */
export const docNode = async (id: string, peers: string[], extra: Partial<TransportOptions> = {}): Promise<DocNode> => {
  const doc = new Y.Doc()
  const { lines, log } = memoryLog()
  const transport = new Transport({
    nodeId: id,
    incarnation: 1,
    clientId: doc.clientID,
    doc,
    applyUpdates: (updates, origin) => { doc.transact(() => { for (const u of updates) Y.applyUpdate(doc, u, origin) }, origin) },
    listen: { host: '127.0.0.1', port: 0 },
    peers,
    secret: 'test-secret',
    clock: Date.now,
    random: Math.random,
    heartbeatIntervalMs: 200,
    idleTimeoutMs: 10_000,
    limits: { maxMessageBytes: 16 * 1024 * 1024, maxMessagesPerSecond: 5000, maxMessagesPerFrame: 10_000, maxBufferedBytes: 64 * 1024 * 1024, authTimeoutMs: 2000 },
    backoffInitialMs: 20,
    backoffMaxMs: 200,
    log,
    ...extra
  })
  await transport.start()
  const a = transport.address()!
  return { id, doc, transport, lines, url: `ws://127.0.0.1:${a.port}` }
}

/** Keys of the test map, sorted. */
export const keysOf = (doc: Y.Doc): string => [...doc.getMap('m').keys()].sort().join(',')

export const PROFILES = [{ name: 'total' }, { name: 'caller', withValue: true }] as const
export const SECRET = 'cluster-test-secret'

/** Fast timers for tests: heartbeats every 50 ms, dead after 300 + 200 ms, purged 300 ms later. */
export const FAST = {
  heartbeatIntervalMs: 50,
  livenessTimeoutMs: 300,
  graceMs: 200,
  purgeDelayMs: 300,
  reconnectInitialMs: 20,
  reconnectMaxMs: 200,
  sweepIntervalMs: 200
} as const

/** Starts a ClusterNode on an ephemeral loopback port; `closeAll` closes every node started. */
export const nodeFactory = (): { start: (id: string, peers: string[], extra?: Partial<ClusterNodeOptions>) => Promise<ClusterNode & { lines: string[] }>; closeAll: () => Promise<void> } => {
  const nodes: ClusterNode[] = []
  return {
    start: async (id, peers, extra = {}) => {
      const { lines, log } = memoryLog()
      const node = new ClusterNode({
        nodeId: id,
        profiles: [...PROFILES],
        listen: { host: '127.0.0.1', port: 0 },
        peers,
        secret: SECRET,
        log,
        readiness: { policy: 'reject', timeoutMs: 10_000 },
        ...FAST,
        ...extra
      })
      nodes.push(node)
      await node.start()
      return Object.assign(node, { lines })
    },
    closeAll: async () => { await Promise.all(nodes.splice(0).map((n) => n.close())) }
  }
}

let probes = 0
/** `from` still reaches `to` and back: a new membership added on `from` arrives at `to`. */
export const stillServing = async (from: ClusterNode, to: ClusterNode): Promise<void> => {
  const id = `probe-${probes++}`
  from.store.add(id, 'total')
  await waitFor(() => to.store.has(id, 'total'), `${to.store.nodeId} still serves ${from.store.nodeId} (${id})`)
}
