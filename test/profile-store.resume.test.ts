import * as Y from 'yjs'
import { describe, expect, it } from 'vitest'
import { ProfileStore } from '../src/index.js'

const PROFILES = [{ name: 'total' }]
const store = (nodeId: string, extra: { resume?: boolean, incarnation?: number } = {}): ProfileStore =>
  new ProfileStore({ nodeId, incarnation: 1, profiles: PROFILES, ...extra })
/** Exchanges full states both ways, as a reconnect does. */
const sync = (x: ProfileStore, y: ProfileStore): void => {
  for (let i = 0; i < 3; i++) {
    y.applyUpdate(x.encodeState(y.stateVector()), 'peer')
    x.applyUpdate(y.encodeState(x.stateVector()), 'peer')
  }
}
const clockOf = (s: ProfileStore, client: number): number => Y.getState(s.doc.store, client)

describe('ProfileStore resume: a restarted node takes back its incarnation\'s memberships', () => {
  /** a's first run adds d1..d3 and b sees them all; a's disk lost d3 (its last write). */
  const crashed = (): { b: ProfileStore, disk: Uint8Array, oldClient: number, oldClock: number } => {
    const a1 = store('a')
    const b = store('b')
    a1.add('d1', 'total')
    a1.add('d2', 'total')
    a1.flushWrites()
    const disk = a1.encodeState()
    a1.add('d3', 'total')
    sync(a1, b)
    const out = { b, disk, oldClient: a1.clientId, oldClock: clockOf(a1, a1.clientId) }
    a1.destroy()
    return out
  }

  it('adopts the records it loads and those peers still have, and never writes under the old client id', () => {
    const { b, disk, oldClient, oldClock } = crashed()
    const a2 = store('a', { resume: true })
    expect(a2.clientId).not.toBe(oldClient)
    a2.applyUpdate(disk, 'disk')
    expect(a2.stats().ownMemberships).toBe(2)
    sync(a2, b)
    expect(a2.stats().ownMemberships).toBe(3)
    expect([a2.size('total'), b.size('total')]).toEqual([3, 3])
    // BYEs: one on the other node (a removal notice to the old client id), one on the resumed node.
    b.remove('d1', 'total')
    a2.remove('d2', 'total')
    sync(a2, b)
    expect([a2.size('total'), b.size('total')]).toEqual([1, 1])
    expect(a2.stats().ownMemberships).toBe(1)
    expect(b.stats().notices).toBe(0) // acknowledged by the resumed owner
    expect(clockOf(a2, oldClient)).toBe(oldClock)
    expect(a2.recount().ok).toBe(true)
  })

  it('re-asserts a resumed membership that another node purged while it was away', () => {
    const { b, disk } = crashed()
    b.setOwnerStatus('a', 1, 'dead')
    expect(b.purgeOwner('a', 1)).toBe(3)
    const a2 = store('a', { resume: true })
    a2.applyUpdate(disk, 'disk')
    sync(a2, b)
    b.setOwnerStatus('a', 1, 'live') // its heartbeats are back
    sync(a2, b)
    // d1 and d2 came back from a2's disk and are re-asserted; d3 was lost with a's log and purged.
    expect([a2.size('total'), b.size('total')]).toEqual([2, 2])
    expect(a2.recount().ok).toBe(true)
  })

  it('without resume, the same records stay another owner\'s (this incarnation\'s, not its own)', () => {
    const { b, disk } = crashed()
    const a2 = store('a')
    a2.applyUpdate(disk, 'disk')
    sync(a2, b)
    expect(a2.stats().ownMemberships).toBe(0)
    b.remove('d1', 'total')
    sync(a2, b)
    expect(b.stats().notices).toBe(1) // nobody acknowledges it
  })

  it('refuses a resume option that is not a boolean', () => {
    expect(() => new ProfileStore({ nodeId: 'a', resume: 'yes' as unknown as boolean })).toThrow(expect.objectContaining({ code: 'DP_ERR_INVALID_ARGUMENT' }))
  })
})
