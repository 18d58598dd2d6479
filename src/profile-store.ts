/**
 * ProfileStore: one node's replica of the cluster's dialog profiles, held in a Yjs document.
 *
 * Layout: each node incarnation owns one partition, a root Y.Array named
 * `dp:<node>:<incarnation>:<clientId>`, and is its only writer. A membership add is a record
 * appended at the end of the owner's partition; every replica derives its index and counts from
 * the document's transactions, local and remote alike, so all replicas that have seen the same
 * updates hold the same memberships.
 *
 * Ownership protocol (how a membership is removed, purged and re-asserted across nodes): see
 * `internal/transaction-follower.ts`, which follows every transaction that is not the store's
 * own; the store's local writes apply the same protocol as they are made.
 *
 * Remote updates are checked against the document's schema before anything of them is applied
 * (`checkUpdate`), so an update applies fully or not at all. A remote update that writes under
 * this store's own Yjs client id (a client-id collision) moves the store to a fresh partition
 * (a new client id in the same incarnation) before it is applied: the store never writes under
 * a client id that differs from its partition's.
 */
import * as Y from 'yjs'
import { fail } from './errors.js'
import { nonNegative, nonNegativeInt, onlyKnownKeys, positive, positiveInt } from './internal/checks.js'
import { Emitter } from './internal/emitter.js'
import { DEFAULT_MAX_CLIENTS, DEFAULT_MAX_PENDING_RELEASES, DEFAULT_PENDING_RELEASE_MS } from './options.js'
import { checkUpdate, clientClock, countStructs, knowsClient, PartitionResolver, StateSizeEstimate } from './internal/partition-doc.js'
import { recount, type RecountResult } from './internal/recount.js'
import {
  encodeMembership, encodeRemoval, KIND_DIALOG, KIND_REMOTE, MAX_CLIENT_ID, MAX_REMOVAL_TARGETS, NODE_ID_PATTERN, partitionName, type MembershipRecord, type PartitionName
} from './internal/records.js'
import { NoticeBook } from './internal/notice-book.js'
import { PendingReleases, type ReleaseSelector } from './internal/pending-releases.js'
import { ParkedUpdates } from './internal/parked-updates.js'
import { WriteQueue } from './internal/write-queue.js'
import { OwnLedger, type OwnMembership } from './internal/own-ledger.js'
import { REASSERTS_BEFORE_MOVE, TransactionFollower } from './internal/transaction-follower.js'
import { MembershipIndex, type Membership } from './membership-index.js'
import { OwnerRegistry } from './owner-registry.js'
import type { Add, Partition, RemovalNotice } from './internal/partitions.js'
import { checkId, ProfileRegistry } from './profile-registry.js'
import type { Clock, Member, OwnerInfo, ProfileDeclaration, StoreEvent, ValueSize } from './types.js'
import { setIfUndefined } from 'lib0/map'

/** Options of a {@link ProfileStore}. */
export interface ProfileStoreOptions {
  /** This node's id, `[A-Za-z0-9._-]{1,64}`, the same across restarts. */
  readonly nodeId: string
  /** Declared profiles. More can be added with `declare()`. @defaultValue [] */
  readonly profiles?: readonly ProfileDeclaration[]
  /** Time source in ms; expiry reads it. Must not go backwards. @defaultValue Date.now */
  readonly clock?: Clock
  /**
   * This run's incarnation: must grow from one start of the node to the next. Memberships of
   * older incarnations of the same node are void as soon as a newer one is known.
   * @defaultValue clock() at construction
   */
  readonly incarnation?: number
  /**
   * Yjs client id of this replica's partition. It must be unique across the cluster and across
   * every incarnation of every node: never reuse one across restarts (the peers still hold the
   * old incarnation's writes under it). Leave it unset in production; it exists for
   * deterministic tests. A collision is detected and survived (the store moves to a fresh client
   * id, see the `client-id-collision` event), at the cost of re-writing its memberships.
   * @defaultValue a random 32-bit id, new for every store
   */
  readonly clientId?: number
  /** Most memberships this node may own at once; past it `add` throws `DP_ERR_LIMIT_EXCEEDED`. @defaultValue 1000000 */
  readonly maxLocalMemberships?: number
  /**
   * How long after its expiry another node's expired membership is left for its owner to sweep
   * before any node deletes it (covers clock skew between nodes). @defaultValue 5000
   */
  readonly sweepGraceMs?: number
  /**
   * Most local writes queued before they are written to the document at once; otherwise they
   * are written at the end of the current event-loop turn (see `flushWrites`). @defaultValue 1000
   */
  readonly maxPendingWrites?: number
  /**
   * How long local writes may wait for others to share their Yjs transaction, ms: 0 writes them
   * at the end of the current event-loop turn; above 0, that long after the first of them (or
   * earlier: `maxPendingWrites`, `flushWrites`, any other transaction). Reads here are never
   * delayed (the index changes at once); replication and persistence of a write wait at most
   * this long more. At most 1000. @defaultValue 0
   */
  readonly writeDelayMs?: number
  /**
   * How far ahead of this store's clock a partition's incarnation may be. An update that brings a
   * partition named with a later incarnation is refused whole (`DP_ERR_BAD_UPDATE`): a newer
   * incarnation voids a node's older ones, so without this bound one record in a partition named
   * for node v with a huge incarnation would void v's calls for good, across its restarts.
   * Incarnations come from the clock of the node that starts (or its data directory), so an
   * honest one is never ahead by more than the clock skew between nodes. @defaultValue 60000
   */
  readonly maxClockSkewMs?: number
  /**
   * Resume this node's memberships of an earlier run of the same incarnation (the node process
   * restarted while its proxy kept the calls): every partition named with this node id and
   * incarnation counts as this store's own, whatever its client id. Its records, loaded from a
   * data directory or arriving later from peers, join this node's own memberships: the store
   * removes them as their owner, acknowledges removal notices addressed to them, and re-asserts
   * them (in its own partition) when another node purges them. It never writes under those
   * client ids: give it a fresh `clientId` (the default). @defaultValue false
   */
  readonly resume?: boolean
  /**
   * How long a removal (`remove`, `removeDialog`, `removeRemote`) that found nothing here is
   * remembered, ms: a record of the same dialog (matching what the removal selected) that
   * arrives from a peer within this window is removed as the removal would have removed it (a
   * BYE handled here before the call's record, added on another node, arrived). Local, never
   * replicated, lost on restart; a local add of the dialog forgets it. 0 turns it off.
   * @defaultValue 5000
   */
  readonly pendingReleaseMs?: number
  /**
   * Most removals remembered at once (see `pendingReleaseMs`); past it the oldest is dropped
   * (`stats().pendingReleasesDropped`): above `maxPendingReleases / pendingReleaseMs` removals
   * per ms (2,000/s by default) the window shrinks to `maxPendingReleases / rate`. @defaultValue 10000
   */
  readonly maxPendingReleases?: number
  /**
   * Most Yjs clients the document may hold: one per node incarnation or client-id move, never
   * forgotten, and Yjs's work per transaction grows with them. A remote update that would bring
   * the document past it is refused whole (`DP_ERR_BAD_UPDATE`); the store's own moves to a fresh
   * client id are not. @defaultValue 20000
   */
  readonly maxClients?: number
}

