import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { ProfileStore, type StoreEvent } from '../src/index.js'
import { appendRecords } from '../src/internal/partition-doc.js'
import { encodeMembership } from '../src/internal/records.js'
import { InMemoryCluster } from '../src/testing/index.js'
import { codeOf } from './support/errors.js'

const PROFILES = [
  { name: 'total' },
  { name: 'caller', withValue: true },
  { name: 'trunk', withValue: true, onOwnerDead: 'keep' as const }
]

const made: Array<{ destroy: () => void }> = []
afterEach(() => { for (const m of made.splice(0)) m.destroy() })

const manualClock = (start = 1_000_000): { now: () => number, advance: (ms: number) => void } => {
  let t = start
  return { now: () => t, advance: ms => { t += ms } }
}

const newStore = (nodeId = 'a', clock = manualClock()): ProfileStore => {
  const s = new ProfileStore({ nodeId, profiles: PROFILES, clock: clock.now, incarnation: 1 })
  made.push(s)
  return s
}

const newCluster = (n: number, seed = 7): InMemoryCluster => {
  const c = new InMemoryCluster({ nodes: n, profiles: PROFILES, seed })
  made.push(c)
  return c
}

/** Appends embed records to a root of `doc` as a peer's store would, after the item at `last` (-1: the root's first). */
const writeRecords = (doc: Y.Doc, root: string, records: readonly unknown[], last = -1): void => {
  doc.transact(tr => { appendRecords(tr, doc.getArray(root), last, records) })
}


describe('ProfileStore on one node', () => {
  it('adds, counts, tests membership and removes', () => {
    const s = newStore()
    expect(s.add('c1', 'total')).toBe(true)
    expect(s.add('c1', 'total')).toBe(false)
    expect(s.add('c1', 'caller', 'alice')).toBe(true)
    expect(s.add('c2', 'caller', 'alice')).toBe(true)
    expect(s.add('c3', 'caller', 'bob')).toBe(true)
    expect(s.size('total')).toBe(1)
    expect(s.size('caller')).toBe(3)
    expect(s.size('caller', 'alice')).toBe(2)
    expect(s.localSize('caller', 'alice')).toBe(2)
    expect(s.sizeByNode('caller')).toEqual({ a: 3 })
    expect(s.has('c1', 'caller')).toBe(true)
    expect(s.has('c1', 'caller', 'bob')).toBe(false)
    expect(s.values('caller')).toEqual(expect.arrayContaining([{ value: 'alice', size: 2 }, { value: 'bob', size: 1 }]))
    expect(s.members('caller', 'alice').map(m => m.dialog).sort()).toEqual(['c1', 'c2'])
    expect(s.remove('c1', 'caller')).toBe(1)
    expect(s.remove('c1', 'caller')).toBe(0)
    expect(s.size('caller', 'alice')).toBe(1)
    expect(s.removeDialog('c2')).toBe(1)
    expect(s.removeDialog('c1')).toBe(1)
    expect(s.size('total')).toBe(0)
    expect(s.values('caller')).toEqual([{ value: 'bob', size: 1 }])
    expect(s.recount().ok).toBe(true)
  })

  it('rejects bad input with typed errors and changes nothing', () => {
    const s = newStore()
    s.add('c1', 'caller', 'alice')
    const before = s.encodeState()
    expect(codeOf(() => s.add('c2', 'nope'))).toBe('DP_ERR_UNKNOWN_PROFILE')
    expect(codeOf(() => s.add('c2', 'caller'))).toBe('DP_ERR_VALUE_MISMATCH')
    expect(codeOf(() => s.add('c2', 'total', 'x'))).toBe('DP_ERR_VALUE_MISMATCH')
    expect(codeOf(() => s.add('', 'total'))).toBe('DP_ERR_INVALID_ARGUMENT')
    expect(codeOf(() => s.add('x'.repeat(257), 'total'))).toBe('DP_ERR_INVALID_ARGUMENT')
    expect(codeOf(() => s.add(42 as unknown as string, 'total'))).toBe('DP_ERR_INVALID_ARGUMENT')
    expect(codeOf(() => s.add('c2', 'total', undefined, { ttlMs: -1 }))).toBe('DP_ERR_INVALID_ARGUMENT')
    expect(codeOf(() => s.add('c2', 'total', undefined, { ttlMs: 5, expiresAt: 5 }))).toBe('DP_ERR_INVALID_ARGUMENT')
    expect(codeOf(() => s.add('c2', 'total', undefined, { expiresAt: Number.NaN }))).toBe('DP_ERR_INVALID_ARGUMENT')
    expect(codeOf(() => s.tryAcquire('c2', 'total', undefined, -1))).toBe('DP_ERR_INVALID_ARGUMENT')
    expect(codeOf(() => s.tryAcquire('c2', 'total', undefined, 1.5))).toBe('DP_ERR_INVALID_ARGUMENT')
    expect(codeOf(() => s.size('caller', ''))).toBe('DP_ERR_INVALID_ARGUMENT')
    expect(codeOf(() => s.remove('c1', 'total', 'v'))).toBe('DP_ERR_VALUE_MISMATCH')
    expect(codeOf(() => s.addRemote('u1', 'total', undefined, Number.POSITIVE_INFINITY))).toBe('DP_ERR_INVALID_ARGUMENT')
    expect(codeOf(() => s.applyUpdate(new Uint8Array([1, 2, 3, 250, 250, 250])))).toBe('DP_ERR_BAD_UPDATE')
    expect(codeOf(() => s.applyUpdate('x' as unknown as Uint8Array))).toBe('DP_ERR_BAD_UPDATE')
    expect(codeOf(() => s.setOwnerStatus('b', 1, 'zombie' as 'dead'))).toBe('DP_ERR_INVALID_ARGUMENT')
    expect(codeOf(() => s.declare({ name: 'caller' }))).toBe('DP_ERR_BAD_DECLARATION')
    expect(codeOf(() => s.declare({ name: 'bad name!' }))).toBe('DP_ERR_BAD_DECLARATION')
    expect(codeOf(() => new ProfileStore({ nodeId: 'a:b', profiles: [] }))).toBe('DP_ERR_INVALID_ARGUMENT')
    // a misspelt option or declaration key is refused, not taken as absent (no expiry, say)
    expect(codeOf(() => s.add('c2', 'total', undefined, { ttl: 5000 } as never))).toBe('DP_ERR_INVALID_ARGUMENT')
    expect(codeOf(() => s.tryAcquire('c2', 'total', undefined, 5, { expires: 5 } as never))).toBe('DP_ERR_INVALID_ARGUMENT')
    expect(codeOf(() => s.declare({ name: 'gateway', withvalue: true } as never))).toBe('DP_ERR_BAD_DECLARATION')
    expect(codeOf(() => s.add('c2', 'gateway', 'v'))).toBe('DP_ERR_UNKNOWN_PROFILE') // not declared
    expect(codeOf(() => new ProfileStore({ nodeId: 'b', profiles: [], maxLocalMembership: 2 } as never))).toBe('DP_ERR_INVALID_ARGUMENT')
    expect(codeOf(() => new ProfileStore({ nodeId: 'b', profiles: [{ name: 'x', onOwnerdead: 'keep' } as never] }))).toBe('DP_ERR_BAD_DECLARATION')
    expect(s.encodeState()).toEqual(before)
    expect(s.size('caller')).toBe(1)
  })

  it('enforces maxLocalMemberships', () => {
    const s = new ProfileStore({ nodeId: 'a', profiles: PROFILES, maxLocalMemberships: 2 })
    made.push(s)
    s.add('c1', 'total'); s.add('c2', 'total')
    expect(codeOf(() => s.add('c3', 'total'))).toBe('DP_ERR_LIMIT_EXCEEDED')
    expect(s.add('c2', 'total')).toBe(false)
    s.remove('c1', 'total')
    expect(s.add('c3', 'total')).toBe(true)
  })

  it('declares profiles at run time, idempotently', () => {
    const s = newStore()
    s.declare({ name: 'account', withValue: true })
    s.declare({ name: 'account', withValue: true })
    s.add('c1', 'account', 'acme')
    expect(s.size('account', 'acme')).toBe(1)
    expect(s.profiles().map(p => p.name)).toContain('account')
  })

  it('stops counting expired memberships at once and sweeps them later', () => {
    const clock = manualClock()
    const s = newStore('a', clock)
    s.add('c1', 'total', undefined, { ttlMs: 1000 })
    s.add('c2', 'total', undefined, { expiresAt: clock.now() + 5000 })
    s.add('c3', 'total')
    expect(s.size('total')).toBe(3)
    clock.advance(1000)
    expect(s.size('total')).toBe(2)
    expect(s.has('c1', 'total')).toBe(false)
    expect(s.stats().expiredWaiting).toBe(1)
    expect(s.sweep()).toBe(1)
    expect(s.stats().memberships).toBe(2)
    clock.advance(10_000)
    expect(s.size('total')).toBe(1)
    expect(s.recount().ok).toBe(true)
  })

  it('re-adding with another expiry replaces the membership', () => {
    const clock = manualClock()
    const s = newStore('a', clock)
    s.add('c1', 'total', undefined, { ttlMs: 1000 })
    s.add('c1', 'total', undefined, { ttlMs: 10_000 })
    clock.advance(2000)
    expect(s.size('total')).toBe(1)
    expect(s.dump()[0]?.adds.length).toBe(1)
  })

  it('admits below the limit, refuses at it, and re-admits a dialog already in', () => {
    const s = newStore()
    expect(s.tryAcquire('c1', 'caller', 'alice', 2)).toEqual({ admitted: true, size: 1, limit: 2 })
    expect(s.tryAcquire('c2', 'caller', 'alice', 2)).toEqual({ admitted: true, size: 2, limit: 2 })
    expect(s.tryAcquire('c3', 'caller', 'alice', 2)).toEqual({ admitted: false, size: 2, limit: 2 })
    expect(s.tryAcquire('c1', 'caller', 'alice', 2)).toEqual({ admitted: true, size: 2, limit: 2 })
    expect(s.tryAcquire('c3', 'caller', 'bob', 2).admitted).toBe(true)
    expect(s.has('c3', 'caller', 'alice')).toBe(false)
  })

  it('reports size changes once per change', () => {
    const s = newStore()
    const events: StoreEvent[] = []
    const off = s.on('size', e => events.push(e))
    s.add('c1', 'caller', 'alice')
    s.add('c1', 'caller', 'alice')
    s.add('c2', 'total')
    s.removeDialog('c1')
    off()
    s.add('c3', 'total')
    expect(events).toEqual([
      { type: 'size', profile: 'caller', value: null, size: 1 },
      { type: 'size', profile: 'caller', value: 'alice', size: 1 },
      { type: 'size', profile: 'total', value: null, size: 1 },
      { type: 'size', profile: 'caller', value: null, size: 0 },
      { type: 'size', profile: 'caller', value: 'alice', size: 0 }
    ])
  })

  it('is unusable after destroy', () => {
    const s = newStore()
    s.destroy()
    expect(codeOf(() => s.size('total'))).toBe('DP_ERR_DESTROYED')
  })
})

