/**
 * ClusterNode: one node of a dialog-profiles cluster. It owns a {@link ProfileStore} and the
 * WebSocket transport that replicates the store's document to its peers, runs liveness
 * (heartbeats, dead owners, purges), gates admission on readiness, and optionally persists the
 * document in a data directory.
 */
import { fail } from './errors.js'
import { Emitter } from './internal/emitter.js'
import { onDocumentChange } from './internal/partition-doc.js'
import { LivenessTracker } from './liveness.js'
import type { LivenessEvent } from './liveness.js'
import { resolveOptions } from './options.js'
import type { ClusterNodeOptions, ResolvedOptions } from './options.js'
import { nextIncarnation, resumeIncarnation } from './persistence/incarnation.js'
import { HubLinks } from './hub-links.js'
import type { HubEvent } from './hub-links.js'
import { ObserverEndpoint } from './observer-endpoint.js'
import { FilePersistence } from './persistence/file-persistence.js'
import type { LoadReport, PersistenceEvent } from './persistence/file-persistence.js'
import { ProfileStore } from './profile-store.js'
import type { AddOptions } from './profile-store.js'
import { Admission } from './admission/admission.js'
import type { ReleaseKey } from './admission/admission.js'
import type { AdmissionKey, AdmissionResult } from './admission/types.js'
import { Readiness } from './readiness.js'
import type { NotReadyReason } from './readiness.js'
import { Transport } from './transport/transport.js'
import type { TransportEvent } from './transport/transport.js'
import { clusterView, peerViews, type ClusterView, type PeerView } from './cluster-view.js'

export type { ClusterNodeOptions } from './options.js'

/** Events of a cluster node, a discriminated union on `type`. */
export type ClusterEvent =
  | Exclude<TransportEvent, { type: 'heartbeat' | 'self' | 'update-refused' }>
  | LivenessEvent
  /** Hub topology: a hub connection opened, completed its state exchange, or closed. */
  | HubEvent
  /** The connection to a peer whose state exchange had completed was lost (it resyncs on reconnect). */
  | { readonly type: 'not-synced'; readonly node: string; readonly reason: string }
  /** The initial sync completed (once per node). */
  | { readonly type: 'ready' }
  /** `readiness.timeoutMs` passed before the initial sync; `ready` rejected, the node keeps trying. */
  | { readonly type: 'not-ready'; readonly reason: string }
  /** Persisted state was loaded from `dataDir` at start. */
  | { readonly type: 'loaded'; readonly report: LoadReport }
  /**
   * Damaged log records skipped at load (`reason: 'corrupt'`, with the count), or a failed write
   * to `dataDir` (`reason: 'write'`: the node is `degraded` until `persistence-recovered`).
   */
  | PersistenceEvent

/** Yjs clients in the document past which a node warns (and again at each doubling). */
const CLIENTS_WARN_AT = 1000

/** Least time between two state requests made because the store dropped waiting parts of updates, ms. */
const DROP_STATE_REQUEST_SPACING_MS = 60_000

/**
 * One node of a dialog-profiles cluster: a {@link ProfileStore} replicated to peers over
 * WebSockets.
 *
 * Merge rules are the store's (add-wins observed-remove sets). Replication: every update
 * reaches every node connected through any path; each (re)connect exchanges full state.
 * Admission (`acquire`): a mode per profile, eventual (concurrent admissions on different nodes
 * can overshoot) or strict (a bounded counter: never above the limit), see src/admission/.
 */
export class ClusterNode {
  readonly store: ProfileStore
  /** The admission API over the store (`acquire` / `release` delegate to it). */
  readonly admission: Admission
  /** Resolves once the initial sync completed; rejects with `DP_ERR_NOT_READY` at `readiness.timeoutMs`. */
  readonly ready: Promise<void>
  /** The resolved options; private because they hold the secret. */
  readonly #options: ResolvedOptions
  private readonly transport: Transport
  private readonly liveness: LivenessTracker
  private readonly readiness: Readiness
  private readonly events = new Emitter<ClusterEvent>()
  private readonly persistence: FilePersistence | undefined
  /** Hub topology (`hubs` option), else undefined. */
  private readonly hubs: HubLinks | undefined
  private readonly observer: ObserverEndpoint | undefined
  private timers: NodeJS.Timeout[] = []
  private generation = 0
  private invalidRecords = 0
  /** Next count of Yjs clients in the document that logs a warning (see `watchClients`). */
  private clientsWarnAt = CLIENTS_WARN_AT
  /** Times the store dropped parts of updates waiting for structs not here yet (`unapplied-dropped`). */
  private unappliedDrops = 0
  /** Monotonic time of the last state request after such a drop, and the request waiting for its turn. */
  private lastDropRequestAt = -Infinity
  private dropRequestTimer: NodeJS.Timeout | undefined
  /** `clientId reason` pairs already logged (bounded). */
  private readonly invalidLogged = new Set<string>()
  private started = false
  private closed = false

