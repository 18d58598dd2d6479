/**
 * Model-based property test of the profile store over 2 to 7 replicas of the in-memory cluster.
 *
 * The reference model is a plain map of adds (one entry per add id, the element of the
 * observed-remove set): an add creates one; a remove marks exactly the adds its replica
 * observed. Each command checks its local effect against the model, and after every command
 * every replica's incremental counts must equal a recount by scan. When delivery quiesces
 * (heal, then deliver everything), every replica must hold exactly the adds the model says are
 * alive, and replica 0's sizes must equal the sizes the model computes on its own: nothing
 * removed on purpose ever counts again, nothing live is lost.
 *
 * A removal that finds nothing is remembered at its replica for WINDOW ms (`pendingReleaseMs`):
 * the model keeps these pending releases, and every record a replica removes on arrival because
 * of one (`late-release` events) must match a pending release of that replica still in its
 * window; the model then marks it removed, carried by the update that wrote the notice. When
 * delivery quiesces, no live add matches a pending release still in its window: a release on any
 * node ends every call it selects whose record arrived there within the window, wherever it was
 * added. A local add of the dialog, or a restart, forgets the replica's pending releases of it.
 *
 * Crashes lose a replica's undelivered updates (also during a partition). The model then keeps
 * exactly what got out: it merges the surviving replicas' states (pending updates included) and
 * drops the crashed incarnation's writes beyond what they hold; a removal whose carrier did not
 * get out is undone (the membership counts as before), one that did get out stays.
 *
 * Replay a failure: FC_SEED=<seed> npm test -- test/profile-store.property.test.ts
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { ProfileStore } from '../src/index.js'
import { InMemoryCluster } from '../src/testing/index.js'
import { fcParams } from './support/fc.js'

const PROFILES = [{ name: 'total' }, { name: 'caller', withValue: true }, { name: 'trunk', withValue: true, onOwnerDead: 'keep' as const }]
const DIALOGS = ['d0', 'd1', 'd2', 'd3']
const VALUES = ['alice', 'bob']
const GRACE = 5000
/** pendingReleaseMs of every store: the clock commands (500, 2000, 7000 ms) pass it or not. */
const WINDOW = 3000

/** A release that found nothing at a replica at time `at`, and what it selected. */
interface PendingRelease { readonly dialog: string, readonly profile: string | null, readonly value: string | null | undefined, readonly remoteOnly: boolean, readonly at: number }

interface ModelAdd {
  /** Ids of the records that carried it: the first, then one per re-assert. */
  readonly ids: Set<string>
  readonly dialog: string
  readonly profile: string
  readonly value: string | null
  readonly node: string
  readonly incarnation: number
  readonly remote: boolean
  readonly expiresAt: number | null
  /** alive; removed (observed by a remove, swept, or purged as void); purged while its owner lived (to be re-asserted). */
  state: State
  /** Each removal of it: by which Yjs client, carried up to which clock of that client, and the state before. */
  removals: Removal[]
  /** Whether a replica ever purged it while its owner lived. */
  purgedOnce?: boolean
}

type State = 'alive' | 'removed' | 'purged'
/**
 * A removal: by which Yjs client, the state before, and what carries it. A removal of a live
 * owner's add by another node is carried by what that node wrote (its removal notice), up to
 * clock `hi` of its client: it got out if the survivors hold that much of the client. Any other
 * removal (the owner's own, a void owner's record, a sweep) is a deletion: it got out if the add
 * is gone from the survivors' state (no re-assert can bring such an add back).
 */
interface Removal { readonly client: number, readonly hi: number, readonly prev: State, readonly byNotice: boolean }

interface Model {
  readonly n: number
  /** Every add the model knows, by each of its ids. */
  readonly byId: Map<string, ModelAdd>
  /** Replica 0's view of dead owners (`node:incarnation`). */
  readonly deadAt0: Set<string>
  /** Current incarnation of each node. */
  readonly incarnation: Map<string, number>
  /** Pending releases of each replica, in the order made. */
  readonly pending: PendingRelease[][]
  /** Late releases written by the replicas: the adds removed and the end clock of the update carrying the notices. */
  readonly late: LateReleases
  /** Each replica's partition group (the same number: they hear each other). */
  readonly group: number[]
  /**
   * Whether replica 0 was told of each replica's current incarnation: the in-memory cluster's
   * stand-in for a first heartbeat takes it as live, so a verdict replica 0 was given before
   * gives way to it (a liveness layer judges only incarnations it heard of).
   */
  readonly toldAt0: boolean[]
}

