/**
 * No cheap message may stall a node, over real sockets with a
 * hand-driven client: a frame of many sync step 1 messages makes the node produce its state at
 * most about twice, and before authentication only handshake-sized input is read.
 */
import * as Y from 'yjs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ProfileStore } from '../../src/index.js'
import type { ClusterNode } from '../../src/index.js'
import { CloseCode } from '../../src/transport/peer.js'
import { SYNC_STEP1, SYNC_UPDATE, encodeSync } from '../../src/transport/wire.js'
import { stateBytesWhenQuiet, closedWithin, rawClient, sendPartialFrame } from './raw-client.js'
import { PROFILES, SECRET, nodeFactory, waitFor, stillServing } from './support.js'
import * as encoding from 'lib0/encoding'

const nodes = nodeFactory()
let a: ClusterNode & { lines: string[] }
let b: ClusterNode & { lines: string[] }
const rejected: Array<{ reason: string, code: number }> = []

beforeAll(async () => {
  a = await nodes.start('a', [], { authTimeoutMs: 60_000, livenessTimeoutMs: 60_000 })
  a.on('rejected', (e) => { rejected.push({ reason: e.reason, code: e.code }) })
  for (let i = 0; i < 2000; i++) a.store.add(`call-${i}@example.org`, 'caller', `user-${i % 50}`)
  b = await nodes.start('b', [a.url()!], { livenessTimeoutMs: 60_000 })
  await b.ready
  await waitFor(() => b.store.size('caller') === 2000, 'b in sync')
})
afterAll(async () => { await nodes.closeAll() })

const serving = async (): Promise<void> => { await stillServing(b, a) }

