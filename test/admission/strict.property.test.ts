/**
 * Model-based property test of strict admission over 2 to 7 replicas of the in-memory cluster.
 *
 * Commands: acquires (with retransmissions: dialog ids repeat), releases on any node (double
 * BYEs, BYEs elsewhere), delivery of one message at a time in random order, drops, duplicates,
 * partitions and heals, crashes with restart as a new incarnation, crashes without restart
 * (kill), time passing (leases renew, silent nodes get votes) and clock steps of single nodes
 * within the assumed drift (every node's clock stays within ±(margin/4 − 1) of real time, so
 * over any interval two clocks advance by amounts that differ by less than the margin).
 *
 * A global observer checks after every command, per key, over the live incarnations that no
 * live node has seen reclaimed:
 * - a reclaimed incarnation has no valid lease (it cannot admit);
 * - the admitted-and-unreleased calls never exceed the limit;
 * - every node's ledger equals the calls it holds, and nothing is negative;
 * - rights are never duplicated: Σ rights held ≤ limit;
 * and at the end, once delivery quiesces with no time passing: a dialog whose last event was a
 * release that answered 0 (its call's record had not reached that node: the release is
 * remembered for pendingReleaseMs) is counted nowhere, when that node still runs the same
 * incarnation and the window has not passed; then, with 3 or more nodes, after a heal, lease + margin and quiescence, when the
 * running unreclaimed nodes are a majority, Σ rights they hold == limit (every right of the dead
 * and reclaimed nodes is available again); then, every dead or reclaimed node restarted (again
 * while a restart's votes reclaim more), the same with every node sealed and none reclaimed.
 *
 * Replay a failure: FC_SEED=<seed> npm test -- test/admission/strict.property.test.ts
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { InMemoryCluster } from '../../src/testing/index.js'
import { fcParams } from '../support/fc.js'

const PROFILES = [{ name: 'trunk', withValue: true, admission: 'strict' as const }]
const VALUES = ['T1', 'T2']

const LEASE_MS = 1000
const MARGIN_MS = 400
const MAX_OFFSET = MARGIN_MS / 4 - 1

/** The last admission event of a dialog: an admitted acquire, or a release (where, when on that node's clock, its answer). */
type LastEvent = { readonly kind: 'admitted' } | { readonly kind: 'released', readonly node: number, readonly incarnation: number, readonly at: number, readonly answer: number }
interface Model { readonly nodes: number, readonly limit: number, readonly down: Set<number>, readonly offsets: number[], readonly last: Map<string, LastEvent> }
/** pendingReleaseMs of the stores (the default). */
const WINDOW = 5000
interface Real { readonly c: InMemoryCluster }
type Cmd = fc.Command<Model, Real>

/** Whether some live node has seen node i's current incarnation reclaimed. */
const reclaimedAnywhere = (c: InMemoryCluster, i: number, down: ReadonlySet<number>): boolean => {
  const client = c.store(i).clientId
  for (let j = 0; j < c.size; j++) if (!down.has(j) && c.admission(j).strict.view.get(client)?.reclaimed === true) return true
  return false
}

/** The global observer; `down`: killed nodes (dead processes: their calls and rights are gone with them). */
const observe = (c: InMemoryCluster, limit: number, down: ReadonlySet<number> = new Set()): void => {
  const counted: number[] = []
  for (let i = 0; i < c.size; i++) {
    if (down.has(i)) continue
    if (reclaimedAnywhere(c, i, down)) expect(c.admission(i).strict.leaseValid(), `n${i} reclaimed yet holding a lease`).toBe(false)
    else counted.push(i)
  }
  for (const v of VALUES) {
    let calls = 0
    let held = 0
    for (let i = 0; i < c.size; i++) {
      if (down.has(i)) continue
      const local = c.store(i).localSize('trunk', v)
      const k = c.admission(i).strict.snapshot().find(x => x.value === v)
      expect(k?.ledger ?? 0, `n${i} ledger of ${v} vs the calls it holds`).toBe(local)
      if (!counted.includes(i)) continue
      if (k !== undefined && !c.admission(i).strict.reclaimed) {
        expect(k.held, `n${i} held ${v}`).toBeGreaterThanOrEqual(0)
        expect(k.available, `n${i} available ${v}`).toBeGreaterThanOrEqual(0)
        held += k.held
      }
      calls += local
    }
    expect(calls, `admitted unreleased calls of ${v}`).toBeLessThanOrEqual(limit)
    expect(held, `rights held for ${v}`).toBeLessThanOrEqual(limit)
  }
}

