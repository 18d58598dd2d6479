/**
 * Per-node keys and document updates: a trusted peer holding the secret and its own key (m)
 * tries to write into another node's partitions, directly, as a relay and in a state answer;
 * honest traffic still converges across a partial mesh and to a late joiner.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as Y from 'yjs'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import type { ClusterNode } from '../../src/cluster-node.js'
import { appendRecords } from '../../src/internal/partition-doc.js'
import { KIND_DIALOG, encodeMembership, partitionName } from '../../src/internal/records.js'
import type { PartitionName } from '../../src/internal/records.js'
import { signHeartbeat, signUpdates } from '../../src/transport/auth.js'
import { CloseCode } from '../../src/transport/peer.js'
import { SIGNED_STATE_END, SYNC_STEP1, SYNC_STEP2, SYNC_UPDATE, encodeHeartbeat, encodeSignature, encodeSignedUpdates, encodeSync } from '../../src/transport/wire.js'
import { privateKeyOf, withKeys } from './keys.js'
import { closedWithin, rawClient } from './raw-client.js'
import type { RawClient } from './raw-client.js'
import { SECRET, nodeFactory, sleep, stillServing, waitFor } from './support.js'

const nodes = nodeFactory()
afterEach(async () => { await nodes.closeAll() })
const dirs: string[] = []
const tempDir = (): string => { const d = mkdtempSync(join(tmpdir(), 'dp-signed-')); dirs.push(d); return d }
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }) })

const SLOW = { livenessTimeoutMs: 60_000, graceMs: 1000 }

/**
 * An update that appends a `total` membership `dialog` to partition `p`, written as Yjs client
 * `p.clientId` on top of `state` (chained after that client's last item when it has one).
 */
const forge = (state: Uint8Array, p: PartitionName, dialog: string): Uint8Array => {
  const doc = new Y.Doc()
  Y.applyUpdate(doc, state)
  doc.clientID = p.clientId
  const before = Y.encodeStateVector(doc)
  const last = Y.getState(doc.store, p.clientId) - 1
  doc.transact((tr) => { appendRecords(tr, doc.getArray(partitionName(p)), last, [encodeMembership({ kind: KIND_DIALOG, dialog, profile: 'total', value: null, expiresAt: null })]) })
  return Y.encodeStateAsUpdate(doc, before)
}

/** `updates` as a message claiming `signer`, signed with m's key. */
const signedByM = (signer: string, updates: Uint8Array[], flags = 0): Uint8Array =>
  encodeSignedUpdates({ flags, signer, updates, signature: signUpdates(privateKeyOf('m'), signer, flags, updates) })

/** Connects as the trusted node m and proves m's key with a signed heartbeat. */
const hostileM = async (url: string): Promise<RawClient> => {
  const m = await rawClient(url, SECRET, 'm')
  const hb = { nodeId: 'm', incarnation: 1, clientId: 12345, seq: 1 }
  m.send(Buffer.concat([encodeHeartbeat(hb), encodeSignature(signHeartbeat(privateKeyOf('m'), hb))]))
  return m
}

/** b's own partition as a node sees it. */
const partitionOf = (n: ClusterNode): PartitionName => ({ node: n.store.nodeId, incarnation: n.store.incarnation, clientId: n.store.clientId })

