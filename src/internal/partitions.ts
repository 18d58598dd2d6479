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
import type { HeapEntry } from './expiry-heap.js'
import type { MembershipRecord, PartitionName } from './records.js'
import type { Membership } from '../membership-index.js'

/** One partition: its name, whether it is this store's own, its adds, held records and notices. */
export interface Partition extends PartitionName {
  /** Written by this store (its current client id, or an earlier run's under `resume`). */
  readonly self: boolean
  /** Adds of this partition, by Yjs clock. */
  readonly adds: Map<number, Add>
  /** Present membership records that do not count at all, by clock: named by a present notice, or of an undeclared profile. */
  readonly held: Map<number, MembershipRecord>
  /** Removal notices this partition wrote that are present, by clock. */
  readonly notices: Map<number, RemovalNotice>
}

/** One add of a membership: a present membership record at (clientId, clock) in its owner's partition. */
export interface Add extends HeapEntry {
  readonly partition: Partition
  readonly clock: number
  readonly membership: Membership
  readonly remote: boolean
  /** Absolute expiry, Infinity for none. */
  readonly expiresAt: number
  expired: boolean
  effective: boolean
}

/** "I removed these adds of yours": a notice at (writer, clock) naming records of `targetClient`. */
export interface RemovalNotice {
  readonly writer: Partition
  readonly clock: number
  readonly targetClient: number
  readonly clocks: readonly number[]
}

/** A partition first seen, with nothing in it yet. */
export const newPartition = (name: PartitionName, self: boolean): Partition =>
  ({ node: name.node, incarnation: name.incarnation, clientId: name.clientId, self, adds: new Map(), held: new Map(), notices: new Map() })