/** Options of an add. Give at most one of the two. */
export interface AddOptions {
  /** Absolute expiry, ms of the store clock. */
  readonly expiresAt?: number
  /** Expiry relative to now, ms. */
  readonly ttlMs?: number
}

/** Every option key (the compiler checks the lists are complete). */
const STORE_OPTIONS: ReadonlySet<string> = new Set(Object.keys({
  nodeId: 1, profiles: 1, clock: 1, incarnation: 1, clientId: 1, maxLocalMemberships: 1, sweepGraceMs: 1, maxPendingWrites: 1,
  writeDelayMs: 1, maxClockSkewMs: 1, resume: 1, pendingReleaseMs: 1, maxPendingReleases: 1, maxClients: 1
} satisfies Record<keyof ProfileStoreOptions, 1>))
const ADD_OPTIONS: ReadonlySet<string> = new Set(Object.keys({ expiresAt: 1, ttlMs: 1 } satisfies Record<keyof AddOptions, 1>))

/** Answer of {@link ProfileStore.tryAcquire}. */
export interface AcquireResult {
  readonly admitted: boolean
  /** Cluster-wide size of the profile (value) after the decision. */
  readonly size: number
  readonly limit: number
}

export type { RecountResult }

/** Listener of {@link ProfileStore.onOwnChange}. */
export type OwnChangeListener = (dialog: string, profile: string, value: string | null, held: boolean) => void


/**
 * One node's replica of the cluster's dialog profiles.
 *
 * Merge rules: memberships form an add-wins observed-remove set. A remove deletes the adds it
 * has observed; an add concurrent with a remove survives. Concurrent adds of the same
 * membership on two nodes make one membership (it counts once). Every operation converges
 * whatever the order, duplication or delay of update delivery.
 *
 * @example
 * ```ts
 * const store = new ProfileStore({ nodeId: 'proxy-a', profiles: [{ name: 'caller', withValue: true }] })
 * if (store.tryAcquire('call-1@host', 'caller', 'alice', 10).admitted) { ... }
 * store.removeDialog('call-1@host')
 * ```
 */
export class ProfileStore {
  readonly nodeId: string
  readonly incarnation: number
  /** The replicated document. Transports speak y-protocols sync on it; local writes use origin === this store. */
  readonly doc: Y.Doc
  private readonly clock: Clock
  private readonly registry: ProfileRegistry
  private readonly index: MembershipIndex
  private readonly events = new Emitter<StoreEvent>()
  private readonly resolver: PartitionResolver
  private self: Partition
  private readonly ownerRegistry: OwnerRegistry
  private readonly queue: WriteQueue
  /** The document's encoded size, followed transaction by transaction (see `stats().stateBytes`). */
  private readonly stateSize: StateSizeEstimate
  private readonly notices = new NoticeBook()
  /** Memberships this node holds. */
  private readonly own = new OwnLedger((s, held) => { for (const fn of this.ownListeners) fn(s[1], s[2], s[3], held) })
  private readonly ownListeners = new Set<OwnChangeListener>()
  private readonly follower: TransactionFollower
  private readonly maxLocalMemberships: number
  private readonly sweepGraceMs: number
  private readonly maxClockSkewMs: number
  private destroyed = false
  private readonly resume: boolean
  /** Removals that found nothing, remembered for records of their dialog arriving later. */
  private readonly pendingReleases: PendingReleases
  private readonly maxClients: number
  /** What remote updates brought that cannot apply yet, kept out of Yjs (see parked-updates.ts). */
  private readonly parked = new ParkedUpdates((d) => { this.events.emit({ type: 'unapplied-dropped', bytes: d.bytes, ranges: d.ranges }) })

  constructor (options: ProfileStoreOptions) {
    if (typeof options !== 'object' || options === null) throw fail('DP_ERR_INVALID_ARGUMENT', 'options are required')
    onlyKnownKeys(options, STORE_OPTIONS, '')
    if (typeof options.nodeId !== 'string' || !NODE_ID_PATTERN.test(options.nodeId)) {
      throw fail('DP_ERR_INVALID_ARGUMENT', `nodeId must match ${String(NODE_ID_PATTERN)}`)
    }
    this.clock = options.clock ?? Date.now
    this.maxLocalMemberships = positiveInt(options.maxLocalMemberships ?? 1_000_000, 'maxLocalMemberships')
    this.sweepGraceMs = nonNegative(options.sweepGraceMs ?? 5000, 'sweepGraceMs')
    this.maxClockSkewMs = nonNegative(options.maxClockSkewMs ?? 60_000, 'maxClockSkewMs')
    if (options.resume !== undefined && typeof options.resume !== 'boolean') throw fail('DP_ERR_INVALID_ARGUMENT', 'resume must be a boolean')
    this.resume = options.resume === true
    this.pendingReleases = new PendingReleases(
      nonNegative(options.pendingReleaseMs ?? DEFAULT_PENDING_RELEASE_MS, 'pendingReleaseMs'),
      nonNegativeInt(options.maxPendingReleases ?? DEFAULT_MAX_PENDING_RELEASES, 'maxPendingReleases'))
    this.maxClients = positiveInt(options.maxClients ?? DEFAULT_MAX_CLIENTS, 'maxClients')
    const maxPendingWrites = positiveInt(options.maxPendingWrites ?? 1000, 'maxPendingWrites')
    const writeDelayMs = nonNegative(options.writeDelayMs ?? 0, 'writeDelayMs')
    if (writeDelayMs > 1000) throw fail('DP_ERR_INVALID_ARGUMENT', 'writeDelayMs must be at most 1000')
    const incarnation = options.incarnation ?? Math.floor(this.clock())
    nonNegativeInt(incarnation, 'incarnation')
    this.nodeId = options.nodeId
    this.incarnation = incarnation
    this.registry = new ProfileRegistry(options.profiles ?? [])
    this.doc = new Y.Doc({ gc: true })
    this.stateSize = new StateSizeEstimate(this.doc)
    if (options.clientId !== undefined) {
      if (!Number.isInteger(options.clientId) || options.clientId < 0 || options.clientId > MAX_CLIENT_ID) {
        throw fail('DP_ERR_INVALID_ARGUMENT', 'clientId must be an unsigned 32-bit integer')
      }
      this.doc.clientID = options.clientId
    }
    this.resolver = new PartitionResolver(this.doc)
    this.index = new MembershipIndex({
      statusOf: p => this.ownerRegistry.statusOf(p),
      keepsDead: profile => this.keepsDead(profile)
    })
    this.ownerRegistry = new OwnerRegistry(this.nodeId, incarnation, (p, status, isNew) => {
      if (!isNew) this.index.refreshPartition(p)
      if (this.events.has('owner')) this.events.emit({ type: 'owner', node: p.node, incarnation: p.incarnation, status })
    })
    const name: PartitionName = { node: this.nodeId, incarnation, clientId: this.doc.clientID }
    this.self = this.ownerRegistry.register(name, true)
    this.queue = new WriteQueue(this.doc, this.doc.getArray(partitionName(name)), this, maxPendingWrites, writeDelayMs)
    this.follower = this.followerOf()
    this.doc.on('afterTransaction', (tr: Y.Transaction) => {
      if (this.destroyed || tr.origin === this) return // local writes are indexed as they are made
      this.follower.follow(tr)
      this.reportSizes()
    })
  }