describe('per-node keys: a node writes only into its own partitions', () => {
  it('a record forged into a live node\'s partition counts nowhere, sent plain, signed by the forger, or under the victim\'s name', async () => {
    const a = await nodes.start('a', [], { ...SLOW, ...withKeys('a') })
    const b = await nodes.start('b', [a.url()!], { ...SLOW, ...withKeys('b') })
    await b.ready
    b.store.add('b-call', 'total')
    await waitFor(() => a.store.size('total') === 1, 'a counts b')
    const forged = forge(a.store.encodeState(), partitionOf(b), 'forged')
    const attempts = [
      encodeSync(SYNC_UPDATE, forged),
      signedByM('m', [forged]),
      signedByM('b', [forged])
    ]
    for (const frame of attempts) {
      const m = await hostileM(a.url()!)
      m.send(frame)
      expect(await closedWithin(m, 5000)).toBe(CloseCode.protocol)
    }
    // Structs of a client whose partition a has never seen cannot be attributed: skipped, not applied.
    const m = await hostileM(a.url()!)
    const own = { node: 'm', incarnation: 1, clientId: 4242 }
    // The second record of m's client 4242 alone: chained to its first item, which a never got.
    m.send(signedByM('m', [forge(forge(new Uint8Array([0, 0]), own, 'o1'), own, 'o2')]))
    await sleep(100)
    expect(m.isClosed()).toBe(false)
    expect(a.store.has('o2', 'total')).toBe(false)
    expect(a.lines.some((l) => l.includes('whose partition is not known yet'))).toBe(true)
    for (const n of [a, b]) {
      expect(n.store.has('forged', 'total')).toBe(false)
      expect(n.store.size('total')).toBe(1)
    }
    expect(a.cluster().document.invalidRecords).toBeGreaterThanOrEqual(2)
    expect(a.lines.some((l) => l.includes('refused updates signed by m, received from m'))).toBe(true)
    await stillServing(b, a)
  })

  it('a partition forged for a live node\'s next incarnation (within the skew bound) voids nothing anywhere', async () => {
    const a = await nodes.start('a', [], { ...SLOW, ...withKeys('a') })
    const b = await nodes.start('b', [a.url()!], { ...SLOW, ...withKeys('b') })
    const c = await nodes.start('c', [a.url()!, b.url()!], { ...SLOW, ...withKeys('c') })
    await c.ready
    b.store.add('b-call', 'total')
    await waitFor(() => a.store.size('total') === 1 && c.store.size('total') === 1, 'a and c count b')
    const next = { node: 'b', incarnation: b.store.incarnation + 1, clientId: 777_777 }
    for (const frame of [encodeSync(SYNC_UPDATE, forge(new Uint8Array([0, 0]), next, 'next')), signedByM('m', [forge(new Uint8Array([0, 0]), next, 'next')])]) {
      const m = await hostileM(a.url()!)
      m.send(frame)
      expect(await closedWithin(m, 5000)).toBe(CloseCode.protocol)
    }
    await sleep(200)
    for (const n of [a, b, c]) {
      expect(n.store.size('total')).toBe(1)
      expect(n.store.owners().some((o) => o.node === 'b' && o.incarnation === next.incarnation)).toBe(false)
    }
    expect(a.cluster().peers.find((p) => p.node === 'b')?.incarnation).toBe(b.store.incarnation)
  })

  it('a connection claiming a node\'s next incarnation, never signing for it, voids nothing even while it sends data', async () => {
    // Line a - c - b: a reaches b only through c, so a second connection claiming b is not refused as a duplicate.
    const a = await nodes.start('a', [], { ...SLOW, ...withKeys('a'), authTimeoutMs: 1500 })
    const c = await nodes.start('c', [a.url()!], { ...SLOW, ...withKeys('c') })
    const b = await nodes.start('b', [c.url()!], { ...SLOW, ...withKeys('b') })
    await b.ready
    b.store.add('b-call', 'total')
    await waitFor(() => a.store.size('total') === 1, 'a counts b through c')
    const impostor = await rawClient(a.url()!, SECRET, 'b', b.store.incarnation + 1)
    // State requests and digests keep the connection busy: it is never signed for.
    for (let i = 0; i < 10 && !impostor.isClosed(); i++) {
      impostor.send(encodeSync(SYNC_STEP1, new Uint8Array([0])))
      await sleep(100)
    }
    expect(await closedWithin(impostor, 5000)).toBe(CloseCode.authFailed)
    expect(a.store.size('total')).toBe(1)
    expect(a.cluster().peers.find((p) => p.node === 'b')?.incarnation).toBe(b.store.incarnation)
  })

  it('a forgery sent to a relay or in a state answer to a late joiner is refused there, and nothing of it travels on', async () => {
    // Line a - b; m talks to b only.
    const a = await nodes.start('a', [], { ...SLOW, ...withKeys('a') })
    const b = await nodes.start('b', [a.url()!], { ...SLOW, ...withKeys('b') })
    await b.ready
    a.store.add('a-call', 'total')
    await waitFor(() => b.store.size('total') === 1, 'b counts a')
    const m = await hostileM(b.url()!)
    // m's own membership, signed by m, is honest traffic: b applies it and relays it to a.
    const own = forge(new Uint8Array([0, 0]), { node: 'm', incarnation: 1, clientId: 12345 }, 'm-call')
    m.send(signedByM('m', [own]))
    await waitFor(() => a.store.has('m-call', 'total'), 'a gets m\'s own membership relayed by b')
    // Then a record in a's partition, "relayed" under a's name with m's signature, and signed as m.
    const forged = forge(b.store.encodeState(), partitionOf(a), 'forged')
    m.send(signedByM('a', [forged]))
    expect(await closedWithin(m, 5000)).toBe(CloseCode.protocol)
    const m2 = await hostileM(b.url()!)
    m2.send(signedByM('m', [forged]))
    expect(await closedWithin(m2, 5000)).toBe(CloseCode.protocol)

    // A late joiner d, synced with b, then answered by m with a forged state (signed by m, and plain).
    const d = await nodes.start('d', [b.url()!], { ...SLOW, ...withKeys('d') })
    await d.ready
    for (const answer of [signedByM('m', [forged], SIGNED_STATE_END), encodeSync(SYNC_STEP2, forged)]) {
      const m3 = await hostileM(d.url()!)
      await waitFor(() => m3.received.some((x) => x.type === 'sync-step1'), 'd asks m for its state')
      m3.send(answer)
      expect(await closedWithin(m3, 5000)).toBe(CloseCode.protocol)
    }
    await waitFor(() => d.store.has('a-call', 'total') && d.store.has('m-call', 'total'), 'd gets a\'s and m\'s memberships through b')
    await sleep(100)
    for (const n of [a, b, d]) expect(n.store.has('forged', 'total')).toBe(false)
    expect(d.cluster().document.invalidRecords).toBeGreaterThanOrEqual(1)
  })
})