/** Replica 0 is told of the current incarnation of every replica it hears (as `heal` and `restart` announce them). */
const tellAt0 = (m: Model): void => {
  for (let j = 0; j < m.n; j++) if (m.group[j] === m.group[0]) m.toldAt0[j] = true
}

/** Everyone hears everyone again (`heal`). */
const healModel = (m: Model): void => {
  m.group.fill(0)
  tellAt0(m)
}

/**
 * Collects every store's `late-release` events, and the clock of the local update that carries
 * them (the notices are written in the store's next flush).
 */
class LateReleases {
  /**
   * Runs as a late release happens, before it is recorded: a record an owner re-asserted can be
   * released on arrival and its deletion reach the owner within one bulk delivery, before the
   * model learned it (the property learns re-asserts here).
   */
  onLate: () => void = () => {}
  private readonly watched = new Map<ProfileStore, () => void>()
  private readonly unflushed = new Map<ProfileStore, string[]>()
  readonly ready: Array<{ readonly store: ProfileStore, readonly ids: readonly string[], readonly hi: number }> = []

  watch (c: Real): void {
    for (const s of c.stores) {
      if (this.watched.has(s)) continue
      const off1 = s.on('late-release', e => { this.onLate(); this.unflushed.set(s, [...(this.unflushed.get(s) ?? []), ...e.ids]) })
      const off2 = s.onUpdate((update, origin) => {
        const ids = this.unflushed.get(s)
        if (origin !== s || ids === undefined) return
        this.unflushed.delete(s)
        this.ready.push({ store: s, ids, hi: Y.parseUpdateMeta(update).to.get(s.clientId) ?? 0 })
      })
      this.watched.set(s, () => { off1(); off2() })
    }
  }

  /** Stops following a store about to crash: what it has not flushed never got out. */
  forget (s: ProfileStore): void {
    this.watched.get(s)?.()
    this.watched.delete(s)
    this.unflushed.delete(s)
  }

  destroy (): void { for (const off of this.watched.values()) off() }
}

const matchesRelease = (p: PendingRelease, a: ModelAdd): boolean => p.dialog === a.dialog &&
  (p.profile === null || p.profile === a.profile) && (p.value === undefined || p.value === a.value) && (!p.remoteOnly || a.remote)

/** Remembers a release at replica r that removed nothing. */
const rememberRelease = (m: Model, c: Real, r: number, p: Omit<PendingRelease, 'at'>): void => {
  (m.pending[r] as PendingRelease[]).push({ ...p, at: c.time })
}

/** A local add of `dialog` at replica r forgets its pending releases of the dialog. */
const forgetReleases = (m: Model, r: number, dialog: string): void => {
  m.pending[r] = (m.pending[r] as PendingRelease[]).filter(p => p.dialog !== dialog)
}

/** Takes the late releases the replicas wrote: each must match a pending release in its window; the adds become removed. */
const takeLateReleases = (m: Model, c: Real): void => {
  for (const { store, ids, hi } of m.late.ready.splice(0)) {
    const r = c.stores.indexOf(store)
    expect(r, 'a late release by a store no longer running').toBeGreaterThanOrEqual(0)
    for (const id of ids) {
      const a = m.byId.get(id)
      expect(a, `late release of unknown add ${id}`).toBeDefined()
      if (a === undefined) continue
      const live = (m.pending[r] as PendingRelease[]).some(p => c.time < p.at + WINDOW && matchesRelease(p, a))
      expect(live, `late release of ${id} (${a.dialog} ${a.profile}/${String(a.value)}) at r${r} with no pending release in its window`).toBe(true)
    }
    removeIds(m, ids, store, hi)
  }
}

type Real = InMemoryCluster

const create = (m: Model, id: string, a: Omit<ModelAdd, 'ids' | 'state' | 'removals'>): void => {
  expect(m.byId.has(id)).toBe(false)
  m.byId.set(id, { ...a, ids: new Set([id]), state: 'alive', removals: [] })
}

/** How far a store's own Yjs client has written (its updates are flushed). */
const ownClock = (s: ProfileStore): number => Y.decodeStateVector(s.stateVector()).get(s.clientId) ?? 0

