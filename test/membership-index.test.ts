import { describe, expect, it } from 'vitest'
import { MembershipIndex } from '../src/membership-index.js'
import { Add, newPartition } from '../src/internal/partitions.js'
import { encodeMembership } from '../src/internal/records.js'
import type { OwnerStatus } from '../src/types.js'

const partition = (node: string, clientId: number): ReturnType<typeof newPartition> => newPartition({ node, incarnation: 1, clientId }, false)

describe('MembershipIndex', () => {
  it('counts a membership once whatever its adds, per node per add, and follows status and expiry', () => {
    const status = new Map<string, OwnerStatus>()
    const idx = new MembershipIndex({ statusOf: p => status.get(p.node) ?? 'live', keepsDead: profile => profile === 'keep' })
    const a = partition('a', 1)
    const b = partition('b', 2)
    const rec = { kind: 0 as const, dialog: 'd1', profile: 'caller', value: 'alice', expiresAt: null }
    const stored = encodeMembership(rec)
    const t1 = idx.insert(a, 0, stored, 0)
    idx.insert(b, 0, stored, 0)
    idx.insert(b, 1, encodeMembership({ ...rec, dialog: 'd2', profile: 'keep', value: null, expiresAt: 100 }), 0)
    expect(idx.counter('caller', undefined)?.size).toBe(1)
    expect(idx.counter('caller', 'alice')?.size).toBe(1)
    expect(Object.fromEntries(idx.counter('caller', 'alice')?.byNode ?? [])).toEqual({ a: 1, b: 1 })
    status.set('b', 'dead'); idx.refreshPartition(b)
    expect(idx.counter('caller', 'alice')?.size).toBe(1) // a's add still counts
    expect(idx.counter('keep', null)?.size).toBe(1) // kept until expiry
    idx.remove(t1)
    expect(idx.counter('caller', 'alice')?.size ?? 0).toBe(0)
    expect(idx.values('caller')).toEqual([])
    idx.advance(100)
    expect(idx.counter('keep', null)?.size).toBe(0)
    expect(idx.expired.size).toBe(1)
    expect(idx.membershipCount).toBe(2)
  })

  it('lists each counted membership once, by an effective add that another takes over in place', () => {
    const status = new Map<string, OwnerStatus>()
    const idx = new MembershipIndex({ statusOf: p => status.get(p.node) ?? 'live', keepsDead: () => false })
    const a = partition('a', 1)
    const b = partition('b', 2)
    const rec = (dialog: string): ReturnType<typeof encodeMembership> => encodeMembership({ kind: 0, dialog, profile: 'total', value: null, expiresAt: null })
    idx.insert(a, 0, rec('d1'), 0)
    const d2a = idx.insert(a, 1, rec('d2'), 0)
    const d2b = idx.insert(b, 0, rec('d2'), 0) // a second add of d2: not listed twice
    idx.insert(b, 1, rec('d3'), 0)
    const listed = (): string[] => idx.members('total', undefined).map(t => `${t.dialog}@${t.partition.node}`)
    expect(listed()).toEqual(['d1@a', 'd2@a', 'd3@b'])
    expect(idx.membershipCount).toBe(3)
    expect(idx.find('d2', 'total', null)).toMatchObject({ dialog: 'd2', effective: 2 })
    expect(idx.find('d2', 'total', null)?.adds).toEqual(expect.arrayContaining([d2a, d2b]))
    // the listed add stops counting (its owner is void): b's add of d2 stands for it, in its place
    status.set('a', 'void'); idx.refreshPartition(a)
    expect(listed()).toEqual(['d2@b', 'd3@b'])
    expect(idx.counter('total', null)?.size).toBe(2)
    expect(idx.find('d2', 'total', null)?.effective).toBe(1)
    idx.remove(d2b)
    expect(listed()).toEqual(['d3@b'])
    expect(idx.membershipCount).toBe(3) // d2 is still present (a's add), not counted
    idx.remove(d2a)
    expect(idx.membershipCount).toBe(2)
    expect(idx.find('d2', 'total', null)).toBeUndefined()
    status.set('a', 'live'); idx.refreshPartition(a)
    expect(listed()).toEqual(['d3@b', 'd1@a'])
  })

  it('lists a valued profile by value and as a whole, and groups a dialog\'s adds into memberships', () => {
    const idx = new MembershipIndex({ statusOf: () => 'live', keepsDead: () => false })
    const a = partition('a', 1)
    const rec = (dialog: string, value: string): ReturnType<typeof encodeMembership> => encodeMembership({ kind: 0, dialog, profile: 'caller', value, expiresAt: null })
    idx.insert(a, 0, rec('d1', 'alice'), 0)
    idx.insert(a, 1, rec('d1', 'bob'), 0)
    idx.insert(a, 2, rec('d2', 'alice'), 0)
    idx.insert(a, 3, rec('d1', 'alice'), 0)
    expect(idx.members('caller', 'alice').map(t => t.dialog)).toEqual(['d1', 'd2'])
    expect(idx.members('caller', 'carol')).toEqual([])
    expect(idx.members('caller', undefined).map(t => `${t.dialog}/${t.value}`).sort()).toEqual(['d1/alice', 'd1/bob', 'd2/alice'])
    expect(idx.ofDialog('d1').map(m => `${m.value}:${m.adds.length}`).sort()).toEqual(['alice:2', 'bob:1'])
    expect([...idx.allMemberships()]).toHaveLength(3)
    expect(idx.membershipCount).toBe(3)
  })
})

describe('Add', () => {
  it('keeps its flags and its heap position apart, also past 2^31', () => {
    const add = new Add(partition('a', 1), 7, encodeMembership({ kind: 1, dialog: 'u', profile: 'p', value: null, expiresAt: 50 }), 60)
    expect(add.expired).toBe(true)
    expect(add.effective).toBe(false)
    expect(add.heapIndex).toBe(-1)
    expect(add.remote).toBe(true)
    for (const i of [0, 5, 2 ** 31 + 3, 2 ** 40, -1]) {
      add.effective = true
      add.heapIndex = i
      expect([add.heapIndex, add.effective, add.expired]).toEqual([i, true, true])
      add.expired = false
      add.effective = false
      expect([add.heapIndex, add.effective, add.expired]).toEqual([i, false, false])
      add.expired = true
    }
    expect(new Add(partition('a', 1), 8, encodeMembership({ kind: 0, dialog: 'd', profile: 'p', value: null, expiresAt: null }), 60).expiresAt).toBe(Infinity)
  })
})
