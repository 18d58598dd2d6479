import { describe, expect, it } from 'vitest'
import { Admission, ProfileStore } from '../../src/index.js'
import { InMemoryCluster } from '../../src/testing/index.js'
import { codeOf } from '../support/errors.js'

const profiles = [
  { name: 'total' },
  { name: 'caller', withValue: true },
  { name: 'trunk', withValue: true, admission: 'strict' as const }
]


describe('Admission, eventual mode', () => {
  it('admits under several keys all or nothing; plain profiles take no value', () => {
    const c = new InMemoryCluster({ nodes: 1, profiles, admission: {} })
    try {
      const a = c.admission(0)
      const s = c.store(0)
      expect(a.acquire('d1', [{ profile: 'total', limit: 2 }, { profile: 'caller', value: 'alice', limit: 1 }])).toMatchObject({ admitted: true, reason: null, size: 1, limit: 2 })
      // caller alice is full: nothing is added, not even to 'total'
      const r = a.acquire('d2', [{ profile: 'total', limit: 2 }, { profile: 'caller', value: 'alice', limit: 1 }])
      expect(r).toMatchObject({ admitted: false, reason: 'limit', size: 1, limit: 1 })
      expect(r.keys.map(k => k.refused)).toEqual([false, true])
      expect(s.size('total')).toBe(1)
      expect(s.has('d2', 'total')).toBe(false)
      expect(a.acquire('d2', [{ profile: 'total', limit: 2 }, { profile: 'caller', value: 'bob', limit: 1 }]).admitted).toBe(true)
      expect(a.acquire('d3', [{ profile: 'total', limit: 2 }]).reason).toBe('limit')
    } finally { c.destroy() }
  })

  it('a retransmitted INVITE is admitted once and counted once, even at the limit', () => {
    const c = new InMemoryCluster({ nodes: 2, profiles, admission: {} })
    try {
      const keys = [{ profile: 'caller', value: 'alice', limit: 1 }]
      expect(c.admission(0).acquire('d1', keys).admitted).toBe(true)
      expect(c.admission(0).acquire('d1', keys)).toMatchObject({ admitted: true, size: 1 })
      c.deliverAll()
      // the retransmission reaches the other node: it sees the membership and counts nothing more
      expect(c.admission(1).acquire('d1', keys)).toMatchObject({ admitted: true, size: 1 })
      c.deliverAll()
      expect(c.store(0).size('caller', 'alice')).toBe(1)
      expect(c.store(1).size('caller', 'alice')).toBe(1)
    } finally { c.destroy() }
  })

  it('releases once: double BYE, BYE racing CANCEL, BYE on another node; never negative', () => {
    const c = new InMemoryCluster({ nodes: 2, profiles, admission: {} })
    try {
      const keys = [{ profile: 'total', limit: 5 }, { profile: 'caller', value: 'alice', limit: 5 }]
      c.admission(0).acquire('d1', keys)
      c.admission(0).acquire('d2', keys)
      c.deliverAll()
      expect(c.admission(1).release('d1')).toBe(2) // BYE on the other node
      expect(c.admission(1).release('d1')).toBe(0) // double BYE
      expect(c.admission(0).release('d2')).toBe(2) // BYE ...
      expect(c.admission(1).release('d2', [{ profile: 'total' }, { profile: 'caller' }])).toBe(2) // ... racing a CANCEL elsewhere (not yet seen there)
      c.deliverAll()
      for (const i of [0, 1]) {
        expect(c.store(i).size('total')).toBe(0)
        expect(c.store(i).size('caller', 'alice')).toBe(0)
      }
      expect(c.admission(0).release('d1')).toBe(0)
      expect(c.converged()).toBe(true)
      // nothing was re-asserted: the owner took the removals as meant
      expect(c.admission(0).acquire('d3', [{ profile: 'total', limit: 1 }]).admitted).toBe(true)
    } finally { c.destroy() }
  })

  it('refuses bad input with a typed error and changes nothing', () => {
    const c = new InMemoryCluster({ nodes: 1, profiles, admission: {} })
    try {
      const a = c.admission(0)
      expect(codeOf(() => a.acquire('d', []))).toBe('DP_ERR_INVALID_ARGUMENT')
      expect(codeOf(() => a.acquire('d', [{ profile: 'nope', limit: 1 }]))).toBe('DP_ERR_UNKNOWN_PROFILE')
      expect(codeOf(() => a.acquire('d', [{ profile: 'total', limit: 1 }, { profile: 'caller', limit: 1 }]))).toBe('DP_ERR_VALUE_MISMATCH')
      expect(codeOf(() => a.acquire('d', [{ profile: 'total', value: 'x', limit: 1 }]))).toBe('DP_ERR_VALUE_MISMATCH')
      expect(codeOf(() => a.acquire('d', [{ profile: 'total', limit: -1 }]))).toBe('DP_ERR_INVALID_ARGUMENT')
      expect(codeOf(() => a.acquire('d', [{ profile: 'total', limit: 1 }, { profile: 'total', limit: 2 }]))).toBe('DP_ERR_INVALID_ARGUMENT')
      expect(codeOf(() => a.acquire('d', [{ profile: 'total', limit: 1 }], { ttlMs: -5 }))).toBe('DP_ERR_INVALID_ARGUMENT')
      expect(codeOf(() => a.acquire('', [{ profile: 'total', limit: 1 }]))).toBe('DP_ERR_INVALID_ARGUMENT')
      expect(codeOf(() => a.acquire('d', [{ profile: 'total', limit: 1 }], { ttl: 5000 } as never))).toBe('DP_ERR_INVALID_ARGUMENT')
      expect(codeOf(() => new Admission(c.store(0), { leaseMS: 5000 } as never))).toBe('DP_ERR_INVALID_ARGUMENT')
      expect(codeOf(() => a.acquire('d', [{ profile: 'total', limit: 1, ttlMs: 5000 } as never]))).toBe('DP_ERR_INVALID_ARGUMENT')
      expect(a.acquire('d9', [{ profile: 'caller', value: 'alice', limit: 5 }]).admitted).toBe(true)
      expect(a.acquire('d9', [{ profile: 'caller', value: 'bob', limit: 5 }]).admitted).toBe(true)
      // a misspelt value would release every value of the profile
      expect(codeOf(() => a.release('d9', [{ profile: 'caller', vaule: 'alice' } as never]))).toBe('DP_ERR_INVALID_ARGUMENT')
      expect(c.store(0).size('caller')).toBe(2)
      expect(a.release('d9')).toBe(2)
      expect(codeOf(() => a.release('d', [{ profile: 'nope' }]))).toBe('DP_ERR_UNKNOWN_PROFILE')
      expect(c.store(0).size('total')).toBe(0)
      expect(c.store(0).dump()).toEqual([])
    } finally { c.destroy() }
  })

  it('a store whose client also writes strict rows keeps replicating its memberships', () => {
    // The store's write queue used to append after the client's last item, which could be a
    // strict-admission row of another root array: the membership then never reached the peers.
    const a = new ProfileStore({ nodeId: 'a', profiles })
    const b = new ProfileStore({ nodeId: 'b', profiles })
    const adm = new Admission(a)
    a.onUpdate((u, o) => { if (o !== 'peer') b.applyUpdate(u, 'peer') })
    b.applyUpdate(a.encodeState(), 'peer')
    a.add('d1', 'total')
    a.flushWrites()
    expect(b.size('total')).toBe(1)
    adm.destroy(); a.destroy(); b.destroy()
  })

  it('declares the mode with the profile; a redeclaration with another mode is refused', () => {
    const s = new ProfileStore({ nodeId: 'a', profiles })
    expect(s.profiles().find(p => p.name === 'trunk')?.admission).toBe('strict')
    expect(s.profiles().find(p => p.name === 'total')?.admission).toBe('eventual')
    expect(codeOf(() => { s.declare({ name: 'trunk', withValue: true }) })).toBe('DP_ERR_BAD_DECLARATION')
    expect(codeOf(() => { s.declare({ name: 'x', admission: 'bogus' as 'strict' }) })).toBe('DP_ERR_BAD_DECLARATION')
    s.destroy()
  })
})
