/**
 * Updates that cannot apply yet (a gap in their writer's clocks, deletions of structs not here)
 * are kept out of Yjs and applied once, when what they wait for arrives: Yjs's own pending
 * buffers re-merge and re-apply everything pending on every update (minutes of CPU for a
 * megabyte of small updates with gaps). The class of the bug: after any remote update, Yjs holds
 * nothing pending, and every delivery order ends in the same document.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import * as encoding from 'lib0/encoding'
import { ProfileStore } from '../../src/index.js'
import { ParkedUpdates } from '../../src/internal/parked-updates.js'
import { fcParams } from '../support/fc.js'

const PROFILES = [{ name: 'total' }]

/** A writer's updates, one per operation: adds of d0..d(n-1), then removes of those in `ended`. */
const writerUpdates = (nodeId: string, clientId: number, n: number, ended: readonly number[]): { updates: Uint8Array[], store: ProfileStore } => {
  const store = new ProfileStore({ nodeId, profiles: PROFILES, clientId, incarnation: 1 })
  const updates: Uint8Array[] = []
  store.onUpdate((u) => { updates.push(u) })
  for (let i = 0; i < n; i++) { store.add(`${nodeId}-d${i}`, 'total'); store.flushWrites() }
  for (const i of ended) { store.remove(`${nodeId}-d${i}`, 'total'); store.flushWrites() }
  return { updates, store }
}

const yjsPending = (s: ProfileStore): boolean => s.doc.store.pendingStructs !== null || s.doc.store.pendingDs !== null

const members = (s: ProfileStore): string[] => s.members('total').map((m) => m.dialog).sort()

