import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { FEW_MATCH, FEW_NONE, FEW_OTHER, FewMap } from '../../src/internal/few-map.js'
import { fcParams } from '../support/fc.js'

describe('FewMap', () => {
  it('behaves as a map of keys to sets of values (add, addAndFind, delete, find)', () => {
    const op = fc.record({ add: fc.boolean(), find: fc.boolean(), key: fc.constantFrom('a', 'b', 'c'), v: fc.nat({ max: 4 }) })
    fc.assert(fc.property(fc.array(op, { maxLength: 120 }), ops => {
      const values = Array.from({ length: 5 }, (_, i) => ({ i }))
      const m = new FewMap<string, { i: number }>()
      const model = new Map<string, Set<{ i: number }>>()
      for (const o of ops) {
        const v = values[o.v] as { i: number }
        const set = model.get(o.key) ?? new Set()
        if (o.add && !set.has(v) && o.find) {
          // addAndFind: adds, and says whether a value already there matched (here: same parity)
          const found = set.size === 0 ? FEW_NONE : [...set].some((y) => y.i % 2 === v.i % 2) ? FEW_MATCH : FEW_OTHER
          expect(m.addAndFind(o.key, v, (y, parity) => y.i % 2 === parity, v.i % 2, null)).toBe(found)
          set.add(v)
        } else if (o.add && !set.has(v)) { m.add(o.key, v); set.add(v) } else if (!o.add) { expect(m.delete(o.key, v)).toBe(set.delete(v)) }
        model.set(o.key, set)
        for (const [k, s] of model) {
          expect(new Set(m.get(k))).toEqual(s)
          const seen: Array<{ i: number }> = []
          m.forEach(k, v => { seen.push(v) })
          expect(seen).toEqual(m.get(k))
          for (const x of values) expect(m.find(k, (y, want) => y === want, x, null)).toBe(s.has(x) ? x : undefined)
        }
        expect(m.size).toBe([...model.values()].reduce((n, s) => n + s.size, 0))
        expect([...m.values()].length).toBe(m.size)
        expect(new Set(m.keys())).toEqual(new Set([...model].filter(([, s]) => s.size > 0).map(([k]) => k)))
      }
    }), fcParams(200))
  })
})
