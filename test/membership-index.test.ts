import { describe, expect, it } from 'vitest'
import { MembershipIndex } from '../src/membership-index.js'
import { newPartition } from '../src/internal/partitions.js'
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
})