/** Marks the adds carried by `ids` as removed by replica `s` (its writes up to now carry the removal). */
const removeIds = (m: Model, ids: Iterable<string>, s: ProfileStore, hi = ownClock(s), deletion = false): void => {
  for (const id of ids) {
    const a = m.byId.get(id)
    expect(a, `unknown add ${id}`).toBeDefined()
    if (a === undefined) continue
    // another node's removal of a live owner's add is a notice, unless it is a deletion (a sweep)
    const byNotice = !deletion && (a.node !== s.nodeId || a.incarnation !== s.incarnation) && m.incarnation.get(a.node) === a.incarnation
    a.removals.push({ client: s.clientId, hi, prev: a.state, byNotice })
    a.state = 'removed'
  }
}

const idClient = (id: string): number => Number(id.slice(0, id.indexOf('.')))
const idClock = (id: string): number => Number(id.slice(id.indexOf('.') + 1))

/**
 * Before replica r crashes with its undelivered updates: what survives is what the other
 * replicas hold (integrated or pending): merge their states into a scratch replica. Adds no
 * surviving replica holds are lost; removals whose carrier no surviving replica holds are undone
 * unless the add is gone from the scratch replica anyway (deleted, or named by a notice that got out).
 */
const resolveCrash = (m: Model, c: Real, r: number): void => {
  const scratch = new ProfileStore({ nodeId: 'scratch', profiles: PROFILES, clock: () => c.time, incarnation: 1 })
  try {
    for (let j = 0; j < c.size; j++) if (j !== r) scratch.applyUpdate(c.store(j).encodeState(), 'sync')
    const sv = Y.decodeStateVector(scratch.stateVector())
    const present = idsOf(scratch.dump())
    const arrived = (id: string): boolean => idClock(id) < (sv.get(idClient(id)) ?? 0)
    for (const a of new Set(m.byId.values())) {
      for (const id of [...a.ids]) {
        if (!arrived(id)) { a.ids.delete(id); m.byId.delete(id) } // no surviving replica holds it
      }
      if (a.ids.size === 0) { a.state = 'removed'; a.removals = []; continue } // never got out
      if (a.state !== 'removed' || a.removals.length === 0) continue
      const gone = [...a.ids].every(id => arrived(id) && !present.has(id))
      const kept = a.removals.filter(e => e.byNotice ? e.hi <= (sv.get(e.client) ?? 0) : gone)
      if (kept.length === 0) a.state = (a.removals[0] as Removal).prev
      a.removals = kept
    }
  } finally { scratch.destroy() }
}

/**
 * Maps records that owners wrote on their own during delivery (re-asserts of purged adds) to
 * the add they carry: the owner's latest add of the same membership.
 */
/** Each store's first Yjs client id: a store whose client id changed moved after a collision it suspected. */
const firstClient = new WeakMap<ProfileStore, number>()
const moved = (s: ProfileStore): boolean => {
  const first = firstClient.get(s)
  if (first === undefined) { firstClient.set(s, s.clientId); return false }
  return first !== s.clientId
}

const learnReasserts = (m: Model, c: Real): void => {
  for (const s of c.stores) {
    for (const e of s.dump()) {
      for (const id of e.adds) {
        if (m.byId.has(id) || !id.startsWith(`${s.clientId}.`)) continue
        let latest: ModelAdd | undefined
        for (const a of m.byId.values()) {
          if (a.node === s.nodeId && a.incarnation === s.incarnation && a.dialog === e.dialog && a.profile === e.profile && a.value === e.value) latest = a
        }
        expect(latest, `record ${id} carries no add of the model`).toBeDefined()
        // an owner re-asserts only what a purge deleted: never a membership removed on purpose
        // whose removal reached it without its justification (a store that moved to a fresh
        // client id after repeated purges re-writes every membership it holds)
        if (!moved(s)) expect(latest?.purgedOnce, `re-assert ${id} of an add no purge deleted`).toBe(true)
        if (latest !== undefined) { latest.ids.add(id); m.byId.set(id, latest) }
      }
    }
  }
}

type Dump = ReturnType<ProfileStore['dump']>
const idsOf = (d: Dump): Map<string, Dump[number]> => {
  const m = new Map<string, Dump[number]>()
  for (const e of d) for (const id of e.adds) m.set(id, e)
  return m
}

/** Runs `op` on replica r, then checks and returns the adds that appeared and disappeared there. */
const observe = (c: Real, r: number, op: (s: ProfileStore) => void): { appeared: Map<string, Dump[number]>, vanished: Set<string> } => {
  const before = idsOf(c.store(r).dump())
  op(c.store(r))
  const after = idsOf(c.store(r).dump())
  const appeared = new Map([...after].filter(([id]) => !before.has(id)))
  const vanished = new Set([...before.keys()].filter(id => !after.has(id)))
  return { appeared, vanished }
}

