import * as fc from 'fast-check'
import * as Y from 'yjs'
import { describe, expect, it } from 'vitest'
import { checkUpdate, encodeClientChunk, encodeTransactionUpdate, isKnownUpdate, onDocumentChange } from '../../src/internal/partition-doc.js'
import { ProfileStore } from '../../src/profile-store.js'
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

describe('StateSizeEstimate (ProfileStore.stats().stateBytes)', () => {
  it('stays close to the encoded size of the state through adds, ends by any node and syncs (property)', () => {
    const act = fc.oneof(
      fc.record({ kind: fc.constant('add' as const), who: fc.nat(2), dialog: fc.nat(40), valued: fc.boolean() }),
      fc.record({ kind: fc.constant('end' as const), who: fc.nat(2), dialog: fc.nat(40) }),
      fc.record({ kind: fc.constant('sync' as const), from: fc.nat(2), to: fc.nat(2) })
    )
    fc.assert(fc.property(fc.array(act, { minLength: 1, maxLength: 120 }), (acts) => {
      const stores = ['a', 'b', 'c'].map((nodeId) => new ProfileStore({ nodeId, profiles: [{ name: 'total' }, { name: 'caller', withValue: true }] }))
      const id = (n: number): string => `call-${n}-0123456789abcdef@proxy.example.com`
      for (const a of acts) {
        if (a.kind === 'add') stores[a.who]!.add(id(a.dialog), a.valued ? 'caller' : 'total', a.valued ? `user${a.dialog % 7}` : undefined)
        else if (a.kind === 'end') stores[a.who]!.removeDialog(id(a.dialog))
        else if (a.from !== a.to) {
          const [s, t] = [stores[a.from]!, stores[a.to]!]
          s.flushWrites(); t.flushWrites()
          t.applyUpdate(Y.encodeStateAsUpdate(s.doc, Y.encodeStateVector(t.doc)), 'sync')
        }
      }
      for (const s of stores) {
        const estimate = s.stats().stateBytes
        const real = Y.encodeStateAsUpdate(s.doc).length
        expect(Math.abs(estimate - real)).toBeLessThanOrEqual(Math.max(40, real * 0.1))
        s.destroy()
      }
    }), fcParams(100))
  })
})

describe('encodeClientChunk (chunks of a state answer)', () => {
  it('writes one writer\'s structs as valid updates of bounded size, in clock order, that rebuild the same state (property)', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 300 }), fc.array(fc.nat(299), { maxLength: 150 }), fc.integer({ min: 1, max: 3000 }), fc.nat(299),
      (adds, ends, maxBytes, from) => {
        const writer = new ProfileStore({ nodeId: 'w', profiles: [{ name: 'caller', withValue: true }] })
        const id = (n: number): string => `call-${n}-0123456789abcdef@proxy.example.com`
        for (let i = 0; i < adds; i++) writer.add(id(i), 'caller', `user${i % 7}`)
        writer.flushWrites()
        for (const e of ends) writer.removeDialog(id(e % adds))
        writer.flushWrites()
        // Another writer's structs in the same document: never in the chunks.
        const other = new ProfileStore({ nodeId: 'o', profiles: [{ name: 'caller', withValue: true }] })
        for (let i = 0; i < 5; i++) other.add(`other-${i}`, 'caller', 'x')
        other.flushWrites()
        writer.applyUpdate(Y.encodeStateAsUpdate(other.doc), 'sync')
        const client = writer.doc.clientID
        const end = Y.getState(writer.doc.store, client)
        for (const start of [0, Math.min(from, end - 1)]) {
          // What a peer holding `start` clocks of this writer misses, one chunk after the other.
          const chunks: Uint8Array[] = []
          for (let at = start, k = 0; k < 10_000; k++) {
            const c = encodeClientChunk(writer.doc, client, at, end, maxBytes)
            if (c === undefined) break
            expect(c.next).toBeGreaterThan(at)
            chunks.push(c.update)
            at = c.next
          }
          let clock = start
          for (const c of chunks) {
            expect(checkUpdate(c).ok).toBe(true)
            const meta = Y.parseUpdateMeta(c)
            expect([...meta.from.keys()]).toEqual([client])
            expect(meta.from.get(client)).toBe(clock)
            clock = meta.to.get(client)!
            // At most maxBytes of structs (plus a header), or a single struct.
            expect(c.length <= maxBytes + 32 || Y.decodeUpdate(c).structs.length === 1).toBe(true)
          }
          expect(clock).toBe(end)
          if (start > 0) continue
          // In order, then the delete set (sent apart), they rebuild the writer's document.
          const reader = new ProfileStore({ nodeId: 'r', profiles: [{ name: 'caller', withValue: true }] })
          reader.applyUpdate(Y.encodeStateAsUpdate(other.doc), 'sync')
          for (const c of chunks) reader.applyUpdate(c, 'sync')
          reader.applyUpdate(Y.encodeStateAsUpdate(writer.doc, Y.encodeStateVector(writer.doc)), 'sync')
          expect(reader.members('caller').map((m) => m.dialog).sort()).toEqual(writer.members('caller').map((m) => m.dialog).sort())
          expect(Y.encodeStateVector(reader.doc)).toEqual(Y.encodeStateVector(writer.doc))
          reader.destroy()
        }
        writer.destroy()
        other.destroy()
      }), fcParams(60))
  })
})