  /** This replica's Yjs client id. */
  get clientId (): number { return this.doc.clientID }

  // ---------------------------------------------------------------- declarations

  /** Declares a profile at run time (same rules as the `profiles` option). */
  declare (declaration: ProfileDeclaration): void {
    this.assertAlive()
    this.registry.declare(declaration)
    const now = this.clock()
    const awaited: Array<readonly [Partition, number]> = []
    for (const p of this.ownerRegistry.partitions()) {
      if (this.ownerRegistry.statusOf(p) === 'dead') this.index.refreshPartition(p)
      // records of the profile held back until it was declared here
      for (const [clock, rec] of p.held) {
        if (rec.profile !== declaration.name) continue
        this.release(p, clock, now)
        if (this.pendingReleases.names(rec.dialog)) awaited.push([p, clock])
      }
    }
    // they count from now on: a release this node remembers of their dialog applies, as on arrival
    if (awaited.length > 0) this.applyPendingReleases(awaited)
    this.reportSizes()
  }

  /** The declared profiles with their defaults filled in. */
  profiles (): Array<Required<ProfileDeclaration>> { this.assertAlive(); return this.registry.list() }

  // ---------------------------------------------------------------- writes

  /**
   * Adds `dialog` to a profile (Kamailio's `set_dlg_profile`), owned by this node. Adding a
   * membership this node already holds is a no-op, unless the expiry differs: then it is
   * replaced. Concurrent add and remove: the add wins.
   *
   * @returns true when this node did not hold the membership (or held it expired) before.
   * @throws DialogProfilesError `DP_ERR_UNKNOWN_PROFILE`, `DP_ERR_VALUE_MISMATCH`,
   *   `DP_ERR_INVALID_ARGUMENT`, `DP_ERR_LIMIT_EXCEEDED`; nothing is changed then.
   */
  add (dialog: string, profile: string, value?: string | null, options?: AddOptions): boolean {
    this.assertAlive()
    checkId(dialog, 'dialog')
    const v = this.registry.valueForWrite(profile, value)
    const expiresAt = this.expiryFor(options)
    this.expire()
    return this.addOwn({ kind: KIND_DIALOG, dialog, profile: v.profile.name, value: v.value, expiresAt })
  }

  /**
   * Adds a remote membership (Kamailio's `dlg_remote_profile add`): not bound to a local dialog,
   * identified by `uid`, counted until `expiresAt` whatever the liveness of the node that added
   * it (it survives that node's death and restart).
   */
  addRemote (uid: string, profile: string, value: string | null | undefined, expiresAt: number): boolean {
    this.assertAlive()
    checkId(uid, 'uid')
    const v = this.registry.valueForWrite(profile, value)
    const exp = this.futureExpiry(expiresAt)
    this.expire()
    return this.addOwn({ kind: KIND_REMOTE, dialog: uid, profile: v.profile.name, value: v.value, expiresAt: exp })
  }

  /**
   * Removes `dialog` from a profile (`unset_dlg_profile`), whichever node added it. On a valued
   * profile an absent value removes it from every value. Removes only the adds observed here.
   * When it finds none, it is remembered for `pendingReleaseMs`: records it selects that arrive
   * from peers in that window are removed then (see {@link ProfileStoreOptions.pendingReleaseMs}).
   * @returns the number of memberships removed now (0 when absent here).
   */
  remove (dialog: string, profile: string, value?: string | null): number {
    this.assertAlive()
    checkId(dialog, 'dialog')
    const q = this.registry.valueForQuery(profile, value)
    return this.removeOrRemember(dialog, this.select(dialog, q.profile.name, q.value), { profile: q.profile.name, value: q.value, remoteOnly: false })
  }

  /**
   * Removes `dialog` from every profile (the end of a dialog). When it finds nothing, it is
   * remembered for `pendingReleaseMs`, as `remove` is. @returns the number of memberships removed now.
   */
  removeDialog (dialog: string): number {
    this.assertAlive()
    checkId(dialog, 'dialog')
    return this.removeOrRemember(dialog, this.index.ofDialog(dialog), { profile: null, remoteOnly: false })
  }

  /** Removes a remote membership (`dlg_remote_profile rm`); local adds of the same id stay. */
  removeRemote (uid: string, profile: string, value?: string | null): number {
    this.assertAlive()
    checkId(uid, 'uid')
    const q = this.registry.valueForQuery(profile, value)
    return this.removeOrRemember(uid, this.select(uid, q.profile.name, q.value), { profile: q.profile.name, value: q.value, remoteOnly: true })
  }

  /**
   * Eventual-mode admission: if the cluster-wide size of the profile (value) as seen here is
   * below `limit`, adds the membership. Nodes admitting at the same moment can overshoot the
   * limit by the number of concurrent admissions. A dialog already in the profile is admitted
   * again without being counted twice.
   */
  tryAcquire (dialog: string, profile: string, value: string | null | undefined, limit: number, options?: AddOptions): AcquireResult {
    this.assertAlive()
    checkId(dialog, 'dialog')
    nonNegativeInt(limit, 'limit')
    const v = this.registry.valueForWrite(profile, value)
    const expiresAt = this.expiryFor(options)
    this.expire()
    let size = this.sizeOf(v.profile.name, v.value)
    if (size >= limit && !(this.index.find(dialog, v.profile.name, v.value)?.effective ?? 0)) return { admitted: false, size, limit }
    this.addOwn({ kind: KIND_DIALOG, dialog, profile: v.profile.name, value: v.value, expiresAt })
    size = this.sizeOf(v.profile.name, v.value)
    return { admitted: true, size, limit }
  }

  /**
   * Writes the pending local changes to the document now. Local writes update the index (and so
   * every read and admission decision) at once, and reach the document, and so the peers, in one
   * Yjs transaction per burst: at the end of the current event-loop turn (`setImmediate`), or as
   * soon as `maxPendingWrites` are waiting. Call this to push them out earlier; it is cheap when nothing
   * is pending.
   */
  flushWrites (): void {
    if (!this.destroyed) this.queue.flush()
  }