const checkAllCounts = (c: Real): void => {
  for (const s of c.stores) {
    const r = s.recount()
    expect(r.mismatches, `replica ${s.nodeId}`).toEqual([])
  }
}

const profileArb = fc.constantFrom('total', 'caller', 'trunk')
const valueFor = (profile: string, v: string): string | undefined => profile === 'total' ? undefined : v

class AddCmd implements fc.Command<Model, Real> {
  constructor (readonly r: number, readonly dialog: string, readonly profile: string, readonly value: string, readonly ttl: number | null) {}
  check = (m: Readonly<Model>): boolean => this.r < m.n
  run (m: Model, c: Real): void {
    const store = c.store(this.r)
    const value = valueFor(this.profile, this.value)
    const { appeared, vanished } = observe(c, this.r, s => s.add(this.dialog, this.profile, value, this.ttl === null ? undefined : { ttlMs: this.ttl }))
    forgetReleases(m, this.r, this.dialog)
    // locally: at most one new add, by this node; what vanished is this node's own earlier add of the same membership
    expect(appeared.size).toBeLessThanOrEqual(1)
    for (const id of vanished) expect(m.byId.get(id)?.node).toBe(store.nodeId)
    removeIds(m, vanished, store)
    for (const [id] of appeared) {
      expect(id.startsWith(`${store.clientId}.`)).toBe(true)
      create(m, id, { dialog: this.dialog, profile: this.profile, value: value ?? null, node: store.nodeId, incarnation: store.incarnation, remote: false, expiresAt: this.ttl === null ? null : c.time + this.ttl })
    }
    expect(store.has(this.dialog, this.profile, value)).toBe(true)
  }

  toString = (): string => `add(r${this.r}, ${this.dialog}, ${this.profile}, ${this.value}, ttl=${String(this.ttl)})`
}

class AddRemoteCmd implements fc.Command<Model, Real> {
  constructor (readonly r: number, readonly uid: string, readonly profile: string, readonly value: string, readonly ttl: number) {}
  check = (m: Readonly<Model>): boolean => this.r < m.n
  run (m: Model, c: Real): void {
    const store = c.store(this.r)
    const value = valueFor(this.profile, this.value)
    const expiresAt = c.time + this.ttl
    const { appeared, vanished } = observe(c, this.r, s => s.addRemote(this.uid, this.profile, value, expiresAt))
    forgetReleases(m, this.r, this.uid)
    removeIds(m, vanished, store)
    for (const [id] of appeared) {
      create(m, id, { dialog: this.uid, profile: this.profile, value: value ?? null, node: store.nodeId, incarnation: store.incarnation, remote: true, expiresAt })
    }
  }

  toString = (): string => `addRemote(r${this.r}, ${this.uid}, ${this.profile}, ${this.value}, ttl=${this.ttl})`
}

/** remove / removeDialog / removeRemote: the adds that vanish are exactly those observed. */
class RemoveCmd implements fc.Command<Model, Real> {
  constructor (readonly r: number, readonly kind: 'one' | 'any-value' | 'dialog' | 'remote', readonly dialog: string, readonly profile: string, readonly value: string) {}
  check = (m: Readonly<Model>): boolean => this.r < m.n
  run (m: Model, c: Real): void {
    const before = c.store(this.r).dump()
    const value = this.kind === 'one' || this.kind === 'remote' ? valueFor(this.profile, this.value) : undefined
    const matches = (e: Dump[number]): boolean => e.dialog === this.dialog &&
      (this.kind === 'dialog' || (e.profile === this.profile && (value === undefined || e.value === value)))
    const expected = new Set(before.filter(matches).flatMap(e => e.adds)
      .filter(id => this.kind !== 'remote' || m.byId.get(id)?.remote === true))
    let removed = -1
    const { vanished } = observe(c, this.r, s => {
      if (this.kind === 'dialog') removed = s.removeDialog(this.dialog)
      else if (this.kind === 'remote') removed = s.removeRemote(this.dialog, this.profile, value)
      else removed = s.remove(this.dialog, this.profile, value)
    })
    expect([...vanished].sort()).toEqual([...expected].sort())
    expect(removed === 0).toBe(vanished.size === 0)
    removeIds(m, vanished, c.store(this.r))
    if (removed === 0) {
      rememberRelease(m, c, this.r, { dialog: this.dialog, profile: this.kind === 'dialog' ? null : this.profile, value: this.kind === 'dialog' ? undefined : value, remoteOnly: this.kind === 'remote' })
    }
  }

