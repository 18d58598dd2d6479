/**
 * The membership index: every add in the document (a present membership record that counts or
 * may count, see `internal/partitions.ts`), grouped into memberships (dialog, profile, value),
 * with cluster-wide counts kept incrementally. Nothing here scans: each change of an add (added,
 * removed, expired, its owner's status) adjusts the counters of its one membership in O(1), and
 * expiries come off an indexed heap.
 *
 * Memory: a membership has no object of its own. It is the adds of one dialog id with the same
 * profile and value, found among the dialog's few adds. A counted membership is listed by one of
 * its effective adds, linked into its counter's list of members (the value's counter for a
 * valued membership, the profile's otherwise). So an add costs one object (sharing the record's
 * stored array with the Yjs item), one entry in the map by dialog and one slot in its
 * partition's clock table: the heap per membership stays close to a flat Y.Map of the calls.
 *
 * Counting rule: a membership counts once, whatever the number of its adds, when at least one
 * add is effective: not expired, and either remote or owned by an owner that counts
 * (`live`; `dead` under a profile's `keep` policy while the add has an expiry; never `void`).
 */
import { ExpiryHeap } from './internal/expiry-heap.js'
import { FEW_MATCH, FEW_NONE, FewMap } from './internal/few-map.js'
import { setIfUndefined } from 'lib0/map'
import { Add, type Partition } from './internal/partitions.js'
import type { StoredMembership } from './internal/records.js'
import type { OwnerStatus } from './types.js'

/** A membership: the element of the observed-remove set. A fresh view: it does not follow later changes. */
export interface Membership {
  readonly dialog: string
  readonly profile: string
  readonly value: string | null
  /** Its adds (a fresh array). */
  readonly adds: Add[]
  /** Number of effective adds. The membership counts when this is above zero. */
  readonly effective: number
}

/** Counts for one profile, or one value of a valued profile. */
export interface Counter {
  readonly profile: string
  readonly value: string | null
  size: number
  /** Counted memberships per owner node: those with at least one effective add of that node. */
  readonly byNode: Map<string, number>
  /**
   * The counted memberships without a value (a profile's counter) or with this value (a value's
   * counter), each by one of its effective adds, linked through `Add.prev/next` in the order they
   * started counting. See {@link MembershipIndex.members}.
   */
  first: Add | null
  last: Add | null
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
  ({ profile, value, size: 0, byNode: new Map(), first: null, last: null, reported: 0 })

export interface IndexHooks {
  /** The owner status in force for a partition. */
  statusOf (p: Partition): OwnerStatus
  /** Whether a profile keeps counting a dead owner's memberships until they expire. */
  keepsDead (profile: string): boolean
}

export class MembershipIndex {
  /** Adds by dialog id: one (the common case) or a few. The only map of memberships. */
  private readonly byDialog = new FewMap<string, Add>()
  /** Number of memberships: distinct (dialog, profile, value) among the adds. */
  private memberships = 0
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

  get membershipCount (): number { return this.memberships }

  /**
   * Indexes a present membership record of `partition` at `clock` as an add. `stored` is the
   * record as the document holds it, already checked by `decodeRecord`; the add keeps it.
   */
  insert (partition: Partition, clock: number, stored: StoredMembership, now: number): Add {
    const add = new Add(partition, clock, stored, now)
    const found = this.byDialog.addAndFind(add.dialog, add, sameMembership, add, null)
    if (found !== FEW_MATCH) this.memberships++
    partition.adds.set(add)
    if (add.expired) this.expired.add(add)
    else if (add.expiresAt !== Infinity) this.heap.push(add)
    this.refresh(add, found === FEW_NONE)
    return add
  }

  /** Forgets an add deleted from the document. */
  remove (add: Add): void {
    if (add.effective) { add.effective = false; this.count(add, -1) }
    this.heap.remove(add)
    this.expired.delete(add)
    add.partition.adds.delete(add.clock)
    if (this.byDialog.delete(add.dialog, add) && this.byDialog.find(add.dialog, sameMembership, add, null) === undefined) this.memberships--
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
      case 'dead': return add.expiresAt !== Infinity && this.hooks.keepsDead(add.profile)
    }
  }

  /** `alone`: `add` is its dialog's only add (a fresh dialog: its adds need no lookup). */
  private refresh (add: Add, alone = false): void {
    const e = this.isEffective(add)
    if (e === add.effective) return
    add.effective = e
    this.count(add, e ? 1 : -1, alone)
  }

