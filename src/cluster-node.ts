/**
 * ClusterNode: one node of a dialog-profiles cluster. It owns a {@link ProfileStore} and the
 * WebSocket transport that replicates the store's document to its peers, runs liveness
 * (heartbeats, dead owners, purges), gates admission on readiness, and optionally persists the
 * document in a data directory.
 */
import * as Y from 'yjs'
import { fail } from './errors.js'
import { Emitter } from './internal/emitter.js'
import { LivenessTracker } from './liveness.js'
import type { LivenessEvent, PeerLiveness } from './liveness.js'
import { nonNegative, positive } from './internal/checks.js'
import { nextIncarnation } from './persistence/incarnation.js'
import { FilePersistence } from './persistence/file-persistence.js'
import type { LoadReport } from './persistence/file-persistence.js'
import { ProfileStore } from './profile-store.js'
import type { AcquireResult, AddOptions } from './profile-store.js'
import { Readiness } from './readiness.js'
import type { ReadinessOptions, ReadinessPolicy } from './readiness.js'
import { Transport } from './transport/transport.js'
import type { Logger, TlsOptions, TransportEvent } from './transport/transport.js'
import type { Clock, ProfileDeclaration } from './types.js'

/**
 * Options of a {@link ClusterNode}. Every limit and timer has a default.
 *
 * @example
 * ```ts
 * const node = new ClusterNode({
 *   nodeId: 'proxy-a', profiles: [{ name: 'caller', withValue: true }],
 *   listen: { host: '0.0.0.0', port: 7400 }, peers: ['ws://proxy-b:7400'], secret: process.env.DP_SECRET!
 * })
 * await node.start(); await node.ready
 * ```
 */
export interface ClusterNodeOptions {
  /** This node's id, `[A-Za-z0-9._-]{1,64}`, the same across restarts. */
  readonly nodeId: string
  /** Declared profiles. @defaultValue [] */
  readonly profiles?: readonly ProfileDeclaration[]
  /** Where to accept peers. Port 0 picks a free port (see `address()`). Omit to only dial. */
  readonly listen?: { readonly host: string; readonly port: number }
  /** Peer urls to dial, `ws://host:port` or `wss://host:port`. Listing itself is harmless. @defaultValue [] */
  readonly peers?: readonly string[]
  /** Shared secret of the cluster (HMAC challenge-response; never sent). Required, at least 8 characters. */
  readonly secret: string
  /** Serve and dial `wss` with this certificate and key. @defaultValue undefined (plain ws) */
  readonly tls?: TlsOptions
  /** Time source, ms: liveness, expiry, rate limits. @defaultValue Date.now */
  readonly clock?: Clock
  /** Random source in [0, 1): reconnect jitter. @defaultValue Math.random */
  readonly random?: () => number
  /**
   * This run's incarnation; must grow across restarts. @defaultValue clock() at construction;
   * with `dataDir`, also above the previous run's (recorded there), so a clock stepped back
   * cannot make a restarted node look older than its previous life.
   */
  readonly incarnation?: number
  /** Yjs client id. @defaultValue random 32-bit */
  readonly clientId?: number
  /** Most memberships this node may own. @defaultValue 1000000 */
  readonly maxLocalMemberships?: number
  /** Interval of heartbeats to peers, ms. @defaultValue 1000 */
  readonly heartbeatIntervalMs?: number
  /** A node not heard of for this long is suspect (still counted), ms. @defaultValue 5000 */
  readonly livenessTimeoutMs?: number
  /** After the timeout, how long until a silent node is declared dead and its memberships stop counting, ms. @defaultValue 5000 */
  readonly graceMs?: number
  /** After being declared dead, how long until its memberships are deleted from the document, ms. @defaultValue 60000 */
  readonly purgeDelayMs?: number
  /**
   * Largest WebSocket message accepted (ws `maxPayload`) or sent, bytes; give every node the
   * same value. A state exchange larger than this goes one writing node at a time, so it must
   * hold one node's share of the state (about 56 bytes per live membership). @defaultValue 67108864 (64 MiB)
   */
  readonly maxMessageBytes?: number
  /** Most WebSocket messages per second accepted from one connection (burst of one second); past it the connection is closed. @defaultValue 10000 */
  readonly maxMessagesPerSecond?: number
  /** Most protocol messages in one WebSocket message. @defaultValue 10000 */
  readonly maxMessagesPerFrame?: number
  /** Bytes queued to one peer before it is dropped as too slow (it resyncs on reconnect). @defaultValue 134217728 (128 MiB) */
  readonly maxBufferedBytes?: number
  /** Time a new connection has to authenticate, ms. @defaultValue 5000 */
  readonly authTimeoutMs?: number
  /** First reconnect delay, ms (doubles per failure, with jitter). @defaultValue 100 */
  readonly reconnectInitialMs?: number
  /** Largest reconnect delay, ms. @defaultValue 5000 */
  readonly reconnectMaxMs?: number
  /** How often expired memberships are swept from the document, ms. @defaultValue 1000 */
  readonly sweepIntervalMs?: number
  /** Initial sync and admission before it. @defaultValue { policy: 'reject', timeoutMs: 10000, waitMs: 1000, peers: 'any', afterTimeout: 'allow' } */
  readonly readiness?: ReadinessOptions
  /** Persist the document here (append log + snapshots). @defaultValue undefined (no persistence) */
  readonly dataDir?: string
  /** fsync interval of the persistence log, ms. @defaultValue 1000 */
  readonly fsyncIntervalMs?: number
  /** Snapshot interval of the persistence, ms. @defaultValue 60000 */
  readonly snapshotIntervalMs?: number
  /** Log lines. @defaultValue warnings to console.warn, the rest dropped */
  readonly log?: Logger
}

