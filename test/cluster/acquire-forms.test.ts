/**
 * `ClusterNode.acquire` in its key-list and positional forms (README "Admission"): bad input
 * throws its typed error and changes nothing whether or not the node is ready, and whether or
 * not the call would be admitted; a key-list acquire refused before readiness still describes
 * every key; the positional forms wait for strict rights (`admission.waitMs`) as the key-list
 * form does, and differ only in throwing DP_ERR_NOT_READY.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { ClusterNode } from '../../src/index.js'
import { nodeFactory, waitFor } from './support.js'

const nodes = nodeFactory()
afterEach(async () => { await nodes.closeAll() })

const codeOf = async (p: Promise<unknown>): Promise<unknown> => await p.then(() => 'no error', (e: { code?: unknown }) => e.code)
const STRICT = [{ name: 'total' }, { name: 'caller', withValue: true }, { name: 'trunk', admission: 'strict' as const }]

/** Every bad input of both forms, with the code it must throw; none may change the node. */
const badInputs = (n: ClusterNode, past: number): Array<[string, () => Promise<unknown>, string]> => [
  ['undeclared profile (key list)', async () => await n.acquire('d1', [{ profile: 'nope', limit: 5 }]), 'DP_ERR_UNKNOWN_PROFILE'],
  ['undeclared profile (positional)', async () => await n.acquire('d1', 'nope', 5), 'DP_ERR_UNKNOWN_PROFILE'],
  ['negative limit', async () => await n.acquire('d1', [{ profile: 'total', limit: -1 }]), 'DP_ERR_INVALID_ARGUMENT'],
  ['value on a plain profile', async () => await n.acquire('d1', 'total', 'v', 5), 'DP_ERR_VALUE_MISMATCH'],
  ['bad dialog', async () => await n.acquire('', [{ profile: 'total', limit: 5 }]), 'DP_ERR_INVALID_ARGUMENT'],
  ['past expiresAt, would be refused', async () => await n.acquire('d1', [{ profile: 'total', limit: 0 }], { expiresAt: past }), 'DP_ERR_INVALID_ARGUMENT'],
  ['past expiresAt, would be admitted', async () => await n.acquire('d1', 'total', 5, { expiresAt: past }), 'DP_ERR_INVALID_ARGUMENT'],
  ['ttlMs and expiresAt', async () => await n.acquire('d1', [{ profile: 'total', limit: 5 }], { ttlMs: 10, expiresAt: Date.now() + 1000 }), 'DP_ERR_INVALID_ARGUMENT']
]

describe('ClusterNode.acquire forms', () => {
  it('throws the typed error for bad input before readiness, and after it, and changes nothing', async () => {
    const lonely = await nodes.start('x', ['ws://127.0.0.1:9'], { readiness: { policy: 'reject', timeoutMs: 60_000 } })
    const ready = await nodes.start('y', [])
    for (const n of [lonely, ready]) {
      for (const [what, call, code] of badInputs(n, Date.now() - 1000)) expect(await codeOf(call()), `${n.store.nodeId}: ${what}`).toBe(code)
      expect(n.store.stats().memberships).toBe(0)
    }
    // good input before readiness: refused as not ready (key list) or thrown (positional)
    expect(await codeOf(lonely.acquire('d1', 'total', 5))).toBe('DP_ERR_NOT_READY')
    expect(lonely.store.stats().memberships).toBe(0)
  })

  it('a key-list acquire refused before readiness describes every key', async () => {
    const lonely = await nodes.start('x', ['ws://127.0.0.1:9'], { readiness: { policy: 'reject', timeoutMs: 60_000 }, profiles: STRICT, admission: { nodes: ['x', 'z'] } })
    lonely.store.add('old', 'caller', 'alice')
    const r = await lonely.acquire('d1', [{ profile: 'caller', value: 'alice', limit: 5 }, { profile: 'trunk', limit: 4 }])
    expect(r).toEqual({
      admitted: false,
      reason: 'not-ready',
      size: 1,
      limit: 5,
      keys: [
        { profile: 'caller', value: 'alice', mode: 'eventual', size: 1, limit: 5, available: null, refused: true },
        { profile: 'trunk', value: null, mode: 'strict', size: 0, limit: 4, available: expect.any(Number), refused: true }
      ]
    })
    expect(lonely.store.size('caller', 'alice')).toBe(1)
  })

  it('the positional form waits for strict rights it asked for (admission.waitMs), as the key-list form does', async () => {
    const admission = { nodes: ['a', 'b'], waitMs: 1500 }
    const a = await nodes.start('a', [], { profiles: STRICT, admission })
    const b = await nodes.start('b', [a.url()!], { profiles: STRICT, admission })
    await Promise.all([a.ready, b.ready])
    // a holds half the rights; past them each acquire must wait for b's, and be admitted
    const limit = 8
    const first = await a.acquire('call-0', 'trunk', limit)
    expect(first.keys[0]?.available).toBeLessThan(limit - 1)
    for (let i = 1; i < limit; i++) expect(await a.acquire(`call-${i}`, 'trunk', limit), `call-${i}`).toMatchObject({ admitted: true })
    await waitFor(() => b.store.size('trunk') === limit, 'b sees every call')
    // the cluster is at its limit: both forms refuse, after waiting
    expect(await a.acquire('over-1', 'trunk', limit)).toMatchObject({ admitted: false, reason: 'no-rights' })
    expect(await b.acquire('over-2', [{ profile: 'trunk', limit }])).toMatchObject({ admitted: false, reason: 'no-rights' })
    expect(a.store.size('trunk')).toBe(limit)
  })
})
