import * as fc from 'fast-check'
import { fcParams } from '../support/fc.js'
import * as Y from 'yjs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ClusterNode } from '../../src/index.js'
import { CloseCode } from '../../src/transport/peer.js'
import { MSG_SYNC, SYNC_UPDATE, encodeHeartbeat, encodeSync } from '../../src/transport/wire.js'
import { closedWithin, rawClient } from './raw-client.js'
import { SECRET, nodeFactory, waitFor } from './support.js'

const nodes = nodeFactory()
let a: ClusterNode & { lines: string[] }
let b: ClusterNode & { lines: string[] }
let probe = 0

beforeAll(async () => {
  a = await nodes.start('a', [], { maxMessageBytes: 64 * 1024, maxMessagesPerSecond: 200, authTimeoutMs: 300, livenessTimeoutMs: 60_000 })
  b = await nodes.start('b', [a.url()!], { livenessTimeoutMs: 60_000 })
  await b.ready
  a.store.add('before', 'total')
  await waitFor(() => b.store.size('total') === 1, 'b in sync')
})
afterAll(async () => { await nodes.closeAll() })

/** The node still serves its real peer: a new membership on b reaches a and back. */
const stillServing = async (): Promise<void> => {
  const id = `probe-${probe++}`
  b.store.add(id, 'total')
  await waitFor(() => a.store.has(id, 'total'), `a still serves b (${id})`)
}

const stateOf = (n: ClusterNode): string => Buffer.from(Y.encodeStateVector(n.store.doc)).toString('hex')

describe('hostile input against a live node', () => {
  it('random frames before authentication close that connection and change nothing', async () => {
    const before = stateOf(a)
    await fc.assert(fc.asyncProperty(fc.uint8Array({ minLength: 0, maxLength: 300 }), async (bytes) => {
      const c = await rawClient(a.url()!, null)
      c.send(bytes)
      const code = await closedWithin(c, 1000)
      c.ws.terminate()
      // Anything but a (partial) hello is refused; a lucky partial hello waits for the auth timeout.
      expect(code === null || code >= 1000).toBe(true)
    }), fcParams(40))
    expect(stateOf(a)).toBe(before)
    await stillServing()
  })

  it('random and mutated frames after authentication never break the node', async () => {
    const update = Y.encodeStateAsUpdate(a.store.doc)
    const valid = encodeSync(SYNC_UPDATE, update)
    const mutated = fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 1, max: 255 }), fc.nat(valid.length)).map(([at, xor, cut]) => {
      const m = Uint8Array.from(valid)
      m[at] = m[at]! ^ xor
      return m.subarray(0, Math.max(1, cut))
    })
    const frames = fc.oneof(
      fc.uint8Array({ minLength: 1, maxLength: 200 }),
      mutated,
      fc.uint8Array({ minLength: 0, maxLength: 64 }).map((tail) => Uint8Array.from([MSG_SYNC, SYNC_UPDATE, ...tail]))
    )
    await fc.assert(fc.asyncProperty(frames, async (frame) => {
      const c = await rawClient(a.url()!, SECRET)
      c.send(frame)
      await closedWithin(c, 200)
      c.ws.terminate()
    }), fcParams(60))
    expect(a.store.recount().ok).toBe(true)
    await stillServing()
  })

  it('a malformed update closes with a protocol error, logged, and the document is unchanged', async () => {
    const c = await rawClient(a.url()!, SECRET)
    const before = stateOf(a)
    c.send(encodeSync(SYNC_UPDATE, Uint8Array.from([1, 2, 3, 200, 200, 200])))
    expect(await closedWithin(c, 5000)).toBe(CloseCode.protocol)
    expect(stateOf(a)).toBe(before)
    expect(a.lines.some((l) => l.includes('malformed update'))).toBe(true)
    await stillServing()
  })

  it('an oversize message, a flood and a silent connection are each closed', async () => {
    const big = await rawClient(a.url()!, SECRET)
    big.send(new Uint8Array(128 * 1024))
    expect(await closedWithin(big, 5000)).toBe(1009)

    const flood = await rawClient(a.url()!, SECRET)
    const hb = encodeHeartbeat({ nodeId: 'fuzz', incarnation: 1, clientId: 12345, seq: 1 })
    for (let i = 0; i < 1000 && !flood.isClosed(); i++) flood.send(hb)
    expect(await closedWithin(flood, 5000)).toBe(CloseCode.rateLimit)

    const silent = await rawClient(a.url()!, null)
    expect(await closedWithin(silent, 5000)).toBe(CloseCode.authTimeout)

    const wrong = await rawClient(a.url()!, null)
    const err = await rawClient(a.url()!, 'not-the-secret').then(() => null, (e: unknown) => e)
    expect(err).toBeInstanceOf(Error)
    wrong.ws.terminate()
    await stillServing()
  })
})
