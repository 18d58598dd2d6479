import { describe, expect, it } from 'vitest'
import { InMemoryCluster } from '../../src/testing/index.js'

const profiles = [{ name: 'trunk', withValue: true, admission: 'strict' as const }, { name: 'all', admission: 'strict' as const }]
const T1 = (limit: number): Array<{ profile: string, value: string, limit: number }> => [{ profile: 'trunk', value: 'T1', limit }]

const rights = (c: InMemoryCluster, i: number, value: string | null = 'T1'): { held: number, ledger: number, available: number } => {
  const k = c.admission(i).strict.snapshot().find(x => x.value === value)
  return k === undefined ? { held: 0, ledger: 0, available: 0 } : k
}
const sum = (c: InMemoryCluster, f: 'held' | 'ledger', value: string | null = 'T1'): number => {
  let n = 0
  for (let i = 0; i < c.size; i++) n += rights(c, i, value)[f]
  return n
}
/** Admits calls `prefix0..` on node i until refused; @returns how many were admitted. */
const fill = (c: InMemoryCluster, i: number, prefix: string, limit: number, most = 100): number => {
  let n = 0
  while (n < most && c.admission(i).acquire(`${prefix}${n}`, T1(limit)).admitted) n++
  return n
}

describe('Admission, strict mode', () => {
  it('splits the limit over the nodes, admits only against own rights, never above the limit', () => {
    const c = new InMemoryCluster({ nodes: 3, profiles, admission: {}, seed: 11 })
    try {
      // before its peers granted its lease (3 nodes) and sealed it, a node admits nothing
      expect(c.admission(0).acquire('x', [{ profile: 'trunk', value: 'T0', limit: 10 }])).toMatchObject({ admitted: false, reason: 'no-quorum' })
      c.deliverAll()
      expect(c.admission(0).strict.sealed).toBe(true)
      // shares 4 + 3 + 3; nothing delivered in between, so each node admits its own share only
      expect(fill(c, 0, 'a', 10)).toBe(4)
      expect(fill(c, 1, 'b', 10)).toBe(3)
      expect(fill(c, 2, 'c', 10)).toBe(3)
      expect(c.admission(0).acquire('a9', T1(10))).toMatchObject({ admitted: false, reason: 'no-rights' })
      c.deliverAll()
      expect(sum(c, 'ledger')).toBe(10)
      expect(c.store(0).size('trunk', 'T1')).toBe(10)
      expect(fill(c, 1, 'bb', 10)).toBe(0)
    } finally { c.destroy() }
  })

  it('moves rights toward demand: a node out of rights asks, its peers offer their spare', () => {
    const c = new InMemoryCluster({ nodes: 3, profiles, admission: { reserve: 1 }, seed: 12 })
    try {
      c.deliverAll()
      let admitted = fill(c, 0, 'a', 12)
      for (let round = 0; round < 20 && admitted < 12; round++) { c.deliverAll(); admitted += fill(c, 0, `r${round}-`, 12) }
      expect(admitted).toBe(12)
      c.deliverAll()
      expect(sum(c, 'held')).toBe(12)
      expect(rights(c, 0).ledger).toBe(12)
      expect(fill(c, 1, 'b', 12)).toBe(0)
    } finally { c.destroy() }
  })

  it('a waiting call gets one right: a peer that read another peer\'s offer to the waiting node sends none', () => {
    const c = new InMemoryCluster({ nodes: 3, profiles, admission: { reserve: 0, leaseMs: 0 }, seed: 18 })
    try {
      c.deliverAll()
      expect(fill(c, 2, 'c', 6, 2)).toBe(2) // n2 spends its share; n1 keeps its 2 spare
      c.deliverAll()
      c.partition([[0, 2], [1]])
      expect(fill(c, 0, 'a', 6)).toBe(2)
      expect(c.admission(0).acquire('w', T1(6)).reason).toBe('no-rights') // a call waits: urgent request
      c.deliverAll() // n2 reads it, with nothing to give
      c.partition([[1, 2], [0]])
      c.syncAll() // n1 reads the request (from n2) and offers a right to n0 ...
      c.deliverAll() // ... which n2 reads, while n0 does not yet
      expect(rights(c, 1).available).toBe(1)
      c.admission(2).release('c0')
      expect(rights(c, 2).available).toBe(1) // n2 keeps its freed right: n0's call has one coming
      c.heal()
      c.deliverAll()
      expect(c.admission(0).acquire('w', T1(6)).admitted).toBe(true)
      expect(sum(c, 'held')).toBe(6)
    } finally { c.destroy() }
  })

  it('a call ends wherever its BYE arrives: the right returns to its owner once', () => {
    const c = new InMemoryCluster({ nodes: 2, profiles, admission: {}, seed: 13 })
    try {
      c.deliverAll()
      expect(fill(c, 0, 'a', 4)).toBe(2)
      c.deliverAll()
      expect(c.admission(1).release('a0')).toBe(1) // BYE on the other node
      expect(c.admission(1).release('a0')).toBe(0) // double BYE
      c.admission(0).release('a0') // BYE racing it on the owner: nothing left to release
      c.deliverAll()
      expect(rights(c, 0).ledger).toBe(1)
      expect(sum(c, 'held')).toBe(4)
      expect(sum(c, 'ledger')).toBe(1)
      let more = 0
      for (let round = 0; round < 10; round++) { more += fill(c, 0, `m${round}-`, 4); c.deliverAll() }
      expect(more).toBe(3)
    } finally { c.destroy() }
  })

  it('a retransmitted INVITE consumes no second right, on the same node or one that sees the call', () => {
    const c = new InMemoryCluster({ nodes: 2, profiles, admission: {}, seed: 14 })
    try {
      c.deliverAll()
      expect(c.admission(0).acquire('d', T1(2)).admitted).toBe(true)
      expect(c.admission(0).acquire('d', T1(2)).admitted).toBe(true)
      expect(rights(c, 0).ledger).toBe(1)
      c.deliverAll()
      expect(c.admission(1).acquire('d', T1(2)).admitted).toBe(true)
      expect(rights(c, 1).ledger).toBe(0)
      expect(c.store(1).size('trunk', 'T1')).toBe(1)
    } finally { c.destroy() }
  })

  it('keeps a key only while it is in use: an idle key with no transfer leaves no state', () => {
    const c = new InMemoryCluster({ nodes: 2, profiles, admission: {}, seed: 15 })
    try {
      c.deliverAll()
      for (let v = 0; v < 50; v++) {
        const keys = [{ profile: 'trunk', value: `v${v}`, limit: 4 }]
        expect(c.admission(0).acquire(`d${v}`, keys).admitted).toBe(true)
        c.admission(0).release(`d${v}`)
      }
      expect(c.admission(0).strict.keyCount).toBe(0)
    } finally { c.destroy() }
  })

  it('applies a raised limit at once and a lowered one as calls end', () => {
    const c = new InMemoryCluster({ nodes: 2, profiles, admission: {}, seed: 16 })
    try {
      c.deliverAll()
      expect(fill(c, 0, 'a', 4)).toBe(2)
      expect(fill(c, 0, 'b', 8)).toBe(2) // raised: the node's share grows to 4
      expect(c.admission(0).acquire('x', T1(2)).reason).toBe('no-rights') // lowered below the admitted 4: share 1
      for (const d of ['a0', 'a1', 'b0']) c.admission(0).release(d)
      expect(c.admission(0).acquire('x', T1(2)).reason).toBe('no-rights') // 1 call for a share of 1
      c.admission(0).release('b1')
      expect(c.admission(0).acquire('x', T1(2)).admitted).toBe(true)
    } finally { c.destroy() }
  })

  it('a restarted node gets back what its previous incarnation held, once every peer sealed it', () => {
    const c = new InMemoryCluster({ nodes: 3, profiles, admission: { reserve: 1 }, seed: 17 })
    try {
      c.deliverAll()
      let admitted = fill(c, 0, 'a', 9)
      for (let round = 0; round < 20 && admitted < 7; round++) { c.deliverAll(); admitted += fill(c, 0, `r${round}-`, 9, 7 - admitted) }
      c.deliverAll()
      expect(rights(c, 0).ledger).toBe(7)
      c.restart(0) // a crash: its 7 calls are void, its rights with them
      expect(c.admission(0).acquire('z', T1(9)).reason).toBe('no-quorum') // no lease granted yet, not sealed yet
      c.deliverAll()
      expect(c.admission(0).strict.sealed).toBe(true)
      expect(sum(c, 'held')).toBe(9)
      expect(sum(c, 'ledger')).toBe(0)
      let again = 0
      for (let round = 0; round < 20 && again < 9; round++) { again += fill(c, 0, `z${round}-`, 9); c.deliverAll() }
      expect(again).toBe(9)
    } finally { c.destroy() }
  })
})