/** Events of a cluster node, a discriminated union on `type`. */
export type ClusterEvent =
  | Exclude<TransportEvent, { type: 'heartbeat' | 'self' }>
  | LivenessEvent
  /** The connection to a peer whose state exchange had completed was lost (it resyncs on reconnect). */
  | { readonly type: 'not-synced'; readonly node: string; readonly reason: string }
  /** The initial sync completed (once per node). */
  | { readonly type: 'ready' }
  /** `readiness.timeoutMs` passed before the initial sync; `ready` rejected, the node keeps trying. */
  | { readonly type: 'not-ready'; readonly reason: string }
  /** Persisted state was loaded from `dataDir` at start. */
  | { readonly type: 'loaded'; readonly report: LoadReport }

/** One peer in the {@link ClusterView}. */
export interface PeerView {
  readonly node: string | null
  /** Configured url (null for a peer that dialled in or is known only by relay). */
  readonly url: string | null
  readonly connected: boolean
  readonly direction: 'inbound' | 'outbound' | null
  /** Whether the initial state exchange over the current connection has completed. */
  readonly synced: boolean
  readonly liveness: PeerLiveness | null
  readonly incarnation: number | null
  /** Clock time of the last heartbeat (direct or relayed), ms. */
  readonly lastHeardAt: number | null
  readonly bytesIn: number
  readonly bytesOut: number
}

/** What `cluster()` returns: this node, its peers and its document. */
export interface ClusterView {
  readonly nodeId: string
  readonly incarnation: number
  readonly clientId: number
  readonly listening: { readonly host: string; readonly port: number } | null
  readonly ready: boolean
  readonly readyState: 'syncing' | 'ready' | 'timed-out'
  readonly peers: PeerView[]
  readonly document: {
    /** Size of the encoded document state, bytes (computed on call: O(state)). */
    readonly stateBytes: number
    /** Updates applied to the document since start (local and remote): a generation counter. */
    readonly generation: number
    readonly memberships: number
    readonly structs: number
  }
}

const defaultLog: Logger = (level, msg) => { if (level === 'warn') console.warn(`dialog-profiles: ${msg}`) }


/**
 * One node of a dialog-profiles cluster: a {@link ProfileStore} replicated to peers over
 * WebSockets.
 *
 * Merge rules are the store's (add-wins observed-remove sets). Replication: every update
 * reaches every node connected through any path; each (re)connect exchanges full state.
 * Admission (`acquire`) is eventual: concurrent admissions on different nodes can overshoot.
 */
export class ClusterNode {
  readonly store: ProfileStore
  /** Resolves once the initial sync completed; rejects with `DP_ERR_NOT_READY` at `readiness.timeoutMs`. */
  readonly ready: Promise<void>
  private readonly transport: Transport
  private readonly liveness: LivenessTracker
  private readonly readiness: Readiness
  private readonly readinessPeers: 'any' | 'all'
  private readonly events = new Emitter<ClusterEvent>()
  private readonly clock: Clock
  private readonly log: Logger
  private readonly persistence: FilePersistence | undefined
  private readonly livenessIntervalMs: number
  private readonly sweepIntervalMs: number
  private timers: NodeJS.Timeout[] = []
  private generation = 0
  private started = false
  private closed = false

