/**
 * One cluster node in its own process, driven by the cluster scenario over IPC (see
 * cluster-protocol.ts). Started by process-cluster.ts with `fork`; exits when told to, when the
 * parent goes away, or after a hard limit of 30 minutes.
 * Environment: DP_BENCH_NODE (id), DP_BENCH_PEERS (JSON array of urls), DP_BENCH_CLIENT_ID.
 */
import { ClusterNode } from '../../src/index.js'
import type { WorkerEvent, WorkerReply, WorkerRequest } from './cluster-protocol.js'
import { wallNow } from './cluster-protocol.js'
import { LoadGenerator, PROFILE, waitUntil } from './load-generator.js'

const HARD_LIMIT_MS = 30 * 60 * 1000
const send = (m: WorkerReply | WorkerEvent): void => { if (process.send !== undefined && process.connected) process.send(m) }

const nodeId = process.env['DP_BENCH_NODE'] ?? 'w'
const peers = JSON.parse(process.env['DP_BENCH_PEERS'] ?? '[]') as string[]
const clientId = Number(process.env['DP_BENCH_CLIENT_ID'] ?? '1')

const node = new ClusterNode({
  nodeId,
  profiles: [{ name: PROFILE }],
  listen: { host: '127.0.0.1', port: 0 },
  peers,
  secret: 'bench-cluster-secret',
  clientId,
  incarnation: 1,
  readiness: { policy: 'allow', timeoutMs: 10_000 },
  log: (level, msg) => { if (level === 'warn') process.stderr.write(`node ${nodeId}: ${msg}\n`) }
})
let drops = 0
node.on('peer-down', () => { drops++ })

const watched = new Set<string>()
node.store.onUpdate(() => {
  if (watched.size === 0) return
  for (const d of watched) {
    if (node.store.has(d, PROFILE)) {
      watched.delete(d)
      send({ type: 'seen', dialog: d, at: wallNow() })
    }
  }
})

let gen: LoadGenerator | undefined

const shutdown = async (code: number): Promise<void> => {
  try { await node.close() } finally { process.exit(code) }
}

const handle = async (req: WorkerRequest): Promise<WorkerReply> => {
  switch (req.type) {
    case 'wait-mesh': {
      const connected = (): number => node.cluster().peers.filter((p) => p.connected && p.synced).length
      const ok = await waitUntil(() => node.isReady && connected() >= req.peers, req.timeoutMs)
      return { id: req.id, type: 'meshed', ok, connected: connected() }
    }
    case 'watch':
      if (node.store.has(req.dialog, PROFILE)) send({ type: 'seen', dialog: req.dialog, at: wallNow() })
      else watched.add(req.dialog)
      return { id: req.id, type: 'ok' }
    case 'add': {
      const at = wallNow()
      node.store.add(req.dialog, PROFILE)
      return { id: req.id, type: 'added', at }
    }
    case 'remove':
      node.store.remove(req.dialog, PROFILE)
      return { id: req.id, type: 'ok' }
    case 'load': {
      gen = gen ?? new LoadGenerator([node], req.seed, req.tag)
      const r = await gen.run(req.callsPerSecond, req.holdMs, req.durationMs)
      return { id: req.id, type: 'loaded', ops: r.ops, seconds: r.seconds, live: [...r.live] }
    }
    case 'end-all':
      gen?.endAll()
      return { id: req.id, type: 'ok' }
    case 'state':
    {
      const t = node.traffic()
      const traffic = { updatesIn: t.updatesIn, updatesOut: t.updatesOut, bytesIn: t.bytesIn, bytesOut: t.bytesOut, opsIssued: gen?.totalOps ?? 0 }
      return { id: req.id, type: 'state', size: node.store.size(PROFILE), members: node.store.members(PROFILE).map((m) => m.dialog), drops, traffic }
    }
    case 'close':
      setImmediate(() => { void shutdown(0) })
      return { id: req.id, type: 'ok' }
  }
}

process.on('message', (raw: unknown) => {
  const req = raw as WorkerRequest
  handle(req).then(send, (err: unknown) => { send({ id: req.id, type: 'error', message: err instanceof Error ? err.message : String(err) }) })
})
process.on('disconnect', () => { void shutdown(0) })
setTimeout(() => { void shutdown(3) }, HARD_LIMIT_MS).unref()

node.start().then(() => {
  const url = node.url()
  if (url === undefined) throw new Error('no url')
  send({ type: 'up', url })
}, (err: unknown) => {
  process.stderr.write(`node ${nodeId} failed to start: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exit(2)
})