describe('cost of a message', () => {
  it('a frame of 200 sync step 1 messages makes the node send its state at most twice', async () => {
    const state = Y.encodeStateAsUpdate(a.store.doc).length
    const c = await rawClient(a.url()!, SECRET)
    const step1 = encodeSync(SYNC_STEP1, Y.encodeStateVector(new Y.Doc()))
    c.send(Buffer.concat(Array.from({ length: 200 }, () => step1)))
    const got = await stateBytesWhenQuiet(c, state, 500, 20_000)
    c.ws.terminate()
    // Before: 200 full states (23.7 MB for a state of 116 KB).
    expect(got).toBeGreaterThanOrEqual(state)
    expect(got).toBeLessThanOrEqual(2 * state + 16 * 1024)
    await serving()
  })

  it('a peer that sends data but no heartbeats (they wait behind its data) is still heard from', async () => {
    const c = await rawClient(a.url()!, SECRET, 'busy-peer')
    const heard = (): number => a.cluster().peers.find((p) => p.node === 'busy-peer')?.lastHeardAt ?? 0
    await waitFor(() => heard() > 0, 'busy-peer known')
    const first = heard()
    const empty = encodeSync(SYNC_UPDATE, Y.encodeStateAsUpdate(new Y.Doc()))
    for (let i = 0; i < 40 && heard() === first; i++) {
      c.send(empty)
      await new Promise((resolve) => { setTimeout(resolve, 25) })
    }
    expect(heard()).toBeGreaterThan(first)
    c.ws.terminate()
  })

  it('before authentication, a frame larger than a handshake is refused when announced, not buffered', async () => {
    const c = await rawClient(a.url()!, null)
    // Announces 1 MiB, sends 64 KiB and waits: the node must not wait for the rest.
    sendPartialFrame(c, 1024 * 1024, new Uint8Array(64 * 1024))
    expect(await closedWithin(c, 5000)).not.toBeNull()
    await waitFor(() => rejected.some((r) => r.code === CloseCode.tooLarge && /before authentication/.test(r.reason)), 'rejection logged')
    await serving()
  })

  it('before authentication, sixteen connections sending 4 MiB frames are each cut after a few KB', async () => {
    const clients = await Promise.all(Array.from({ length: 16 }, async () => await rawClient(a.url()!, null)))
    const before = rejected.length
    for (const c of clients) c.send(new Uint8Array(4 * 1024 * 1024))
    const codes = await Promise.all(clients.map(async (c) => await closedWithin(c, 5000)))
    expect(codes.every((x) => x !== null)).toBe(true)
    await waitFor(() => rejected.slice(before).filter((r) => r.code === CloseCode.tooLarge).length === 16, 'sixteen rejections')
    await serving()
  })

  it('updates that each skip a clock are kept out of Yjs and applied once, when the gap fills', async () => {
    // 3,000 updates of one struct each, all but the first: every one waits for it. Yjs kept them
    // itself, re-merging all of them on each (180 s of CPU for 856 KB of 20,000 such updates).
    const evil = new ProfileStore({ nodeId: 'fuzz', profiles: [...PROFILES], clientId: 12345, incarnation: 1 })
    const ups: Uint8Array[] = []
    evil.onUpdate((u) => { ups.push(u) })
    for (let i = 0; i < 3000; i++) { evil.add(`gap-${i}`, 'total'); evil.flushWrites() }
    const c = await rawClient(a.url()!, SECRET)
    for (const [i, u] of ups.slice(1).entries()) {
      c.send(encodeSync(SYNC_UPDATE, u))
      if (i % 500 === 499) await new Promise((resolve) => { setTimeout(resolve, 20) })
    }
    const bytes = ups.slice(1).reduce((n, u) => n + u.length, 0)
    await waitFor(() => a.store.stats().unappliedBytes >= bytes, 'every update parked')
    expect(a.store.doc.store.pendingStructs).toBe(null)
    await serving()
    expect(c.isClosed()).toBe(false)
    // Not in the state the node sends (Yjs puts its pending structs into every state answer).
    const fresh = new Y.Doc()
    Y.applyUpdate(fresh, a.store.encodeState())
    expect(Y.getState(fresh.store, 12345)).toBe(0)
    c.send(encodeSync(SYNC_UPDATE, ups[0]!))
    await waitFor(() => Y.getState(a.store.doc.store, 12345) === Y.getState(evil.doc.store, 12345), 'the gap filled')
    expect(a.store.stats()).toMatchObject({ unappliedBytes: 0, unappliedRanges: 0, unappliedDroppedBytes: 0 })
    expect(a.store.recount().ok).toBe(true)
    c.ws.terminate()
    evil.destroy()
    fresh.destroy()
  })

  it('deletions of structs that never come are kept out of Yjs, bounded, then dropped with a warning and a state request to the peers', async () => {
    // Yjs re-applies every pending deletion on every later update, for good, and sends them in
    // every state answer. Here they wait out of Yjs; past 1,000,000 ranges they are dropped.
    const c = await rawClient(a.url()!, SECRET, 'fuzz2', 1)
    const answersBefore = b.traffic().stateAnswers
    const deletes = (from: number, n: number): Uint8Array => {
      const e = encoding.createEncoder()
      encoding.writeVarUint(e, 0) // no structs
      encoding.writeVarUint(e, 1)
      encoding.writeVarUint(e, 777_777) // a client nobody has
      encoding.writeVarUint(e, n)
      for (let i = 0; i < n; i++) { encoding.writeVarUint(e, 2 * (from + i)); encoding.writeVarUint(e, 1) }
      return encoding.toUint8Array(e)
    }
    for (let k = 0; k < 4; k++) c.send(encodeSync(SYNC_UPDATE, deletes(k * 200_000, 200_000)))
    await waitFor(() => a.store.stats().unappliedRanges === 800_000, '800,000 ranges parked')
    expect(a.store.doc.store.pendingDs).toBe(null)
    await serving()
    const fresh = new Y.Doc()
    Y.applyUpdate(fresh, a.store.encodeState())
    expect(fresh.store.pendingDs).toBe(null)
    c.send(encodeSync(SYNC_UPDATE, deletes(800_000, 200_001)))
    await waitFor(() => a.store.stats().unappliedDroppedRanges === 1_000_001, 'dropped past the bound')
    expect(a.store.stats().unappliedRanges).toBe(0)
    expect(a.lines.some((l) => l.includes('delete ranges from peers that waited for structs not here yet'))).toBe(true)
    // At the next heartbeat round the node asks its peers for their state (their answers carry their delete sets).
    await waitFor(() => b.traffic().stateAnswers > answersBefore, 'b answers a state request')
    await serving()
    c.ws.terminate()
    fresh.destroy()
  })

  it('Yjs clients, which the document never forgets, are counted and past 1,000 logged (a writer adding many is a hostile or buggy peer)', async () => {
    const before = a.cluster().document.clients
    expect(before).toBe(a.store.stats().clients)
    const parts: Uint8Array[] = []
    for (let i = 0; i < 1100; i++) {
      const s = new ProfileStore({ nodeId: `many${i}`, profiles: [...PROFILES], clientId: 3_000_000 + i, incarnation: 1 })
      s.add(`many-${i}`, 'total')
      s.flushWrites()
      parts.push(Y.encodeStateAsUpdate(s.doc))
      s.destroy()
    }
    const c = await rawClient(a.url()!, SECRET, 'fuzz3', 1)
    c.send(encodeSync(SYNC_UPDATE, Y.mergeUpdates(parts)))
    await waitFor(() => a.cluster().document.clients >= before + 1100, '1,100 more clients')
    await waitFor(() => a.lines.some((l) => /the document holds \d+ Yjs clients/.test(l)), 'the warning')
    expect(a.lines.filter((l) => /the document holds \d+ Yjs clients/.test(l))).toHaveLength(1)
    await serving()
    c.ws.terminate()
  })
})
