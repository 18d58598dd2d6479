/**
 * Applying a remote update is all or nothing: mutated valid updates are either
 * applied fully (exactly as Yjs itself applies them, and the counts agree with a recount) or
 * refused with `DP_ERR_BAD_UPDATE` with the document, its state vector and the counts unchanged.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { DialogProfilesError, ProfileStore } from '../src/index.js'
import { appendRecords, deleteRecords } from '../src/internal/partition-doc.js'
import { encodeMembership, encodeRemoval } from '../src/internal/records.js'
import { fcParams } from './support/fc.js'

const PROFILES = [{ name: 'total' }, { name: 'caller', withValue: true }]
const rec = (dialog: string, profile = 'total', value: string | null = null): unknown[] =>
  encodeMembership({ kind: 0, dialog, profile, value, expiresAt: null })

/** A peer's document: two partitions' worth of records, some deleted, a notice; and the updates it sent. */
const peerUpdates = (): { base: Uint8Array, next: Uint8Array[] } => {
  const peer = new Y.Doc()
  peer.clientID = 4242
  const root = peer.getArray('dp:b:1:4242')
  const updates: Uint8Array[] = []
  peer.on('update', (u: Uint8Array) => updates.push(u))
  peer.transact(tr => { appendRecords(tr, root, -1, [rec('c1'), rec('c2', 'caller', 'alice'), rec('c3')]) })
  peer.transact(tr => { appendRecords(tr, root, 2, [rec('c4'), encodeRemoval(777, [0, 1]), rec('c5', 'caller', 'bob')]) })
  peer.transact(tr => { deleteRecords(tr, 4242, [1, 3]) })
  peer.transact(tr => { appendRecords(tr, root, 5, [rec('c6')]) })
  const base = updates[0] as Uint8Array
  const next = updates.slice(1)
  peer.destroy()
  return { base, next }
}

const mutation = fc.array(fc.record({
  op: fc.constantFrom('flip', 'set', 'insert', 'delete', 'truncate'),
  at: fc.nat(),
  byte: fc.nat({ max: 255 })
}), { minLength: 1, maxLength: 4 })

const mutate = (u: Uint8Array, ms: ReadonlyArray<{ op: string, at: number, byte: number }>): Uint8Array => {
  let b = [...u]
  for (const m of ms) {
    if (b.length === 0) break
    const i = m.at % b.length
    if (m.op === 'flip') b[i] = (b[i] as number) ^ (1 << (m.byte % 8))
    else if (m.op === 'set') b[i] = m.byte
    else if (m.op === 'insert') b.splice(i, 0, m.byte)
    else if (m.op === 'delete') b.splice(i, 1)
    else b = b.slice(0, i)
  }
  return Uint8Array.from(b)
}

