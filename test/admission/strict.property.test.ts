/**
 * Model-based property test of strict admission over 2 to 7 replicas of the in-memory cluster.
 *
 * Commands: acquires (with retransmissions: dialog ids repeat), releases on any node (double
 * BYEs, BYEs elsewhere), delivery of one message at a time in random order, drops, duplicates,
 * partitions and heals, crashes with restart as a new incarnation, crashes without restart
 * (kill; every killed node restarts at the end). Strict mode reads no clock,
 * so clock steps cannot change what it does (they are not scheduled).
 *
 * A global observer checks after every command, per key:
 * - the admitted-and-unreleased calls of the live incarnations never exceed the limit;
 * - every node's ledger equals the calls it holds, and nothing is negative;
 * - rights are never duplicated: Σ rights held by live incarnations ≤ limit;
 * and at the end, after a heal and once delivery quiesces, every node is sealed and
 * Σ rights held == limit: every released right (and every right of a crashed incarnation) is
 * available again, nothing is stranded.
 *
 * Replay a failure: FC_SEED=<seed> npm test -- test/admission/strict.property.test.ts
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { InMemoryCluster } from '../../src/testing/index.js'
import { fcParams } from '../support/fc.js'

const PROFILES = [{ name: 'trunk', withValue: true, admission: 'strict' as const }]
const VALUES = ['T1', 'T2']

interface Model { readonly nodes: number, readonly limit: number, readonly down: Set<number> }
interface Real { readonly c: InMemoryCluster }
type Cmd = fc.Command<Model, Real>

/** The global observer; `down`: killed nodes (dead processes: their calls and rights are gone with them). */
const observe = (c: InMemoryCluster, limit: number, down: ReadonlySet<number> = new Set()): void => {
  for (const v of VALUES) {
    let calls = 0
    let held = 0
    for (let i = 0; i < c.size; i++) {
      if (down.has(i)) continue
      const local = c.store(i).localSize('trunk', v)
      const k = c.admission(i).strict.snapshot().find(x => x.value === v)
      const ledger = k?.ledger ?? 0
      expect(ledger, `n${i} ledger of ${v} vs the calls it holds`).toBe(local)
      if (k !== undefined) {
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
    if (!res.admitted) expect(res.reason).toBe('no-rights')
    observe(r.c, m.limit, m.down)
  }

  toString = (): string => `acquire(n${this.node}, d${this.dialog}, ${this.value})`
}

class Release implements Cmd {
  constructor (readonly node: number, readonly dialog: number) {}
  check = (m: Readonly<Model>): boolean => this.node < m.nodes && !m.down.has(this.node)
  run (m: Model, r: Real): void {
    r.c.admission(this.node).release(`d${this.dialog}`)
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
  run (m: Model, r: Real): void { r.c.restart(this.node); m.down.delete(this.node); observe(r.c, m.limit, m.down) }
  toString = (): string => `crash+restart(n${this.node})`
}

/** A crash without restart (the process is gone; its rights stay with it until it restarts). */
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
  fc.nat(6).map(n => new Kill(n))
]

describe('strict admission, model-based', () => {
  it('never admits above the limit, conserves rights, and gives every right back after heal', () => {
    let runs = 0
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 7 }), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 0, max: 3 }), fc.nat(1_000_000),
        fc.commands(commands, { maxCommands: 80, size: 'large' }),
        (nodes, limit, reserve, seed, cmds) => {
          const c = new InMemoryCluster({ nodes, profiles: PROFILES, admission: { reserve }, seed })
          try {
            c.deliverAll() // the cluster starts connected: every node seals the others
            const down = new Set<number>()
            fc.modelRun(() => ({ model: { nodes, limit, down }, real: { c } }), cmds)
            for (const i of down) c.restart(i) // a dead node's rights come back when it restarts
            // quiescence: a majority is not even needed; everyone connected, everything delivered
            c.heal()
            for (let round = 0; round < 50 && c.pending > 0; round++) { c.deliverAll(10_000); c.heal() }
            expect(c.pending, 'delivery quiesced').toBe(0)
            for (let i = 0; i < nodes; i++) expect(c.admission(i).strict.sealed, `n${i} sealed`).toBe(true)
            for (const v of VALUES) {
              let held = 0
              let calls = 0
              for (let i = 0; i < nodes; i++) {
                const k = c.admission(i).strict.useLimit('trunk', v, limit)
                held += k.held
                calls += k.ledger
              }
              expect(held, `every right of ${v} is back`).toBe(limit)
              expect(calls, `calls of ${v}`).toBeLessThanOrEqual(limit)
            }
            observe(c, limit)
            runs++
          } finally { c.destroy() }
        }
      ),
      fcParams(60)
    )
    expect(runs, 'run floor (half the runs asked for)').toBeGreaterThanOrEqual(Math.floor(Number(process.env.FC_RUNS ?? 60) / 2))
  }, 120_000)
})