class Acquire implements Cmd {
  constructor (readonly node: number, readonly dialog: number, readonly value: string) {}
  check = (m: Readonly<Model>): boolean => this.node < m.nodes && !m.down.has(this.node)
  run (m: Model, r: Real): void {
    const res = r.c.admission(this.node).acquire(`d${this.dialog}`, [{ profile: 'trunk', value: this.value, limit: m.limit }])
    if (!res.admitted) expect(['no-rights', 'no-quorum']).toContain(res.reason)
    else m.last.set(`d${this.dialog}`, { kind: 'admitted' })
    observe(r.c, m.limit, m.down)
  }

  toString = (): string => `acquire(n${this.node}, d${this.dialog}, ${this.value})`
}

class Release implements Cmd {
  constructor (readonly node: number, readonly dialog: number) {}
  check = (m: Readonly<Model>): boolean => this.node < m.nodes && !m.down.has(this.node)
  run (m: Model, r: Real): void {
    const answer = r.c.admission(this.node).release(`d${this.dialog}`)
    expect(answer).toBeGreaterThanOrEqual(0)
    m.last.set(`d${this.dialog}`, { kind: 'released', node: this.node, incarnation: r.c.store(this.node).incarnation, at: r.c.clockOf(this.node), answer })
    observe(r.c, m.limit, m.down)
  }

  toString = (): string => `release(n${this.node}, d${this.dialog})`
}

class Deliver implements Cmd {
  constructor (readonly count: number) {}
  check = (): boolean => true
  run (m: Model, r: Real): void {
    for (let k = 0; k < this.count; k++) { if (!r.c.deliverOne()) break; observe(r.c, m.limit, m.down) }
  }

  toString = (): string => `deliver(${this.count})`
}

class DeliverAll implements Cmd {
  check = (): boolean => true
  run (m: Model, r: Real): void {
    for (let k = 0; k < 2000; k++) { if (!r.c.deliverOne()) break; observe(r.c, m.limit, m.down) }
  }

  toString = (): string => 'deliverAll'
}

class Drop implements Cmd {
  check = (): boolean => true
  run (m: Model, r: Real): void { r.c.dropOne(); observe(r.c, m.limit, m.down) }
  toString = (): string => 'drop'
}

class Duplicate implements Cmd {
  check = (): boolean => true
  run (m: Model, r: Real): void { r.c.duplicateOne(); observe(r.c, m.limit, m.down) }
  toString = (): string => 'duplicate'
}

class Partition implements Cmd {
  constructor (readonly groupOf: readonly number[]) {}
  check = (m: Readonly<Model>): boolean => this.groupOf.length >= m.nodes
  run (m: Model, r: Real): void {
    const groups: number[][] = [[], [], []]
    for (let i = 0; i < m.nodes; i++) groups[this.groupOf[i] as number]?.push(i)
    r.c.partition(groups)
    observe(r.c, m.limit, m.down)
  }

  toString = (): string => `partition(${this.groupOf.join('')})`
}

class Heal implements Cmd {
  check = (): boolean => true
  run (m: Model, r: Real): void { r.c.heal(); observe(r.c, m.limit, m.down) }
  toString = (): string => 'heal'
}

class Restart implements Cmd {
  constructor (readonly node: number) {}
  check = (m: Readonly<Model>): boolean => this.node < m.nodes
  // with its data directory: the new incarnation has its predecessor's votes (README: leases assume it)
  run (m: Model, r: Real): void { r.c.restart(this.node, { keepState: true }); m.down.delete(this.node); observe(r.c, m.limit, m.down) }
  toString = (): string => `crash+restart(n${this.node})`
}