  constructor (readonly options: ClusterNodeOptions) {
    if (typeof options.secret !== 'string' || options.secret.length < 8) throw fail('DP_ERR_INVALID_ARGUMENT', 'secret must be a string of at least 8 characters')
    this.clock = options.clock ?? Date.now
    this.log = options.log ?? defaultLog
    this.store = new ProfileStore({
      nodeId: options.nodeId,
      clock: this.clock,
      ...(options.profiles !== undefined ? { profiles: options.profiles } : {}),
      ...(options.incarnation !== undefined
        ? { incarnation: options.incarnation }
        : options.dataDir !== undefined ? { incarnation: nextIncarnation(options.dataDir, this.clock()) } : {}),
      ...(options.clientId !== undefined ? { clientId: options.clientId } : {}),
      ...(options.maxLocalMemberships !== undefined ? { maxLocalMemberships: options.maxLocalMemberships } : {})
    })
    const heartbeatIntervalMs = positive(options.heartbeatIntervalMs ?? 1000, 'heartbeatIntervalMs')
    const livenessTimeoutMs = positive(options.livenessTimeoutMs ?? 5000, 'livenessTimeoutMs')
    const graceMs = nonNegative(options.graceMs ?? 5000, 'graceMs')
    const purgeDelayMs = nonNegative(options.purgeDelayMs ?? 60_000, 'purgeDelayMs')
    const maxMessageBytes = positive(options.maxMessageBytes ?? 64 * 1024 * 1024, 'maxMessageBytes')
    this.livenessIntervalMs = Math.min(heartbeatIntervalMs, 1000)
    this.sweepIntervalMs = positive(options.sweepIntervalMs ?? 1000, 'sweepIntervalMs')
    const r = options.readiness ?? {}
    const policy: ReadinessPolicy = r.policy ?? 'reject'
    if (policy !== 'reject' && policy !== 'allow' && policy !== 'wait') throw fail('DP_ERR_INVALID_ARGUMENT', 'readiness.policy must be reject, allow or wait')
    const afterTimeout = r.afterTimeout ?? 'allow'
    if (afterTimeout !== 'allow' && afterTimeout !== 'reject') throw fail('DP_ERR_INVALID_ARGUMENT', 'readiness.afterTimeout must be allow or reject')
    this.readiness = new Readiness(policy, positive(r.timeoutMs ?? 10_000, 'readiness.timeoutMs'), positive(r.waitMs ?? 1000, 'readiness.waitMs'), afterTimeout)
    this.readinessPeers = r.peers ?? 'any'
    this.ready = this.readiness.ready
    this.transport = new Transport({
      nodeId: this.store.nodeId,
      incarnation: this.store.incarnation,
      clientId: this.store.clientId,
      doc: this.store.doc,
      // The store decodes every update before applying it (DP_ERR_BAD_UPDATE, nothing applied).
      applyUpdate: (u, origin) => { this.store.applyUpdate(u, origin) },
      applyUpdates: (us, origin) => { this.store.applyUpdates(us, origin) },
      validateUpdates: false,
      ...(options.listen !== undefined ? { listen: options.listen } : {}),
      peers: [...(options.peers ?? [])],
      secret: options.secret,
      ...(options.tls !== undefined ? { tls: options.tls } : {}),
      clock: this.clock,
      random: options.random ?? Math.random,
      heartbeatIntervalMs,
      idleTimeoutMs: livenessTimeoutMs + graceMs,
      limits: {
        maxMessageBytes,
        maxMessagesPerSecond: positive(options.maxMessagesPerSecond ?? 10_000, 'maxMessagesPerSecond'),
        maxMessagesPerFrame: positive(options.maxMessagesPerFrame ?? 10_000, 'maxMessagesPerFrame'),
        maxBufferedBytes: positive(options.maxBufferedBytes ?? 128 * 1024 * 1024, 'maxBufferedBytes'),
        authTimeoutMs: positive(options.authTimeoutMs ?? 5000, 'authTimeoutMs')
      },
      backoffInitialMs: positive(options.reconnectInitialMs ?? 100, 'reconnectInitialMs'),
      backoffMaxMs: positive(options.reconnectMaxMs ?? 5000, 'reconnectMaxMs'),
      log: this.log
    })
    this.liveness = new LivenessTracker(this.store, { clock: this.clock, livenessTimeoutMs, graceMs, purgeDelayMs }, (e) => { this.events.emit(e) }, (m) => { this.log('warn', m) })
    this.persistence = options.dataDir !== undefined
      ? new FilePersistence({
        dir: options.dataDir,
        maxRecordBytes: maxMessageBytes,
        ...(options.fsyncIntervalMs !== undefined ? { fsyncIntervalMs: options.fsyncIntervalMs } : {}),
        ...(options.snapshotIntervalMs !== undefined ? { snapshotIntervalMs: options.snapshotIntervalMs } : {})
      }, (m) => { this.log('warn', m) })
      : undefined
    this.store.onUpdate(() => { this.generation++ })
    this.transport.events.onAny((e) => { this.onTransportEvent(e) })
  }

