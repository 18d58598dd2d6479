/**
 * The membership index: every add in the document (a present membership record that counts or
 * may count, see `internal/partitions.ts`), grouped into memberships (dialog, profile, value),
 * with cluster-wide counts kept incrementally. Nothing here scans: each change of an add (added,
 * removed, expired, its owner's status) adjusts the counters of its one membership in O(1), and
 * expiries come off an indexed heap.
 *
 * Counting rule: a membership counts once, whatever the number of its adds, when at least one
 * add is effective: not expired, and either remote or owned by an owner that counts
 * (`live`; `dead` under a profile's `keep` policy while the add has an expiry; never `void`).
 */
import { ExpiryHeap } from './internal/expiry-heap.js'
import { FewMap } from './internal/few-map.js'
import { setIfUndefined } from 'lib0/map'
import { KIND_REMOTE, type MembershipRecord } from './internal/records.js'
import type { Add, Partition } from './internal/partitions.js'
import type { OwnerStatus } from './types.js'

/** A membership: the element of the observed-remove set. */
export interface Membership {
  readonly dialog: string
  readonly profile: string
  readonly value: string | null
  readonly adds: Add[]
  /** Number of effective adds. The membership counts when this is above zero. */
  effective: number
}

/** Counts for one profile, or one value of a valued profile. */
export interface Counter {
  readonly profile: string
  readonly value: string | null
  size: number
  /** Counted memberships per owner node: those with at least one effective add of that node. */
  readonly byNode: Map<string, number>
  /** The counted memberships. */
  readonly members: Set<Membership>
  /** Size last reported to listeners. */
  reported: number
}

interface ProfileCounter extends Counter {
  readonly values: Map<string, Counter>
}

/** `profile \0 value \0 dialog`: the membership's identity. */
export const membershipKey = (profile: string, value: string | null, dialog: string): string =>
  `${profile}\u0000${value ?? ''}\u0000${value === null ? '-' : '+'}${dialog}`

const newCounter = (profile: string, value: string | null): Counter =>
  ({ profile, value, size: 0, byNode: new Map(), members: new Set(), reported: 0 })

export interface IndexHooks {
  /** The owner status in force for a partition. */
  statusOf (p: Partition): OwnerStatus
  /** Whether a profile keeps counting a dead owner's memberships until they expire. */
  keepsDead (profile: string): boolean
}

export class MembershipIndex {
  /** Memberships by dialog id: one (the common case) or a few. The only map of memberships. */
  private readonly byDialog = new FewMap<string, Membership>()
  private readonly profiles = new Map<string, ProfileCounter>()
  private readonly heap = new ExpiryHeap<Add>()
  /** Expired adds still in the document, waiting for a sweep. */
  readonly expired = new Set<Add>()
  /** Counters changed since the last `takeChanged()`, when tracking is on. */
  private readonly changed = new Set<Counter>()
  trackChanges = false

  constructor (private readonly hooks: IndexHooks) {}

  /** Turns change tracking on, from the sizes in force now (they count as reported). */
  startTracking (): void {
    for (const pc of this.profiles.values()) {
      pc.reported = pc.size
      for (const vc of pc.values.values()) vc.reported = vc.size
    }
    this.trackChanges = true
  }

  get membershipCount (): number { return this.byDialog.size }

  /** Indexes a present membership record of `partition` at `clock` as an add. */
  insert (partition: Partition, clock: number, rec: MembershipRecord, now: number): Add {
    let m = this.find(rec.dialog, rec.profile, rec.value)
    if (m === undefined) {
      m = { dialog: rec.dialog, profile: rec.profile, value: rec.value, adds: [], effective: 0 }
      this.byDialog.add(rec.dialog, m)
    }
    const expiresAt = rec.expiresAt ?? Infinity
    const add: Add = { partition, clock, membership: m, remote: rec.kind === KIND_REMOTE, expiresAt, expired: expiresAt <= now, effective: false, heapIndex: -1 }
    m.adds.push(add)
    partition.adds.set(clock, add)
    if (add.expired) this.expired.add(add)
    else if (expiresAt !== Infinity) this.heap.push(add)
    this.refresh(add)
    return add
  }

  /** Forgets an add deleted from the document. */
  remove (add: Add): void {
    if (add.effective) { add.effective = false; this.count(add, -1) }
    this.heap.remove(add)
    this.expired.delete(add)
    add.partition.adds.delete(add.clock)
    const m = add.membership
    const i = m.adds.indexOf(add)
    if (i >= 0) { m.adds[i] = m.adds[m.adds.length - 1] as Add; m.adds.pop() }
    if (m.adds.length === 0) this.byDialog.delete(m.dialog, m)
  }