  // ---------------------------------------------------------------- reads (O(1) unless listing)

  /** Cluster-wide size (`get_profile_size`): memberships present, not expired, whose owner counts. */
  size (profile: string, value?: string | null): number {
    this.assertAlive()
    const q = this.registry.valueForQuery(profile, value)
    this.expire()
    return this.sizeOf(q.profile.name, q.value)
  }

  /** This node's share of `size()`: counted memberships with an add by this node (any incarnation); never above `size()`. */
  localSize (profile: string, value?: string | null): number {
    return this.sizeByNode(profile, value)[this.nodeId] ?? 0
  }

  /**
   * Counted memberships per node (a membership with adds by several incarnations of a node counts
   * once for it). The values add up to `size()` except when the same membership was added on two
   * nodes, where each node counts it.
   */
  sizeByNode (profile: string, value?: string | null): Record<string, number> {
    this.assertAlive()
    const q = this.registry.valueForQuery(profile, value)
    this.expire()
    const c = this.index.counter(q.profile.name, q.value)
    return c === undefined ? {} : Object.fromEntries(c.byNode)
  }

  /** Whether `dialog` counts in the profile (`is_in_profile`); any value when none is given. */
  has (dialog: string, profile: string, value?: string | null): boolean {
    this.assertAlive()
    checkId(dialog, 'dialog')
    const q = this.registry.valueForQuery(profile, value)
    this.expire()
    return this.select(dialog, q.profile.name, q.value).some(m => m.effective > 0)
  }

  /** Counted memberships of a profile (value), with owner and expiry (`profile_list`). */
  members (profile: string, value?: string | null): Member[] {
    this.assertAlive()
    const q = this.registry.valueForQuery(profile, value)
    this.expire()
    return this.index.members(q.profile.name, q.value).map(a => toMember(this.index.membershipOf(a)))
  }

  /** Values of a valued profile with their sizes (values with no counted membership omitted). */
  values (profile: string): ValueSize[] {
    this.assertAlive()
    const p = this.registry.get(profile)
    this.expire()
    if (!p.withValue) return []
    return this.index.values(p.name).map(c => ({ value: c.value as string, size: c.size }))
  }

  /**
   * The absolute expiry an add with these options would get now (null: none), checking them as
   * `add` does: admission validates a call's options with it before deciding, so that bad
   * options throw whether or not the call would be admitted.
   * @throws DialogProfilesError `DP_ERR_INVALID_ARGUMENT` (not an object, both `expiresAt` and
   *   `ttlMs`, an `expiresAt` not in the future, a `ttlMs` not positive)
   */
  expiryFor (options: AddOptions | undefined): number | null {
    this.assertAlive()
    if (options === undefined) return null
    if (typeof options !== 'object' || options === null) throw fail('DP_ERR_INVALID_ARGUMENT', 'add options must be an object or undefined')
    onlyKnownKeys(options, ADD_OPTIONS, '')
    const { expiresAt, ttlMs } = options
    if (expiresAt !== undefined && ttlMs !== undefined) throw fail('DP_ERR_INVALID_ARGUMENT', 'give expiresAt or ttlMs, not both')
    if (expiresAt !== undefined) return this.futureExpiry(expiresAt)
    if (ttlMs !== undefined) return this.clock() + positive(ttlMs, 'ttlMs')
    return null
  }

  /**
   * Whether this node holds the membership (dialog, profile, value) as its own (added here and
   * not removed since; a purged one waiting to be re-asserted still counts). O(memberships of the dialog).
   */
  holds (dialog: string, profile: string, value: string | null): boolean {
    this.assertAlive()
    return this.ownOf(dialog, profile, value) !== undefined
  }

  /**
   * Subscribes to the memberships this node holds: `held` true when it starts holding one (an
   * add), false when it stops (removed here or elsewhere with a removal notice, swept when
   * expired). A re-assert or an expiry change is no change. Called synchronously, inside the
   * write or transaction that causes it. Returns the unsubscribe function.
   */
  onOwnChange (fn: OwnChangeListener): () => void {
    this.assertAlive()
    this.ownListeners.add(fn)
    return () => { this.ownListeners.delete(fn) }
  }

  // ---------------------------------------------------------------- events and replication

  /**
   * Subscribes to store events (`size`, `owner`, `reasserted`, `invalid-record`,
   * `client-id-collision`, `late-release`, `unapplied-dropped`). A `size` listener hears every change from the counts in force when
   * it subscribed (also a drop to zero of a count that was non-zero then). Returns the
   * unsubscribe function. @throws DialogProfilesError `DP_ERR_INVALID_ARGUMENT`, `DP_ERR_DESTROYED`
   */
  on<T extends StoreEvent['type']> (type: T, fn: (event: Extract<StoreEvent, { type: T }>) => void): () => void {
    this.assertAlive()
    if (!EVENT_TYPES.has(type)) throw fail('DP_ERR_INVALID_ARGUMENT', `unknown event type ${JSON.stringify(type)}`)
    if (typeof fn !== 'function') throw fail('DP_ERR_INVALID_ARGUMENT', 'the listener must be a function')
    if (type === 'size' && !this.index.trackChanges) this.index.startTracking()
    const off = this.events.on(type, fn)
    return () => { off(); this.index.trackChanges = this.events.has('size') }
  }

  /**
   * Subscribes to every document update, local and applied. `origin` is this store for local
   * writes and whatever was passed to `applyUpdate` otherwise: a transport sends an update to
   * every peer except its origin, so nothing is echoed back.
   */
  onUpdate (fn: (update: Uint8Array, origin: unknown) => void): () => void {
    this.assertAlive()
    if (typeof fn !== 'function') throw fail('DP_ERR_INVALID_ARGUMENT', 'the listener must be a function')
    const h = (update: Uint8Array, origin: unknown): void => fn(update, origin)
    this.doc.on('update', h)
    return () => this.doc.off('update', h)
  }

  /**
   * Applies a Yjs update from a peer. `origin` marks it (the peer connection); it must not be
   * this store. Duplicates and out-of-order updates are fine: what waits for structs not here yet
   * is kept out of Yjs and applied once they arrive (bounded, see `internal/parked-updates.ts`).
   * All or nothing: the update is checked against the document's schema first (partition and
   * admission roots of embed records, each written by the client its name carries). An update
   * that writes under this store's client id first moves the store to a fresh client id.
   * @throws DialogProfilesError `DP_ERR_BAD_UPDATE` when it does not decode or breaks the schema;
   *   nothing of it is applied then.
   */
  applyUpdate (update: Uint8Array, origin: unknown = 'remote'): void {
    this.assertAlive()
    if (origin === this) throw fail('DP_ERR_INVALID_ARGUMENT', 'origin must not be the store itself')
    const check = this.checked(update)
    this.flushWrites()
    // Another writer under this store's client id (more clocks than it wrote, or a root of
    // another node or incarnation): move away before Yjs sees it.
    if (this.collides(check)) this.moveToFreshClient('another writer uses this node\'s Yjs client id')
    try {
      this.doc.transact(() => {
        Y.applyUpdate(this.doc, update, origin)
        this.parked.settle(this.doc, check.ends.keys())
      }, origin)
    } catch (err) {
      // Last guard: checkUpdate is meant to refuse everything Yjs could fail on.
      throw fail('DP_ERR_BAD_UPDATE', `update failed to apply: ${err instanceof Error ? err.message : String(err)}`, err)
    } finally {
      this.afterRemoteApply()
    }
  }

