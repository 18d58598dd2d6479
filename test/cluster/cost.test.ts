/**
 * No cheap message may stall a node, over real sockets with a
 * hand-driven client: a frame of many sync step 1 messages makes the node produce its state at
 * most about twice, and before authentication only handshake-sized input is read.
 */
import * as Y from 'yjs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ClusterNode } from '../../src/index.js'
import { CloseCode } from '../../src/transport/peer.js'
import { SYNC_STEP1, SYNC_UPDATE, encodeSync } from '../../src/transport/wire.js'
import { stateBytesWhenQuiet, closedWithin, rawClient, sendPartialFrame } from './raw-client.js'
import { SECRET, nodeFactory, waitFor, stillServing } from './support.js'

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
})