/** Time passes: every running node renews its lease and votes against the silent ones. */
class Advance implements Cmd {
  constructor (readonly ms: number) {}
  check = (): boolean => true
  run (m: Model, r: Real): void { r.c.advance(this.ms); observe(r.c, m.limit, m.down) }
  toString = (): string => `advance(${this.ms})`
}

/** One node's clock steps (within the drift bound the margin covers). */
class StepClock implements Cmd {
  constructor (readonly node: number, readonly ms: number) {}
  check = (m: Readonly<Model>): boolean => this.node < m.nodes && Math.abs((m.offsets[this.node] ?? 0) + this.ms) <= MAX_OFFSET
  run (m: Model, r: Real): void {
    m.offsets[this.node] = (m.offsets[this.node] ?? 0) + this.ms
    r.c.stepClock(this.node, this.ms)
    observe(r.c, m.limit, m.down)
  }

  toString = (): string => `stepClock(n${this.node}, ${this.ms})`
}

/** A crash without restart (the process is gone). */
class Kill implements Cmd {
  constructor (readonly node: number) {}
  check = (m: Readonly<Model>): boolean => this.node < m.nodes && !m.down.has(this.node)
  run (m: Model, r: Real): void { r.c.kill(this.node); m.down.add(this.node); observe(r.c, m.limit, m.down) }
  toString = (): string => `kill(n${this.node})`
}

const acquire = fc.tuple(fc.nat(6), fc.nat(15), fc.constantFrom(...VALUES)).map(([n, d, v]) => new Acquire(n, d, v))
const release = fc.tuple(fc.nat(6), fc.nat(15)).map(([n, d]) => new Release(n, d))
const deliver = fc.integer({ min: 1, max: 12 }).map(k => new Deliver(k))
const commands = [
  acquire, acquire, acquire, acquire, acquire,
  release, release,
  deliver, deliver, deliver,
  fc.constant(new DeliverAll()),
  fc.constant(new Drop()),
  fc.constant(new Duplicate()),
  fc.array(fc.nat(2), { minLength: 7, maxLength: 7 }).map(g => new Partition(g)),
  fc.constant(new Heal()),
  fc.nat(6).map(n => new Restart(n)),
  fc.nat(6).map(n => new Kill(n)),
  fc.integer({ min: 50, max: 1500 }).map(ms => new Advance(ms)),
  fc.integer({ min: 50, max: 1500 }).map(ms => new Advance(ms)),
  fc.tuple(fc.nat(6), fc.integer({ min: -MAX_OFFSET, max: MAX_OFFSET })).map(([n, ms]) => new StepClock(n, ms))
]

/** Lets lease + margin (and more) pass with everyone connected, delivering as it goes, then quiesces. */
const settle = (c: InMemoryCluster): void => {
  c.heal()
  for (let t = 0; t < 2 * (LEASE_MS + MARGIN_MS); t += 200) { c.advance(200); c.deliverAll(10_000) }
  for (let round = 0; round < 50 && c.pending > 0; round++) { c.deliverAll(10_000); c.heal() }
  expect(c.pending, 'delivery quiesced').toBe(0)
}

/**
 * Delivery quiesces with no time passing: a dialog whose last event is a release that found
 * nothing, on a node that still runs that incarnation within the window, is counted nowhere.
 */
const releasedEverywhere = (c: InMemoryCluster, m: Model): void => {
  c.heal()
  for (let round = 0; round < 50 && c.pending > 0; round++) { c.deliverAll(10_000); c.heal() }
  expect(c.pending, 'delivery quiesced').toBe(0)
  observe(c, m.limit, m.down)
  for (const [dialog, e] of m.last) {
    if (e.kind !== 'released' || e.answer !== 0 || m.down.has(e.node)) continue
    if (c.store(e.node).incarnation !== e.incarnation || c.clockOf(e.node) >= e.at + WINDOW) continue
    for (let i = 0; i < c.size; i++) {
      if (!m.down.has(i)) expect(c.store(i).has(dialog, 'trunk'), `${dialog}, released at n${e.node} before its record arrived, counts at n${i}`).toBe(false)
    }
  }
}