describe('encodeTransactionUpdate (a transaction\'s update, encoded only when needed)', () => {
  it('gives, for every transaction, exactly the bytes Yjs passes to `update` listeners, and skips those Yjs skips (property)', () => {
    // Transactions of local writes (map and array, several ops each), of deletions, and of remote
    // updates (several clients at once, some out of order so that they wait as pending structs).
    const txOp = fc.array(op, { minLength: 0, maxLength: 4 })
    let runs = 0
    fc.assert(fc.property(fc.boolean(), fc.array(fc.tuple(fc.nat(2), txOp, fc.boolean()), { minLength: 1, maxLength: 25 }), (gc, txs) => {
      const docs = [new Y.Doc({ gc }), new Y.Doc({ gc }), new Y.Doc({ gc })]
      const log: Uint8Array[][] = [[], [], []]
      const seen: Array<Array<Uint8Array | null>> = [[], [], []]
      const offs = docs.map((d, i) => {
        // Registered first: it runs where Yjs encodes its own `update` (right after cleanup).
        const off = onDocumentChange(d, (tr) => { seen[i]!.push(encodeTransactionUpdate(tr)) })
        d.on('update', (u: Uint8Array) => { log[i]!.push(u) })
        return off
      })
      const all: Uint8Array[] = []
      for (const [who, ops, pull] of txs) {
        const d = docs[who]!
        if (pull) {
          // Everything the others wrote so far, in one transaction, latest first (pending, then resolved).
          d.transact(() => { for (const u of [...all].reverse()) Y.applyUpdate(d, u) }, 'remote')
        }
        d.transact(() => {
          for (const o of ops) {
            if (o.kind === 'set') d.getMap('m').set(`k${o.key}`, o.value)
            else if (o.kind === 'delete') d.getMap('m').delete(`k${o.key}`)
            else if (o.kind === 'push') d.getArray('a').push([o.value])
            else if (d.getArray('a').length > 0) d.getArray('a').delete(o.at % d.getArray('a').length, 1)
          }
        })
        const n = log[who]!.length
        if (n > 0) all.push(log[who]![n - 1]!)
      }
      for (let i = 0; i < 3; i++) {
        expect(seen[i]!.length).toBe(log[i]!.length)
        seen[i]!.forEach((u, k) => { expect(Buffer.from(u!).toString('hex')).toBe(Buffer.from(log[i]![k]!).toString('hex')) })
      }
      offs.forEach((off) => { off() })
      runs++
      for (const d of docs) d.destroy()
    }), fcParams(150))
    expect(runs).toBeGreaterThanOrEqual(Math.min(75, Number(process.env['FC_RUNS'] ?? 150)))
  })
})