describe('ProfileStore replicas', () => {
  it('converge and count cluster-wide, with per-node shares', () => {
    const c = newCluster(3)
    const [a, b, d] = c.stores as [ProfileStore, ProfileStore, ProfileStore]
    a.add('c1', 'caller', 'alice')
    b.add('c2', 'caller', 'alice')
    d.add('c3', 'caller', 'bob')
    c.deliverAll()
    for (const s of c.stores) expect(s.size('caller')).toBe(3)
    expect(a.sizeByNode('caller', 'alice')).toEqual({ n0: 1, n1: 1 })
    expect(a.localSize('caller')).toBe(1)
    expect(c.converged()).toBe(true)
  })

  it('counts a membership added on two nodes once; a remove takes both adds it saw', () => {
    const c = newCluster(2)
    const [a, b] = c.stores as [ProfileStore, ProfileStore]
    a.add('c1', 'total')
    b.add('c1', 'total')
    c.deliverAll()
    expect(a.size('total')).toBe(1)
    expect(a.sizeByNode('total')).toEqual({ n0: 1, n1: 1 })
    a.remove('c1', 'total')
    c.deliverAll()
    expect(b.size('total')).toBe(0)
    expect(b.has('c1', 'total')).toBe(false)
  })

  it('add wins over a concurrent remove', () => {
    const c = newCluster(2)
    const [a, b] = c.stores as [ProfileStore, ProfileStore]
    a.add('c1', 'total')
    c.deliverAll()
    b.remove('c1', 'total') // observes a's first add
    a.remove('c1', 'total')
    a.add('c1', 'total') // concurrent re-add
    c.deliverAll()
    expect(a.size('total')).toBe(1)
    expect(b.size('total')).toBe(1)
    expect(c.converged()).toBe(true)
  })

  it('a remote membership survives its owner being declared dead and restarting', () => {
    const c = newCluster(2)
    const [a, b] = c.stores as [ProfileStore, ProfileStore]
    a.addRemote('uid-1', 'caller', 'alice', c.time + 60_000)
    a.add('c1', 'caller', 'alice')
    c.deliverAll()
    b.setOwnerStatus('n0', a.incarnation, 'dead')
    expect(b.size('caller', 'alice')).toBe(1)
    expect(b.members('caller', 'alice')).toEqual([expect.objectContaining({ dialog: 'uid-1', remote: true, node: 'n0' })])
    b.purgeOwner('n0', a.incarnation)
    c.restart(0)
    c.deliverAll()
    expect(c.store(0).size('caller', 'alice')).toBe(1)
    expect(c.store(0).removeRemote('uid-1', 'caller', 'alice')).toBe(1)
    c.deliverAll()
    expect(b.size('caller')).toBe(0)
  })

  it("a dead owner's memberships stop counting under 'drop' and count until expiry under 'keep'", () => {
    const c = newCluster(2)
    const [a, b] = c.stores as [ProfileStore, ProfileStore]
    a.add('c1', 'caller', 'alice')
    a.add('c1', 'trunk', 't1', { ttlMs: 10_000 })
    a.add('c2', 'trunk', 't1')
    c.deliverAll()
    const owners: StoreEvent[] = []
    b.on('owner', e => owners.push(e))
    b.setOwnerStatus('n0', a.incarnation, 'dead')
    expect(owners).toEqual([{ type: 'owner', node: 'n0', incarnation: a.incarnation, status: 'dead' }])
    expect(b.size('caller')).toBe(0)
    expect(b.size('trunk', 't1')).toBe(1) // kept: has an expiry
    expect(b.purgeOwner('n0', a.incarnation)).toBe(2) // deletes what no longer counts
    expect(b.size('trunk', 't1')).toBe(1)
    c.advance(10_000)
    expect(b.size('trunk', 't1')).toBe(0)
    expect(b.recount().ok).toBe(true)
    expect(codeOf(() => a.purgeOwner('n1', b.incarnation))).toBe('DP_ERR_INVALID_ARGUMENT')
  })

  it('a newer incarnation voids the older one at once', () => {
    const c = newCluster(2)
    const [a, b] = c.stores as [ProfileStore, ProfileStore]
    a.add('c1', 'total')
    c.deliverAll()
    expect(b.size('total')).toBe(1)
    b.setOwnerStatus('n0', a.incarnation + 1, 'live')
    expect(b.size('total')).toBe(0)
    expect(b.owners().find(o => o.node === 'n0')?.status).toBe('void')
    // setting the old incarnation live again does not revive it
    b.setOwnerStatus('n0', a.incarnation, 'live')
    expect(b.size('total')).toBe(0)
  })

  it('a live owner re-asserts what others purged while it was unreachable; what they removed stays removed', () => {
    const c = newCluster(3)
    const [a, b, d] = c.stores as [ProfileStore, ProfileStore, ProfileStore]
    for (const id of ['c1', 'c2', 'c3']) a.add(id, 'caller', 'alice')
    c.deliverAll()
    c.partition([[0], [1, 2]])
    d.remove('c2', 'caller', 'alice') // dialog ended elsewhere, during the partition
    b.setOwnerStatus('n0', a.incarnation, 'dead')
    d.setOwnerStatus('n0', a.incarnation, 'dead')
    expect(b.size('caller')).toBe(0)
    b.purgeOwner('n0', a.incarnation)
    c.deliverAll()
    a.add('c4', 'caller', 'alice') // a keeps working alone
    const reasserted: StoreEvent[] = []
    a.on('reasserted', e => reasserted.push(e))
    c.heal()
    c.deliverAll()
    b.setOwnerStatus('n0', a.incarnation, 'live')
    d.setOwnerStatus('n0', a.incarnation, 'live')
    expect(reasserted).toEqual([{ type: 'reasserted', count: 2 }])
    for (const s of c.stores) {
      expect(s.members('caller').map(m => m.dialog).sort()).toEqual(['c1', 'c3', 'c4'])
      expect(s.recount().ok).toBe(true)
    }
    expect(c.converged()).toBe(true)
    expect(a.stats().notices + b.stats().notices + d.stats().notices).toBe(0)
  })

  it('a removal notice that arrives after the purge still removes the re-asserted membership', () => {
    const c = newCluster(3)
    const [a, b, d] = c.stores as [ProfileStore, ProfileStore, ProfileStore]
    a.add('c1', 'total')
    c.deliverAll()
    d.remove('c1', 'total') // the update carrying d's removal is held back
    const held = c.pending
    b.setOwnerStatus('n0', a.incarnation, 'dead')
    b.purgeOwner('n0', a.incarnation)
    // deliver b's purge first (the last messages queued), then d's removal
    for (let i = c.pending - 1; i >= held; i--) c.deliverOne(i)
    expect(a.has('c1', 'total')).toBe(true) // re-asserted
    c.deliverAll()
    b.setOwnerStatus('n0', a.incarnation, 'live')
    for (const s of c.stores) expect(s.size('total')).toBe(0)
    expect(c.converged()).toBe(true)
  })

  it('refuses an update that writes into another client\'s partition, whole; ignores and reports records that do not decode', () => {
    const s = newStore('a')
    const reasons: string[] = []
    s.on('invalid-record', e => reasons.push(e.reason))
    const evil = new Y.Doc()
    evil.clientID = 99
    const good = encodeMembership({ kind: 0, dialog: 'c1', profile: 'total', value: null, expiresAt: null })
    writeRecords(evil, 'dp:c:1:99', [good])
    writeRecords(evil, 'dp:b:1:12345', [good]) // claims to be client 12345
    const before = s.encodeState()
    expect(codeOf(() => s.applyUpdate(Y.encodeStateAsUpdate(evil), 'peer'))).toBe('DP_ERR_BAD_UPDATE')
    expect(s.encodeState()).toEqual(before)
    expect(s.size('total')).toBe(0)
    const evil2 = new Y.Doc()
    evil2.clientID = 98
    writeRecords(evil2, 'dp:c:1:98', [{ garbage: true }, [0, 'c1', 'nope!', null, null], [...good, 7]])
    writeRecords(evil2, 'dp:c:1:98', [encodeMembership({ kind: 0, dialog: 'c2', profile: 'total', value: null, expiresAt: null })], 2)
    s.applyUpdate(Y.encodeStateAsUpdate(evil2), 'peer')
    expect(s.size('total')).toBe(1) // only the well-formed record
    expect(reasons).toEqual(['not a record', 'bad profile name', 'membership of wrong length'])
    expect(s.recount().ok).toBe(true)
    evil.destroy(); evil2.destroy()
  })

  it('never counts records that contradict the declarations, and reports them with the writer', () => {
    const s = newStore('a')
    const seen: Array<[number, string]> = []
    s.on('invalid-record', e => seen.push([e.clientId, e.reason]))
    const peer = new Y.Doc()
    peer.clientID = 77
    const rec = (dialog: string, profile: string, value: string | null): unknown[] => encodeMembership({ kind: 0, dialog, profile, value, expiresAt: null })
    writeRecords(peer, 'dp:b:1:77', [rec('c1', 'total', 'x'), rec('c2', 'caller', null), rec('c3', 'account', 'acme'), rec('c4', 'caller', 'alice')])
    s.applyUpdate(Y.encodeStateAsUpdate(peer), 'peer')
    expect(seen).toEqual([[77, 'value on a plain profile'], [77, 'no value on a valued profile'], [77, 'undeclared profile']])
    expect(s.size('total')).toBe(0)
    expect(s.size('caller')).toBe(1)
    expect(s.dump().map(e => e.dialog)).toEqual(['c4'])
    expect(s.recount().ok).toBe(true)
    // a profile declared later adopts its records
    s.declare({ name: 'account', withValue: true })
    expect(s.size('account', 'acme')).toBe(1)
    expect(s.recount().ok).toBe(true)
    peer.destroy()
  })

  it('keeps state proportional to live memberships under churn', () => {
    const c = newCluster(3)
    const live: Array<[number, string]> = []
    for (let i = 0; i < 6000; i++) {
      const n = i % 3
      c.store(n).add(`call-${i}`, 'caller', `u${i % 7}`)
      live.push([n, `call-${i}`])
      if (live.length > 100) {
        const [o, d] = live.splice((i * 7919) % live.length, 1)[0] as [number, string]
        const remover = (o + (i % 5 === 0 ? 1 : 0)) % 3
        if (remover !== o) c.deliverAll() // a node removes only what it has observed
        expect(c.store(remover).removeDialog(d)).toBe(1)
      }
      if (i % 50 === 0) c.deliverAll()
    }
    c.deliverAll()
    expect(c.converged()).toBe(true)
    // one partition per node (one incarnation each, no restart), written by that node's Yjs
    // client; its live records are the surviving calls that node added
    const livePer = [0, 1, 2].map(n => live.filter(([o]) => o === n).length)
    expect(livePer.reduce((a, b) => a + b, 0)).toBe(100)
    const bound = livePer.reduce((sum, l) => sum + 2 * l + 1, 0)
    for (const s of c.stores) {
      expect(s.size('caller')).toBe(100)
      expect(s.stats().partitions).toBe(3)
      // the README's bound: a partition holds at most 2 x live + 1 structs (merged tombstone runs
      // between live records), its removal notices included; no other writer is in the document
      expect(s.doc.store.clients.size).toBe(3)
      for (const [n, l] of livePer.entries()) {
        const structs = s.doc.store.clients.get(c.store(n).clientId)
        expect(structs, `partition of n${n}`).toBeDefined()
        expect(structs?.length, `partition of n${n} (${l} live)`).toBeLessThanOrEqual(2 * l + 1)
      }
      expect(s.stats().structs).toBeLessThanOrEqual(bound)
      // every removal notice was acknowledged by its owner: nothing of the removals is left
      expect(s.stats().notices).toBe(0)
      expect(s.stats().memberships).toBe(100)
    }
  })
})