describe('per-node keys: honest traffic converges', () => {
  it('across a line a - b - c, after a link is lost, and to a late joiner that reaches only the middle node', async () => {
    const a = await nodes.start('a', [], { ...SLOW, ...withKeys('a') })
    const b = await nodes.start('b', [a.url()!], { ...SLOW, ...withKeys('b') })
    const c = await nodes.start('c', [b.url()!], { ...SLOW, ...withKeys('c') })
    await c.ready
    for (let i = 0; i < 50; i++) { a.store.add(`a-${i}`, 'total'); c.store.add(`c-${i}`, 'caller', `v${i % 5}`) }
    for (let i = 0; i < 10; i++) { a.store.remove(`a-${i}`, 'total'); c.store.removeDialog(`c-${i}`) }
    const converged = (n: ClusterNode, total: number, callers: number): boolean => n.store.size('total') === total && n.store.size('caller') === callers
    for (const n of [a, b, c]) await waitFor(() => converged(n, 40, 40), `${n.store.nodeId} converges`)
    // c loses its only link; a writes meanwhile; c gets it back through b's retained signed updates.
    c.reconnect()
    for (let i = 50; i < 80; i++) a.store.add(`a-${i}`, 'total')
    b.store.add('b-call', 'total')
    for (const n of [a, b, c]) await waitFor(() => converged(n, 71, 40), `${n.store.nodeId} converges after the reconnect`)
    // A late joiner that dials only b gets every live writer's memberships from b.
    const d = await nodes.start('d', [b.url()!], { ...SLOW, ...withKeys('d') })
    await d.ready
    await waitFor(() => converged(d, 71, 40), 'd gets a\'s, b\'s and c\'s memberships from b')
    d.store.add('d-call', 'total')
    for (const n of [a, b, c]) await waitFor(() => n.store.has('d-call', 'total'), `${n.store.nodeId} gets d's membership`)
    for (const n of [a, b, c, d]) expect(n.store.recount().ok).toBe(true)
    expect(a.cluster().document.invalidRecords + b.cluster().document.invalidRecords + c.cluster().document.invalidRecords).toBe(0)
  })

  it('a relay keeps a bounded log of another writer\'s signed updates under churn, and a joiner still gets that writer\'s live state from it', async () => {
    const a = await nodes.start('a', [], { ...SLOW, ...withKeys('a') })
    const b = await nodes.start('b', [a.url()!], { ...SLOW, ...withKeys('b') })
    await b.ready
    // 4,000 calls of 60-character ids made and ended on a, 40 live at a time: far more signed
    // bytes than a's live state.
    const id = (i: number): string => `churn-${String(i).padStart(54, '0')}`
    for (let i = 0; i < 4000; i++) {
      a.store.add(id(i), 'total')
      if (i >= 40) a.store.remove(id(i - 40), 'total')
      if (i % 50 === 49) { a.store.flushWrites(); await sleep(1) }
    }
    await waitFor(() => b.store.size('total') === 40 && b.store.has(id(3999), 'total'), 'b follows a')
    const signed = a.traffic().updateBytesOut
    const retained = b.cluster().document.retainedBytes
    expect(signed).toBeGreaterThan(250_000)
    expect(retained).toBeGreaterThan(0)
    expect(retained).toBeLessThan(signed / 2)
    const d = await nodes.start('d', [b.url()!], { ...SLOW, ...withKeys('d') })
    await d.ready
    await waitFor(() => d.store.size('total') === 40 && d.store.has(id(3999), 'total') && !d.store.has(id(0), 'total'), 'd gets a\'s live calls from b')
    expect(d.store.recount().ok).toBe(true)
  })

  it('after a whole keyed cluster restarts from its data directories, a joiner reaching only the middle node gets every writer\'s remote memberships', async () => {
    const dirs = { a: tempDir(), b: tempDir(), c: tempDir() }
    const line = async (): Promise<ClusterNode[]> => {
      const a = await nodes.start('a', [], { ...SLOW, ...withKeys('a'), dataDir: dirs.a })
      const b = await nodes.start('b', [a.url()!], { ...SLOW, ...withKeys('b'), dataDir: dirs.b })
      const c = await nodes.start('c', [b.url()!], { ...SLOW, ...withKeys('c'), dataDir: dirs.c })
      await c.ready
      return [a, b, c]
    }
    const [a, , c] = await line()
    a!.store.addRemote('remote-a', 'total', null, Date.now() + 600_000)
    c!.store.addRemote('remote-c', 'total', null, Date.now() + 600_000)
    await waitFor(() => a!.store.size('total') === 2 && c!.store.size('total') === 2, 'a and c hold both remote memberships')
    await nodes.closeAll()
    const [a2, b2, c2] = await line()
    // Nothing was written since the restart: b holds a's and c's memberships only from its data directory.
    const d = await nodes.start('d', [b2!.url()!], { ...SLOW, ...withKeys('d') })
    await d.ready
    await waitFor(() => d.store.size('total') === 2, 'd gets a\'s and c\'s remote memberships through b')
    // b alone restarts from its data directory; a writes on; a joiner through b gets all of it.
    await d.close()
    await b2!.close()
    // (on a new port: it dials a and c)
    const b3 = await nodes.start('b', [a2!.url()!, c2!.url()!], { ...SLOW, ...withKeys('b'), dataDir: dirs.b })
    await b3.ready
    a2!.store.addRemote('remote-a2', 'total', null, Date.now() + 600_000)
    const e = await nodes.start('e', [b3.url()!], { ...SLOW, ...withKeys('e') })
    await e.ready
    await waitFor(() => e.store.size('total') === 3, 'e gets every remote membership through the restarted b')
  })
})