describe('updates that cannot apply yet', () => {
  it('a writer\'s updates in reverse order (and again): parked out of Yjs once, all applied once the first arrives', () => {
    const { updates, store: w } = writerUpdates('w', 101, 200, [])
    const r = new ProfileStore({ nodeId: 'r', profiles: PROFILES, clientId: 202, incarnation: 1 })
    for (const u of updates.slice(1).reverse()) {
      r.applyUpdate(u)
      expect(yjsPending(r)).toBe(false)
    }
    expect(r.size('total')).toBe(0)
    const parked = r.stats().unappliedBytes
    expect(parked).toBeGreaterThan(0)
    // The same updates again (another path, a relay): parked once.
    for (const u of updates.slice(1)) r.applyUpdate(u)
    expect(r.stats().unappliedBytes).toBe(parked)
    r.applyUpdate(updates[0]!)
    expect(r.size('total')).toBe(200)
    expect(r.stats()).toMatchObject({ unappliedBytes: 0, unappliedRanges: 0, unappliedDroppedBytes: 0 })
    expect(Y.encodeStateVector(r.doc)).toEqual(Y.encodeStateVector(w.doc))
    w.destroy()
    r.destroy()
  })

  it('deletions of records not here yet wait for them, and apply when they arrive', () => {
    // The owner ends 5 of its 50 calls: its last 5 updates delete records of its first 45.
    const { updates, store: w } = writerUpdates('w', 101, 50, [3, 4, 5, 20, 49])
    const r = new ProfileStore({ nodeId: 'r', profiles: PROFILES, clientId: 202, incarnation: 1 })
    for (const u of updates.slice(50)) { r.applyUpdate(u); expect(yjsPending(r)).toBe(false) }
    expect(r.stats().unappliedRanges).toBeGreaterThan(0)
    for (const u of updates.slice(0, 50)) { r.applyUpdate(u); expect(yjsPending(r)).toBe(false) }
    expect(members(r)).toEqual(members(w))
    expect(r.size('total')).toBe(45)
    expect(r.stats()).toMatchObject({ unappliedBytes: 0, unappliedRanges: 0 })
    expect(r.recount().ok).toBe(true)
    w.destroy()
    r.destroy()
  })

  it('any delivery order, with duplicates, ends in the document of in-order delivery, with nothing left parked (model-based)', () => {
    const { updates: wu, store: w } = writerUpdates('w', 101, 30, [2, 7, 11, 29])
    const { updates: vu, store: v } = writerUpdates('v', 404, 20, [0, 19])
    // A third node removes calls of both (deletions of their records, a notice in its own partition).
    const o = new ProfileStore({ nodeId: 'o', profiles: PROFILES, clientId: 303, incarnation: 1 })
    for (const u of [...wu, ...vu]) o.applyUpdate(u)
    const ou: Uint8Array[] = []
    o.onUpdate((u, origin) => { if (origin === o) ou.push(u) })
    for (const d of ['w-d5', 'w-d6', 'v-d3', 'v-d10']) { o.remove(d, 'total'); o.flushWrites() }
    const all = [...wu, ...vu, ...ou]
    const expected = members(o)
    fc.assert(fc.property(fc.shuffledSubarray(all.map((_u, i) => i), { minLength: all.length, maxLength: all.length }), fc.array(fc.nat(all.length - 1), { maxLength: 20 }), (order, dups) => {
      const r = new ProfileStore({ nodeId: 'r', profiles: PROFILES, clientId: 202, incarnation: 1 })
      try {
        const seq = [...order]
        for (const [k, i] of dups.entries()) seq.splice((k * 7) % (seq.length + 1), 0, i)
        for (const i of seq) {
          r.applyUpdate(all[i]!)
          expect(yjsPending(r)).toBe(false)
        }
        expect(members(r)).toEqual(expected)
        expect(r.stats()).toMatchObject({ unappliedBytes: 0, unappliedRanges: 0 })
        expect(Y.encodeStateVector(r.doc)).toEqual(Y.encodeStateVector(o.doc))
        expect(r.recount().ok).toBe(true)
      } finally {
        r.destroy()
      }
    }), fcParams(60))
    for (const s of [w, v, o]) s.destroy()
  })

  it('several updates applied together (applyUpdates) park and settle as one by one', () => {
    const { updates, store: w } = writerUpdates('w', 101, 40, [1, 2])
    const r = new ProfileStore({ nodeId: 'r', profiles: PROFILES, clientId: 202, incarnation: 1 })
    r.applyUpdates(updates.slice(20))
    expect(yjsPending(r)).toBe(false)
    expect(r.size('total')).toBe(0)
    r.applyUpdates(updates.slice(0, 20).reverse())
    expect(members(r)).toEqual(members(w))
    expect(r.stats()).toMatchObject({ unappliedBytes: 0, unappliedRanges: 0 })
    w.destroy()
    r.destroy()
  })

  it('past a bound everything parked is dropped and reported; what arrives later applies again', () => {
    const { updates, store: w } = writerUpdates('w', 101, 30, [])
    const doc = new Y.Doc()
    const drops: Array<{ bytes: number, ranges: number }> = []
    // Room for the writer (400 bytes) and about 10 runs of one struct each (about 340 bytes each, with their overhead).
    const parked = new ParkedUpdates((d) => { drops.push(d) }, 3900, 5)
    const apply = (u: Uint8Array): void => {
      doc.transact(() => {
        Y.applyUpdate(doc, u)
        parked.settle(doc, [101])
      })
    }
    for (const u of updates.slice(1, 20)) apply(u)
    expect(drops.length).toBe(1)
    expect(drops[0]!.bytes).toBeGreaterThan(3900)
    expect(parked.droppedBytes).toBe(drops[0]!.bytes)
    expect(parked.bytes).toBeGreaterThan(0)
    expect(parked.bytes).toBeLessThan(3900)
    expect(doc.store.pendingStructs).toBe(null)
    // The dropped ones come again (anti-entropy): everything applies.
    for (const u of updates) apply(u)
    expect(parked.bytes).toBe(0)
    expect(Y.getState(doc.store, 101)).toBe(Y.getState(w.doc.store, 101))
    doc.destroy()
    w.destroy()
  })

  it('deletions naming many writers count each writer waited for against the byte bound', () => {
    const doc = new Y.Doc()
    const drops: Array<{ bytes: number, ranges: number }> = []
    const parked = new ParkedUpdates((d) => { drops.push(d) }, 40_000, 1_000_000)
    // One update deleting one clock of each of 99 writers nobody has: 99 x 400 bytes of parking.
    const e = encoding.createEncoder()
    encoding.writeVarUint(e, 0)
    encoding.writeVarUint(e, 99)
    for (let c = 0; c < 99; c++) { encoding.writeVarUint(e, 900 + c); encoding.writeVarUint(e, 1); encoding.writeVarUint(e, 0); encoding.writeVarUint(e, 1) }
    doc.transact(() => { Y.applyUpdate(doc, encoding.toUint8Array(e)); parked.settle(doc, []) })
    expect([parked.ranges, parked.bytes, drops.length]).toEqual([99, 99 * 400, 0])
    // A hundred and first writer passes the bound: everything is dropped.
    const f = encoding.createEncoder()
    encoding.writeVarUint(f, 0)
    encoding.writeVarUint(f, 2)
    for (const c of [2000, 2001]) { encoding.writeVarUint(f, c); encoding.writeVarUint(f, 1); encoding.writeVarUint(f, 0); encoding.writeVarUint(f, 1) }
    doc.transact(() => { Y.applyUpdate(doc, encoding.toUint8Array(f)); parked.settle(doc, []) })
    expect(drops).toEqual([{ bytes: 101 * 400, ranges: 101 }])
    expect([parked.ranges, parked.bytes]).toEqual([0, 0])
    doc.destroy()
  })
})