  /**
   * Checks every option (see `resolveOptions`) before anything happens; with `dataDir`, then
   * takes the directory's lock (a directory in use by a live process is refused before anything
   * in it is read or written) and records this run's incarnation there. The lock is held until
   * `close()`.
   * @throws DialogProfilesError `DP_ERR_INVALID_ARGUMENT` naming a bad option, `DP_ERR_PERSISTENCE`
   */
  constructor (options: ClusterNodeOptions) {
    const o = resolveOptions(options)
    this.#options = o
    // The data directory's lock comes first: a second process refused for a directory in use
    // must not touch it (a new INCARNATION written there would void the holder's calls when
    // it next resumes).
    this.persistence = o.dataDir !== undefined
      ? new FilePersistence({
        dir: o.dataDir,
        maxRecordBytes: o.maxMessageBytes,
        fsyncIntervalMs: o.fsyncIntervalMs,
        snapshotIntervalMs: o.snapshotIntervalMs,
        retryIntervalMs: o.persistenceRetryMs,
        ...(o.fileSystem !== undefined ? { fileSystem: o.fileSystem } : {}),
        clock: o.clock
      }, (e) => { this.events.emit(e) }, (m) => { o.log('warn', m) })
      : undefined
    this.persistence?.lockDir()
    try {
      const incarnation = o.incarnation ?? (o.dataDir !== undefined ? (o.resume ? resumeIncarnation : nextIncarnation)(o.dataDir, o.clock()) : undefined)
      this.store = new ProfileStore({
        nodeId: o.nodeId,
        clock: o.clock,
        profiles: o.profiles,
        maxLocalMemberships: o.maxLocalMemberships,
        writeDelayMs: o.writeDelayMs,
        maxClockSkewMs: o.maxClockSkewMs,
        pendingReleaseMs: o.pendingReleaseMs,
        maxPendingReleases: o.maxPendingReleases,
        maxClients: o.maxClients,
        ...(incarnation !== undefined ? { incarnation } : {}),
        ...(o.resume ? { resume: true } : {}),
        ...(o.clientId !== undefined ? { clientId: o.clientId } : {})
      })
      this.admission = new Admission(this.store, {
        nodes: o.admission.nodes,
        reserve: o.admission.reserve,
        clock: o.clock,
        leaseMs: o.admission.leaseMs,
        leaseMarginMs: o.admission.leaseMarginMs,
        start: false,
        // A node with no strict profile (now: profiles can be declared later) reads no rights:
        // every peer's hello row names a node its default admission.nodes (itself alone) does not
        // list, which is no fault of the peer. Rare, so the profiles are looked up per row.
        onInvalid: (client, reason) => {
          const strict = this.store.profiles().some((p) => p.admission === 'strict')
          o.log(strict ? 'warn' : 'debug', `ignored a strict-admission row of client ${client}: ${reason}`)
        }
      })
      const r = o.readiness
      this.readiness = new Readiness(r.policy, r.timeoutMs, r.waitMs, r.afterTimeout, () => this.mayAdmitAfterTimeout())
      this.ready = this.readiness.ready
      this.transport = new Transport({
        nodeId: this.store.nodeId,
        incarnation: this.store.incarnation,
        clientId: this.store.clientId,
        doc: this.store.doc,
        // The store checks every update before applying any (DP_ERR_BAD_UPDATE, nothing applied).
        applyUpdates: (us, origin) => { this.store.applyUpdates(us, origin) },
        ...(o.listen !== undefined ? { listen: o.listen } : {}),
        peers: o.peers,
        secret: o.secret,
        ...(o.tls !== undefined ? { tls: o.tls } : {}),
        clock: o.clock,
        random: o.random,
        heartbeatIntervalMs: o.heartbeatIntervalMs,
        idleTimeoutMs: o.livenessTimeoutMs + o.graceMs,
        limits: {
          maxMessageBytes: o.maxMessageBytes,
          maxMessagesPerSecond: o.maxMessagesPerSecond,
          maxMessagesPerFrame: o.maxMessagesPerFrame,
          maxBufferedBytes: o.maxBufferedBytes,
          authTimeoutMs: o.authTimeoutMs
        },
        backoffInitialMs: o.reconnectInitialMs,
        backoffMaxMs: o.reconnectMaxMs,
        log: o.log,
        knownIncarnation: (node) => this.liveness.incarnationOf(node),
        maxClockSkewMs: o.maxClockSkewMs,
        ...(o.keys !== undefined ? { keys: o.keys } : {})
      })
      this.liveness = new LivenessTracker(this.store, {
        clock: o.clock,
        livenessTimeoutMs: o.livenessTimeoutMs,
        graceMs: o.graceMs,
        purgeDelayMs: o.purgeDelayMs,
        maxTrackedNodes: o.maxTrackedNodes,
        maxClockSkewMs: o.maxClockSkewMs,
        connectedIncarnation: (node) => this.transport.connectedIncarnation(node),
        forgotten: (node) => { this.transport.forget(node) }
      }, (e) => { this.events.emit(e) }, (m) => { o.log('warn', m) })
      this.hubs = o.hubs.length > 0
        ? new HubLinks(this.store, o.hubs, {
          heartbeatIntervalMs: o.heartbeatIntervalMs,
          maxMessageBytes: o.maxMessageBytes,
          // every tracked node and as many other awareness clients (dashboards, observers)
          maxAwarenessStates: 2 * o.maxTrackedNodes + 1,
          reconnectMaxMs: o.reconnectMaxMs,
          log: o.log,
          // Awareness states are not authenticated (any client of a hub can publish one), so, like
          // a relayed heartbeat in the mesh, one keeps a known incarnation alive and never
          // announces a new one: an incarnation is known once its partition is in the document.
          onHeard: (node, incarnation) => {
            if (this.liveness.incarnationOf(node) === incarnation || this.store.owners().some((w) => w.node === node && w.incarnation === incarnation)) this.liveness.heard(node, incarnation)
          },
          onEvent: (e) => {
            this.events.emit(e)
            this.checkReady()
          }
        })
        : undefined
      this.observer = o.observe !== undefined
        ? new ObserverEndpoint(this.store, { ...o.observe, tls: o.tls, maxBufferedBytes: o.maxBufferedBytes, clock: o.clock, log: o.log })
        : undefined
      // Counted without an `update` listener, which would make Yjs encode every transaction.
      onDocumentChange(this.store.doc, () => { this.generation++ })
      this.store.on('invalid-record', (e) => {
        this.invalidRecords++
        const key = `${e.clientId} ${e.reason}`
        if (this.invalidLogged.has(key) || this.invalidLogged.size >= 1000) return
        this.invalidLogged.add(key)
        o.log('warn', `ignored a record written by Yjs client ${e.clientId}: ${e.reason} (further ones of this writer and reason are counted in cluster().document.invalidRecords)`)
      })
      this.store.on('unapplied-dropped', (e) => {
        this.unappliedDrops++
        if (this.unappliedDrops === 1 || this.unappliedDrops % 100 === 0) {
          o.log('warn', `dropped ${e.bytes} bytes of structs and ${e.ranges} delete ranges from peers that waited for structs not here yet, past their bounds (${this.unappliedDrops} such drops so far; a peer sending updates with gaps, or a very large state): asking peers for their state`)
        }
        this.requestStateAfterDrop()
      })
      this.store.on('client-id-collision', (e) => {
        o.log('error', `Yjs client id ${e.oldClientId} was used by another writer (${e.reason}): this node moved to client id ${e.newClientId}`)
        this.hubs?.clientIdChanged()
      })
      this.transport.events.onAny((e) => { this.onTransportEvent(e) })
    } catch (err) {
      // nothing started yet: only the directory's lock to give back
      this.persistence?.close()
      throw err
    }
  }