  /**
   * Checks a remote update before any of it is applied: the document's schema (`checkUpdate`),
   * and no new partition whose incarnation is more than `maxClockSkewMs` ahead of the clock.
   * @throws DialogProfilesError `DP_ERR_BAD_UPDATE`
   */
  private checked (update: unknown, batchFresh?: Set<number>): Extract<ReturnType<typeof checkUpdate>, { ok: true }> {
    if (!(update instanceof Uint8Array)) throw fail('DP_ERR_BAD_UPDATE', 'an update must be a Uint8Array')
    const check = checkUpdate(update)
    if (!check.ok) throw fail('DP_ERR_BAD_UPDATE', `update refused: ${check.reason}`)
    // Clients new to the document (`batchFresh` carries those of the earlier updates of a batch);
    // a set only when there is one, which an update of known writers never needs.
    let fresh = batchFresh
    for (const client of check.ends.keys()) if (!knowsClient(this.doc, client)) (fresh ??= new Set()).add(client)
    const clients = this.doc.store.clients.size + (fresh?.size ?? 0)
    if (fresh !== undefined && fresh.size > 0 && clients > this.maxClients) {
      throw fail('DP_ERR_BAD_UPDATE', `update refused: it would bring the document to ${clients} Yjs clients, more than maxClients (${this.maxClients}); each node incarnation or client-id move is one, never forgotten`)
    }
    const latest = this.clock() + this.maxClockSkewMs
    for (const pn of check.roots.values()) {
      if (pn.incarnation > latest && this.ownerRegistry.partition(pn.clientId) === undefined) {
        throw fail('DP_ERR_BAD_UPDATE', `update refused: partition of ${pn.node} with incarnation ${pn.incarnation}, more than maxClockSkewMs (${this.maxClockSkewMs}) ahead of this node's clock`)
      }
    }
    return check
  }

  /** Whether a checked update writes under this store's client id: more clocks than it wrote, or a root of another node or incarnation. */
  private collides (check: Extract<ReturnType<typeof checkUpdate>, { ok: true }>): boolean {
    const root = check.roots.get(this.self.clientId)
    return (check.ends.get(this.self.clientId) ?? 0) > this.ownedClock() || (root !== undefined && (root.node !== this.nodeId || root.incarnation !== this.incarnation))
  }

  /** After remote updates were applied: leave a client id that Yjs changed or that a collision made suspect. */
  private afterRemoteApply (): void {
    const suspect = this.follower.takeCollisionSuspicion()
    if (!this.destroyed && this.doc.clientID !== this.self.clientId) this.moveToFreshClient('Yjs changed this replica\'s client id')
    else if (!this.destroyed && suspect) this.moveToFreshClient(`own memberships purged ${REASSERTS_BEFORE_MOVE} times over: another writer may use this node's Yjs client id`)
  }

  /**
   * Applies updates that arrived together in one Yjs transaction (one `update` event, one
   * index pass), each checked as by {@link applyUpdate} before any is applied.
   * @throws DialogProfilesError `DP_ERR_BAD_UPDATE` when one is refused; nothing is applied then.
   */
  applyUpdates (updates: readonly Uint8Array[], origin: unknown = 'remote'): void {
    this.assertAlive()
    if (updates.length === 1) { this.applyUpdate(updates[0]!, origin); return }
    if (origin === this) throw fail('DP_ERR_INVALID_ARGUMENT', 'origin must not be the store itself')
    let collides = false
    const fresh = new Set<number>()
    const checks = updates.map((u) => this.checked(u, fresh))
    for (const c of checks) if (this.collides(c)) collides = true
    // A client-id collision is handled between updates, one transaction each.
    if (collides) { for (const u of updates) this.applyUpdate(u, origin); return }
    // Local writes first, in their own transaction: inside this one they would carry `origin`.
    this.flushWrites()
    try {
      this.doc.transact(() => {
        for (let i = 0; i < updates.length; i++) {
          Y.applyUpdate(this.doc, updates[i]!, origin)
          this.parked.settle(this.doc, checks[i]!.ends.keys())
        }
      }, origin)
    } catch (err) {
      throw fail('DP_ERR_BAD_UPDATE', `update failed to apply: ${err instanceof Error ? err.message : String(err)}`, err)
    } finally {
      this.afterRemoteApply()
    }
  }

  /** The full state (or the part missing from `stateVector`), as one Yjs update. */
  encodeState (stateVector?: Uint8Array): Uint8Array {
    this.assertAlive()
    if (stateVector !== undefined) {
      if (!(stateVector instanceof Uint8Array)) throw fail('DP_ERR_INVALID_ARGUMENT', 'a state vector must be a Uint8Array')
      try { Y.decodeStateVector(stateVector) } catch (err) { throw fail('DP_ERR_INVALID_ARGUMENT', 'the state vector does not decode', err) }
    }
    this.flushWrites()
    return Y.encodeStateAsUpdate(this.doc, stateVector)
  }

  /** This replica's Yjs state vector. */
  stateVector (): Uint8Array {
    this.assertAlive()
    this.flushWrites()
    return Y.encodeStateVector(this.doc)
  }

  // ---------------------------------------------------------------- liveness hooks

  /**
   * Sets an owner's liveness, as decided by the liveness layer. Unknown owners are registered.
   * A newer incarnation of a node voids the older ones at once. Changes counts, never the document.
   */
  setOwnerStatus (node: string, incarnation: number, status: 'live' | 'dead'): void {
    this.assertAlive()
    if (typeof node !== 'string' || !NODE_ID_PATTERN.test(node)) throw fail('DP_ERR_INVALID_ARGUMENT', 'bad node id')
    nonNegativeInt(incarnation, 'incarnation')
    if (status !== 'live' && status !== 'dead') throw fail('DP_ERR_INVALID_ARGUMENT', "status must be 'live' or 'dead'")
    const changed = this.ownerRegistry.setVerdict(node, incarnation, status)
    if (changed && this.events.has('owner') && this.ownerRegistry.partitionsOf(node, incarnation).length === 0) {
      // an owner known only from heartbeats so far: no partition reported it
      this.events.emit({ type: 'owner', node, incarnation, status: this.ownerRegistry.statusFor(node, incarnation) })
    }
    this.reportSizes()
  }

