import { describe, expect, it } from 'vitest'
import { LivenessTracker } from '../src/liveness.js'
import type { LivenessEvent, LivenessStore } from '../src/liveness.js'
import type { OwnerInfo } from '../src/types.js'

/** A store that records verdicts and holds a settable list of owners. */
const fakeStore = (): LivenessStore & { owned: OwnerInfo[]; verdicts: string[] } => {
  const s = {
    nodeId: 'self',
    incarnation: 1,
    owned: [] as OwnerInfo[],
    verdicts: [] as string[],
    setOwnerStatus: (node: string, incarnation: number, status: 'live' | 'dead') => { s.verdicts.push(`${node}:${incarnation}:${status}`) },
    purgeOwner: (node: string, incarnation: number) => {
      const o = s.owned.find((x) => x.node === node && x.incarnation === incarnation)
      const n = o?.memberships ?? 0
      s.owned = s.owned.filter((x) => x !== o)
      return n
    },
    owners: () => s.owned
  }
  return s
}

const owner = (node: string, incarnation: number, memberships: number): OwnerInfo =>
  ({ node, incarnation, clientId: 1, status: 'live', memberships, self: false })

describe('LivenessTracker bounds', () => {
  const setup = (max: number): { t: LivenessTracker; store: ReturnType<typeof fakeStore>; warnings: string[]; events: LivenessEvent[]; forgotten: string[]; clock: { now: number } } => {
    const clock = { now: 1_000_000 }
    const store = fakeStore()
    const warnings: string[] = []
    const events: LivenessEvent[] = []
    const forgotten: string[] = []
    const t = new LivenessTracker(store, {
      clock: () => clock.now, livenessTimeoutMs: 100, graceMs: 100, purgeDelayMs: 100, maxTrackedNodes: max, maxClockSkewMs: 1000,
      forgotten: (n) => { forgotten.push(n) }
    }, (e) => { events.push(e) }, (m) => { warnings.push(m) })
    return { t, store, warnings, events, forgotten, clock }
  }

  it('holds at most maxTrackedNodes, warns once when full, and makes room only from purged nodes with nothing left', () => {
    const { t, store, warnings, forgotten, clock } = setup(3)
    for (let i = 0; i < 10; i++) t.heard(`n${i}`, 5)
    expect(t.entries().map((e) => e.node)).toEqual(['n0', 'n1', 'n2'])
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toContain('maxTrackedNodes 3')
    // Document owners beyond the bound are not tracked either.
    store.owned = [owner('doc-owner', 5, 1)]
    t.check()
    expect(t.entries()).toHaveLength(3)
    // n0..n2 fall silent, die and are purged: each then makes room for one newcomer.
    store.owned = []
    clock.now += 201
    t.check()
    clock.now += 100
    t.check()
    expect(t.entries().every((e) => e.state === 'purged')).toBe(true)
    t.heard('late', 5)
    expect(t.entries().map((e) => e.node).sort()).toEqual(['late', 'n1', 'n2'])
    expect(forgotten).toEqual(['n0'])
  })

  it('never adopts an incarnation ahead of the clock by more than maxClockSkewMs, from a heartbeat or the document', () => {
    const { t, store } = setup(10)
    t.heard('v', 5)
    t.heard('v', 1_000_000 + 1001)
    expect(t.incarnationOf('v')).toBe(5)
    store.owned = [owner('v', Number.MAX_SAFE_INTEGER, 1), owner('w', 2_000_000, 1)]
    t.check()
    expect(t.incarnationOf('v')).toBe(5)
    expect(t.incarnationOf('w')).toBeUndefined()
    expect(store.verdicts).toEqual(['v:5:live'])
  })

  it('a document owner that contradicts the node\'s open connection is not adopted', () => {
    const clock = { now: 1_000_000 }
    const store = fakeStore()
    const t = new LivenessTracker(store, {
      clock: () => clock.now, livenessTimeoutMs: 100, graceMs: 100, purgeDelayMs: 100, maxTrackedNodes: 10, maxClockSkewMs: 1000,
      connectedIncarnation: (n) => n === 'v' ? 5 : undefined
    }, () => {})
    t.heard('v', 5)
    store.owned = [owner('v', 6, 1)]
    t.check()
    expect(t.incarnationOf('v')).toBe(5)
  })
})