  /**
   * After the store dropped waiting parts of updates: asks the peers (or hubs) for their state at
   * the next heartbeat round, at most once per {@link DROP_STATE_REQUEST_SPACING_MS}: a hub keeps
   * what it was sent, pending or not, and answers with it again, so a hostile writer's deletions
   * of structs that never come would otherwise bring a drop and a state answer every round.
   */
  private requestStateAfterDrop (): void {
    if (this.closed || this.dropRequestTimer !== undefined) return
    const wait = this.lastDropRequestAt + DROP_STATE_REQUEST_SPACING_MS - performance.now()
    const request = (): void => {
      this.dropRequestTimer = undefined
      if (this.closed) return
      this.lastDropRequestAt = performance.now()
      this.transport.requestState()
      this.hubs?.requestState()
    }
    if (wait <= 0) { request(); return }
    this.dropRequestTimer = setTimeout(request, wait)
    this.dropRequestTimer.unref()
  }

  /**
   * Warns when the document's Yjs clients pass {@link CLIENTS_WARN_AT} and each doubling after:
   * Yjs never forgets a client, and its work per transaction (and each digest) grows with them.
   */
  private watchClients (): void {
    const n = this.store.doc.store.clients.size
    if (n < this.clientsWarnAt) return
    while (this.clientsWarnAt <= n) this.clientsWarnAt *= 2
    this.#options.log('warn', `the document holds ${n} Yjs clients (one per node incarnation or client-id move, never forgotten): every transaction and every digest costs O(clients); many clients from one writer are a buggy or hostile peer (see the README's compaction design)`)
  }