/** Σ rights held and calls of the given nodes, per value, at `limit`. */
const totals = (c: InMemoryCluster, nodes: readonly number[], limit: number, v: string): { held: number, calls: number } => {
  let held = 0
  let calls = 0
  for (const i of nodes) {
    const k = c.admission(i).strict.useLimit('trunk', v, limit)
    held += k.held
    calls += k.ledger
  }
  return { held, calls }
}

/** The end of a run: the checks after a connected majority settles, then after every dead or reclaimed node restarted. */
const finish = (c: InMemoryCluster, nodes: number, limit: number, down: Set<number>): void => {
  const all = Array.from({ length: nodes }, (_, i) => i)
  if (nodes >= 3 && nodes - down.size > nodes / 2) {
    // a connected majority of unreclaimed nodes: lease + margin later, every right of the dead is available again
    settle(c)
    observe(c, limit, down)
    // everything delivered and every node heard: a second period reclaims nobody more (no cascade)
    const before = all.filter(i => !down.has(i) && !c.admission(i).strict.reclaimed)
    settle(c)
    for (const i of before) expect(c.admission(i).strict.reclaimed, `n${i} reclaimed while connected`).toBe(false)
    // (a delivery stall of lease + margin can reclaim live nodes: they admit nothing until restarted)
    const live = all.filter(i => !down.has(i) && !c.admission(i).strict.reclaimed)
    if (live.length > nodes / 2) for (const v of VALUES) {
      const t = totals(c, live, limit, v)
      expect(t.held, `every right of ${v} is back with the unreclaimed live nodes`).toBe(limit)
      expect(t.calls, `calls of ${v}`).toBeLessThanOrEqual(limit)
    }
  }
  // dead and reclaimed nodes restart (new incarnations): every right is back, every node sealed.
  // Until none is reclaimed: a restarted node brings its predecessor's votes, which can reclaim
  // nodes that never read them before (after a stall in which every node voted against every
  // other, the votes of a node killed before they went out arrive only with its restart).
  for (let round = 0; round <= nodes; round++) {
    const again = all.filter(i => down.has(i) || c.admission(i).strict.reclaimed)
    if (again.length === 0) break
    for (const i of again) c.restart(i, { keepState: true })
    down.clear()
    settle(c)
  }
  for (const i of all) expect(c.admission(i).strict.reclaimed, `n${i} reclaimed after the restarts`).toBe(false)
  for (let i = 0; i < nodes; i++) expect(c.admission(i).strict.sealed, `n${i} sealed`).toBe(true)
  for (const v of VALUES) {
    const t = totals(c, all, limit, v)
    expect(t.held, `every right of ${v} is back`).toBe(limit)
    expect(t.calls, `calls of ${v}`).toBeLessThanOrEqual(limit)
  }
  observe(c, limit)
}

describe('strict admission, model-based', () => {
  it('never admits above the limit, conserves rights, and gives every right back after heal', () => {
    let runs = 0
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 7 }), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 0, max: 3 }), fc.nat(1_000_000),
        fc.commands(commands, { maxCommands: 80, size: 'large' }),
        (nodes, limit, reserve, seed, cmds) => {
          const c = new InMemoryCluster({ nodes, profiles: PROFILES, admission: { reserve, leaseMs: LEASE_MS, leaseMarginMs: MARGIN_MS }, seed })
          try {
            c.deliverAll() // the cluster starts connected: every node seals the others
            const down = new Set<number>()
            const model: Model = { nodes, limit, down, offsets: Array.from({ length: nodes }, () => 0), last: new Map() }
            fc.modelRun(() => ({ model, real: { c } }), cmds)
            releasedEverywhere(c, model)
            finish(c, nodes, limit, down)
            runs++
          } finally { c.destroy() }
        }
      ),
      fcParams(60)
    )
    expect(runs, 'run floor (half the runs asked for)').toBeGreaterThanOrEqual(Math.floor(Number(process.env.FC_RUNS ?? 60) / 2))
  }, 120_000)
})
