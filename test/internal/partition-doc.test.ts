import * as fc from 'fast-check'
import * as Y from 'yjs'
import { describe, expect, it } from 'vitest'
import { isKnownUpdate } from '../../src/internal/partition-doc.js'
import { fcParams } from '../support/fc.js'

const fingerprint = (doc: Y.Doc): string => Buffer.from(Y.encodeSnapshot(Y.snapshot(doc))).toString('hex')

const op = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), key: fc.integer({ min: 0, max: 5 }), value: fc.integer() }),
  fc.record({ kind: fc.constant('delete' as const), key: fc.integer({ min: 0, max: 5 }) }),
  fc.record({ kind: fc.constant('push' as const), value: fc.integer() }),
  fc.record({ kind: fc.constant('cut' as const), at: fc.nat(20) })
)

describe('isKnownUpdate', () => {
  it('says "known" only for updates that change nothing, and recognises every re-delivery of an integrated update (property)', () => {
    let runs = 0
    fc.assert(fc.property(fc.array(fc.tuple(fc.nat(1), op), { minLength: 1, maxLength: 30 }), fc.array(fc.nat(200), { maxLength: 60 }), (ops, order) => {
      const writers = [new Y.Doc(), new Y.Doc()]
      const updates: Uint8Array[] = []
      for (const w of writers) w.on('update', (u: Uint8Array) => { updates.push(u) })
      for (const [who, o] of ops) {
        const w = writers[who]!
        // Writers see each other's past updates, so deletions can target the other's items.
        for (const u of updates) Y.applyUpdate(w, u)
        if (o.kind === 'set') w.getMap('m').set(`k${o.key}`, o.value)
        else if (o.kind === 'delete') w.getMap('m').delete(`k${o.key}`)
        else if (o.kind === 'push') w.getArray('a').push([o.value])
        else if (w.getArray('a').length > 0) w.getArray('a').delete(o.at % w.getArray('a').length, 1)
      }
      runs++
      if (updates.length === 0) return
      const reader = new Y.Doc()
      const integrated = new Set<number>()
      // Random deliveries (with repeats, out of order), then every update once more in order.
      for (const i of [...order, ...updates.keys(), ...updates.keys()]) {
        const idx = i % updates.length
        const u = updates[idx]!
        const known = isKnownUpdate(reader, u)
        const before = fingerprint(reader)
        Y.applyUpdate(reader, u)
        if (known) expect(fingerprint(reader)).toBe(before)
        else expect(integrated.has(idx)).toBe(false)
        // Nothing pending: every update delivered so far is integrated.
        if (reader.store.pendingStructs === null && reader.store.pendingDs === null) integrated.add(idx)
      }
      for (const w of writers) w.destroy()
      reader.destroy()
    }), fcParams(150))
    expect(runs).toBeGreaterThanOrEqual(Math.min(150, Number(process.env['FC_RUNS'] ?? 150)))
  })
})