  /**
   * Loads persisted state (with `dataDir`), starts listening, dialling, heartbeats and timers.
   * Resolves once listening; `ready` tells when the initial sync is done.
   * @throws DialogProfilesError `DP_ERR_TRANSPORT` (cannot listen), `DP_ERR_PERSISTENCE`
   */
  async start (): Promise<void> {
    if (this.started) throw fail('DP_ERR_INVALID_ARGUMENT', 'start() was already called')
    if (this.closed) throw fail('DP_ERR_DESTROYED', 'node is closed')
    this.started = true
    if (this.persistence !== undefined) {
      const report = this.persistence.open(this.store.doc, (u, origin) => { this.store.applyUpdate(u, origin) })
      this.events.emit({ type: 'loaded', report })
    }
    try {
      await this.transport.start()
    } catch (err) {
      await this.close()
      throw err
    }
    this.timers.push(setInterval(() => { this.tick() }, this.livenessIntervalMs))
    this.timers.push(setInterval(() => { this.sweep() }, this.sweepIntervalMs))
    if (this.transport.configuredPeers().length === 0) this.markReady()
    else {
      this.readiness.start((reason) => { this.events.emit({ type: 'not-ready', reason }) }, () => this.notReadyReason())
      this.checkReady()
    }
  }

  private notReadyReason (): string {
    const peers = this.transport.configuredPeers()
    const connected = this.transport.connections()
    if (connected.length === 0) return `no configured peer reachable (${peers.map((p) => p.url).join(', ')})`
    return `connected to ${connected.map((c) => c.node).join(', ')} but the state exchange has not completed`
  }

  private onTransportEvent (e: TransportEvent): void {
    switch (e.type) {
      case 'heartbeat':
        this.liveness.heard(e.node, e.incarnation)
        return
      case 'peer-up':
        this.liveness.heard(e.node, e.incarnation)
        break
      case 'synced':
        this.events.emit(e)
        this.checkReady()
        return
      case 'self':
        // A configured url that is this node: it no longer counts for readiness.
        this.checkReady()
        return
      case 'peer-down': {
        this.events.emit(e)
        if (e.synced) this.events.emit({ type: 'not-synced', node: e.node, reason: e.reason })
        this.checkReady()
        return
      }
      default:
        break
    }
    this.events.emit(e)
  }

  private checkReady (): void {
    if (this.readiness.isReady) return
    const peers = this.transport.configuredPeers().filter((p) => !p.self)
    if (peers.length === 0) { if (this.started) this.markReady(); return }
    const synced = peers.filter((p) => p.node !== null && this.transport.isSyncedWith(p.node))
    if (this.readinessPeers === 'any' ? synced.length > 0 : synced.length === peers.length) this.markReady()
  }

  private markReady (): void {
    if (this.readiness.markReady()) this.events.emit({ type: 'ready' })
  }

  /** Whether the initial sync has completed. */
  get isReady (): boolean { return this.readiness.isReady }

  /**
   * Checks the limit and adds in one step (eventual mode: against this node's view), after the
   * readiness policy: before the initial sync, `'reject'` throws `DP_ERR_NOT_READY`, `'allow'`
   * proceeds, `'wait'` waits up to `readiness.waitMs` then throws `DP_ERR_NOT_READY`. Once
   * `readiness.timeoutMs` has passed, `readiness.afterTimeout` decides (default: proceed).
   *
   * @example
   * ```ts
   * const r = await node.acquire('call-1', 'caller', 'alice', 10)
   * if (!r.admitted) reply(503)
   * ```
   */
  async acquire (dialog: string, profile: string, value: string | null | undefined, limit: number, options?: AddOptions): Promise<AcquireResult> {
    if (this.closed) throw fail('DP_ERR_DESTROYED', 'node is closed')
    if (!this.readiness.isReady) await this.readiness.admit()
    return this.store.tryAcquire(dialog, profile, value, limit, options)
  }

