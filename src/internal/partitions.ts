/**
 * What a store knows of each partition of the document, the root array that one node
 * incarnation (one Yjs client) appends to: its present membership records and the removal
 * notices it wrote. The transaction follower (`transaction-follower.ts`) keeps these in step
 * with the document; the membership index counts the adds.
 *
 * Words: a *record* is an entry of a partition (a membership record or a removal notice), at
 * (client, clock). An *add* is a present membership record that the index holds: one add of a
 * membership (the README's "unique add"). A present membership record that does not count at
 * all (a present notice names it, or its profile is not declared here) is *held* instead.
 */
import { ClockTable } from './clock-table.js'
import type { HeapEntry } from './expiry-heap.js'
import { KIND_REMOTE, type MembershipRecord, type PartitionName, type StoredMembership } from './records.js'

/** One partition: its name, whether it is this store's own, its adds, held records and notices. */
export interface Partition extends PartitionName {
  /** Written by this store (its current client id, or an earlier run's under `resume`). */
  readonly self: boolean
  /** Adds of this partition, by Yjs clock (iterated in clock order). */
  readonly adds: ClockTable<Add>
  /** Present membership records that do not count at all, by clock: named by a present notice, or of an undeclared profile. */
  readonly held: Map<number, MembershipRecord>
  /** Removal notices this partition wrote that are present, by clock. */
  readonly notices: Map<number, RemovalNotice>
}

/**
 * One add of a membership: a present membership record at (clientId, clock) in its owner's
 * partition. It keeps the record's stored array (the very array the Yjs item holds, so nothing
 * of the record is copied) and packs its flags and its heap position in one integer: an add
 * costs one object of six fields, and a membership (the adds of a dialog with the same profile
 * and value, see `membership-index.ts`) costs no object of its own.
 */
export class Add implements HeapEntry {
  /** (heap position + 1) * 4 + flags. Arithmetic, never bit operations: it may pass 2^31. */
  private state: number
  /** Neighbours in its counter's list of members, while it stands for a counted membership (`membership-index.ts`). */
  prev: Add | null = null
  next: Add | null = null

  constructor (
    readonly partition: Partition,
    readonly clock: number,
    /** The record as stored in the document (checked by `decodeRecord`), shared with the Yjs item. */
    readonly stored: StoredMembership,
    now: number
  ) {
    this.state = this.expiresAt <= now ? EXPIRED : 0
  }

  get dialog (): string { return this.stored[1] }
  get profile (): string { return this.stored[2] }
  get value (): string | null { return this.stored[3] }
  /** Absolute expiry, Infinity for none. */
  get expiresAt (): number { return this.stored[4] ?? Infinity }
  get remote (): boolean { return this.stored[0] === KIND_REMOTE }
  get expired (): boolean { return this.flag(EXPIRED) }
  set expired (on: boolean) { this.setFlag(EXPIRED, on) }
  get effective (): boolean { return this.flag(EFFECTIVE) }
  set effective (on: boolean) { this.setFlag(EFFECTIVE, on) }
  /** Position in the expiry heap, -1 when not in it. Owned by the heap. */
  get heapIndex (): number { return Math.floor(this.state / 4) - 1 }
  set heapIndex (i: number) { this.state = (i + 1) * 4 + (this.state % 4) }

  /** Whether this add is of the membership (dialog, profile, value). */
  of (dialog: string, profile: string, value: string | null): boolean {
    const s = this.stored
    return s[1] === dialog && s[2] === profile && s[3] === value
  }

  /** Whether two adds are of the same membership. */
  sameAs (other: Add): boolean { return this.of(other.stored[1], other.stored[2], other.stored[3]) }

  private flag (f: number): boolean { return Math.floor(this.state / f) % 2 === 1 }
  private setFlag (f: number, on: boolean): void { if (this.flag(f) !== on) this.state += on ? f : -f }
}

const EXPIRED = 1
const EFFECTIVE = 2

/** "I removed these adds of yours": a notice at (writer, clock) naming records of `targetClient`. */
export interface RemovalNotice {
  readonly writer: Partition
  readonly clock: number
  readonly targetClient: number
  readonly clocks: readonly number[]
}

/** A partition first seen, with nothing in it yet. */
export const newPartition = (name: PartitionName, self: boolean): Partition =>
  ({ node: name.node, incarnation: name.incarnation, clientId: name.clientId, self, adds: new ClockTable(), held: new Map(), notices: new Map() })
