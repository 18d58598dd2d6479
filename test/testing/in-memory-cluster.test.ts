import { describe, expect, it } from 'vitest'
import { InMemoryCluster } from '../../src/testing/index.js'

const profiles = [{ name: 'total' }]

describe('InMemoryCluster', () => {
  it('turns every local write into one message per other replica and counts bytes', () => {
    const c = new InMemoryCluster({ nodes: 3, profiles, seed: 3 })
    try {
      c.store(0).add('a', 'total')
      expect(c.pending).toBe(2)
      expect(c.traffic.sentMessages).toBe(2)
      expect(c.traffic.sentBytes).toBeGreaterThan(0)
      expect(c.deliverAll()).toBe(2)
      expect(c.traffic.deliveredMessages).toBe(2)
      expect(c.traffic.deliveredBytes).toBe(c.traffic.sentBytes)
      expect(c.store(2).size('total')).toBe(1)
    } finally { c.destroy() }
  })

  it('a dropped message is lost until a heal exchanges state; a duplicate is harmless', () => {
    const c = new InMemoryCluster({ nodes: 2, profiles, seed: 4 })
    try {
      c.store(0).add('a', 'total')
      expect(c.dropOne()).toBe(true)
      c.deliverAll()
      expect(c.store(1).size('total')).toBe(0)
      c.heal()
      expect(c.traffic.syncBytes).toBeGreaterThan(0)
      expect(c.store(1).size('total')).toBe(1)
      c.store(1).add('b', 'total')
      c.duplicateOne()
      expect(c.deliverAll()).toBe(2)
      expect(c.store(0).size('total')).toBe(2)
      expect(c.converged()).toBe(true)
    } finally { c.destroy() }
  })

  it('drops messages across a partition and restarts a replica as a new incarnation', () => {
    const c = new InMemoryCluster({ nodes: 3, profiles, seed: 5 })
    try {
      c.partition([[0], [1, 2]])
      c.store(0).add('a', 'total')
      c.store(1).add('b', 'total')
      c.deliverAll()
      expect(c.traffic.droppedMessages).toBe(3)
      expect(c.store(2).size('total')).toBe(1)
      expect(c.converged()).toBe(false)
      c.heal()
      c.deliverAll()
      expect(c.converged()).toBe(true)
      const before = c.store(1).incarnation
      const fresh = c.restart(1)
      expect(fresh.incarnation).toBeGreaterThan(before)
      expect(c.store(0).size('total')).toBe(1) // b belonged to the old incarnation: void
      expect(fresh.size('total')).toBe(1)
      c.advance(1000)
      expect(c.time).toBe(1_001_000)
    } finally { c.destroy() }
  })
})

describe('InMemoryCluster liveness', () => {
  it('heal() announces an incarnation started during the partition, as a reconnect does', () => {
    const c = new InMemoryCluster({ nodes: 2, profiles, seed: 5 })
    try {
      c.store(0).add('a', 'total')
      c.deliverAll()
      c.partition([[0], [1]])
      c.restart(0) // the old incarnation's call ended with it
      c.heal()
      c.deliverAll()
      expect(c.store(1).size('total')).toBe(0)
      expect(c.store(1).owners().find(o => o.node === 'n0' && o.incarnation === 1)?.status).toBe('void')
    } finally { c.destroy() }
  })

  it('kill() silences a node and has the others declare it dead; restart() brings it back', () => {
    const c = new InMemoryCluster({ nodes: 3, profiles, seed: 6 })
    try {
      c.store(0).add('a', 'total')
      c.deliverAll()
      c.kill(0)
      expect(c.store(1).size('total')).toBe(0)
      expect(c.store(2).owners().find(o => o.node === 'n0')?.status).toBe('dead')
      c.store(0).add('b', 'total') // nothing it writes is delivered
      c.heal()
      c.deliverAll()
      expect(c.store(1).has('b', 'total')).toBe(false)
      c.restart(0)
      c.store(0).add('c', 'total')
      c.deliverAll()
      expect(c.store(2).size('total')).toBe(1)
      expect(c.converged()).toBe(true)
    } finally { c.destroy() }
  })
})