  /** Throws `DP_ERR_DESTROYED` once the node is closed. */
  private assertOpen (): void {
    if (this.closed) throw fail('DP_ERR_DESTROYED', 'node is closed')
  }

  /**
   * Loads persisted state (with `dataDir`), starts listening, dialling, heartbeats and timers.
   * Resolves once listening; `ready` tells when the initial sync is done.
   * @throws DialogProfilesError `DP_ERR_TRANSPORT` (cannot listen), `DP_ERR_PERSISTENCE`
   */
  async start (): Promise<void> {
    this.assertOpen()
    if (this.started) throw fail('DP_ERR_INVALID_ARGUMENT', 'start() was already called')
    this.started = true
    if (this.persistence !== undefined) {
      const report = this.persistence.open(this.store.doc, (u, origin) => { this.store.applyUpdate(u, origin) })
      this.events.emit({ type: 'loaded', report })
    }
    // strict admission's first row, once persistence records the document's updates
    this.admission.start()
    try {
      await this.transport.start()
      await this.observer?.start()
    } catch (err) {
      await this.close()
      throw err
    }
    this.timers.push(setInterval(() => { this.runLiveness() }, Math.min(this.#options.heartbeatIntervalMs, 1000)))
    this.timers.push(setInterval(() => { this.sweep() }, this.#options.sweepIntervalMs))
    const leaseMs = this.#options.admission.leaseMs
    // every leaseMs / 8, not more often than every 10 ms unless leaseMs / 4 (the renewal period the lease needs) is shorter
    if (leaseMs > 0) this.timers.push(setInterval(() => { this.renewLeases() }, Math.max(Math.min(10, leaseMs / 4), leaseMs / 8)))
    this.hubs?.start()
    if (this.hubs === undefined && this.transport.configuredPeers().length === 0) this.markReady()
    else {
      this.readiness.start((reason) => { this.events.emit({ type: 'not-ready', reason }) }, () => this.notReadyReason())
      this.checkReady()
    }
  }

  /**
   * Whether `afterTimeout: 'allow'` may admit: unless a configured peer answered but failed its
   * handshake (since its last successful one) while no configured peer is synced, that is
   * unless this node would admit alone although a cluster it cannot join exists.
   */
  private mayAdmitAfterTimeout (): boolean {
    if (this.hubs !== undefined) return !this.hubs.refusedWhileUnsynced()
    const peers = this.transport.configuredPeers().filter((p) => !p.self)
    if (!peers.some((p) => p.handshakeError !== null)) return true
    return peers.some((p) => p.node !== null && this.transport.isSyncedWith(p.node))
  }

  private notReadyReason (): NotReadyReason {
    if (this.hubs !== undefined) {
      const views = this.hubs.views()
      const reason = `no hub synced: ${views.map((h) => `${h.url} room ${h.room}: ${h.connected ? 'connected, state exchange not completed' : 'not connected'}${h.lastError !== null ? ` (${h.lastError})` : ''}`).join('; ')}`
      const refused = views.find((h) => h.refused)
      return refused !== undefined ? { reason, cause: fail('DP_ERR_AUTH', `${refused.url}: the hub refused this node's token`) } : { reason }
    }
    const peers = this.transport.configuredPeers().filter((p) => !p.self)
    const failed = peers.filter((p) => p.handshakeError !== null)
    if (failed.length > 0) {
      const first = failed[0]!.handshakeError!
      const reason = `configured peers answered but failed the handshake, so this node is not the first of a cluster: ${failed.map((p) => `${p.url}: ${p.handshakeError!.message}`).join('; ')}`
      return { reason, cause: fail(first.kind === 'protocol' ? 'DP_ERR_PROTOCOL' : 'DP_ERR_AUTH', `${failed[0]!.url}: ${first.message}`) }
    }
    const connected = this.transport.connections()
    if (connected.length === 0) {
      return { reason: `no configured peer reachable (${peers.map((p) => `${p.url}${p.lastError !== null ? `: ${p.lastError.kind}` : ''}`).join(', ')})` }
    }
    return { reason: `connected to ${connected.map((c) => c.node).join(', ')} but the state exchange has not completed` }
  }

  private onTransportEvent (e: TransportEvent): void {
    switch (e.type) {
      case 'heartbeat':
        this.liveness.heard(e.node, e.incarnation)
        return
      case 'update-refused':
        this.invalidRecords++
        this.#options.log('warn', `${e.error.message} (the connection to ${e.via} is closed)`)
        return
      case 'peer-up':
        // With per-node keys the handshake proves only the secret: the node's first signed
        // heartbeat (sent at once) is what makes it live here.
        if (this.#options.keys === undefined) this.liveness.heard(e.node, e.incarnation)
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
    if (this.hubs !== undefined) {
      const synced = this.hubs.syncedCount()
      if (this.#options.readiness.peers === 'any' ? synced > 0 : synced === this.hubs.size) this.markReady()
      return
    }
    const peers = this.transport.configuredPeers().filter((p) => !p.self)
    if (peers.length === 0) { if (this.started) this.markReady(); return }
    const synced = peers.filter((p) => p.node !== null && this.transport.isSyncedWith(p.node))
    if (this.#options.readiness.peers === 'any' ? synced.length > 0 : synced.length === peers.length) this.markReady()
  }

  private markReady (): void {
    if (this.readiness.markReady()) this.events.emit({ type: 'ready' })
  }

  /** Whether the initial sync has completed. */
  get isReady (): boolean { return this.readiness.isReady }

  /**
   * Admits `dialog` under one or several (profile, value, limit) keys, all or nothing, each in
   * its profile's mode (eventual: against this node's view of the cluster-wide size; strict:
   * against rights this node holds). Idempotent per dialog: a retransmitted INVITE is admitted
   * again and counted once. Before the initial sync the readiness policy applies: `'reject'`
   * answers `{ admitted: false, reason: 'not-ready' }`, `'wait'` waits up to `readiness.waitMs`
   * first, `'allow'` proceeds; once `readiness.timeoutMs` passed, `readiness.afterTimeout` decides.
   * The positional forms `acquire(dialog, profile, value, limit)` and `acquire(dialog, profile, limit)`
   * (plain profiles) check one key and throw `DP_ERR_NOT_READY` instead, as before.
   *
   * @example
   * ```ts
   * const r = await node.acquire('call-1', [{ profile: 'trunk', value: 'T1', limit: 30 }, { profile: 'total', limit: 500 }])
   * if (!r.admitted) reply(r.reason === 'not-ready' ? 503 : 486)
   * await node.release('call-1') // on BYE, on any node
   * ```
   */
  async acquire (dialog: string, keys: AdmissionKey | readonly AdmissionKey[], options?: AddOptions): Promise<AdmissionResult>
  async acquire (dialog: string, profile: string, limit: number, options?: AddOptions): Promise<AdmissionResult>
  async acquire (dialog: string, profile: string, value: string | null | undefined, limit: number, options?: AddOptions): Promise<AdmissionResult>
  async acquire (dialog: string, a: string | AdmissionKey | readonly AdmissionKey[], b?: unknown, c?: unknown, d?: unknown): Promise<AdmissionResult> {
    this.assertOpen()
    const positional = typeof a === 'string'
    let keys: readonly AdmissionKey[]
    let options: AddOptions | undefined
    if (typeof a === 'string') {
      [keys, options] = typeof b === 'number'
        ? [[{ profile: a, limit: b }], c as AddOptions | undefined]
        : [[{ profile: a, value: b as string | null | undefined, limit: c as number }], d as AddOptions | undefined]
    } else {
      keys = Array.isArray(a) ? a : [a as AdmissionKey]
      options = b as AddOptions | undefined
    }
    if (!this.readiness.isReady) {
      // bad input is refused as such, ready or not
      this.admission.validate(dialog, keys, options)
      try {
        await this.readiness.admit()
      } catch (err) {
        if (positional || (err as { code?: unknown }).code !== 'DP_ERR_NOT_READY') throw err
        return this.admission.notReady(dialog, keys, options)
      }
    }
    const first = this.admission.acquire(dialog, keys, options)
    if (first.admitted || first.reason !== 'no-rights' || this.#options.admission.waitMs === 0) return first
    // wait for the rights this node asked for, then decide again, once
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, this.#options.admission.waitMs)
      const off = this.admission.strict.onRights(done)
      function done (): void { clearTimeout(timer); off(); resolve() }
    })
    if (this.closed) return first
    return this.admission.acquire(dialog, keys, options)
  }

  /**
   * Ends `dialog` in the given profiles (values), or in every profile when `keys` is omitted,
   * whichever node admitted it. Idempotent (a double BYE, a BYE racing a CANCEL release once).
   * A release that finds nothing here (the call's record has not arrived) is remembered for
   * `pendingReleaseMs` and releases the call when its record arrives within it.
   * @returns the memberships removed now, 0 when none.
   */
  release (dialog: string, keys?: readonly ReleaseKey[]): number {
    this.assertOpen()
    return this.admission.release(dialog, keys)
  }

  /** Subscribes to one event type; returns the unsubscribe function. */
  on<T extends ClusterEvent['type']> (type: T, fn: (event: Extract<ClusterEvent, { type: T }>) => void): () => void {
    this.assertOpen()
    return this.events.on(type, fn)
  }

  /**
   * Runs the liveness check now (suspect, dead, purge transitions; it also runs on a timer):
   * useful with an injected clock.
   */
  checkLiveness (): void {
    this.assertOpen()
    this.runLiveness()
  }

  private runLiveness (): void {
    if (this.closed) return
    this.watchClients()
    try {
      this.liveness.check()
    } catch (err) {
      this.#options.log('warn', `liveness check failed: ${err instanceof Error ? err.message : String(err)}`)
    }
  }

  private reclaimLogged = false
  /** Nodes whose vote against this incarnation was logged. */
  private readonly votesLogged = new Set<string>()

  private renewLeases (): void {
    if (this.closed) return
    try { this.admission.renewLeases() } catch (err) { this.#options.log('warn', `strict lease renewal failed: ${err instanceof Error ? err.message : String(err)}`) }
    const strict = this.admission.strict
    if (!strict.reclaimed) {
      for (const voter of strict.votedAgainstBy) {
        if (this.votesLogged.has(voter)) continue
        this.votesLogged.add(voter)
        this.#options.log('warn', `node ${voter} voted against this node's strict lease (it heard nothing from it for admission.leaseMs + leaseMarginMs) and never grants this incarnation a lease again: without grants from enough other nodes it refuses strict calls (no-quorum) until it restarts`)
      }
    }
    if (!this.reclaimLogged && strict.reclaimed) {
      this.reclaimLogged = true
      this.#options.log('error', 'a majority of admission.nodes reclaimed this node\'s strict rights (it was cut off for longer than admission.leaseMs + leaseMarginMs): it refuses strict calls (no-quorum) until it restarts')
    }
  }

  private sweep (): void {
    if (this.closed) return
    try { this.store.sweep() } catch (err) { this.#options.log('warn', `sweep failed: ${err instanceof Error ? err.message : String(err)}`) }
  }

  /** The address the node listens on (port resolved when `listen.port` was 0). */
  address (): { host: string; port: number } | undefined {
    this.assertOpen()
    return this.transport.address()
  }

  /** The address of the read-only y-websocket endpoint (with `observe`), once listening. */
  observerAddress (): { host: string; port: number } | undefined {
    this.assertOpen()
    return this.observer?.address()
  }

  /** The url peers can dial to reach this node. */
  url (): string | undefined {
    const a = this.address()
    if (a === undefined) return undefined
    const host = a.host.includes(':') ? `[${a.host}]` : a.host
    return `${this.#options.tls !== undefined ? 'wss' : 'ws'}://${host}:${a.port}`
  }

  /** Traffic totals over every connection ever made (bytes, frames, updates). */
  traffic (): ReturnType<Transport['totals']> {
    this.assertOpen()
    const t = this.transport.totals()
    for (const h of this.hubs?.views() ?? []) {
      t.bytesIn += h.bytesIn
      t.bytesOut += h.bytesOut
      t.framesIn += h.messagesIn
      t.framesOut += h.messagesOut
      t.updatesIn += h.updatesIn
    }
    return t
  }

  /**
   * Adds a peer url to dial from now on (it does not change readiness).
   * @throws DialogProfilesError `DP_ERR_INVALID_ARGUMENT` unless `ws://host:port` or `wss://host:port`
   */
  addPeer (url: string): void {
    this.assertOpen()
    if (this.hubs !== undefined) throw fail('DP_ERR_INVALID_ARGUMENT', 'a node that joins through hubs has no mesh peers')
    this.transport.addPeer(url)
  }

  /** Drops every connection; they are redialled with backoff and resync. For tests and operators. */
  reconnect (): void {
    this.assertOpen()
    this.transport.disconnectAll('reconnect requested')
    this.hubs?.reconnect()
  }

  /**
   * Writes a snapshot now (with `dataDir`); after failed writes, this is a recovery attempt.
   * @throws DialogProfilesError `DP_ERR_PERSISTENCE` when it cannot be written (the node stays `degraded`).
   */
  snapshot (): void {
    this.assertOpen()
    this.store.flushWrites()
    this.persistence?.snapshot()
  }

  /**
   * The peers (configured, connected, or in the liveness table) with their connection, sync
   * state and liveness. O(peers).
   */
  peers (): PeerView[] {
    this.assertOpen()
    return peerViews(this.transport.configuredPeers(), this.transport.connections(), this.liveness.entries())
  }

  /** This node, its peers (see {@link peers}) and its document. O(peers + Yjs clients): it encodes nothing. */
  cluster (): ClusterView {
    const peers = this.peers()
    this.store.flushWrites()
    return clusterView({
      store: this.store,
      listening: this.address() ?? null,
      isReady: this.readiness.isReady,
      timedOut: this.readiness.timedOut,
      persistence: this.persistence?.status() ?? null,
      peers,
      generation: this.generation,
      invalidRecords: this.invalidRecords,
      retainedBytes: this.transport.retainedBytes(),
      hubs: this.hubs?.views() ?? [],
      observe: this.observerAddress() !== undefined ? { ...this.observerAddress()!, observers: this.observer!.count } : null
    })
  }

  /** Ends every socket and timer, flushes persistence and destroys the store. Idempotent. */
  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    // Local writes made just before close reach the peers and the log.
    try { this.store.flushWrites() } catch { /* store already destroyed */ }
    for (const t of this.timers) clearInterval(t)
    this.timers = []
    if (this.dropRequestTimer !== undefined) clearTimeout(this.dropRequestTimer)
    this.dropRequestTimer = undefined
    this.readiness.close()
    this.hubs?.close()
    await this.observer?.close()
    await this.transport.close()
    this.persistence?.close()
    this.events.clear()
    this.admission.destroy()
    this.store.destroy()
  }
}