describe('ProfileStore.applyUpdate: all or nothing', () => {
  it('applies a mutated update fully (what waits for structs not here kept aside) or refuses it with DP_ERR_BAD_UPDATE and changes nothing', () => {
    const { base, next } = peerUpdates()
    let refused = 0
    let applied = 0
    fc.assert(fc.property(fc.nat({ max: next.length - 1 }), mutation, (which, ms) => {
      const s = new ProfileStore({ nodeId: 'a', profiles: PROFILES, clock: () => 1000, incarnation: 1, clientId: 1 })
      try {
        s.applyUpdate(base, 'peer')
        const u = mutate(next[which] as Uint8Array, ms)
        const before = { state: s.encodeState(), sv: s.stateVector(), dump: JSON.stringify(s.dump()), total: s.size('total'), caller: s.size('caller') }
        const ref = new Y.Doc()
        Y.applyUpdate(ref, before.state)
        let yjsApplies = true
        try { Y.applyUpdate(ref, u) } catch { yjsApplies = false }
        try {
          s.applyUpdate(u, 'peer')
        } catch (err) {
          expect(err).toBeInstanceOf(DialogProfilesError)
          expect((err as DialogProfilesError).code).toBe('DP_ERR_BAD_UPDATE')
          expect(s.encodeState()).toEqual(before.state)
          expect(s.stateVector()).toEqual(before.sv)
          expect(JSON.stringify(s.dump())).toBe(before.dump)
          expect([s.size('total'), s.size('caller')]).toEqual([before.total, before.caller])
          refused++
          return
        }
        applied++
        expect(yjsApplies).toBe(true) // what the store accepts, Yjs applies without failing halfway
        expect(s.stateVector()).toEqual(Y.encodeStateVector(ref))
        // What Yjs holds back as pending (a gap, a deletion of structs not here) the store keeps
        // out of Yjs, waiting (parked-updates.ts), and out of the state it encodes.
        const refPending = ref.store.pendingStructs !== null || ref.store.pendingDs !== null
        ref.store.pendingStructs = null
        ref.store.pendingDs = null
        expect(s.encodeState()).toEqual(Y.encodeStateAsUpdate(ref))
        const st = s.stats()
        expect(st.unappliedBytes + st.unappliedRanges > 0).toBe(refPending)
        expect(s.recount().mismatches).toEqual([])
        ref.destroy()
      } finally { s.destroy() }
    }), fcParams(800))
    // both outcomes were exercised
    expect(refused).toBeGreaterThan(0)
    expect(applied).toBeGreaterThan(0)
  })

  it('checks each record\'s JSON bytes as Yjs will parse them: a batch with one bad record is refused whole, non-ASCII records apply', () => {
    // One update per writer; the second writer's record is edited in place (same length).
    const write = (client: number, dialog: string): Uint8Array => {
      const d = new Y.Doc()
      d.clientID = client
      d.transact(tr => { appendRecords(tr, d.getArray(`dp:n${client}:1:${client}`), -1, [rec(`ok-${client}`), rec(dialog)]) })
      const u = Y.encodeStateAsUpdate(d)
      d.destroy()
      return u
    }
    const edit = (u: Uint8Array, find: string, bytes: number[]): Uint8Array => {
      const at = Buffer.from(u).indexOf(find)
      expect(at).toBeGreaterThan(0)
      const out = Uint8Array.from(u)
      out.set(bytes, at)
      return out
    }
    const good = write(11, 'first')
    const target = write(12, 'call-xy')
    const cases: Array<[string, Uint8Array, boolean]> = [
      ['a control character in a string', edit(target, 'xy', [0x01, 0x79]), false],
      ['a quote cut out: not JSON', edit(target, '"call', [0x20]), false],
      ['bytes that are not UTF-8', edit(target, 'xy', [0xff, 0xfe]), false],
      ['a record turned into an object', edit(target, '[0,"call', [0x7b]), false],
      ['a non-ASCII dialog id (the slow path)', edit(target, 'xy', [0xc3, 0xa9]), true]
    ]
    for (const [what, bad, valid] of cases) {
      const s = new ProfileStore({ nodeId: 'a', profiles: PROFILES, incarnation: 1, clientId: 1 })
      const before = { sv: s.stateVector(), total: s.size('total') }
      if (valid) {
        s.applyUpdates([good, bad], 'peer')
        expect(s.has('call-\u00e9', 'total'), what).toBe(true)
        expect(s.size('total')).toBe(4)
      } else {
        expect(() => { s.applyUpdates([good, bad], 'peer') }, what).toThrow(expect.objectContaining({ code: 'DP_ERR_BAD_UPDATE' }))
        expect(s.stateVector(), what).toEqual(before.sv)
        expect(s.size('total')).toBe(before.total)
        // and Yjs itself fails on it (so the check is what keeps the batch whole)
        expect(() => { Y.applyUpdate(new Y.Doc(), bad) }, what).toThrow()
      }
      s.destroy()
    }
  })

  it('refuses, whole, updates outside the schema: other root types, map entries, nested types, non-embed content', () => {
    const s = new ProfileStore({ nodeId: 'a', profiles: PROFILES, incarnation: 1 })
    const bad: Array<(d: Y.Doc) => void> = [
      d => { d.getMap('dp:b:1:5').set('k', 1) },
      d => { d.getArray('dp:b:1:5').push([1, 2]) }, // ContentAny, not embed
      d => { d.getArray('other').insert(0, [new Y.Map()]) },
      d => { d.getText('dp:b:1:5').insert(0, 'x') }
    ]
    for (const write of bad) {
      const d = new Y.Doc()
      d.clientID = 5
      write(d)
      const before = s.encodeState()
      expect(() => { s.applyUpdate(Y.encodeStateAsUpdate(d), 'peer') }).toThrow(expect.objectContaining({ code: 'DP_ERR_BAD_UPDATE' }))
      expect(s.encodeState()).toEqual(before)
      d.destroy()
    }
    // an admission root (dpa:) of the right shape is accepted and not counted
    const d = new Y.Doc()
    d.clientID = 6
    d.transact(tr => { appendRecords(tr, d.getArray('dpa:b:1:6'), -1, [rec('c1')]) })
    s.applyUpdate(Y.encodeStateAsUpdate(d), 'peer')
    expect(s.size('total')).toBe(0)
    expect(s.recount().ok).toBe(true)
    d.destroy()
    s.destroy()
  })

  it('refuses, whole, an update (or a batch) that would bring the document past maxClients Yjs clients', () => {
    /** One partition of one record under each of `n` new client ids, as one update each. */
    const clients = (from: number, n: number): Uint8Array[] => Array.from({ length: n }, (_x, i) => {
      const w = new ProfileStore({ nodeId: `w${from + i}`, profiles: PROFILES, clientId: 5000 + from + i, incarnation: 1 })
      w.add(`call-${from + i}`, 'total')
      w.flushWrites()
      const u = Y.encodeStateAsUpdate(w.doc)
      w.destroy()
      return u
    })
    const s = new ProfileStore({ nodeId: 'a', profiles: PROFILES, clock: () => 1000, incarnation: 1, clientId: 1, maxClients: 10 })
    s.add('own', 'total')
    s.flushWrites()
    s.applyUpdate(Y.mergeUpdates(clients(0, 8)), 'peer') // 9 clients
    const before = s.encodeState()
    const refused = (f: () => void): void => {
      expect(f).toThrow(DialogProfilesError)
      try { f() } catch (err) { expect((err as DialogProfilesError).code).toBe('DP_ERR_BAD_UPDATE'); expect(String((err as Error).message)).toMatch(/maxClients \(10\)/) }
      expect(s.encodeState()).toEqual(before)
    }
    refused(() => { s.applyUpdate(Y.mergeUpdates(clients(8, 2)), 'peer') })
    // A batch whose updates bring one new client each: refused as a whole, not one by one.
    refused(() => { s.applyUpdates(clients(8, 2), 'peer') })
    expect(s.size('total')).toBe(9)
    // Known clients are never counted again; the tenth fits.
    s.applyUpdates([...clients(0, 8), ...clients(8, 1)], 'peer')
    expect(s.stats().clients).toBe(10)
    expect(s.size('total')).toBe(10)
    expect(() => new ProfileStore({ nodeId: 'b', profiles: PROFILES, maxClients: 0 })).toThrow(/maxClients/)
    s.destroy()
  })
})