describe('ProfileStore.applyUpdates', () => {
  it('applies updates that arrived together in one transaction, and keeps local writes under the store origin', () => {
    const a = newStore('a')
    const b = newStore('b')
    const updates: Uint8Array[] = []
    a.onUpdate((u) => { updates.push(u) })
    for (let i = 0; i < 5; i++) { a.add(`d${i}`, 'total'); a.flushWrites() }
    expect(updates).toHaveLength(5)
    const seen: unknown[] = []
    b.onUpdate((_u, origin) => { seen.push(origin) })
    b.add('local', 'total') // queued, not yet written
    b.applyUpdates(updates, 'peer')
    expect(seen).toEqual([b, 'peer'])
    expect(b.size('total')).toBe(6)
    expect(b.recount().ok).toBe(true)
    // A refused update in the batch: none of the batch is applied.
    a.add('later', 'total'); a.flushWrites()
    const before = b.stateVector()
    expect(codeOf(() => b.applyUpdates([a.encodeState(), Uint8Array.from([1, 2, 250])], 'peer'))).toBe('DP_ERR_BAD_UPDATE')
    expect(b.stateVector()).toEqual(before)
    expect(b.has('later', 'total')).toBe(false)
  })
})

describe('ownership protocol: an ended call never comes back', () => {
  it('a removal by a node that took the owner for dead survives the purge that follows it', () => {
    const c = newCluster(2)
    const [a, b] = c.stores as [ProfileStore, ProfileStore]
    b.add('c1', 'total'); b.add('c2', 'total')
    c.deliverAll()
    c.partition([[0], [1]])
    a.setOwnerStatus('n1', b.incarnation, 'dead')
    expect(a.remove('c1', 'total')).toBe(1) // the dialog ended, seen at a
    a.purgeOwner('n1', b.incarnation)
    c.heal(); c.deliverAll()
    a.setOwnerStatus('n1', b.incarnation, 'live')
    c.deliverAll()
    for (const s of c.stores) {
      expect(s.members('total').map(m => m.dialog), s.nodeId).toEqual(['c2'])
      expect(s.recount().ok).toBe(true)
    }
    expect(c.converged()).toBe(true)
    expect(a.stats().notices + b.stats().notices).toBe(0)
  })

  it('a removal never reaches the owner without its justification, whatever the order of the remover\'s updates', () => {
    for (const crash of [false, true]) {
      const c = newCluster(2)
      const [a, b] = c.stores as [ProfileStore, ProfileStore]
      b.add('c1', 'total')
      c.deliverAll()
      const reasserted: StoreEvent[] = []
      b.on('reasserted', e => reasserted.push(e))
      a.add('x', 'caller', 'alice') // the remover's earlier update, held back
      c.flushWrites()
      a.remove('c1', 'total')
      c.flushWrites()
      expect(c.pending).toBe(2)
      c.deliverOne(1) // the removal first
      expect(b.has('c1', 'total')).toBe(true) // nothing of it applies before the earlier update
      if (crash) c.restart(0) // the earlier update is lost with the remover: so is its removal
      c.deliverAll()
      c.heal(); c.deliverAll()
      expect(reasserted).toEqual([])
      for (const s of c.stores) expect(s.size('total'), `crash ${String(crash)} ${s.nodeId}`).toBe(crash ? 1 : 0)
      expect(c.converged()).toBe(true)
    }
  })
})