  toString = (): string => `remove-${this.kind}(r${this.r}, ${this.dialog}, ${this.profile}, ${this.value})`
}

class AcquireCmd implements fc.Command<Model, Real> {
  constructor (readonly r: number, readonly dialog: string, readonly value: string, readonly limit: number) {}
  check = (m: Readonly<Model>): boolean => this.r < m.n
  run (m: Model, c: Real): void {
    const store = c.store(this.r)
    const sizeBefore = store.size('caller', this.value)
    const had = store.has(this.dialog, 'caller', this.value)
    let result: ReturnType<ProfileStore['tryAcquire']> | undefined
    const { appeared, vanished } = observe(c, this.r, s => { result = s.tryAcquire(this.dialog, 'caller', this.value, this.limit) })
    expect(result?.admitted).toBe(had || sizeBefore < this.limit)
    if (result?.admitted === true) forgetReleases(m, this.r, this.dialog)
    if (result?.admitted !== true) expect(appeared.size + vanished.size).toBe(0)
    for (const id of vanished) expect(m.byId.get(id)?.node).toBe(store.nodeId)
    removeIds(m, vanished, store)
    for (const [id] of appeared) {
      create(m, id, { dialog: this.dialog, profile: 'caller', value: this.value, node: store.nodeId, incarnation: store.incarnation, remote: false, expiresAt: null })
    }
  }

  toString = (): string => `acquire(r${this.r}, ${this.dialog}, caller, ${this.value}, limit=${this.limit})`
}

class DeliverCmd implements fc.Command<Model, Real> {
  constructor (readonly count: number, readonly mode: 'deliver' | 'drop' | 'duplicate') {}
  check = (): boolean => true
  run (m: Model, c: Real): void {
    for (let i = 0; i < this.count; i++) {
      if (this.mode === 'deliver') { c.deliverOne(); learnReasserts(m, c); c.flushWrites(); takeLateReleases(m, c) } // sees re-asserts that a later message undoes
      else if (this.mode === 'drop') c.dropOne()
      else c.duplicateOne()
    }
  }

  toString = (): string => `${this.mode}(${this.count})`
}

class PartitionCmd implements fc.Command<Model, Real> {
  constructor (readonly split: number[]) {}
  check = (): boolean => true
  run (m: Model, c: Real): void {
    const groups = new Map<number, number[]>()
    for (let i = 0; i < m.n; i++) {
      const g = (this.split[i] ?? 0) % 3
      groups.set(g, [...(groups.get(g) ?? []), i])
    }
    c.partition([...groups.values()])
    for (let i = 0; i < m.n; i++) m.group[i] = (this.split[i] ?? 0) % 3
  }

  toString = (): string => `partition(${this.split.join(',')})`
}

class HealCmd implements fc.Command<Model, Real> {
  check = (): boolean => true
  run (m: Model, c: Real): void { c.heal(); healModel(m) }
  toString = (): string => 'heal'
}

class ClockCmd implements fc.Command<Model, Real> {
  constructor (readonly ms: number) {}
  check = (): boolean => true
  run (_m: Model, c: Real): void { c.advance(this.ms) }
  toString = (): string => `clock+${this.ms}`
}

class SweepCmd implements fc.Command<Model, Real> {
  constructor (readonly r: number) {}
  check = (m: Readonly<Model>): boolean => this.r < m.n
  run (m: Model, c: Real): void {
    const store = c.store(this.r)
    const { vanished } = observe(c, this.r, s => { s.sweep() })
    for (const id of vanished) {
      const a = m.byId.get(id)
      // only expired adds are swept: this node's at once, others' after the grace
      expect(a?.expiresAt ?? Infinity).toBeLessThanOrEqual(a?.node === store.nodeId && a.incarnation === store.incarnation ? c.time : c.time - GRACE)
    }
    removeIds(m, vanished, store, ownClock(store), true) // expired records are deleted, by anyone
  }

  toString = (): string => `sweep(r${this.r})`
}

