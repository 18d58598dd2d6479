/**
 * ProfileStore: one node's replica of the cluster's dialog profiles, held in a Yjs document.
 *
 * Layout: each node incarnation owns one partition, a root Y.Array named
 * `dp:<node>:<incarnation>:<clientId>`, and is its only writer of records (other nodes only
 * delete). A membership add is a record appended at the end of the owner's partition; a remove
 * deletes the records it has observed, by ID. Every replica derives its index and counts from
 * the document's transactions, local and remote alike, so all replicas that have seen the same
 * updates hold the same memberships.
 *
 * Ownership protocol: a node that removes memberships owned by another node also writes a
 * removal notice (naming the records) into its own partition. An owner that sees its own live
 * records deleted without a notice takes it for a purge (others thought it dead) and re-asserts
 * them as new records; a notice tells it the removal was meant, so it forgets them (deleting a
 * re-asserted copy if the notice came late) and deletes the notice. Notices addressed to a void
 * owner are deleted by whoever sees them; purging an owner deletes the notices addressed to it.
 */
import * as Y from 'yjs'
import { fail } from './errors.js'
import { nonNegative, nonNegativeInt, positive, positiveInt } from './internal/checks.js'
import { Emitter } from './internal/emitter.js'
import { forEachAddedValue, forEachDeletedRange, PartitionResolver } from './internal/partition-doc.js'
import { recount, type RecountResult } from './internal/recount.js'
import {
  decodeRecord, encodeMembership, encodeRemoval, KIND_DIALOG, KIND_REMOTE, KIND_REMOVAL,
  MAX_REMOVAL_TARGETS, NODE_ID_PATTERN, partitionName, type MembershipRecord, type PartitionName
} from './internal/records.js'
import { WriteQueue } from './internal/write-queue.js'
import { FewMap } from './internal/few-map.js'
import { MembershipIndex, type Membership, type Tag } from './membership-index.js'
import { OwnerRegistry, type OwnedPartition, type RemovalNotice } from './owner-registry.js'
import { checkId, ProfileRegistry } from './profile-registry.js'
import type { Clock, Member, OwnerInfo, ProfileDeclaration, StoreEvent, ValueSize } from './types.js'

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
  /** Yjs client id of this replica: unique per incarnation. @defaultValue random 32-bit */
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
   * are written at the end of the current microtask (see `flushWrites`). @defaultValue 1000
   */
  readonly maxPendingWrites?: number
}

/** Options of an add. Give at most one of the two. */
export interface AddOptions {
  /** Absolute expiry, ms of the store clock. */
  readonly expiresAt?: number
  /** Expiry relative to now, ms. */
  readonly ttlMs?: number
}

/** Answer of {@link ProfileStore.tryAcquire}. */
export interface AcquireResult {
  readonly admitted: boolean
  /** Cluster-wide size of the profile (value) after the decision. */
  readonly size: number
  readonly limit: number
}

export type { RecountResult }

