/**
 * One cluster node in its own process, driven by the cluster scenario over IPC (see
 * cluster-protocol.ts). Started by process-cluster.ts with `fork`; exits when told to, when the
 * parent goes away, or after a hard limit of 30 minutes.
 * Environment: DP_BENCH_IMPL (`dialog-profiles` or `ymap-hub`), DP_BENCH_NODE (id),
 * DP_BENCH_PEERS (JSON array of urls: the mesh peers, or the hub), DP_BENCH_CLIENT_ID.
 *
 * `dialog-profiles`: a ClusterNode dialling the nodes started before it (a full mesh).
 * `dialog-profiles-hub`: a ClusterNode joining through the hub (`hubs` option, the hub topology).
 * `ymap-hub`: the baseline a user would build from Yjs's own packages: a flat `Y.Map` of live
 * calls (dialog id -> 1) synced through one `@y/websocket-server` hub with the `y-websocket` 3
 * provider (`WebSocketPolyfill` from `ws`, `disableBc`, no `resyncInterval`).
 */
import * as Y from 'yjs'
import { WebSocket } from 'ws'
import { WebsocketProvider } from 'y-websocket'
import { ClusterNode } from '../../src/index.js'
import type { ClusterImpl, WorkerEvent, WorkerReply, WorkerRequest } from './cluster-protocol.js'
import { wallNow } from './cluster-protocol.js'
import { LoadGenerator, PROFILE, waitUntil } from './load-generator.js'
import { dialogId } from './prng.js'
import { StallSampler } from './stall-sampler.js'
import type { Writer } from './load-generator.js'

const HARD_LIMIT_MS = 30 * 60 * 1000
const send = (m: WorkerReply | WorkerEvent): void => { if (process.send !== undefined && process.connected) process.send(m) }

const impl = (process.env['DP_BENCH_IMPL'] ?? 'dialog-profiles') as ClusterImpl
const nodeId = process.env['DP_BENCH_NODE'] ?? 'w'
const peers = JSON.parse(process.env['DP_BENCH_PEERS'] ?? '[]') as string[]
const clientId = Number(process.env['DP_BENCH_CLIENT_ID'] ?? '1')
/** A late joiner: its replica starts only on a `join` request (the late-join-net scenario). */
const deferred = process.env['DP_BENCH_DEFER'] === '1'
/** Calls written per loop turn by a `fill` request. */
const FILL_CHUNK = 2000

/** What the scenario needs of one replica, whatever the implementation. */
interface Replica {
  readonly url: string
  /** Writes of the batched mode and of one transaction per op. */
  readonly batched: Writer
  readonly perOp: Writer
  has (dialog: string): boolean
  size (): number
  members (): string[]
  /** Connected (and synced) to this many others: mesh peers, or 1 for the hub. */
  connected (): number
  ready (): boolean
  traffic (): { updatesIn: number, updatesOut: number, bytesIn: number, bytesOut: number, stateBytesOut: number }
  /**
   * Calls `fn` after every transaction of the replica's document. Not an `update` listener: with
   * one, Yjs encodes every transaction for it, work a node that relays nothing (a mesh node's
   * applied updates) never does otherwise.
   */
  onChange (fn: () => void): void
  drops (): number
  /** Encoded bytes of the replica's whole state. */
  stateBytes (): number
  /** Peers taken for suspect or dead (liveness events; 0 for the baseline, which has none). */
  suspicions (): { suspect: number, dead: number }
  close (): Promise<void>
}