  /** Owners (node incarnations) known here, with their status. */
  owners (): OwnerInfo[] {
    this.assertAlive()
    return [...this.ownerRegistry.partitions()].map(p => ({
      node: p.node, incarnation: p.incarnation, clientId: p.clientId, status: this.ownerRegistry.statusOf(p), memberships: p.adds.size + p.held.size, self: p.self
    }))
  }

  /**
   * Deletes from the document the memberships of a dead or void owner that no longer count
   * (memberships that still count, remote ones or kept until expiry, stay until swept).
   * @returns the number of adds deleted.
   * @throws DialogProfilesError `DP_ERR_INVALID_ARGUMENT` for a live owner or this node.
   */
  purgeOwner (node: string, incarnation: number): number {
    this.assertAlive()
    if (typeof node !== 'string' || !NODE_ID_PATTERN.test(node)) throw fail('DP_ERR_INVALID_ARGUMENT', 'bad node id')
    nonNegativeInt(incarnation, 'incarnation')
    if ((node === this.nodeId && incarnation === this.incarnation) || this.ownerRegistry.statusFor(node, incarnation) === 'live') {
      throw fail('DP_ERR_INVALID_ARGUMENT', `owner ${node}:${incarnation} is live: it cannot be purged`)
    }
    this.expire()
    let deleted = 0
    for (const p of this.ownerRegistry.partitionsOf(node, incarnation)) {
      // records that carry a notice are not in the index: they wait for the owner's acknowledgement
      for (const t of [...p.adds.values()]) if (!t.effective && this.deleteRecord(p, t.clock)) deleted++
      if (this.ownerRegistry.statusOf(p) === 'void') deleted += this.clearNoticesTo(p)
    }
    this.reportSizes()
    return deleted
  }

  // ---------------------------------------------------------------- time

  /** Applies the clock: memberships whose expiry has passed stop counting. Reads do this too. */
  expire (): void {
    this.assertAlive()
    this.index.advance(this.clock())
    this.reportSizes()
  }

  /** @deprecated The former name of {@link expire}. */
  tick (): void { this.expire() }

  /**
   * Deletes expired memberships from the document: this node's own at once, other nodes' once
   * `sweepGraceMs` has passed since their expiry. @returns the number of adds deleted.
   */
  sweep (): number {
    this.assertAlive()
    this.expire()
    const now = this.clock()
    const due = [...this.index.expired].filter(t => t.partition.self || now >= t.expiresAt + this.sweepGraceMs)
    for (const t of due) {
      if (t.partition.self) this.forgetOwn(t.partition.clientId, t.clock)
      this.deleteRecord(t.partition, t.clock)
    }
    // notices addressed to void owners, with the records they name
    for (const client of this.notices.targets()) {
      const p = this.ownerRegistry.partition(client)
      if (p !== undefined && this.ownerRegistry.statusOf(p) === 'void') this.clearNoticesTo(p)
    }
    this.reportSizes()
    return due.length
  }

  // ---------------------------------------------------------------- introspection

  /**
   * Every membership present in the document, counted or not, with the ids of its adds,
   * sorted: two replicas that have seen the same updates return equal dumps. O(memberships).
   */
  dump (): Array<{ dialog: string, profile: string, value: string | null, adds: string[] }> {
    this.assertAlive()
    const out = [...this.index.allMemberships()].map(m => ({
      dialog: m.dialog, profile: m.profile, value: m.value,
      adds: m.adds.map(t => `${t.partition.clientId}.${t.clock}`).sort()
    }))
    return out.sort((a, b) => (a.profile < b.profile ? -1 : a.profile > b.profile ? 1 : 0) ||
      ((a.value ?? '') < (b.value ?? '') ? -1 : (a.value ?? '') > (b.value ?? '') ? 1 : 0) ||
      (a.dialog < b.dialog ? -1 : a.dialog > b.dialog ? 1 : 0))
  }

  /**
   * Counters of the replica's size, for metrics. Cheap: no scan of the document and no encoding,
   * one pass over its clients. `stateBytes` estimates the size of the encoded document state
   * (`Y.encodeStateAsUpdate(doc).length`) from the content of its live items, followed as
   * transactions add and delete them, and its struct counts; it stays within a few percent of it
   * in the store's tests. `pendingReleases`: removals that found nothing, remembered now (see
   * `pendingReleaseMs`); `pendingReleasesApplied`: records they removed on arrival, and
   * `pendingReleasesDropped`: those dropped for `maxPendingReleases`, since the store started.
   * `unappliedBytes`, `unappliedRanges`: struct bytes (with their overhead, 300 bytes per run and
   * 400 per writer waited for) and delete ranges from peers waiting for structs not here yet (kept out of Yjs, see the README's threat model), and
   * `unappliedDroppedBytes`, `unappliedDroppedRanges`: those dropped for their bounds.
   * `clients`: Yjs clients the document holds (one per node incarnation or client-id move, never
   * forgotten: Yjs's work per transaction grows with them, see the README's compaction design).
   */
  stats (): {
    memberships: number, ownMemberships: number, partitions: number, expiredWaiting: number, notices: number, structs: number, stateBytes: number,
    pendingReleases: number, pendingReleasesApplied: number, pendingReleasesDropped: number,
    unappliedBytes: number, unappliedRanges: number, unappliedDroppedBytes: number, unappliedDroppedRanges: number,
    clients: number
  } {
    this.assertAlive()
    this.flushWrites()
    return {
      memberships: this.index.membershipCount,
      ownMemberships: this.own.size,
      partitions: this.ownerRegistry.size,
      expiredWaiting: this.index.expired.size,
      notices: this.notices.size,
      structs: countStructs(this.doc),
      stateBytes: this.stateSize.bytes(),
      pendingReleases: this.pendingReleases.size,
      pendingReleasesApplied: this.pendingReleases.applied, // records (adds) removed on arrival
      pendingReleasesDropped: this.pendingReleases.dropped,
      unappliedBytes: this.parked.bytes,
      unappliedRanges: this.parked.ranges,
      unappliedDroppedBytes: this.parked.droppedBytes,
      unappliedDroppedRanges: this.parked.droppedRanges,
      clients: this.doc.store.clients.size
    }
  }

  /**
   * Debug recount by a full scan of the document, compared with the incremental counts.
   * O(document): for tests and diagnostics, never for a hot path.
   */
  recount (): RecountResult {
    this.assertAlive()
    this.flushWrites()
    this.expire()
    return recount(this.doc, this.resolver, this.ownerRegistry, this.index, this.registry, this.clock())
  }

  /** Releases the document and every listener. The store is unusable afterwards. */
  destroy (): void {
    if (this.destroyed) return
    this.flushWrites()
    this.destroyed = true
    this.events.clear()
    this.doc.destroy()
  }

