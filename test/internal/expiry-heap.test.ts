import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ExpiryHeap, type HeapEntry } from '../../src/internal/expiry-heap.js'
import { fcParams } from '../support/fc.js'

interface E extends HeapEntry { readonly id: number }

describe('ExpiryHeap', () => {
  it('pops exactly the expired entries, in expiry order, whatever was pushed and removed', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('push' as const), at: fc.integer({ min: 0, max: 100 }) }),
      fc.record({ kind: fc.constant('remove' as const), pick: fc.nat() }),
      fc.record({ kind: fc.constant('pop' as const), now: fc.integer({ min: 0, max: 100 }) })
    )
    fc.assert(fc.property(fc.array(op, { maxLength: 200 }), ops => {
      const heap = new ExpiryHeap<E>()
      const model: E[] = []
      let id = 0
      for (const o of ops) {
        if (o.kind === 'push') {
          const e: E = { id: id++, expiresAt: o.at, heapIndex: -1 }
          heap.push(e); model.push(e)
        } else if (o.kind === 'remove') {
          if (model.length === 0) continue
          const [e] = model.splice(o.pick % model.length, 1) as [E]
          heap.remove(e)
          heap.remove(e) // twice is harmless
          expect(e.heapIndex).toBe(-1)
        } else {
          const popped: E[] = []
          for (let e = heap.popExpired(o.now); e !== undefined; e = heap.popExpired(o.now)) popped.push(e)
          const due = model.filter(e => e.expiresAt <= o.now)
          expect(popped.map(e => e.expiresAt)).toEqual(due.map(e => e.expiresAt).sort((a, b) => a - b))
          expect(new Set(popped)).toEqual(new Set(due))
          for (const e of due) model.splice(model.indexOf(e), 1)
        }
        expect(heap.size).toBe(model.length)
      }
    }), fcParams(300))
  })
})