const clusterReplica = async (): Promise<Replica> => {
  const throughHub = impl === 'dialog-profiles-hub'
  const node = new ClusterNode({
    nodeId,
    profiles: [{ name: PROFILE }],
    // The bench's hub checks no token; a node sends one all the same.
    ...(throughHub ? { hubs: peers.map((url) => ({ url, token: 'bench-hub-token' })) } : { listen: { host: '127.0.0.1', port: 0 }, peers, secret: 'bench-cluster-secret' }),
    clientId,
    incarnation: 1,
    readiness: { policy: 'allow', timeoutMs: 10_000 },
    log: (level, msg) => { if (level === 'warn') process.stderr.write(`node ${nodeId}: ${msg}\n`) }
  })
  let drops = 0
  let suspect = 0
  let dead = 0
  node.on('peer-down', () => { drops++ })
  node.on('owner-suspect', () => { suspect++ })
  node.on('owner-dead', () => { dead++ })
  await node.start()
  const url = throughHub ? peers[0] : node.url()
  if (url === undefined) throw new Error('no url')
  const add = (d: string): void => { node.store.add(d, PROFILE) }
  const remove = (d: string): void => { node.store.remove(d, PROFILE) }
  return {
    url,
    batched: { add, remove, batch: (fn) => { fn() }, afterOp: () => {} },
    perOp: { add, remove, batch: (fn) => { fn() }, afterOp: () => { node.store.flushWrites() } },
    has: (d) => node.store.has(d, PROFILE),
    size: () => node.store.size(PROFILE),
    members: () => node.store.members(PROFILE).map((m) => m.dialog),
    connected: () => throughHub ? node.cluster().hubs.filter((h) => h.synced).length : node.cluster().peers.filter((p) => p.connected && p.synced).length,
    ready: () => node.isReady,
    traffic: () => {
      const t = node.traffic()
      return { updatesIn: t.updatesIn + t.duplicatesIn, updatesOut: t.updatesOut, bytesIn: t.bytesIn, bytesOut: t.bytesOut, stateBytesOut: t.stateBytesOut }
    },
    onChange: (fn) => { node.store.doc.on('afterTransactionCleanup', fn) },
    drops: () => drops,
    stateBytes: () => node.store.encodeState().length,
    suspicions: () => ({ suspect, dead }),
    close: async () => { await node.close() }
  }
}

const hubReplica = async (): Promise<Replica> => {
  const hub = peers[0]
  if (hub === undefined) throw new Error('no hub url')
  const doc = new Y.Doc()
  doc.clientID = clientId
  const calls = doc.getMap<number>('calls')
  const provider = new WebsocketProvider(hub, 'bench', doc, { WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket, disableBc: true })
  let drops = 0
  let bytesIn = 0
  let updatesIn = 0
  let bytesOut = 0
  let updatesOut = 0
  let hooked: unknown = null
  const hook = (): void => {
    const ws = provider.ws as unknown as WebSocket | null
    if (ws === null || ws === hooked) return
    hooked = ws
    ws.on('message', (data: ArrayBuffer | Buffer) => {
      const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : data
      bytesIn += bytes.length
      if (bytes[0] === 0) updatesIn++ // y-protocols sync (step 2 or update); awareness is 1
    })
  }
  provider.on('status', (e: { status: string }) => { if (e.status === 'connected') hook(); else if (e.status === 'disconnected') drops++ })
  doc.on('update', (u: Uint8Array, origin: unknown) => { if (origin !== provider) { updatesOut++; bytesOut += u.length } })
  hook()
  const add = (d: string): void => { calls.set(d, 1) }
  const remove = (d: string): void => { calls.delete(d) }
  return {
    url: hub,
    batched: { add, remove, batch: (fn) => { doc.transact(fn) }, afterOp: () => {} },
    perOp: { add, remove, batch: (fn) => { fn() }, afterOp: () => {} },
    has: (d) => calls.has(d),
    size: () => { let n = 0; for (const _k of calls.keys()) n++; return n },
    members: () => [...calls.keys()],
    connected: () => provider.wsconnected && provider.synced ? 1 : 0,
    ready: () => provider.synced,
    traffic: () => ({ updatesIn, updatesOut, bytesIn, bytesOut, stateBytesOut: 0 }),
    onChange: (fn) => { doc.on('afterTransactionCleanup', fn) },
    drops: () => drops,
    stateBytes: () => Y.encodeStateAsUpdate(doc).length,
    suspicions: () => ({ suspect: 0, dead: 0 }),
    close: async () => { provider.destroy(); doc.destroy(); await Promise.resolve() }
  }
}

const shutdownWith = (replica: Replica | undefined) => async (code: number): Promise<void> => {
  try { await replica?.close() } finally { process.exit(code) }
}

const newReplica = async (): Promise<Replica> => impl === 'ymap-hub' ? await hubReplica() : await clusterReplica()

/**
 * A late joiner: up at once with no replica; on `join` it starts one, connects and measures the
 * time until it is ready and holds every call, then its peak RSS and the bytes it received.
 */