describe('boundaries and reports', () => {
  it('checks every argument with a typed error and writes nothing a peer would reject', () => {
    const clock = manualClock()
    const s = newStore('a', clock)
    const before = s.encodeState()
    const undef = undefined as unknown as number
    expect(codeOf(() => s.addRemote('u1', 'total', undefined, undef))).toBe('DP_ERR_INVALID_ARGUMENT')
    expect(codeOf(() => s.addRemote('u1', 'total', undefined, clock.now()))).toBe('DP_ERR_INVALID_ARGUMENT') // already past
    expect(codeOf(() => s.addRemote('u1', 'total', undefined, clock.now() - 1))).toBe('DP_ERR_INVALID_ARGUMENT')
    expect(codeOf(() => s.add('c1', 'total', undefined, null as unknown as undefined))).toBe('DP_ERR_INVALID_ARGUMENT')
    expect(codeOf(() => s.add('c1', 'total', undefined, { expiresAt: clock.now() - 5 }))).toBe('DP_ERR_INVALID_ARGUMENT')
    expect(codeOf(() => s.tryAcquire('c1', 'total', null, 3, 7 as unknown as undefined))).toBe('DP_ERR_INVALID_ARGUMENT')
    expect(codeOf(() => s.on('nope' as 'size', () => {}))).toBe('DP_ERR_INVALID_ARGUMENT')
    expect(codeOf(() => s.on('size', 1 as unknown as () => void))).toBe('DP_ERR_INVALID_ARGUMENT')
    expect(codeOf(() => s.onUpdate(null as unknown as () => void))).toBe('DP_ERR_INVALID_ARGUMENT')
    expect(codeOf(() => s.encodeState(new Uint8Array([200, 200, 200])))).toBe('DP_ERR_INVALID_ARGUMENT')
    expect(codeOf(() => s.purgeOwner(7 as unknown as string, 1))).toBe('DP_ERR_INVALID_ARGUMENT')
    expect(codeOf(() => s.purgeOwner('b', -1))).toBe('DP_ERR_INVALID_ARGUMENT')
    expect(s.encodeState()).toEqual(before)
    expect(s.add('c1', 'total', null)).toBe(true) // a null value on a plain profile is no value
    expect(s.recount().ok).toBe(true)
  })

  it('a size listener attached while a count is non-zero hears its drop to zero', () => {
    const s = newStore()
    s.add('c1', 'caller', 'alice')
    const events: StoreEvent[] = []
    s.on('size', e => events.push(e))
    s.remove('c1', 'caller')
    expect(events).toEqual([
      { type: 'size', profile: 'caller', value: null, size: 0 },
      { type: 'size', profile: 'caller', value: 'alice', size: 0 }
    ])
  })

  it('localSize counts memberships, never more than size', () => {
    const c = newCluster(2)
    c.store(0).addRemote('u1', 'caller', 'alice', c.time + 60_000)
    c.deliverAll()
    const a = c.restart(0)
    a.add('u1', 'caller', 'alice') // the same membership, added again by the new incarnation
    expect(a.size('caller', 'alice')).toBe(1)
    expect(a.localSize('caller', 'alice')).toBe(1)
    expect(a.sizeByNode('caller')).toEqual({ n0: 1 })
  })

  it('throws DP_ERR_DESTROYED from every method after destroy(), except destroy and flushWrites', () => {
    const s = newStore()
    s.destroy()
    for (const call of [() => s.expire(), () => s.on('size', () => {}), () => s.onUpdate(() => {}), () => s.profiles(), () => s.owners(), () => s.sweep(), () => s.holds('d', 'total', null), () => s.onOwnChange(() => {}), () => s.expiryFor({ ttlMs: 5 })]) {
      expect(codeOf(call)).toBe('DP_ERR_DESTROYED')
    }
    s.flushWrites()
    s.destroy()
  })
})

