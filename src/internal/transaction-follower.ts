/**
 * The transaction follower of a ProfileStore: it derives the store's view (partitions, adds,
 * held records, removal notices, own memberships) from every transaction that is not the
 * store's own, and writes what the ownership protocol calls for in answer.
 *
 * Ownership protocol. A membership record counts while it is present in the document and no
 * present removal notice names it (and its owner counts, and it has not expired):
 * - The owner removes its own records by deleting them.
 * - Another node never deletes a record of a live or dead (not void) owner to remove it on
 *   purpose: it appends a removal notice to its own partition naming the records (client,
 *   clock). The notice IS the removal: every replica that has the notice treats the records it
 *   names as removed at once, also when the notice arrives before the records. So a removal can
 *   never arrive without its justification, and a remover whose updates are lost in a crash
 *   loses the removal as a whole (its notice is chained after its earlier updates).
 * - The owner acknowledges a notice addressed to it: in one transaction it deletes the records
 *   named (and the membership they carry, also a re-asserted copy) and the notice.
 * - A purge of a dead owner deletes only its records that carry no notice (named records wait
 *   for the owner's acknowledgement) and never a notice addressed to a non-void owner.
 * - So an owner that sees one of its present, unexpired records deleted by another node knows it
 *   was a purge (others took it for dead) and re-asserts the membership as a new record; if a
 *   notice naming the purged record arrives later, it forgets the membership and deletes the
 *   re-asserted copy (a transient count, then convergence).
 * - Records of a void owner (superseded by a newer incarnation) may be deleted directly by
 *   anyone, with the notices addressed to them: a purge does so, and a sweep deletes notices
 *   addressed to void owners with the records they name.
 * - A removal that found nothing on a node (the records it would remove had not arrived) is
 *   remembered there for `pendingReleaseMs`, locally: a membership record it selects that
 *   arrives within the window is removed on arrival by that node through the rules above (a
 *   notice for a live or dead owner, a deletion of its own or a void owner's record), after
 *   the rest of the transaction was followed.
 * Leftover of an owner declared dead that never comes back (and so never becomes void): its
 * records named by notices and those notices, at most one notice per remover per removal of at
 * most `MAX_REMOVAL_TARGETS` records, none of it counted; all of it is deleted once a newer
 * incarnation of the node is known.
 *
 * The store's own writes (a removal, a purge, a sweep) follow the same protocol; they update
 * the view as they are made, and the follower skips their transactions. The follower talks to
 * the store through {@link FollowerHost}: the state they share, and the writes they both make.
 */
import type * as Y from 'yjs'
import type { Emitter } from './emitter.js'
import type { NoticeBook } from './notice-book.js'
import { OwnLedger, type OwnMembership } from './own-ledger.js'
import { forEachAddedValue, forEachDeletedRange, type PartitionResolver } from './partition-doc.js'
import type { Partition, RemovalNotice } from './partitions.js'
import { decodeRecord, KIND_REMOVAL, type MembershipRecord, type PartitionName, type StoredMembership } from './records.js'
import type { MembershipIndex } from '../membership-index.js'
import type { OwnerRegistry } from '../owner-registry.js'
import { UNDECLARED, type ProfileRegistry } from '../profile-registry.js'
import type { StoreEvent } from '../types.js'

/** Re-asserts of one membership after which the store suspects a hidden client-id collision and moves. */
export const REASSERTS_BEFORE_MOVE = 4