  /** Subscribes to one event type; returns the unsubscribe function. */
  on<T extends ClusterEvent['type']> (type: T, fn: (event: Extract<ClusterEvent, { type: T }>) => void): () => void {
    return this.events.on(type, fn)
  }

  /** Runs the liveness check now (it also runs on a timer); useful with an injected clock. */
  tick (): void {
    if (this.closed) return
    try {
      this.liveness.check()
    } catch (err) {
      this.log('warn', `liveness check failed: ${err instanceof Error ? err.message : String(err)}`)
    }
  }

  private sweep (): void {
    if (this.closed) return
    try { this.store.sweep() } catch (err) { this.log('warn', `sweep failed: ${err instanceof Error ? err.message : String(err)}`) }
  }

  /** The address the node listens on (port resolved when `listen.port` was 0). */
  address (): { host: string; port: number } | undefined { return this.transport.address() }

  /** The url peers can dial to reach this node. */
  url (): string | undefined {
    const a = this.address()
    if (a === undefined) return undefined
    const host = a.host.includes(':') ? `[${a.host}]` : a.host
    return `${this.options.tls !== undefined ? 'wss' : 'ws'}://${host}:${a.port}`
  }

  /** Traffic totals over every connection ever made (bytes, frames, updates). */
  traffic (): ReturnType<Transport['totals']> { return this.transport.totals() }

  /** Adds a peer url to dial from now on (it does not change readiness). */
  addPeer (url: string): void { this.transport.addPeer(url) }

  /** Drops every connection; they are redialled with backoff and resync. For tests and operators. */
  reconnect (): void { this.transport.disconnectAll('reconnect requested') }

  /** Writes a snapshot now (with `dataDir`). */
  snapshot (): void {
    this.store.flushWrites()
    this.persistence?.snapshot()
  }

  /** This node, its peers (configured, connected, or known by relayed heartbeats) and its document. */
  cluster (): ClusterView {
    const conns = this.transport.connections()
    const byNode = new Map(conns.map((c) => [c.node, c]))
    const live = new Map(this.liveness.entries().map((l) => [l.node, l]))
    const peers: PeerView[] = []
    const seen = new Set<string>()
    const add = (node: string | null, url: string | null): void => {
      if (node !== null) seen.add(node)
      const c = node !== null ? byNode.get(node) : undefined
      const l = node !== null ? live.get(node) : undefined
      peers.push({
        node,
        url,
        connected: c !== undefined,
        direction: c?.direction ?? null,
        synced: c?.synced ?? false,
        liveness: l?.state ?? null,
        incarnation: l?.incarnation ?? null,
        lastHeardAt: l?.lastHeardAt ?? null,
        bytesIn: c?.stats.bytesIn ?? 0,
        bytesOut: c?.stats.bytesOut ?? 0
      })
    }
    for (const p of this.transport.configuredPeers()) if (!p.self) add(p.node, p.url)
    for (const c of conns) if (!seen.has(c.node)) add(c.node, null)
    for (const l of live.keys()) if (!seen.has(l)) add(l, null)
    this.store.flushWrites()
    const stats = this.store.stats()
    return {
      nodeId: this.store.nodeId,
      incarnation: this.store.incarnation,
      clientId: this.store.clientId,
      listening: this.address() ?? null,
      ready: this.readiness.isReady,
      readyState: this.readiness.isReady ? 'ready' : this.readiness.timedOut ? 'timed-out' : 'syncing',
      peers,
      document: {
        stateBytes: Y.encodeStateAsUpdate(this.store.doc).length,
        generation: this.generation,
        memberships: stats.memberships,
        structs: stats.structs
      }
    }
  }

  /** Ends every socket and timer, flushes persistence and destroys the store. Idempotent. */
  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    // Local writes made just before close reach the peers and the log.
    try { this.store.flushWrites() } catch { /* store already destroyed */ }
    for (const t of this.timers) clearInterval(t)
    this.timers = []
    this.readiness.close()
    await this.transport.close()
    this.persistence?.close()
    this.events.clear()
    this.store.destroy()
  }
}