/**
 * Node a ran with `clientId: 42` and one call that b saw, then restarted (incarnation 2) with the
 * same clientId option: the restarted store, b, and the collision events the new one emits.
 */
const restartedWithSameClientId = (bOptions: { clientId?: number }): { b: ProfileStore, a2: ProfileStore, moved: StoreEvent[] } => {
  const clock = manualClock()
  const b = new ProfileStore({ nodeId: 'b', profiles: PROFILES, clock: clock.now, incarnation: 1, ...bOptions })
  const a1 = new ProfileStore({ nodeId: 'a', profiles: PROFILES, clock: clock.now, incarnation: 1, clientId: 42 })
  made.push(b, a1)
  a1.add('old', 'total')
  b.applyUpdate(a1.encodeState(), 'a1')
  a1.destroy()
  const a2 = new ProfileStore({ nodeId: 'a', profiles: PROFILES, clock: clock.now, incarnation: 2, clientId: 42 })
  made.push(a2)
  const moved: StoreEvent[] = []
  a2.on('client-id-collision', e => moved.push(e))
  return { b, a2, moved }
}

describe('Yjs client-id collisions', () => {
  it('a node restarted with the same clientId moves to a fresh partition, loudly, and every node counts its calls', () => {
    const { b, a2, moved: moves } = restartedWithSameClientId({ clientId: 500 })
    a2.add('c1', 'total')
    b.applyUpdate(a2.encodeState(), 'a2') // b already holds client 42's clocks from a1: a2's records look like duplicates
    a2.applyUpdate(b.encodeState(), 'b') // a2 hears of client 42's other writes
    expect(moves).toEqual([expect.objectContaining({ type: 'client-id-collision', node: 'a', incarnation: 2, oldClientId: 42 })])
    expect(a2.clientId).not.toBe(42)
    expect(a2.owners().find(o => o.self)?.clientId).toBe(a2.clientId)
    for (let i = 0; i < 3; i++) {
      b.applyUpdate(a2.encodeState(b.stateVector()), 'a2')
      a2.applyUpdate(b.encodeState(a2.stateVector()), 'b')
    }
    b.setOwnerStatus('a', 2, 'live')
    for (const s of [a2, b]) {
      expect(s.members('total').map(m => m.dialog), s.nodeId).toEqual(['c1'])
      expect(s.recount().ok).toBe(true)
    }
    expect(a2.dump()).toEqual(b.dump())
  })
})