/** What the follower shares with its store. */
export interface FollowerHost {
  readonly nodeId: string
  readonly incarnation: number
  /** Under `resume`, a partition named with this node id and incarnation is this store's own. */
  readonly resume: boolean
  /** This store's own partition now (another after a client-id collision). */
  readonly self: Partition
  readonly resolver: PartitionResolver
  readonly owners: OwnerRegistry
  readonly index: MembershipIndex
  readonly notices: NoticeBook
  readonly own: OwnLedger
  readonly profiles: ProfileRegistry
  readonly events: Emitter<StoreEvent>
  clock (): number
  /** Registers a present notice: the records it names stop counting at once. */
  addNotice (n: RemovalNotice): void
  /** Forgets a notice gone from the document; records it alone held back count again. */
  forgetNotice (n: RemovalNotice): void
  /** Deletes a notice (and, with `andTargets`, the records it names) from the document. */
  deleteNotice (n: RemovalNotice, andTargets: boolean): number
  /** Deletes a present record (indexed or held) of any partition and queues its deletion. */
  deleteRecord (p: Partition, clock: number): boolean
  /** Deletes the record that currently carries an own membership, if present. */
  deleteOwnRecord (own: OwnMembership): void
  /** Queues an own membership record (a re-assert) and indexes it. */
  appendMembership (own: OwnMembership): void
  /** Whether a release that found nothing here is remembered for `dialog` (see `pendingReleaseMs`). */
  awaitsRelease (dialog: string): boolean
  /** Removes, as a remembered release would have, the records that arrived (indexed) of dialogs it awaits. */
  applyPendingReleases (arrived: ReadonlyArray<readonly [Partition, number]>): void
}

export class TransactionFollower {
  /** Client ids the store wrote under and left after a collision: records arriving in those partitions are not counted. */
  private readonly retired = new Set<number>()
  /** Set when re-asserts repeat: the store then moves to a fresh client id (see `takeCollisionSuspicion`). */
  private suspectCollision = false

  constructor (private readonly host: FollowerHost) {}

  /** The store left this client id after a collision. */
  retire (clientId: number): void { this.retired.add(clientId) }

  /** Whether repeated re-asserts since the last call suggest another writer under the store's client id. */
  takeCollisionSuspicion (): boolean {
    const s = this.suspectCollision
    this.suspectCollision = false
    return s
  }

  /** Derives the view from one transaction that is not the store's own: O(records added + IDs deleted). */
  follow (tr: Y.Transaction): void {
    const h = this.host
    const now = h.clock()
    const added: RemovalNotice[] = []
    const awaited: Array<readonly [Partition, number]> = []
    forEachAddedValue(tr, h.resolver, (pn, writer, clock, raw) => {
      if (pn.clientId !== writer) { this.invalid(writer, 'record written into another node\'s partition'); return }
      if (this.retired.has(writer) && pn.node === h.nodeId && pn.incarnation === h.incarnation) {
        this.invalid(writer, 'record in a partition this node left after a client-id collision'); return
      }
      const p = h.owners.partition(pn.clientId) ?? this.registerPartition(pn, added)
      if (p.node !== pn.node || p.incarnation !== pn.incarnation) { this.invalid(writer, 'client id of another partition'); return }
      if (p.adds.has(clock) || p.held.has(clock) || p.notices.has(clock)) return // written by this store
      const rec = decodeRecord(raw)
      if (typeof rec === 'string') { this.invalid(writer, rec); return }
      if (rec.kind === KIND_REMOVAL) {
        const n: RemovalNotice = { writer: p, clock, targetClient: rec.targetClient, clocks: rec.clocks }
        h.addNotice(n)
        added.push(n)
        return
      }
      const misfit = h.profiles.misfit(rec.profile, rec.value)
      if (misfit !== null) {
        this.invalid(writer, misfit)
        if (misfit !== UNDECLARED) return // never counts; an undeclared profile's record waits for a declare()
      }
      const stored = raw as StoredMembership // decodeRecord checked it
      this.admit(p, clock, rec, stored, now)
      if (p.self && p !== h.self) this.adoptOwn(p, clock, stored)
      if (h.awaitsRelease(rec.dialog)) awaited.push([p, clock])
    })

    const purged: OwnMembership[] = []
    const goneNotices: RemovalNotice[] = []
    forEachDeletedRange(tr, (client, from, len) => {
      const p = h.owners.partition(client)
      if (p === undefined) return
      const visit = (clock: number): void => {
        const add = p.adds.get(clock)
        const own = p.self ? h.own.at(client, clock) : undefined
        const current = own !== undefined && OwnLedger.carriedBy(own, client, clock)
        if (add !== undefined) {
          // deleted by another node while present and unexpired: a purge, re-asserted unless a notice names it
          if (current) { own.present = false; if (!add.expired) purged.push(own) }
          h.index.remove(add)
        } else if (p.held.delete(clock)) {
          if (current) own.present = false
        } else {
          const n = p.notices.get(clock)
          if (n !== undefined) goneNotices.push(n)
        }
      }
      if (len <= p.adds.size + p.held.size + p.notices.size) {
        for (let c = from; c < from + len; c++) visit(c)
      } else {
        for (const c of [...p.adds.keys(), ...p.held.keys(), ...p.notices.keys()]) if (c >= from && c < from + len) visit(c)
      }
    })
    // after the records: a record deleted with its notice is not released in between
    for (const n of goneNotices) h.forgetNotice(n)

    this.followUp(added, purged)
    // last: a record acknowledged or deleted above is no longer indexed, and is skipped
    if (awaited.length > 0) h.applyPendingReleases(awaited)
  }

