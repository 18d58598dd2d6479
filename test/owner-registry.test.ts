import { describe, expect, it } from 'vitest'
import { OwnerRegistry } from '../src/owner-registry.js'
import type { Partition } from '../src/internal/partitions.js'
import type { OwnerStatus } from '../src/types.js'

describe('OwnerRegistry', () => {
  const setup = (): { reg: OwnerRegistry, calls: Array<[string, number, OwnerStatus, boolean]> } => {
    const calls: Array<[string, number, OwnerStatus, boolean]> = []
    const reg = new OwnerRegistry('me', 5, (p: Partition, status, isNew) => { calls.push([p.node, p.incarnation, status, isNew]) })
    return { reg, calls }
  }

  it('reports new partitions and verdicts, and voids older incarnations at once', () => {
    const { reg, calls } = setup()
    reg.register({ node: 'me', incarnation: 5, clientId: 1 }, true)
    const b1 = reg.register({ node: 'b', incarnation: 1, clientId: 2 }, false)
    expect(reg.statusOf(b1)).toBe('live')
    expect(reg.setVerdict('b', 1, 'dead')).toBe(true)
    expect(reg.setVerdict('b', 1, 'dead')).toBe(false)
    expect(reg.statusOf(b1)).toBe('dead')
    reg.register({ node: 'b', incarnation: 2, clientId: 3 }, false)
    expect(reg.statusOf(b1)).toBe('void')
    expect(reg.setVerdict('b', 1, 'live')).toBe(true)
    expect(reg.statusOf(b1)).toBe('void') // a verdict never revives a superseded incarnation
    expect(calls).toEqual([
      ['b', 1, 'live', true],
      ['b', 1, 'dead', false],
      ['b', 1, 'void', false],
      ['b', 2, 'live', true],
      ['b', 1, 'void', false]
    ])
  })

  it('never changes the local owner and learns incarnations from verdicts alone', () => {
    const { reg } = setup()
    const self = reg.register({ node: 'me', incarnation: 5, clientId: 1 }, true)
    expect(reg.setVerdict('me', 5, 'dead')).toBe(false)
    expect(reg.statusOf(self)).toBe('live')
    const old = reg.register({ node: 'me', incarnation: 4, clientId: 9 }, false) // our previous life
    expect(reg.statusOf(old)).toBe('void')
    reg.setVerdict('c', 7, 'live')
    expect(reg.statusFor('c', 6)).toBe('void')
    expect(reg.partitionsOf('c', 7)).toEqual([])
  })
})