const joinerMain = (): void => {
  let replica: Replica | undefined
  const handle = async (req: WorkerRequest): Promise<WorkerReply> => {
    switch (req.type) {
      case 'join': {
        if (replica !== undefined) throw new Error('joined already')
        const t0 = performance.now()
        const cpu0 = process.cpuUsage()
        const r = replica = await newReplica()
        const ok = await waitUntil(() => r.ready() && r.size() === req.expect, req.timeoutMs)
        const ms = performance.now() - t0
        const cpu = process.cpuUsage(cpu0)
        const cpuMs = (cpu.user + cpu.system) / 1000
        const maxRssKb = process.resourceUsage().maxRSS
        const { bytesIn, bytesOut } = r.traffic()
        return { id: req.id, type: 'joined', ok, size: r.size(), ms, maxRssKb, cpuMs, bytesIn, bytesOut, stateBytes: r.stateBytes() }
      }
      case 'close':
        setImmediate(() => { void shutdownWith(replica)(0) })
        return { id: req.id, type: 'ok' }
      default:
        throw new Error(`a deferred joiner answers only join and close, not ${req.type}`)
    }
  }
  process.on('message', (raw: unknown) => {
    const req = raw as WorkerRequest
    handle(req).then(send, (err: unknown) => { send({ id: req.id, type: 'error', message: err instanceof Error ? err.message : String(err) }) })
  })
  process.on('disconnect', () => { void shutdownWith(replica)(0) })
  setTimeout(() => { void shutdownWith(replica)(3) }, HARD_LIMIT_MS).unref()
  send({ type: 'up', url: '' })
}

const main = async (): Promise<void> => {
  if (deferred) { joinerMain(); return }
  const replica = await newReplica()
  const shutdown = shutdownWith(replica)
  // Event-loop stalls: the largest gap between ticks of a 10 ms timer since the last reset.
  const stalls = new StallSampler()
  const watched = new Set<string>()
  replica.onChange(() => {
    if (watched.size === 0) return
    for (const d of watched) {
      if (replica.has(d)) {
        watched.delete(d)
        send({ type: 'seen', dialog: d, at: wallNow() })
      }
    }
  })
  let gen: LoadGenerator | undefined
  let genMode = ''
  const handle = async (req: WorkerRequest): Promise<WorkerReply> => {
    switch (req.type) {
      case 'wait-mesh': {
        const ok = await waitUntil(() => replica.ready() && replica.connected() >= req.peers, req.timeoutMs)
        return { id: req.id, type: 'meshed', ok, connected: replica.connected() }
      }
      case 'watch':
        if (replica.has(req.dialog)) send({ type: 'seen', dialog: req.dialog, at: wallNow() })
        else watched.add(req.dialog)
        return { id: req.id, type: 'ok' }
      case 'add': {
        const at = wallNow()
        replica.batched.add(req.dialog)
        return { id: req.id, type: 'added', at }
      }
      case 'remove':
        replica.batched.remove(req.dialog)
        return { id: req.id, type: 'ok' }
      case 'load': {
        if (gen === undefined || genMode !== req.mode) {
          gen?.endAll()
          gen = new LoadGenerator([req.mode === 'per-op' ? replica.perOp : replica.batched], req.seed, req.tag)
          genMode = req.mode
        }
        const r = await gen.run(req.callsPerSecond, req.holdMs, req.durationMs)
        return { id: req.id, type: 'loaded', ops: r.ops, seconds: r.seconds, live: [...r.live], cpuMs: r.cpuMs }
      }
      case 'end-all':
        gen?.endAll()
        return { id: req.id, type: 'ok' }
      case 'state': {
        const cpu = process.cpuUsage()
        const traffic = { ...replica.traffic(), opsIssued: gen?.totalOps ?? 0, cpuMs: (cpu.user + cpu.system) / 1000 }
        const health = { ...stalls.read(), ...replica.suspicions(), closed: replica.drops() }
        return { id: req.id, type: 'state', size: replica.size(), members: req.members === true ? replica.members() : [], drops: replica.drops(), traffic, health }
      }
      case 'fill': {
        for (let i = 0; i < req.count; i += FILL_CHUNK) {
          const end = Math.min(req.count, i + FILL_CHUNK)
          replica.batched.batch(() => { for (let k = i; k < end; k++) replica.batched.add(dialogId(k, req.tag)) })
          await new Promise((resolve) => setImmediate(resolve))
        }
        return { id: req.id, type: 'ok' }
      }
      case 'count':
        return { id: req.id, type: 'count', size: replica.size() }
      case 'join':
        throw new Error('join is for a deferred joiner (DP_BENCH_DEFER=1)')
      case 'reset-stalls':
        stalls.reset()
        return { id: req.id, type: 'ok' }
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
  send({ type: 'up', url: replica.url })
}

main().catch((err: unknown) => {
  process.stderr.write(`node ${nodeId} failed to start: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exit(2)
})