  private invalid (clientId: number, reason: string): void {
    if (this.host.events.has('invalid-record')) this.host.events.emit({ type: 'invalid-record', clientId, reason })
  }

  /**
   * Registers a partition first seen in the document. Under `resume`, one named with this node
   * id and incarnation is this store's own (an earlier run's); the notices already addressed to
   * it are queued in `added` for acknowledgement.
   */
  private registerPartition (pn: PartitionName, added: RemovalNotice[]): Partition {
    const h = this.host
    const own = h.resume && pn.node === h.nodeId && pn.incarnation === h.incarnation
    const p = h.owners.register(pn, own)
    if (own) added.push(...h.notices.addressedTo(pn.clientId))
    return p
  }

  /** Indexes a present membership record, or holds it when a notice names it or its profile is not declared here. */
  private admit (p: Partition, clock: number, rec: MembershipRecord, stored: StoredMembership, now: number): void {
    if (this.host.notices.names(p.clientId, clock) || this.host.profiles.find(rec.profile) === undefined) p.held.set(clock, rec)
    else this.host.index.insert(p, clock, stored, now)
  }

  /**
   * Takes a membership record of an earlier run's partition (under `resume`) as an own
   * membership, unless a notice removed it. A second record of a membership already held is
   * tied to it: removing either removes the membership.
   */
  private adoptOwn (p: Partition, clock: number, stored: StoredMembership): void {
    if (!p.adds.has(clock)) return // held back: a notice removed it, or its profile is not declared here
    this.host.own.adopt(stored, p.clientId, clock)
  }

  /** The owner's acknowledgement of a notice addressed to it: the memberships named, their records and the notice go. */
  private acknowledge (n: RemovalNotice): void {
    const h = this.host
    const p = h.owners.partition(n.targetClient)
    for (const c of n.clocks) {
      const own = h.own.forget(n.targetClient, c)
      if (own !== undefined) h.deleteOwnRecord(own) // a re-asserted copy too
    }
    if (p !== undefined) for (const c of n.clocks) h.deleteRecord(p, c)
    h.deleteNotice(n, false)
  }

  /**
   * Writes what a transaction calls for: acknowledges removal notices addressed to this node,
   * clears notices addressed to void owners, and re-asserts own memberships that another node
   * purged. (The store writes them in a transaction of its own.)
   */
  private followUp (added: RemovalNotice[], purged: OwnMembership[]): void {
    const h = this.host
    for (const n of added) {
      if (!h.notices.has(n)) continue
      const target = h.owners.partition(n.targetClient)
      if (target?.self === true || h.own.knowsClient(n.targetClient)) this.acknowledge(n)
      else if (target !== undefined && h.owners.statusOf(target) === 'void') h.deleteNotice(n, true)
    }
    const reassert = purged.filter(own => h.own.find(own.stored[1], own.stored[2], own.stored[3]) === own && !own.present)
    for (const own of reassert) {
      h.appendMembership(own)
      // purged again and again while this node lives: its records land in another partition
      // elsewhere (another writer under the same client id that no state exchange revealed)
      if ((own.past?.length ?? 0) >= REASSERTS_BEFORE_MOVE) this.suspectCollision = true
    }
    if (reassert.length > 0 && h.events.has('reasserted')) h.events.emit({ type: 'reasserted', count: reassert.length })
  }
}
