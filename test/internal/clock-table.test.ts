import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ClockTable } from '../../src/internal/clock-table.js'
import { fcParams } from '../support/fc.js'

interface E { readonly clock: number, readonly tag: number }

describe('ClockTable', () => {
  it('behaves as a Map from clock to entry through growth, shrinking, collisions and large clocks', () => {
    // clocks from a small pool (many collisions, runs that wrap around the table's end) plus
    // clocks past 2^31 and near 2^40, as Yjs clocks may be
    const clock = fc.oneof(fc.nat({ max: 200 }), fc.constantFrom(2 ** 31, 2 ** 31 + 1, 2 ** 32, 2 ** 32 + 5, 2 ** 40 - 1, 2 ** 40 - 2))
    const op = fc.record({ set: fc.boolean(), clock, tag: fc.nat({ max: 3 }) })
    fc.assert(fc.property(fc.array(op, { maxLength: 600 }), ops => {
      const t = new ClockTable<E>()
      const model = new Map<number, E>()
      const seen = new Set<number>()
      for (const o of ops) {
        seen.add(o.clock)
        if (o.set) {
          const e = { clock: o.clock, tag: o.tag }
          t.set(e); model.set(o.clock, e)
        } else {
          expect(t.delete(o.clock)).toBe(model.delete(o.clock))
        }
        expect(t.size).toBe(model.size)
      }
      for (const c of seen) {
        expect(t.get(c)).toBe(model.get(c))
        expect(t.has(c)).toBe(model.has(c))
      }
      const sorted = [...model.keys()].sort((a, b) => a - b)
      expect(t.keys()).toEqual(sorted)
      expect(t.values()).toEqual(sorted.map(c => model.get(c)))
    }), fcParams(200))
  })

  it('empties back to its smallest size and stays usable', () => {
    const t = new ClockTable<E>()
    for (let c = 0; c < 5000; c++) t.set({ clock: c * 7, tag: 0 })
    expect(t.size).toBe(5000)
    for (let c = 0; c < 5000; c++) expect(t.delete(c * 7)).toBe(true)
    expect(t.size).toBe(0)
    expect([...t.values()]).toEqual([])
    expect(t.delete(0)).toBe(false)
    t.set({ clock: 3, tag: 1 })
    expect(t.get(3)?.tag).toBe(1)
  })
})