describe('Yjs client-id collisions provoked by a peer', () => {
  it('one item under this node\'s client id moves it to a fresh partition before Yjs can switch ids; the others keep counting its calls', () => {
    const c = newCluster(2)
    const a = c.store(0)
    a.add('c1', 'total'); a.add('c2', 'caller', 'alice')
    c.deliverAll()
    const moved: StoreEvent[] = []
    a.on('client-id-collision', e => moved.push(e))
    const old = a.clientId
    const evil = new Y.Doc()
    evil.clientID = old
    evil.transact(tr => { appendRecords(tr, evil.getArray(`dp:x:1:${old}`), -1, [encodeMembership({ kind: 0, dialog: 'x', profile: 'total', value: null, expiresAt: null })]) })
    a.applyUpdate(Y.encodeStateAsUpdate(evil), 'evil') // the same clocks as a's records, in another root
    c.deliverAll()
    expect(moved).toEqual([expect.objectContaining({ type: 'client-id-collision', oldClientId: old, newClientId: a.clientId })])
    expect(a.clientId).not.toBe(old)
    a.add('c3', 'total') // written under the new client id, in the new partition
    c.heal(); c.deliverAll()
    for (const s of c.stores) {
      expect(s.members('total').map(m => m.dialog).sort(), s.nodeId).toEqual(expect.arrayContaining(['c1', 'c3']))
      expect(s.members('caller').map(m => m.dialog), s.nodeId).toEqual(['c2'])
      expect(s.members('total').filter(m => m.node === 'n0').every(m => m.id.startsWith(`${a.clientId}.`))).toBe(true)
      expect(s.recount().ok).toBe(true)
    }
    evil.destroy()
  })
})

describe('what a dead owner leaves behind (ownership protocol)', () => {
  it('keeps only noticed records and their notices, uncounted, until a newer incarnation voids the owner; then a sweep deletes them', () => {
    const c = newCluster(2)
    const [a, b] = c.stores as [ProfileStore, ProfileStore]
    b.add('c1', 'total'); b.add('c2', 'total')
    c.deliverAll()
    c.kill(1)
    expect(a.remove('c1', 'total')).toBe(1)
    expect(a.purgeOwner('n1', b.incarnation)).toBe(1) // c2 only: c1 carries a notice
    expect(a.stats()).toMatchObject({ notices: 1, memberships: 0 })
    expect(a.owners().find(o => o.node === 'n1')?.memberships).toBe(1) // the noticed record, not counted
    expect(a.purgeOwner('n1', b.incarnation)).toBe(0)
    c.restart(1) // a newer incarnation: the old one is void
    a.sweep()
    c.deliverAll()
    expect(a.stats().notices).toBe(0)
    expect(a.owners().find(o => o.node === 'n1' && o.incarnation === b.incarnation)?.memberships ?? 0).toBe(0)
    for (const s of c.stores) expect(s.recount().ok).toBe(true)
    expect(c.converged()).toBe(true)
  })
})

describe('another local writer on the document (the strict-admission roots)', () => {
  it('writing under the store\'s client id never takes the clocks of the store\'s queued records', () => {
    const c = newCluster(2)
    const a = c.store(0)
    a.add('c1', 'total') // queued: its clock is taken from the client's state now
    a.doc.transact(tr => { appendRecords(tr, a.doc.getArray(`dpa:n0:${a.incarnation}:${a.clientId}`), -1, [{ rights: 3 }]) }, 'admission')
    a.add('c2', 'total')
    c.deliverAll()
    for (const s of c.stores) {
      expect(s.members('total').map(m => m.dialog).sort()).toEqual(['c1', 'c2'])
      expect(s.recount().ok).toBe(true)
    }
    expect(a.remove('c1', 'total')).toBe(1)
    c.deliverAll()
    expect(c.store(1).members('total').map(m => m.dialog)).toEqual(['c2'])
    expect(c.converged()).toBe(true)
  })
})

describe('a client-id collision no state exchange reveals', () => {
  it('the owner whose records keep being purged moves to a fresh client id, and the others count its calls', () => {
    const { b, a2, moved } = restartedWithSameClientId({})
    a2.add('new', 'total') // as many clocks as the first run wrote: the state vectors look equal
    b.setOwnerStatus('a', 2, 'live') // a:1 is void at b; a2's records land in a:1's partition there
    const exchange = (): void => {
      b.applyUpdate(a2.encodeState(b.stateVector()), 'a2')
      a2.applyUpdate(b.encodeState(a2.stateVector()), 'b')
    }
    for (let i = 0; i < 8 && moved.length === 0; i++) { exchange(); b.purgeOwner('a', 1) }
    exchange(); exchange()
    expect(moved).toEqual([expect.objectContaining({ type: 'client-id-collision', oldClientId: 42 })])
    for (const s of [a2, b]) {
      expect(s.members('total').map(m => m.dialog), s.nodeId).toEqual(['new'])
      expect(s.recount().ok).toBe(true)
    }
  })
})