  /** Re-evaluates every add of a partition after its owner's status changed. */
  refreshPartition (p: Partition): void {
    for (const add of p.adds.values()) this.refresh(add)
  }

  /** Marks adds expired up to `now`. O(k log n) for k expiries. */
  advance (now: number): void {
    for (let add = this.heap.popExpired(now); add !== undefined; add = this.heap.popExpired(now)) {
      add.expired = true
      this.expired.add(add)
      this.refresh(add)
    }
  }

  /** Whether an add counts under the current owner statuses and expiry. */
  private isEffective (add: Add): boolean {
    if (add.expired) return false
    if (add.remote) return true
    switch (this.hooks.statusOf(add.partition)) {
      case 'live': return true
      case 'void': return false
      case 'dead': return add.expiresAt !== Infinity && this.hooks.keepsDead(add.membership.profile)
    }
  }

  private refresh (add: Add): void {
    const e = this.isEffective(add)
    if (e === add.effective) return
    add.effective = e
    this.count(add, e ? 1 : -1)
  }

  private count (add: Add, delta: 1 | -1): void {
    const m = add.membership
    const node = add.partition.node
    const before = m.effective
    m.effective += delta
    const pc = this.profileCounter(m.profile)
    const vc = m.value === null ? undefined : this.valueCounter(pc, m.value)
    // the node's share changes when its first effective add of the membership comes or its last goes
    let ofNode = 0
    for (const t of m.adds) if (t.effective && t.partition.node === node) ofNode++
    if ((delta === 1 && ofNode === 1) || (delta === -1 && ofNode === 0)) {
      bump(pc.byNode, node, delta)
      if (vc !== undefined) bump(vc.byNode, node, delta)
    }
    if ((delta === 1 && before === 0) || (delta === -1 && m.effective === 0)) {
      // the membership starts or stops counting
      pc.size += delta
      if (delta === 1) pc.members.add(m); else pc.members.delete(m)
      if (vc !== undefined) {
        vc.size += delta
        if (delta === 1) vc.members.add(m); else vc.members.delete(m)
      }
      if (this.trackChanges) { this.changed.add(pc); if (vc !== undefined) this.changed.add(vc) }
    }
    if (vc !== undefined && vc.size === 0 && vc.byNode.size === 0 && !this.changed.has(vc)) pc.values.delete(vc.value as string)
  }

  private profileCounter (profile: string): ProfileCounter {
    return setIfUndefined(this.profiles, profile, (): ProfileCounter => ({ ...newCounter(profile, null), values: new Map() }))
  }

  private valueCounter (pc: ProfileCounter, value: string): Counter {
    return setIfUndefined(pc.values, value, () => newCounter(pc.profile, value))
  }

  /** The counter for a profile (value undefined: the whole profile), or undefined when empty. */
  counter (profile: string, value: string | null | undefined): Counter | undefined {
    const pc = this.profiles.get(profile)
    if (pc === undefined || value === undefined || value === null) return pc
    return pc.values.get(value)
  }

  /** Values of a valued profile that have counted memberships. */
  values (profile: string): Counter[] {
    const pc = this.profiles.get(profile)
    return pc === undefined ? [] : [...pc.values.values()].filter(c => c.size > 0)
  }

  /**
   * The membership (dialog, profile, value), found among the dialog's few memberships: no key
   * string is built, so a refused admission costs one lookup by the dialog id.
   */
  find (dialog: string, profile: string, value: string | null): Membership | undefined {
    return this.byDialog.find(dialog, sameProfileValue, profile, value)
  }

  /** Memberships of a dialog (a fresh array: safe to modify the index while iterating it). */
  ofDialog (dialog: string): Membership[] { return this.byDialog.get(dialog) }

  allMemberships (): IterableIterator<Membership> { return this.byDialog.values() }

  /** Counters whose size changed since the last call; drops value counters that became empty. */
  takeChanged (): Counter[] {
    const out = [...this.changed]
    this.changed.clear()
    for (const c of out) {
      if (c.value !== null && c.size === 0 && c.byNode.size === 0) this.profiles.get(c.profile)?.values.delete(c.value)
    }
    return out
  }
}

const sameProfileValue = (m: Membership, profile: string, value: string | null): boolean => m.profile === profile && m.value === value

const bump = (map: Map<string, number>, key: string, delta: number): void => {
  const n = (map.get(key) ?? 0) + delta
  if (n === 0) map.delete(key); else map.set(key, n)
}
