/**
 * The interface the churn, memory and late-join scenarios drive: N replicas of a set of dialog
 * memberships in one profile, wired by an in-memory {@link Mesh}. Each implementation in
 * bench/implementations/ provides one.
 */

/** N replicas of one implementation, connected by synchronous in-memory delivery. */
export interface ReplicatedSet {
  readonly replicas: number
  /** Adds `dialog` on replica `node` (the node that handles the call owns it). */
  add (node: number, dialog: string): void
  /** Removes `dialog` on replica `node`. */
  remove (node: number, dialog: string): void
  /** Delivers every pending update between replicas. */
  flush (): void
  /** Periodic housekeeping the implementation needs (compaction, sweep); a no-op for baselines. */
  maintain (): void
  /** How many memberships replica `i` counts (its O(1) path where it has one). */
  size (replica: number): number
  /** The dialogs replica `i` holds, for the convergence check (may scan). */
  members (replica: number): string[]
  /** Replica `i`'s full state, as a late joiner would receive it. */
  encodeState (replica: number): Uint8Array
  /** Internal figures worth printing (Yjs structs, ...). */
  stats (replica: number): Record<string, number>
  destroy (): void
}

/** A fresh replica that applied a full state. */
export interface JoinedReplica {
  size (): number
  members (): string[]
  destroy (): void
}

/** An implementation under test. */
export interface SetImplementation {
  /** Row label in results, e.g. `ProfileStore`, `flat Y.Map`. */
  readonly name: string
  create (replicas: number, seed: number): ReplicatedSet
  /** Builds a fresh replica from `state` (from `encodeState`). */
  join (state: Uint8Array, seed: number): JoinedReplica
}