describe('a partition claiming a future incarnation', () => {
  it('is refused whole, so it cannot void the node it names, and a plausible newer one still can', () => {
    const now = 1_000_000
    const clock = (): number => now
    const v = new ProfileStore({ nodeId: 'v', profiles: [{ name: 'total' }], clock, incarnation: now })
    const b = new ProfileStore({ nodeId: 'b', profiles: [{ name: 'total' }], clock, incarnation: now })
    v.add('call-1', 'total')
    b.applyUpdate(v.encodeState(), 'v')
    const forger = new ProfileStore({ nodeId: 'v', profiles: [{ name: 'total' }], clock, incarnation: 9_999_999_999_999 })
    forger.add('junk', 'total')
    const sv = b.stateVector()
    expect(codeOf(() => b.applyUpdate(forger.encodeState(), 'forger'))).toBe('DP_ERR_BAD_UPDATE')
    expect(b.stateVector()).toEqual(sv)
    expect(b.members('total').map(m => m.dialog)).toEqual(['call-1'])
    expect(b.owners().find(o => o.node === 'v')?.status).toBe('live')
    // the same in a batch (the transport's path): nothing of the batch is applied
    const other = new ProfileStore({ nodeId: 'w', profiles: [{ name: 'total' }], clock, incarnation: now })
    other.add('call-w', 'total')
    expect(codeOf(() => b.applyUpdates([other.encodeState(), forger.encodeState()], 'relay'))).toBe('DP_ERR_BAD_UPDATE')
    expect(b.stateVector()).toEqual(sv)
    other.destroy()
    // within the bound (a restart on a clock slightly ahead) the newer incarnation wins as before
    const restarted = new ProfileStore({ nodeId: 'v', profiles: [{ name: 'total' }], clock, incarnation: now + 59_000 })
    restarted.add('call-2', 'total')
    b.applyUpdate(restarted.encodeState(), 'v')
    expect(b.members('total').map(m => m.dialog)).toEqual(['call-2'])
    for (const s of [v, b, forger, restarted]) s.destroy()
  })
})