  // ---------------------------------------------------------------- internals

  private assertAlive (): void {
    if (this.destroyed) throw fail('DP_ERR_DESTROYED', 'the store was destroyed')
  }

  /** An absolute expiry: a finite number after now (an add that would be expired at once is refused). */
  private futureExpiry (expiresAt: unknown): number {
    if (typeof expiresAt !== 'number' || !Number.isFinite(expiresAt)) throw fail('DP_ERR_INVALID_ARGUMENT', 'expiresAt must be a finite number')
    if (expiresAt <= this.clock()) throw fail('DP_ERR_INVALID_ARGUMENT', 'expiresAt is not in the future')
    return expiresAt
  }

  private sizeOf (profile: string, value: string | null | undefined): number {
    return this.index.counter(profile, value)?.size ?? 0
  }

  /** Memberships of `dialog` in a profile: one value, or every value when `value` is undefined. */
  private select (dialog: string, profile: string, value: string | null | undefined): Membership[] {
    if (value !== undefined) {
      const m = this.index.find(dialog, profile, value)
      return m === undefined ? [] : [m]
    }
    return this.index.ofDialog(dialog).filter(m => m.profile === profile)
  }

  /** Adds an own membership; the caller has applied the clock (`expire`). */
  private addOwn (rec: MembershipRecord): boolean {
    const existing = this.ownOf(rec.dialog, rec.profile, rec.value)
    if (existing === undefined && this.own.size >= this.maxLocalMemberships) {
      throw fail('DP_ERR_LIMIT_EXCEEDED', `this node already holds maxLocalMemberships (${this.maxLocalMemberships}) memberships`)
    }
    this.pendingReleases.forgetDialog(rec.dialog) // this node's own add of the dialog is the newer intent
    const carrier = existing === undefined ? undefined : this.ownerRegistry.partition(existing.client)
    const current = carrier?.self === true ? carrier.adds.get(existing!.clock) : undefined
    const holding = current !== undefined && !current.expired
    if (holding && existing?.stored[4] === rec.expiresAt && existing.stored[0] === rec.kind) return false
    if (existing !== undefined) {
      this.forgetOwn(existing.client, existing.clock)
      this.deleteOwnRecord(existing)
    }
    this.appendMembership({ stored: encodeMembership(rec), client: -1, clock: -1, present: false, past: null })
    this.reportSizes()
    return !holding
  }

  /**
   * Removes the selected memberships of `dialog` (their adds that `selector` matches); when
   * there is none, remembers the release for records of the dialog arriving later (see
   * `pendingReleaseMs`). A release that removed some is not remembered: it removed what it
   * observed, and an add concurrent with it wins, as ever. @returns the memberships removed now.
   */
  private removeOrRemember (dialog: string, memberships: Membership[], selector: ReleaseSelector): number {
    const removed = this.removeWhere(memberships, t => !selector.remoteOnly || t.remote)
    if (removed === 0) this.pendingReleases.remember(dialog, selector, this.clock())
    return removed
  }

  private removeWhere (memberships: Membership[], filter: (t: Add) => boolean): number {
    this.expire()
    const adds: Add[] = []
    let removed = 0
    for (const m of memberships) {
      const before = adds.length
      for (const t of m.adds) if (filter(t)) adds.push(t)
      if (adds.length > before) removed++
    }
    if (removed === 0) return 0
    this.removeAdds(adds)
    this.reportSizes()
    return removed
  }

  /**
   * Records that arrived from peers (indexed by the transaction follower) of dialogs with a
   * pending release: those the release selects are removed as it would have removed them.
   */
  private applyPendingReleases (arrived: ReadonlyArray<readonly [Partition, number]>): void {
    const now = this.clock()
    const adds: Add[] = []
    for (const [p, clock] of arrived) {
      const t = p.adds.get(clock)
      if (t !== undefined && this.pendingReleases.matches(t, now)) adds.push(t)
    }
    if (adds.length === 0) return
    this.pendingReleases.applied += adds.length
    this.removeAdds(adds)
    if (this.events.has('late-release')) {
      const byDialog = new Map<string, string[]>()
      for (const t of adds) setIfUndefined(byDialog, t.dialog, (): string[] => []).push(`${t.partition.clientId}.${t.clock}`)
      for (const [dialog, ids] of byDialog) this.events.emit({ type: 'late-release', dialog, ids })
    }
  }

  /** Removes adds through the ownership protocol: this node's and a void owner's by deletion, others' by a removal notice. */
  private removeAdds (adds: readonly Add[]): void {
    const named = new Map<number, number[]>()
    for (const t of adds) {
      const p = t.partition
      if (p.self) {
        this.forgetOwn(p.clientId, t.clock)
        this.deleteRecord(p, t.clock)
      } else if (this.ownerRegistry.statusOf(p) === 'void') {
        this.deleteRecord(p, t.clock) // nobody will re-assert it
      } else {
        setIfUndefined(named, p.clientId, (): number[] => []).push(t.clock)
      }
    }
    // another owner's records: the notice is the removal (the owner deletes them when it reads it)
    for (const [client, clocks] of named) {
      for (let i = 0; i < clocks.length; i += MAX_REMOVAL_TARGETS) {
        const slice = clocks.slice(i, i + MAX_REMOVAL_TARGETS)
        const clock = this.queue.record(encodeRemoval(client, slice))
        this.addNotice({ writer: this.self, clock, targetClient: client, clocks: slice })
      }
    }
  }

  // ---------------------------------------------------------------- local writes
  //
  // Local writes update the index at once and queue their records; `flushWrites` writes the
  // queue in one transaction of this store's origin, which the transaction follower skips. A
  // queued record's clock is known in advance: this store is the only writer of its client's
  // clocks, and the flush appends the queue in order.

  /** Clock up to which this store's client has written, queued records included. */
  private ownedClock (): number { return clientClock(this.doc, this.self.clientId) }

  /** Queues an own membership record (a new add, a re-assert or a move) and indexes it. */
  private appendMembership (own: OwnMembership): void {
    const clock = this.queue.record(own.stored)
    this.own.carry(own, this.self.clientId, clock)
    this.index.insert(this.self, clock, own.stored, this.clock())
  }

  /**
   * Deletes a present record (indexed or held) of any partition and queues its deletion.
   * @returns whether it was present.
   */
  private deleteRecord (p: Partition, clock: number): boolean {
    const add = p.adds.get(clock)
    if (add !== undefined) this.index.remove(add)
    else if (!p.held.delete(clock)) return false
    if (p.self) {
      const own = this.own.at(p.clientId, clock)
      if (own !== undefined && OwnLedger.carriedBy(own, p.clientId, clock)) own.present = false
    }
    this.queue.delete(p.clientId, clock)
    return true
  }