/** A membership this node added and still holds: re-asserted if another node purges it. */
interface OwnMembership {
  readonly record: MembershipRecord
  /** Clock of the record that currently carries it. */
  clock: number
  /** Whether that record is present in the document. */
  present: boolean
  /** Clocks of records that carried it before a re-assert. */
  past: number[] | null
}

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
  private readonly array: Y.Array<unknown>
  private readonly self: OwnedPartition
  private readonly ownerRegistry: OwnerRegistry
  private readonly queue: WriteQueue
  private readonly noticesByTarget = new Map<number, Set<RemovalNotice>>()
  /** Memberships this node holds, by dialog id. */
  private readonly own = new FewMap<string, OwnMembership>()
  private readonly ownByClock = new Map<number, OwnMembership>()
  private readonly maxLocalMemberships: number
  private readonly sweepGraceMs: number
  private destroyed = false

  constructor (options: ProfileStoreOptions) {
    if (typeof options !== 'object' || options === null) throw fail('DP_ERR_INVALID_ARGUMENT', 'options are required')
    if (typeof options.nodeId !== 'string' || !NODE_ID_PATTERN.test(options.nodeId)) {
      throw fail('DP_ERR_INVALID_ARGUMENT', `nodeId must match ${String(NODE_ID_PATTERN)}`)
    }
    this.clock = options.clock ?? Date.now
    this.maxLocalMemberships = positiveInt(options.maxLocalMemberships ?? 1_000_000, 'maxLocalMemberships')
    this.sweepGraceMs = nonNegative(options.sweepGraceMs ?? 5000, 'sweepGraceMs')
    const maxPendingWrites = positiveInt(options.maxPendingWrites ?? 1000, 'maxPendingWrites')
    const incarnation = options.incarnation ?? Math.floor(this.clock())
    nonNegativeInt(incarnation, 'incarnation')
    this.nodeId = options.nodeId
    this.incarnation = incarnation
    this.registry = new ProfileRegistry(options.profiles ?? [])
    this.doc = new Y.Doc({ gc: true })
    if (options.clientId !== undefined) {
      if (!Number.isInteger(options.clientId) || options.clientId < 0 || options.clientId > 0xffffffff) {
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
    this.array = this.doc.getArray(partitionName(name))
    this.queue = new WriteQueue(this.doc, this.array, this, maxPendingWrites)
    this.doc.on('afterTransaction', (tr: Y.Transaction) => this.onTransaction(tr))
  }

  /** This replica's Yjs client id. */
  get clientId (): number { return this.doc.clientID }

  // ---------------------------------------------------------------- declarations

  /** Declares a profile at run time (same rules as the `profiles` option). */
  declare (declaration: ProfileDeclaration): void {
    this.alive()
    this.registry.declare(declaration)
    for (const p of this.ownerRegistry.partitions()) if (this.ownerRegistry.statusOf(p) === 'dead') this.index.refreshPartition(p)
    this.reportSizes()
  }

  /** The declared profiles with their defaults filled in. */
  profiles (): Array<Required<ProfileDeclaration>> { return this.registry.list() }

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
    this.alive()
    checkId(dialog, 'dialog')
    const v = this.registry.valueForWrite(profile, value)
    const expiresAt = this.expiryOf(options)
    this.tick()
    return this.addOwn({ kind: KIND_DIALOG, dialog, profile: v.profile.name, value: v.value, expiresAt })
  }

  /**
   * Adds a remote membership (Kamailio's `dlg_remote_profile add`): not bound to a local dialog,
   * identified by `uid`, counted until `expiresAt` whatever the liveness of the node that added
   * it (it survives that node's death and restart).
   */
  addRemote (uid: string, profile: string, value: string | null | undefined, expiresAt: number): boolean {
    this.alive()
    checkId(uid, 'uid')
    const v = this.registry.valueForWrite(profile, value)
    const exp = this.expiryOf({ expiresAt })
    this.tick()
    return this.addOwn({ kind: KIND_REMOTE, dialog: uid, profile: v.profile.name, value: v.value, expiresAt: exp })
  }

  /**
   * Removes `dialog` from a profile (`unset_dlg_profile`), whichever node added it. On a valued
   * profile an absent value removes it from every value. Removes only the adds observed here.
   * @returns the number of memberships removed (0 when absent).
   */
  remove (dialog: string, profile: string, value?: string | null): number {
    this.alive()
    checkId(dialog, 'dialog')
    const q = this.registry.valueForQuery(profile, value)
    return this.removeWhere(this.select(dialog, q.profile.name, q.value), () => true)
  }

  /** Removes `dialog` from every profile. @returns the number of memberships removed. */
  removeDialog (dialog: string): number {
    this.alive()
    checkId(dialog, 'dialog')
    return this.removeWhere(this.index.ofDialog(dialog), () => true)
  }

  /** Removes a remote membership (`dlg_remote_profile rm`); local adds of the same id stay. */
  removeRemote (uid: string, profile: string, value?: string | null): number {
    this.alive()
    checkId(uid, 'uid')
    const q = this.registry.valueForQuery(profile, value)
    return this.removeWhere(this.select(uid, q.profile.name, q.value), t => t.remote)
  }

  /**
   * Eventual-mode admission: if the cluster-wide size of the profile (value) as seen here is
   * below `limit`, adds the membership. Nodes admitting at the same moment can overshoot the
   * limit by the number of concurrent admissions. A dialog already in the profile is admitted
   * again without being counted twice.
   */
  tryAcquire (dialog: string, profile: string, value: string | null | undefined, limit: number, options?: AddOptions): AcquireResult {
    this.alive()
    checkId(dialog, 'dialog')
    nonNegativeInt(limit, 'limit')
    const v = this.registry.valueForWrite(profile, value)
    const expiresAt = this.expiryOf(options)
    this.tick()
    let size = this.sizeOf(v.profile.name, v.value)
    if (size >= limit && !(this.index.find(dialog, v.profile.name, v.value)?.effective ?? 0)) return { admitted: false, size, limit }
    this.addOwn({ kind: KIND_DIALOG, dialog, profile: v.profile.name, value: v.value, expiresAt })
    size = this.sizeOf(v.profile.name, v.value)
    return { admitted: true, size, limit }
  }

  /**
   * Writes the pending local changes to the document now. Local writes update the index (and so
   * every read and admission decision) at once, and reach the document, and so the peers, in one
   * Yjs transaction per burst: at the end of the current microtask, or as soon as
   * `maxPendingWrites` are waiting. Call this to push them out earlier; it is cheap when nothing
   * is pending.
   */
  flushWrites (): void {
    if (!this.destroyed) this.queue.flush()
  }

  // ---------------------------------------------------------------- reads (O(1) unless listing)

  /** Cluster-wide size (`get_profile_size`): memberships present, not expired, whose owner counts. */
  size (profile: string, value?: string | null): number {
    this.alive()
    const q = this.registry.valueForQuery(profile, value)
    this.tick()
    return this.sizeOf(q.profile.name, q.value)
  }

  /** This node's share of `size()`: counted memberships it added. */
  localSize (profile: string, value?: string | null): number {
    return this.sizeByNode(profile, value)[this.nodeId] ?? 0
  }

  /**
   * Counted adds per node. The values add up to `size()` except when the same membership was
   * added on two nodes, where each node counts it.
   */
  sizeByNode (profile: string, value?: string | null): Record<string, number> {
    this.alive()
    const q = this.registry.valueForQuery(profile, value)
    this.tick()
    const c = this.index.counter(q.profile.name, q.value)
    return c === undefined ? {} : Object.fromEntries(c.byNode)
  }

  /** Whether `dialog` counts in the profile (`is_in_profile`); any value when none is given. */
  has (dialog: string, profile: string, value?: string | null): boolean {
    this.alive()
    checkId(dialog, 'dialog')
    const q = this.registry.valueForQuery(profile, value)
    this.tick()
    return this.select(dialog, q.profile.name, q.value).some(m => m.effective > 0)
  }

  /** Counted memberships of a profile (value), with owner and expiry (`profile_list`). */
  members (profile: string, value?: string | null): Member[] {
    this.alive()
    const q = this.registry.valueForQuery(profile, value)
    this.tick()
    const c = this.index.counter(q.profile.name, q.value)
    return c === undefined ? [] : [...c.members].map(toMember)
  }

  /** Values of a valued profile with their sizes (values with no counted membership omitted). */
  values (profile: string): ValueSize[] {
    this.alive()
    const p = this.registry.get(profile)
    this.tick()
    if (!p.withValue) return []
    return this.index.values(p.name).map(c => ({ value: c.value as string, size: c.size }))
  }

  // ---------------------------------------------------------------- events and replication

  /** Subscribes to store events (`size`, `owner`, `reasserted`, `invalid-record`). Returns the unsubscribe function. */
  on<T extends StoreEvent['type']> (type: T, fn: (event: Extract<StoreEvent, { type: T }>) => void): () => void {
    const off = this.events.on(type, fn)
    if (type === 'size') this.index.trackChanges = true
    return () => { off(); this.index.trackChanges = this.events.has('size') }
  }

  /**
   * Subscribes to every document update, local and applied. `origin` is this store for local
   * writes and whatever was passed to `applyUpdate` otherwise: a transport sends an update to
   * every peer except its origin, so nothing is echoed back.
   */
  onUpdate (fn: (update: Uint8Array, origin: unknown) => void): () => void {
    const h = (update: Uint8Array, origin: unknown): void => fn(update, origin)
    this.doc.on('update', h)
    return () => this.doc.off('update', h)
  }

  /**
   * Applies a Yjs update from a peer. `origin` tags it (the peer connection); it must not be
   * this store. Duplicates and out-of-order updates are fine (Yjs buffers missing dependencies).
   * @throws DialogProfilesError `DP_ERR_BAD_UPDATE` when it does not decode; nothing is applied then.
   */
  applyUpdate (update: Uint8Array, origin: unknown = 'remote'): void {
    this.alive()
    if (!(update instanceof Uint8Array)) throw fail('DP_ERR_BAD_UPDATE', 'an update must be a Uint8Array')
    if (origin === this) throw fail('DP_ERR_INVALID_ARGUMENT', 'origin must not be the store itself')
    try { Y.decodeUpdate(update) } catch (err) { throw fail('DP_ERR_BAD_UPDATE', 'update does not decode', err) }
    this.flushWrites()
    Y.applyUpdate(this.doc, update, origin)
  }

  /**
   * Applies updates that arrived together in one Yjs transaction (one `update` event, one
   * index pass), each checked as by {@link applyUpdate}.
   * @throws DialogProfilesError `DP_ERR_BAD_UPDATE` at the first that does not decode; those
   * before it stay applied (each is a whole update on its own).
   */
  applyUpdates (updates: readonly Uint8Array[], origin: unknown = 'remote'): void {
    this.alive()
    if (updates.length === 1) { this.applyUpdate(updates[0]!, origin); return }
    // Local writes first, in their own transaction: inside this one they would carry `origin`.
    this.flushWrites()
    this.doc.transact(() => { for (const u of updates) this.applyUpdate(u, origin) }, origin)
  }

  /** The full state (or the part missing from `stateVector`), as one Yjs update. */
  encodeState (stateVector?: Uint8Array): Uint8Array {
    this.alive()
    this.flushWrites()
    return Y.encodeStateAsUpdate(this.doc, stateVector)
  }

  /** This replica's Yjs state vector. */
  stateVector (): Uint8Array {
    this.alive()
    this.flushWrites()
    return Y.encodeStateVector(this.doc)
  }

  // ---------------------------------------------------------------- liveness hooks

  /**
   * Sets an owner's liveness, as decided by the liveness layer. Unknown owners are registered.
   * A newer incarnation of a node voids the older ones at once. Changes counts, never the document.
   */
  setOwnerStatus (node: string, incarnation: number, status: 'live' | 'dead'): void {
    this.alive()
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
    this.alive()
    return [...this.ownerRegistry.partitions()].map(p => ({
      node: p.node, incarnation: p.incarnation, clientId: p.clientId, status: this.ownerRegistry.statusOf(p), memberships: p.tags.size, self: p.self
    }))
  }

  /**
   * Deletes from the document the memberships of a dead or void owner that no longer count
   * (memberships that still count, remote ones or kept until expiry, stay until swept).
   * @returns the number of adds deleted.
   * @throws DialogProfilesError `DP_ERR_INVALID_ARGUMENT` for a live owner or this node.
   */
  purgeOwner (node: string, incarnation: number): number {
    this.alive()
    if ((node === this.nodeId && incarnation === this.incarnation) || this.ownerRegistry.statusFor(node, incarnation) === 'live') {
      throw fail('DP_ERR_INVALID_ARGUMENT', `owner ${node}:${incarnation} is live: it cannot be purged`)
    }
    this.tick()
    let deleted = 0
    for (const p of this.ownerRegistry.partitionsOf(node, incarnation)) {
      const tags = [...p.tags.values()].filter(t => !t.effective)
      const notices = [...(this.noticesByTarget.get(p.clientId) ?? [])]
      if (tags.length === 0 && notices.length === 0) continue
      deleted += tags.length
      this.deleteTags(tags)
      for (const n of notices) this.deleteNotice(n)
      this.reportSizes()
    }
    return deleted
  }

  // ---------------------------------------------------------------- time

  /** Applies the clock: memberships whose expiry has passed stop counting. Reads do this too. */
  tick (): void {
    this.index.advance(this.clock())
    this.reportSizes()
  }

  /**
   * Deletes expired memberships from the document: this node's own at once, other nodes' once
   * `sweepGraceMs` has passed since their expiry. @returns the number of adds deleted.
   */
  sweep (): number {
    this.alive()
    this.tick()
    const now = this.clock()
    const due = [...this.index.expired].filter(t => t.partition.self || now >= t.expiresAt + this.sweepGraceMs)
    if (due.length === 0) return 0
    for (const t of due) if (t.partition.self) this.forgetOwn(t.clock)
    this.deleteTags(due)
    this.reportSizes()
    return due.length
  }

  // ---------------------------------------------------------------- introspection

  /**
   * Every membership present in the document, counted or not, with the ids of its adds,
   * sorted: two replicas that have seen the same updates return equal dumps. O(memberships).
   */
  dump (): Array<{ dialog: string, profile: string, value: string | null, adds: string[] }> {
    this.alive()
    const out = [...this.index.allMemberships()].map(m => ({
      dialog: m.dialog, profile: m.profile, value: m.value,
      adds: m.tags.map(t => `${t.partition.clientId}.${t.clock}`).sort()
    }))
    return out.sort((a, b) => (a.profile < b.profile ? -1 : a.profile > b.profile ? 1 : 0) ||
      ((a.value ?? '') < (b.value ?? '') ? -1 : (a.value ?? '') > (b.value ?? '') ? 1 : 0) ||
      (a.dialog < b.dialog ? -1 : a.dialog > b.dialog ? 1 : 0))
  }

  /** Counters of the replica's size, for metrics. Cheap: no scan of the document, one pass over its clients. */
  stats (): { memberships: number, ownMemberships: number, partitions: number, expiredWaiting: number, notices: number, structs: number } {
    this.alive()
    this.flushWrites()
    let structs = 0
    for (const s of this.doc.store.clients.values()) structs += s.length
    let notices = 0
    for (const p of this.ownerRegistry.partitions()) notices += p.notices.size
    return {
      memberships: this.index.membershipCount,
      ownMemberships: this.own.size,
      partitions: this.ownerRegistry.size,
      expiredWaiting: this.index.expired.size,
      notices,
      structs
    }
  }

  /**
   * Debug recount by a full scan of the document, compared with the incremental counts.
   * O(document): for tests and diagnostics, never for a hot path.
   */
  recount (): RecountResult {
    this.alive()
    this.flushWrites()
    this.tick()
    return recount(this.doc, this.resolver, this.ownerRegistry, this.index, p => this.keepsDead(p), this.clock())
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

  private alive (): void {
    if (this.destroyed) throw fail('DP_ERR_DESTROYED', 'the store was destroyed')
  }

  private expiryOf (options: AddOptions | undefined): number | null {
    if (options === undefined) return null
    const { expiresAt, ttlMs } = options
    if (expiresAt !== undefined && ttlMs !== undefined) throw fail('DP_ERR_INVALID_ARGUMENT', 'give expiresAt or ttlMs, not both')
    if (expiresAt !== undefined) {
      if (typeof expiresAt !== 'number' || !Number.isFinite(expiresAt)) throw fail('DP_ERR_INVALID_ARGUMENT', 'expiresAt must be a finite number')
      return expiresAt
    }
    if (ttlMs !== undefined) {
      return this.clock() + positive(ttlMs, 'ttlMs')
    }
    return null
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

  /** Adds an own membership; the caller has ticked the clock. */
  private addOwn (rec: MembershipRecord): boolean {
    const existing = this.ownOf(rec.dialog, rec.profile, rec.value)
    const current = existing === undefined ? undefined : this.self.tags.get(existing.clock)
    const holding = current !== undefined && !current.expired
    if (holding && existing?.record.expiresAt === rec.expiresAt && existing.record.kind === rec.kind) return false
    if (existing === undefined && this.own.size >= this.maxLocalMemberships) {
      throw fail('DP_ERR_LIMIT_EXCEEDED', `this node already holds maxLocalMemberships (${this.maxLocalMemberships}) memberships`)
    }
    if (existing !== undefined) {
      this.forgetOwn(existing.clock)
      const old = this.self.tags.get(existing.clock)
      if (old !== undefined) this.deleteTags([old])
    }
    this.appendMembership({ record: rec, clock: -1, present: false, past: null })
    this.reportSizes()
    return !holding
  }

  private removeWhere (memberships: Membership[], filter: (t: Tag) => boolean): number {
    this.tick()
    const tags: Tag[] = []
    let removed = 0
    for (const m of memberships) {
      const before = tags.length
      for (const t of m.tags) if (filter(t)) tags.push(t)
      if (tags.length > before) removed++
    }
    if (removed === 0) return 0
    for (const t of tags) if (t.partition.self) this.forgetOwn(t.clock)
    const foreign = this.deleteTags(tags)
    // tell each owner, so that it does not take the removal for a purge and re-assert
    for (const [client, clocks] of foreign) {
      const target = this.ownerRegistry.partition(client)
      if (target === undefined || this.ownerRegistry.statusOf(target) === 'void') continue
      for (let i = 0; i < clocks.length; i += MAX_REMOVAL_TARGETS) {
        const slice = clocks.slice(i, i + MAX_REMOVAL_TARGETS)
        const clock = this.queue.record(encodeRemoval(client, slice))
        this.registerNotice({ writer: this.self, clock, targetClient: client, clocks: slice })
      }
    }
    this.reportSizes()
    return removed
  }

  // ---------------------------------------------------------------- local writes
  //
  // Local writes update the index at once and queue their records; `flushWrites` writes the
  // queue in one transaction of this store's origin, which `onTransaction` skips. A queued
  // record's clock is known in advance: this store is the only writer of its client's clocks,
  // and the flush appends the queue in order.

  /** Queues an own membership record and indexes it. */
  private appendMembership (own: OwnMembership): void {
    const clock = this.queue.record(encodeMembership(own.record))
    if (own.clock >= 0) (own.past ??= []).push(own.clock)
    own.clock = clock
    own.present = true
    if (this.ownOf(own.record.dialog, own.record.profile, own.record.value) !== own) this.own.add(own.record.dialog, own)
    this.ownByClock.set(clock, own)
    this.index.addTag(this.self, clock, own.record, this.clock())
  }

  /** Deletes tags from the index and queues their deletion. @returns the clocks deleted per foreign partition. */
  private deleteTags (tags: readonly Tag[]): Map<number, number[]> {
    const foreign = new Map<number, number[]>()
    for (const t of tags) {
      const client = t.partition.clientId
      if (t.partition.self) {
        const own = this.ownByClock.get(t.clock)
        if (own !== undefined && own.clock === t.clock) own.present = false
      } else {
        let list = foreign.get(client)
        if (list === undefined) { list = []; foreign.set(client, list) }
        list.push(t.clock)
      }
      this.index.removeTag(t)
      this.queue.delete(client, t.clock)
    }
    return foreign
  }

  private deleteNotice (n: RemovalNotice): void {
    this.queue.delete(n.writer.clientId, n.clock)
    this.unregisterNotice(n)
  }

  private registerNotice (n: RemovalNotice): void {
    n.writer.notices.set(n.clock, n)
    let set = this.noticesByTarget.get(n.targetClient)
    if (set === undefined) { set = new Set(); this.noticesByTarget.set(n.targetClient, set) }
    set.add(n)
  }

  private unregisterNotice (n: RemovalNotice): void {
    n.writer.notices.delete(n.clock)
    const set = this.noticesByTarget.get(n.targetClient)
    if (set !== undefined) { set.delete(n); if (set.size === 0) this.noticesByTarget.delete(n.targetClient) }
  }

  /** Forgets the own membership carried by the record at `clock` (removed on purpose). */
  private forgetOwn (clock: number): OwnMembership | undefined {
    const own = this.ownByClock.get(clock)
    if (own === undefined) return undefined
    this.own.delete(own.record.dialog, own)
    this.ownByClock.delete(own.clock)
    if (own.past !== null) for (const c of own.past) this.ownByClock.delete(c)
    return own
  }

  /** The membership (dialog, profile, value) this node holds, if any. */
  private ownOf (dialog: string, profile: string, value: string | null): OwnMembership | undefined {
    return this.own.find(dialog, sameOwn, profile, value)
  }

  private keepsDead (profile: string): boolean {
    return this.registry.find(profile)?.onOwnerDead === 'keep'
  }

  private invalid (clientId: number, reason: string): void {
    if (this.events.has('invalid-record')) this.events.emit({ type: 'invalid-record', clientId, reason })
  }

  /** Derives the index from one transaction (local or remote): O(records added + IDs deleted). */
  private onTransaction (tr: Y.Transaction): void {
    if (this.destroyed || tr.origin === this) return // local writes are indexed as they are made
    const now = this.clock()
    const added: RemovalNotice[] = []
    forEachAddedValue(tr, (item, clock, raw) => {
      const pn = this.resolver.resolve(item.parent as Y.AbstractType<any>)
      if (pn === null) return
      if (pn.clientId !== item.id.client) { this.invalid(item.id.client, 'record written into another node\'s partition'); return }
      const p = this.ownerRegistry.partition(pn.clientId) ?? this.ownerRegistry.register(pn, false)
      const rec = decodeRecord(raw)
      if (typeof rec === 'string') { this.invalid(item.id.client, rec); return }
      if (p.tags.has(clock) || p.notices.has(clock)) return // written by this store inside a foreign transaction
      if (rec.kind === KIND_REMOVAL) {
        const n: RemovalNotice = { writer: p, clock, targetClient: rec.targetClient, clocks: rec.clocks }
        this.registerNotice(n)
        added.push(n)
        return
      }
      this.index.addTag(p, clock, rec, now)
    })

    const purged: OwnMembership[] = []
    forEachDeletedRange(tr, (client, from, len) => {
      const p = this.ownerRegistry.partition(client)
      if (p === undefined) return
      const visit = (clock: number): void => {
        const tag = p.tags.get(clock)
        if (tag !== undefined) {
          if (p.self) {
            const own = this.ownByClock.get(clock)
            if (own !== undefined && own.clock === clock) {
              own.present = false
              // a candidate for re-assert: followUp drops it if a removal notice names it
              if (!tag.expired) purged.push(own)
            }
          }
          this.index.removeTag(tag)
          return
        }
        const n = p.notices.get(clock)
        if (n !== undefined) this.unregisterNotice(n)
      }
      if (len <= p.tags.size + p.notices.size) {
        for (let c = from; c < from + len; c++) visit(c)
      } else {
        for (const c of [...p.tags.keys(), ...p.notices.keys()]) if (c >= from && c < from + len) visit(c)
      }
    })

    this.followUp(added, purged)
    this.reportSizes()
  }

  /**
   * Writes what a transaction calls for, in a transaction of its own: acknowledges removal
   * notices addressed to this node (deleting what they name, then the notice), cleans notices
   * addressed to void owners, and re-asserts own memberships that another node purged.
   */
  private followUp (notices: RemovalNotice[], purged: OwnMembership[]): void {
    const tags: Tag[] = []
    const acks: RemovalNotice[] = []
    for (const n of notices) {
      if (n.writer.notices.get(n.clock) !== n) continue
      if (n.targetClient === this.clientId) {
        for (const c of n.clocks) {
          const own = this.forgetOwn(c)
          const tag = own === undefined ? undefined : this.self.tags.get(own.clock)
          if (tag !== undefined) tags.push(tag)
        }
        acks.push(n)
      } else {
        const target = this.ownerRegistry.partition(n.targetClient)
        if (target !== undefined && this.ownerRegistry.statusOf(target) === 'void') acks.push(n)
      }
    }
    const reassert = purged.filter(own => this.ownOf(own.record.dialog, own.record.profile, own.record.value) === own && !own.present)
    if (tags.length === 0 && acks.length === 0 && reassert.length === 0) return
    this.deleteTags(tags)
    for (const n of acks) this.deleteNotice(n)
    for (const own of reassert) this.appendMembership(own)
    if (reassert.length > 0 && this.events.has('reasserted')) this.events.emit({ type: 'reasserted', count: reassert.length })
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

const sameOwn = (o: OwnMembership, profile: string, value: string | null): boolean => o.record.profile === profile && o.record.value === value

const toMember = (m: Membership): Member => {
  const t = m.tags.find(x => x.effective) ?? (m.tags[0] as Tag)
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