  /** Counts the change of `add`'s effectiveness (already set) by `delta`; `alone` as for {@link refresh}. */
  private count (add: Add, delta: 1 | -1, alone = false): void {
    const node = add.partition.node
    // the membership's effective adds, those of the node, and another effective add than `add`
    let effective = 0
    let ofNode = 0
    let other: Add | undefined
    if (alone) {
      effective = ofNode = add.effective ? 1 : 0
    } else {
      this.byDialog.forEach(add.dialog, (t) => {
        if (!t.effective || !t.sameAs(add)) return
        effective++
        if (t.partition.node === node) ofNode++
        if (t !== add) other = t
      })
    }
    const pc = this.profileCounter(add.profile)
    const value = add.value
    const vc = value === null ? undefined : this.valueCounter(pc, value)
    // the node's share changes when its first effective add of the membership comes or its last goes
    if ((delta === 1 && ofNode === 1) || (delta === -1 && ofNode === 0)) {
      bump(pc.byNode, node, delta)
      if (vc !== undefined) bump(vc.byNode, node, delta)
    }
    if ((delta === 1 && effective === 1) || (delta === -1 && effective === 0)) {
      // the membership starts or stops counting
      pc.size += delta
      if (vc !== undefined) vc.size += delta
      if (delta === 1) link(vc ?? pc, add); else unlink(vc ?? pc, add)
      if (this.trackChanges) { this.changed.add(pc); if (vc !== undefined) this.changed.add(vc) }
    } else if (delta === -1 && other !== undefined && isLinked(vc ?? pc, add)) {
      // still counted: another effective add stands for it, in its place
      replace(vc ?? pc, add, other)
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

  /**
   * The counted memberships of a profile (value undefined or null: the whole profile, as
   * {@link counter}) or of one value, each by one of its effective adds ({@link membershipOf}
   * gives the membership). O(result + values of the profile).
   */
  members (profile: string, value: string | null | undefined): Add[] {
    const out: Add[] = []
    const pc = this.profiles.get(profile)
    if (pc === undefined) return out
    if (value !== undefined && value !== null) {
      const vc = pc.values.get(value)
      if (vc !== undefined) listInto(vc, out)
      return out
    }
    listInto(pc, out)
    for (const vc of pc.values.values()) listInto(vc, out)
    return out
  }

  /** Values of a valued profile that have counted memberships. */
  values (profile: string): Counter[] {
    const pc = this.profiles.get(profile)
    return pc === undefined ? [] : [...pc.values.values()].filter(c => c.size > 0)
  }

  /**
   * The membership (dialog, profile, value), found among the dialog's few adds: no key string
   * is built, so a refused admission costs one lookup by the dialog id.
   */
  find (dialog: string, profile: string, value: string | null): Membership | undefined {
    const first = this.byDialog.find(dialog, isOf, profile, value)
    return first === undefined ? undefined : this.membershipOf(first)
  }

  /** The membership an add is of (the view of a counter's member, say). */
  membershipOf (add: Add): Membership {
    const adds: Add[] = []
    let effective = 0
    this.byDialog.forEach(add.dialog, (t) => {
      if (!t.sameAs(add)) return
      adds.push(t)
      if (t.effective) effective++
    })
    return { dialog: add.dialog, profile: add.profile, value: add.value, adds, effective }
  }

  /** Memberships of a dialog (fresh views: safe to modify the index while using them). */
  ofDialog (dialog: string): Membership[] { return this.group(this.byDialog.get(dialog)) }

  /** Every membership (fresh views). */
  * allMemberships (): IterableIterator<Membership> {
    for (const key of this.byDialog.keys()) yield * this.group(this.byDialog.get(key))
  }

  /** Groups adds of one dialog into memberships. */
  private group (adds: Add[]): Membership[] {
    const out: Membership[] = []
    for (let i = 0; i < adds.length; i++) {
      const a = adds[i] as Add
      let seen = false
      for (let j = 0; j < i && !seen; j++) seen = (adds[j] as Add).sameAs(a)
      if (!seen) out.push(this.membershipOf(a))
    }
    return out
  }

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

const isOf = (t: Add, profile: string, value: string | null): boolean => t.profile === profile && t.value === value
const sameMembership = (t: Add, other: Add): boolean => t.sameAs(other)

const listInto = (c: Counter, out: Add[]): void => { for (let a = c.first; a !== null; a = a.next) out.push(a) }

const isLinked = (c: Counter, a: Add): boolean => a.prev !== null || c.first === a

const link = (c: Counter, a: Add): void => {
  a.prev = c.last
  a.next = null
  if (c.last === null) c.first = a; else c.last.next = a
  c.last = a
}

const unlink = (c: Counter, a: Add): void => {
  if (a.prev === null) c.first = a.next; else a.prev.next = a.next
  if (a.next === null) c.last = a.prev; else a.next.prev = a.prev
  a.prev = null
  a.next = null
}

/** Puts `b` in `a`'s place in the list. */
const replace = (c: Counter, a: Add, b: Add): void => {
  b.prev = a.prev
  b.next = a.next
  if (a.prev === null) c.first = b; else a.prev.next = b
  if (a.next === null) c.last = b; else a.next.prev = b
  a.prev = null
  a.next = null
}

const bump = (map: Map<string, number>, key: string, delta: number): void => {
  const n = (map.get(key) ?? 0) + delta
  if (n === 0) map.delete(key); else map.set(key, n)
}