/** Replica 0 declares an owner dead or live again: counts change, the document does not. */
class LivenessCmd implements fc.Command<Model, Real> {
  constructor (readonly target: number, readonly dead: boolean) {}
  check = (m: Readonly<Model>): boolean => this.target < m.n && this.target !== 0
  run (m: Model, c: Real): void {
    const node = c.store(this.target).nodeId
    const inc = m.incarnation.get(node) as number
    const before = JSON.stringify(c.store(0).dump())
    c.store(0).setOwnerStatus(node, inc, this.dead ? 'dead' : 'live')
    expect(JSON.stringify(c.store(0).dump())).toBe(before)
    // a verdict about an incarnation replica 0 was not told of yet gives way to its first announce
    if (this.dead && m.toldAt0[this.target] === true) m.deadAt0.add(`${node}:${inc}`); else m.deadAt0.delete(`${node}:${inc}`)
  }

  toString = (): string => `${this.dead ? 'dead' : 'live'}(r${this.target}) at r0`
}

/**
 * Restart of a replica as a new incarnation, which voids the old one: either clean (after its
 * updates reached everyone), or a crash that loses its undelivered updates, also during a
 * partition (the replicas it cannot hear learn of the new incarnation at the next heal).
 */
class RestartCmd implements fc.Command<Model, Real> {
  constructor (readonly r: number, readonly crash: boolean) {}
  check = (m: Readonly<Model>): boolean => this.r < m.n
  run (m: Model, c: Real): void {
    if (this.crash) {
      m.late.forget(c.store(this.r)) // its notices not yet written never got out
      takeLateReleases(m, c) // those written: resolveCrash keeps them if they got out
      resolveCrash(m, c, this.r)
    } else {
      c.heal()
      healModel(m)
      c.deliverAll(100_000)
      learnReasserts(m, c) // before the replica that made them is gone
      c.flushWrites()
      takeLateReleases(m, c)
      m.late.forget(c.store(this.r))
    }
    m.pending[this.r] = [] // a restart forgets the pending releases
    const s = c.restart(this.r)
    m.incarnation.set(s.nodeId, s.incarnation)
    // a new incarnation is told of where it is heard; a new replica 0 knows only itself, then those it hears
    if (this.r === 0) m.toldAt0.fill(false)
    m.toldAt0[this.r] = false
    m.toldAt0[0] = true
    tellAt0(m)
    // a new process starts with no liveness verdicts of its own
    if (this.r === 0) m.deadAt0.clear()
  }

  toString = (): string => `${this.crash ? 'crash' : 'restart'}(r${this.r})`
}

/** A replica purges the void incarnations it knows: only adds that no longer count go. */
class PurgeCmd implements fc.Command<Model, Real> {
  constructor (readonly r: number) {}
  check = (m: Readonly<Model>): boolean => this.r < m.n
  run (m: Model, c: Real): void {
    const { vanished } = observe(c, this.r, s => {
      for (const o of s.owners()) if (o.status === 'void') s.purgeOwner(o.node, o.incarnation)
    })
    for (const id of vanished) {
      const a = m.byId.get(id)
      expect(m.incarnation.get(a?.node ?? '')).toBeGreaterThan(a?.incarnation ?? Infinity)
      expect(a?.remote === true && (a.expiresAt ?? 0) > c.time).toBe(false)
    }
    removeIds(m, vanished, c.store(this.r))
  }

  toString = (): string => `purge-void(r${this.r})`
}

/**
 * A replica wrongly takes a live node for dead (as across a partition) and purges it: the
 * owner re-asserts what was purged when it hears of it, so nothing live is lost.
 */
class PurgeLiveCmd implements fc.Command<Model, Real> {
  /** @param endFirst a dialog that replica r ends (removes everywhere it sees it) between taking the target for dead and purging it */
  constructor (readonly r: number, readonly target: number, readonly endFirst: string | null) {}
  check = (m: Readonly<Model>): boolean => this.r < m.n && this.target < m.n && this.r !== this.target
  run (m: Model, c: Real): void {
    const t = c.store(this.target)
    c.store(this.r).setOwnerStatus(t.nodeId, t.incarnation, 'dead')
    if (this.endFirst !== null) {
      const dialog = this.endFirst
      let removed = -1
      const before = idsOf(c.store(this.r).dump())
      const { vanished } = observe(c, this.r, s => { removed = s.removeDialog(dialog) })
      removeIds(m, vanished, c.store(this.r))
      // removeDialog counts memberships; one membership can carry adds of several nodes
      const memberships = new Set([...vanished].map(id => { const e = before.get(id); return `${String(e?.profile)}|${String(e?.value)}` }))
      expect(removed).toBe(memberships.size)
      if (removed === 0) rememberRelease(m, c, this.r, { dialog, profile: null, value: undefined, remoteOnly: false })
    }
    const { vanished } = observe(c, this.r, s => { s.purgeOwner(t.nodeId, t.incarnation) })
    if (this.r === 0 && m.toldAt0[this.target] === true) m.deadAt0.add(`${t.nodeId}:${t.incarnation}`)
    for (const id of vanished) {
      const a = m.byId.get(id)
      expect(a?.node).toBe(t.nodeId)
      if (a === undefined) continue
      a.purgedOnce = true
      if (a.state !== 'alive') continue
      // expired adds are not re-asserted (a deletion, undone if the purger crashes before it got
      // out); the others will be
      if (a.expiresAt !== null && a.expiresAt <= c.time) removeIds(m, [id], c.store(this.r), ownClock(c.store(this.r)), true)
      else a.state = 'purged'
    }
  }