describe('a release that arrives before the call\'s record (pendingReleaseMs)', () => {
  /** 3 replicas; n2 is cut off, so the only way n0's writes reach n1 is the cluster's queue. */
  const cluster = (storeOptions: { pendingReleaseMs?: number, maxPendingReleases?: number } = {}, admission?: object): InMemoryCluster => {
    const c = new InMemoryCluster({ nodes: 3, profiles: PROFILES, seed: 21, storeOptions, ...(admission !== undefined ? { admission } : {}) })
    made.push(c)
    return c
  }

  it('remembers a release that found nothing; the record arriving within the window is released everywhere', () => {
    const c = cluster()
    const [a, b] = c.stores as [ProfileStore, ProfileStore]
    const events: StoreEvent[] = []
    b.on('late-release', e => events.push(e))
    a.add('x', 'total')
    a.add('x', 'caller', 'alice')
    // the BYE reaches n1 first: it answers 0 (what it knew then) and frees nothing yet
    expect(b.removeDialog('x')).toBe(0)
    expect(b.stats().pendingReleases).toBe(1)
    expect(a.size('total')).toBe(1)
    c.advance(4999)
    c.deliverAll()
    for (const s of c.stores) {
      expect(s.size('total')).toBe(0)
      expect(s.size('caller', 'alice')).toBe(0)
      expect(s.has('x', 'total')).toBe(false)
      expect(s.recount().mismatches).toEqual([])
    }
    expect(a.holds('x', 'total', null)).toBe(false) // the owner read the notice and let go
    expect(events).toEqual([{ type: 'late-release', dialog: 'x', ids: expect.arrayContaining([expect.stringMatching(/^\d+\.\d+$/)]) as unknown }])
    expect((events[0] as { ids: readonly string[] }).ids).toHaveLength(2)
    expect(b.stats().pendingReleasesApplied).toBe(2)
    expect(c.converged()).toBe(true)
    // idempotent: releasing again anywhere removes nothing, and nothing goes below zero
    expect(b.removeDialog('x')).toBe(0)
    expect(a.removeDialog('x')).toBe(0)
    c.deliverAll()
    for (const s of c.stores) expect(s.size('total')).toBe(0)
  })

  it('a record that starts counting when its profile is declared later is released by a remembered release of its dialog', () => {
    const c = new InMemoryCluster({ nodes: 2, profiles: [{ name: 'total' }], seed: 5 })
    made.push(c)
    const [a, b] = c.stores as [ProfileStore, ProfileStore]
    a.declare({ name: 'caller', withValue: true })
    a.add('x', 'caller', 'alice')
    a.add('y', 'caller', 'bob')
    c.deliverAll() // b holds both records back: it has not declared caller
    expect(b.removeDialog('x')).toBe(0) // found nothing counted: remembered
    expect(b.stats().pendingReleases).toBe(1)
    c.advance(1000)
    b.declare({ name: 'caller', withValue: true })
    expect(b.size('caller', 'alice')).toBe(0)
    expect(b.size('caller', 'bob')).toBe(1) // only the released dialog
    expect(b.stats().pendingReleasesApplied).toBe(1)
    c.deliverAll()
    expect(a.size('caller', 'alice')).toBe(0) // the owner read the notice and let go
    expect(a.holds('x', 'caller', 'alice')).toBe(false)
    expect(a.size('caller', 'bob')).toBe(1)
    expect(c.converged()).toBe(true)
  })

  it('forgets the release once the window has passed: the call counts until released again, and the second release answers 1', () => {
    const c = cluster({ pendingReleaseMs: 2000 })
    const [a, b] = c.stores as [ProfileStore, ProfileStore]
    a.add('x', 'total')
    expect(b.removeDialog('x')).toBe(0)
    c.advance(2000)
    c.deliverAll()
    for (const s of c.stores) expect(s.size('total')).toBe(1)
    expect(b.stats().pendingReleasesApplied).toBe(0)
    expect(b.stats().pendingReleases).toBe(0)
    expect(b.removeDialog('x')).toBe(1)
    c.deliverAll()
    for (const s of c.stores) expect(s.size('total')).toBe(0)
  })

  it('a release that removed what it saw is not remembered: a concurrent add of the dialog arriving later wins', () => {
    const c = cluster()
    const [a, b, d] = c.stores as [ProfileStore, ProfileStore, ProfileStore]
    a.add('x', 'total')
    d.add('x', 'total') // the INVITE retransmitted to another node before it saw n0's add
    c.partition([[0, 1], [2]])
    c.deliverAll()
    expect(b.removeDialog('x')).toBe(1)
    expect(b.stats().pendingReleases).toBe(0)
    c.heal()
    c.deliverAll()
    for (const s of c.stores) expect(s.sizeByNode('total')).toEqual({ n2: 1 })
    expect(b.removeDialog('x')).toBe(1) // released again, it goes
    c.deliverAll()
    for (const s of c.stores) expect(s.size('total')).toBe(0)
  })

  it('releases only what the release selected: one profile, one value, remote memberships', () => {
    const c = cluster()
    const [a, b] = c.stores as [ProfileStore, ProfileStore]
    a.add('x', 'total')
    a.add('x', 'caller', 'alice')
    a.add('y', 'caller', 'bob')
    a.add('y', 'trunk', 't1')
    a.addRemote('u', 'total', null, c.time + 60_000)
    a.add('u', 'caller', 'alice')
    expect(b.remove('x', 'caller', 'alice')).toBe(0)
    expect(b.remove('y', 'caller')).toBe(0) // every value
    expect(b.removeRemote('u', 'total')).toBe(0)
    expect(b.removeRemote('u', 'caller')).toBe(0) // u is no remote membership of caller
    c.deliverAll()
    for (const s of c.stores) {
      expect(s.has('x', 'total')).toBe(true)
      expect(s.has('x', 'caller')).toBe(false)
      expect(s.has('y', 'caller')).toBe(false)
      expect(s.has('y', 'trunk')).toBe(true)
      expect(s.has('u', 'total')).toBe(false)
      expect(s.has('u', 'caller', 'alice')).toBe(true)
    }
  })

  it('holds at most maxPendingReleases, dropping the oldest (counted)', () => {
    const c = cluster({ maxPendingReleases: 2 })
    const [a, b] = c.stores as [ProfileStore, ProfileStore]
    for (const d of ['d1', 'd2', 'd3']) a.add(d, 'total')
    for (const d of ['d1', 'd2', 'd3']) expect(b.removeDialog(d)).toBe(0)
    expect(b.removeDialog('d3')).toBe(0) // the same release again takes no second place
    expect(b.stats()).toMatchObject({ pendingReleases: 2, pendingReleasesDropped: 1 })
    c.deliverAll()
    for (const s of c.stores) {
      expect(s.has('d1', 'total')).toBe(true)
      expect(s.size('total')).toBe(1)
    }
  })

  it('keeps the newest maxPendingReleases over many releases, in time and in number', () => {
    const c = cluster({ maxPendingReleases: 100, pendingReleaseMs: 3000 })
    const [a, b] = c.stores as [ProfileStore, ProfileStore]
    for (let i = 0; i < 3000; i++) {
      a.add(`d${i}`, 'total')
      expect(b.removeDialog(`d${i}`)).toBe(0)
      if (i === 1499) c.advance(1000)
      if (i % 7 === 0) b.add(`d${i}`, 'caller', 'bob') // forgets d${i}
    }
    const forgotten = (i: number): boolean => i % 7 === 0
    const kept = Array.from({ length: 3000 }, (_, i) => i).filter(i => !forgotten(i)).slice(-100)
    expect(b.stats()).toMatchObject({ pendingReleases: 100 })
    expect(b.stats().pendingReleasesDropped).toBe(3000 - Math.ceil(3000 / 7) - 100)
    c.advance(1999) // the releases before the step are 2999 ms old, the others 1999
    c.deliverAll()
    for (let i = 0; i < 3000; i++) expect(b.has(`d${i}`, 'total'), `d${i}`).toBe(!kept.includes(i))
    c.advance(1)
    expect(b.removeDialog('late')).toBe(0)
    // the 100 stay for their window, whatever they released: the newest takes the oldest's place
    expect(b.stats()).toMatchObject({ pendingReleases: 100, pendingReleasesDropped: 3000 - Math.ceil(3000 / 7) - 100 + 1 })
    c.advance(1000)
    expect(b.removeDialog('later')).toBe(0)
    expect(b.stats().pendingReleases).toBe(2) // the 100 are 3000 ms old: gone
  })

  it('is off with pendingReleaseMs 0, forgotten by a local add of the dialog, and lost on restart', () => {
    const off = cluster({ pendingReleaseMs: 0 })
    off.store(0).add('x', 'total')
    expect(off.store(1).removeDialog('x')).toBe(0)
    expect(off.store(1).stats().pendingReleases).toBe(0)
    off.deliverAll()
    expect(off.store(1).size('total')).toBe(1)

    const c = cluster()
    c.store(0).add('x', 'total')
    expect(c.store(1).removeDialog('x')).toBe(0)
    c.store(1).add('x', 'caller', 'bob') // this node's own add of the dialog is the newer intent
    expect(c.store(1).stats().pendingReleases).toBe(0)
    c.deliverAll()
    expect(c.store(1).size('total')).toBe(1)

    c.store(0).add('y', 'total')
    c.flushWrites()
    expect(c.store(1).removeDialog('y')).toBe(0)
    c.partition([[0], [1, 2]]) // n0's record waits for the restart's state exchange
    const restarted = c.restart(1)
    expect(restarted.stats().pendingReleases).toBe(0)
    c.heal()
    c.deliverAll()
    expect(restarted.has('y', 'total')).toBe(true)
  })

  it('rejects a bad window or bound with DP_ERR_INVALID_ARGUMENT', () => {
    expect(codeOf(() => new ProfileStore({ nodeId: 'a', pendingReleaseMs: -1 }))).toBe('DP_ERR_INVALID_ARGUMENT')
    expect(codeOf(() => new ProfileStore({ nodeId: 'a', maxPendingReleases: 1.5 }))).toBe('DP_ERR_INVALID_ARGUMENT')
  })

  it('strict mode: the owner frees the right of a call released early elsewhere', () => {
    const profiles = [{ name: 'trunk', withValue: true, admission: 'strict' as const }]
    const c = new InMemoryCluster({ nodes: 2, profiles, seed: 5, admission: {} })
    made.push(c)
    c.deliverAll()
    const T1 = [{ profile: 'trunk', value: 'T1', limit: 4 }]
    expect(c.admission(0).acquire('x', T1).admitted).toBe(true)
    expect(c.admission(1).release('x')).toBe(0)
    c.deliverAll()
    for (const s of c.stores) expect(s.size('trunk', 'T1')).toBe(0)
    expect(c.store(0).holds('x', 'trunk', 'T1')).toBe(false)
    expect(c.admission(0).release('x')).toBe(0)
    // every right is free again: the two nodes admit 4 calls between them, and not a 5th
    let admitted = 0
    for (let round = 0; round < 10; round++) {
      for (const i of [0, 1]) if (c.admission(i).acquire(`y${round}-${i}`, T1).admitted) admitted++
      c.deliverAll()
    }
    expect(admitted).toBe(4)
    for (const s of c.stores) expect(s.size('trunk', 'T1')).toBe(4)
  })
})