  /** Deletes the record that currently carries an own membership, if present. */
  private deleteOwnRecord (own: OwnMembership): void {
    const p = this.ownerRegistry.partition(own.client)
    if (p !== undefined && p.self) this.deleteRecord(p, own.clock)
  }

  /** Forgets the own membership carried (now or before) by the record at (client, clock): removed on purpose. */
  private forgetOwn (client: number, clock: number): OwnMembership | undefined { return this.own.forget(client, clock) }

  /** The membership (dialog, profile, value) this node holds, if any. */
  private ownOf (dialog: string, profile: string, value: string | null): OwnMembership | undefined {
    return this.own.find(dialog, profile, value)
  }

  // ---------------------------------------------------------------- notices and held records

  /** Indexes a held record again once nothing holds it back (its notices are gone, its profile is declared). */
  private release (p: Partition, clock: number, now: number): void {
    const rec = p.held.get(clock)
    if (rec === undefined || this.notices.names(p.clientId, clock) || this.registry.find(rec.profile) === undefined) return
    p.held.delete(clock)
    this.index.insert(p, clock, encodeMembership(rec), now)
  }

  /** Registers a present notice: the records it names stop counting at once. */
  private addNotice (n: RemovalNotice): void {
    this.notices.add(n)
    const target = this.ownerRegistry.partition(n.targetClient)
    if (target === undefined) return // its records will be held when they arrive
    for (const c of n.clocks) {
      const add = target.adds.get(c)
      if (add === undefined) continue
      target.held.set(c, recordOf(add))
      this.index.remove(add)
    }
  }

  /** Deletes a notice (and, with `andTargets`, the records it names) from the document. @returns records deleted. */
  private deleteNotice (n: RemovalNotice, andTargets: boolean): number {
    let deleted = 0
    const target = this.ownerRegistry.partition(n.targetClient)
    if (andTargets && target !== undefined) for (const c of n.clocks) if (this.deleteRecord(target, c)) deleted++
    this.queue.delete(n.writer.clientId, n.clock)
    this.forgetNotice(n)
    return deleted
  }

  /** Forgets a notice gone from the document; records it alone held back count again. */
  private forgetNotice (n: RemovalNotice): void {
    const freed = this.notices.remove(n)
    const target = this.ownerRegistry.partition(n.targetClient)
    if (target === undefined) return
    const now = this.clock()
    for (const c of freed) this.release(target, c, now)
  }

  /** Deletes the notices addressed to a void owner with the records they name. @returns records deleted. */
  private clearNoticesTo (p: Partition): number {
    let deleted = 0
    for (const n of this.notices.addressedTo(p.clientId)) deleted += this.deleteNotice(n, true)
    return deleted
  }

  // ---------------------------------------------------------------- client-id collision

  /**
   * Moves this store to a fresh partition (a new Yjs client id, same incarnation) after another
   * writer used its client id: the own memberships are re-written there, their old records
   * deleted, and the old partition forgotten, so that the client id can name the other writer's
   * partition. Emits `client-id-collision`.
   */
  private moveToFreshClient (reason: string): void {
    const old = this.self
    let fresh = this.doc.clientID // Yjs may have picked one already
    this.doc.clientID = old.clientId
    this.flushWrites() // what is queued was numbered under the old client id
    while (fresh === old.clientId || knowsClient(this.doc, fresh) || this.ownerRegistry.partition(fresh) !== undefined) {
      fresh = randomClientId()
    }
    this.doc.clientID = fresh
    const name: PartitionName = { node: this.nodeId, incarnation: this.incarnation, clientId: fresh }
    this.self = this.ownerRegistry.register(name, true)
    this.queue.moveTo(this.doc.getArray(partitionName(name)))
    const moved = this.own.all()
    for (const own of moved) {
      this.deleteOwnRecord(own)
      this.appendMembership(own)
    }
    // the notices this store wrote stay valid under the old client id
    for (const add of [...old.adds.values()]) this.index.remove(add)
    old.held.clear()
    this.flushWrites()
    this.ownerRegistry.unregister(old)
    this.follower.retire(old.clientId)
    if (this.events.has('client-id-collision')) {
      this.events.emit({ type: 'client-id-collision', node: this.nodeId, incarnation: this.incarnation, oldClientId: old.clientId, newClientId: fresh, reason })
    }
  }

  private keepsDead (profile: string): boolean {
    return this.registry.find(profile)?.onOwnerDead === 'keep'
  }

  /** The transaction follower, over this store's state and the protocol's writes. */
  private followerOf (): TransactionFollower {
    const store = this
    return new TransactionFollower({
      nodeId: this.nodeId,
      incarnation: this.incarnation,
      resume: this.resume,
      get self () { return store.self },
      resolver: this.resolver,
      owners: this.ownerRegistry,
      index: this.index,
      notices: this.notices,
      own: this.own,
      profiles: this.registry,
      events: this.events,
      clock: this.clock,
      addNotice: n => { this.addNotice(n) },
      forgetNotice: n => { this.forgetNotice(n) },
      deleteNotice: (n, andTargets) => this.deleteNotice(n, andTargets),
      deleteRecord: (p, clock) => this.deleteRecord(p, clock),
      deleteOwnRecord: own => { this.deleteOwnRecord(own) },
      appendMembership: own => { this.appendMembership(own) },
      awaitsRelease: dialog => this.pendingReleases.names(dialog),
      applyPendingReleases: arrived => { this.applyPendingReleases(arrived) }
    })
  }

  /** Reports changed sizes to `size` listeners. */
  private reportSizes (): void {
    if (!this.index.trackChanges) return
    for (const c of this.index.takeChanged()) {
      if (c.size === c.reported) continue
      c.reported = c.size
      this.events.emit({ type: 'size', profile: c.profile, value: c.value, size: c.size })
    }
  }
}

const recordOf = (t: Add): MembershipRecord => ({
  kind: t.remote ? KIND_REMOTE : KIND_DIALOG,
  dialog: t.dialog,
  profile: t.profile,
  value: t.value,
  expiresAt: t.expiresAt === Infinity ? null : t.expiresAt
})

const randomClientId = (): number => crypto.getRandomValues(new Uint32Array(1))[0] as number

const EVENT_TYPES: ReadonlySet<string> = new Set<StoreEvent['type']>(['size', 'owner', 'reasserted', 'invalid-record', 'client-id-collision', 'late-release', 'unapplied-dropped'])


const toMember = (m: Membership): Member => {
  const t = m.adds.find(x => x.effective) ?? (m.adds[0] as Add)
  return {
    dialog: m.dialog,
    profile: m.profile,
    value: m.value,
    node: t.partition.node,
    incarnation: t.partition.incarnation,
    expiresAt: t.expiresAt === Infinity ? null : t.expiresAt,
    remote: t.remote,
    id: `${t.partition.clientId}.${t.clock}`
  }
}