  toString = (): string => `purge-live(r${this.target}) at r${this.r}${this.endFirst === null ? '' : `, ending ${this.endFirst} first`}`
}

const commands = (n: number): Array<fc.Arbitrary<fc.Command<Model, Real>>> => {
  const r = fc.nat({ max: n - 1 })
  const dialog = fc.constantFrom(...DIALOGS)
  const value = fc.constantFrom(...VALUES)
  const remove = fc.tuple(r, fc.constantFrom('one', 'any-value', 'dialog') as fc.Arbitrary<'one' | 'any-value' | 'dialog'>, dialog, profileArb, value).map(([a, k, d, p, v]) => new RemoveCmd(a, k, d, p, v))
  const deliver = fc.tuple(fc.integer({ min: 1, max: 12 }), fc.constantFrom('deliver', 'deliver', 'deliver', 'drop', 'duplicate') as fc.Arbitrary<'deliver' | 'drop' | 'duplicate'>).map(([k, mode]) => new DeliverCmd(k, mode))
  const purgeLive = fc.tuple(r, r, fc.option(dialog, { nil: null })).map(([a, t, d]) => new PurgeLiveCmd(a, t, d))
  const restart = fc.tuple(r, fc.boolean()).map(([a, crash]) => new RestartCmd(a, crash))
  // weighted by repetition: removals by other nodes, deliveries, purges of live owners and crashes
  // meet in the orders that break an ownership protocol
  return [
    fc.tuple(r, dialog, profileArb, value, fc.option(fc.constantFrom(1000, 5000, 60_000), { nil: null })).map(([a, b, p, v, t]) => new AddCmd(a, b, p, v, t)),
    fc.tuple(r, dialog, profileArb, value, fc.constantFrom(1000, 30_000)).map(([a, b, p, v, t]) => new AddRemoteCmd(a, `u-${b}`, p, v, t)),
    remove, remove,
    fc.tuple(r, dialog, profileArb, value).map(([a, d, p, v]) => new RemoveCmd(a, 'remote', `u-${d}`, p, v)),
    fc.tuple(r, dialog, value, fc.nat({ max: 3 })).map(([a, d, v, l]) => new AcquireCmd(a, d, v, l)),
    deliver, deliver,
    fc.array(fc.nat({ max: 2 }), { minLength: n, maxLength: n }).map(s => new PartitionCmd(s)),
    fc.constant(new HealCmd()),
    fc.constantFrom(500, 2000, 7000).map(ms => new ClockCmd(ms)),
    r.map(a => new SweepCmd(a)),
    fc.tuple(r, fc.boolean()).map(([t, d]) => new LivenessCmd(t, d)),
    restart, restart,
    r.map(a => new PurgeCmd(a)),
    purgeLive, purgeLive
  ]
}

/** The model's own count for replica 0 of a profile (value), at time `now`. */
const modelSize = (m: Model, c: Real, profile: string, value: string | null | undefined): number => {
  const counted = new Set<string>()
  const keep = profile === 'trunk'
  for (const a of new Set(m.byId.values())) {
    if (a.state !== 'alive') continue
    if (a.profile !== profile || (value !== undefined && a.value !== value)) continue
    if (a.expiresAt !== null && a.expiresAt <= c.time) continue
    const voided = (m.incarnation.get(a.node) ?? 0) > a.incarnation
    const dead = m.deadAt0.has(`${a.node}:${a.incarnation}`) && a.node !== c.store(0).nodeId
    const counts = a.remote || (!voided && (!dead || (keep && a.expiresAt !== null)))
    if (counts) counted.add(`${a.dialog}|${String(a.value)}`)
  }
  return counted.size
}

describe('ProfileStore, model-based, 2 to 7 replicas', () => {
  it('converges to the reference model under reordering, loss, duplication, partitions, expiry, restarts, purges and re-asserts', () => {
    fc.assert(
      fc.property(
        fc.oneof({ weight: 3, arbitrary: fc.integer({ min: 2, max: 3 }) }, { weight: 1, arbitrary: fc.integer({ min: 4, max: 7 }) }).chain(n => fc.tuple(fc.constant(n), fc.integer({ min: 1, max: 2 ** 31 - 1 }), fc.commands(commands(n), { maxCommands: 60 }))),
        ([n, seed, cmds]) => {
          const cluster = new InMemoryCluster({ nodes: n, profiles: PROFILES, seed, storeOptions: { sweepGraceMs: GRACE, pendingReleaseMs: WINDOW } })
          const late = new LateReleases()
          const model: Model = {
            n, byId: new Map(), deadAt0: new Set(), incarnation: new Map(cluster.stores.map(s => [s.nodeId, s.incarnation])),
            pending: cluster.stores.map(() => []), late, group: cluster.stores.map(() => 0), toldAt0: cluster.stores.map(() => true)
          }
          late.onLate = () => { learnReasserts(model, cluster) }
          try {
            fc.modelRun(() => ({ model, real: cluster }), [...cmds].map(cmd => ({
              check: (m: Readonly<Model>) => cmd.check(m),
              run: (m: Model, c: Real) => {
                late.watch(c)
                cmd.run(m, c)
                late.watch(c)
                learnReasserts(m, c)
                c.flushWrites()
                takeLateReleases(m, c)
                checkAllCounts(c)
              },
              toString: () => cmd.toString()
            })))
            // quiesce: heal and deliver everything
            cluster.heal()
            healModel(model)
            cluster.deliverAll(200_000)
            expect(cluster.pending).toBe(0)
            expect(cluster.converged()).toBe(true)
            learnReasserts(model, cluster)
            takeLateReleases(model, cluster)
            // a purged add whose owner lives on is re-asserted: it counts as alive again; one whose
            // owner restarted since may have been re-asserted first: void, present or not, never counted
            const adds = new Set(model.byId.values())
            const voidLeftovers = new Set<ModelAdd>()
            for (const a of adds) {
              if (a.state !== 'purged') continue
              const ownerCurrent = model.incarnation.get(a.node) === a.incarnation
              a.state = ownerCurrent ? 'alive' : 'removed'
              if (!ownerCurrent) voidLeftovers.add(a)
            }
            const present = new Map<ModelAdd, number>()
            for (const e of cluster.store(0).dump()) {
              for (const id of e.adds) {
                const a = model.byId.get(id)
                expect(a, `record ${id} carries no add of the model`).toBeDefined()
                if (a !== undefined) present.set(a, (present.get(a) ?? 0) + 1)
              }
            }
            for (const a of adds) {
              const shown = `${a.node}:${a.incarnation} ${a.profile}/${String(a.value)}/${a.dialog} ids ${[...a.ids].join(',')}`
              if (voidLeftovers.has(a)) continue
              if (a.state === 'removed') expect(present.has(a), `removed add came back: ${shown}`).toBe(false)
              else if (a.purgedOnce === true && a.expiresAt !== null && a.expiresAt <= cluster.time) continue // purged, then expired: re-asserted or not, both fine
              else expect(present.get(a), `live add lost or doubled: ${shown}`).toBe(1)
            }
            // a release still in its window ended every call it selects that arrived since
            model.pending.forEach((list, r) => {
              for (const p of list) {
                if (cluster.time >= p.at + WINDOW) continue
                for (const a of adds) {
                  if (a.state === 'alive' && matchesRelease(p, a)) expect.fail(`r${r} released ${p.dialog} at ${p.at}, yet ${a.node}:${a.incarnation} ${a.profile}/${String(a.value)}/${a.dialog} lives`)
                }
              }
            })
            checkAllCounts(cluster)
            for (const p of ['total', 'caller', 'trunk']) {
              expect(cluster.store(0).size(p), `size(${p})`).toBe(modelSize(model, cluster, p, undefined))
              if (p !== 'total') for (const v of VALUES) expect(cluster.store(0).size(p, v), `size(${p}, ${v})`).toBe(modelSize(model, cluster, p, v))
            }
          } finally {
            late.destroy()
            cluster.destroy()
          }
        }
      ),
      fcParams(150)
    )
  })
})

