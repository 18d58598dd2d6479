import { connect } from 'node:net'
import * as fc from 'fast-check'
import { fcParams } from '../support/fc.js'
import * as Y from 'yjs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ClusterNode } from '../../src/index.js'
import { CLOSE_MESSAGE_TOO_BIG, CloseCode } from '../../src/transport/peer.js'
import { MSG_SYNC, SYNC_UPDATE, encodeHeartbeat, encodeSync } from '../../src/transport/wire.js'
import { closedWithin, rawClient } from './raw-client.js'
import { SECRET, nodeFactory, waitFor, stillServing } from './support.js'

const nodes = nodeFactory()
let a: ClusterNode & { lines: string[] }
let b: ClusterNode & { lines: string[] }

beforeAll(async () => {
  a = await nodes.start('a', [], { maxMessageBytes: 64 * 1024, maxMessagesPerSecond: 200, authTimeoutMs: 300, livenessTimeoutMs: 60_000 })
  b = await nodes.start('b', [a.url()!], { livenessTimeoutMs: 60_000 })
  await b.ready
  a.store.add('before', 'total')
  await waitFor(() => b.store.size('total') === 1, 'b in sync')
})
afterAll(async () => { await nodes.closeAll() })

const serving = async (): Promise<void> => { await stillServing(b, a) }

const stateOf = (n: ClusterNode): string => Buffer.from(Y.encodeStateVector(n.store.doc)).toString('hex')

describe('hostile input against a live node', () => {
  it('random frames before authentication close that connection and change nothing', async () => {
    const before = stateOf(a)
    await fc.assert(fc.asyncProperty(fc.uint8Array({ minLength: 0, maxLength: 300 }), async (bytes) => {
      const c = await rawClient(a.url()!, null)
      c.send(bytes)
      const code = await closedWithin(c, 1000)
      c.ws.terminate()
      // Anything but a (partial) hello is refused at once; a lucky partial hello waits for the
      // auth timeout (300 ms here, inside the 1000 ms wait): either way the connection is closed.
      expect([CloseCode.protocol, CloseCode.authTimeout]).toContain(code)
    }), fcParams(40))
    expect(stateOf(a)).toBe(before)
    await serving()
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
    await serving()
  })

  it('a malformed update closes with a protocol error, logged, and the document is unchanged', async () => {
    const c = await rawClient(a.url()!, SECRET)
    const before = stateOf(a)
    c.send(encodeSync(SYNC_UPDATE, Uint8Array.from([1, 2, 3, 200, 200, 200])))
    expect(await closedWithin(c, 5000)).toBe(CloseCode.protocol)
    expect(stateOf(a)).toBe(before)
    expect(a.lines.some((l) => l.includes('malformed update'))).toBe(true)
    await serving()
  })

  it('an oversize message, a flood and a silent connection are each closed', async () => {
    const big = await rawClient(a.url()!, SECRET)
    big.send(new Uint8Array(128 * 1024))
    expect(await closedWithin(big, 5000)).toBe(CLOSE_MESSAGE_TOO_BIG)

    const flood = await rawClient(a.url()!, SECRET)
    const hb = encodeHeartbeat({ nodeId: 'fuzz', incarnation: 1, clientId: 12345, seq: 1 })
    for (let i = 0; i < 1000 && !flood.isClosed(); i++) flood.send(hb)
    expect(await closedWithin(flood, 5000)).toBe(CloseCode.rateLimit)

    const silent = await rawClient(a.url()!, null)
    expect(await closedWithin(silent, 5000)).toBe(CloseCode.authTimeout)

    // A wrong secret: the handshake never completes (the node refuses the proof with authFailed).
    const rejected: number[] = []
    const off = a.on('rejected', (e) => { if (e.kind === 'auth-failed') rejected.push(e.code) })
    const err = await rawClient(a.url()!, 'not-the-secret').then(() => null, (e: unknown) => e)
    expect(err).toBeInstanceOf(Error)
    await waitFor(() => rejected.length > 0, 'the wrong secret is reported')
    expect(rejected).toEqual([CloseCode.authFailed])
    off()
    await serving()
  })

  it('a peer that never answers the close frame has its socket cut, not kept for ws\'s default 30 s', async () => {
    // A bare TCP client: it upgrades to WebSocket, then reads and answers nothing. The node
    // closes it at the auth timeout (300 ms) and destroys the socket once its close frame goes
    // unanswered for CLOSE_TIMEOUT_MS (ws's closeTimeout), far inside this 10 s bound.
    const { port } = a.address()!
    const sock = connect(port, '127.0.0.1')
    sock.on('data', () => {})
    sock.on('error', () => {})
    const ended = new Promise<boolean>((resolve) => {
      sock.once('close', () => { resolve(true) })
      setTimeout(() => { resolve(false) }, 10_000).unref()
    })
    sock.write(`GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n')
    const cut = await ended
    sock.destroy()
    expect(cut).toBe(true)
    await serving()
  })
})

describe('a peer holding the secret speaks only for itself', () => {
  /** b owns one membership that a counts; returns its id. */
  const bOwns = async (id: string): Promise<void> => {
    b.store.add(id, 'total')
    await waitFor(() => a.store.has(id, 'total'), `a counts ${id}`)
  }
  /** a has processed everything the client sent before this (one round trip through b). */
  const settle = async (): Promise<void> => { await serving() }

  it('a relayed heartbeat claiming a newer (or a huge) incarnation of a connected node changes nothing', async () => {
    await bOwns('b-own-1')
    const size = a.store.size('total')
    const bView = (): number | null | undefined => a.cluster().peers.find((p) => p.node === 'b')?.incarnation
    expect(bView()).toBe(b.store.incarnation)
    const c = await rawClient(a.url()!, SECRET, 'liar')
    const forged = [b.store.incarnation + 1, Number.MAX_SAFE_INTEGER].map((incarnation, i) =>
      encodeHeartbeat({ nodeId: 'b', incarnation, clientId: b.store.clientId, seq: 1_000_000 + i }))
    c.send(Buffer.concat(forged))
    await settle()
    expect(a.store.size('total')).toBe(size + 1) // + the probe settle() added
    expect(bView()).toBe(b.store.incarnation)
    expect(a.store.owners().filter((o) => o.node === 'b').every((o) => o.status === 'live')).toBe(true)
    c.ws.terminate()
  })

  it('a second connection claiming a connected node\'s id with another incarnation is refused', async () => {
    await bOwns('b-own-2')
    const size = a.store.size('total')
    const impostor = await rawClient(a.url()!, SECRET, 'b', b.store.incarnation + 1).then((x) => x, (e: unknown) => e)
    const code = impostor instanceof Error ? CloseCode.duplicate : await closedWithin(impostor as Awaited<ReturnType<typeof rawClient>>, 5000)
    expect(code).toBe(CloseCode.duplicate)
    await settle()
    expect(a.store.size('total')).toBe(size + 1) // + the probe settle() added
    expect(a.cluster().peers.find((p) => p.node === 'b')?.incarnation).toBe(b.store.incarnation)
    expect(a.lines.some((l) => l.includes('claimed by two incarnations'))).toBe(true)
  })

  it('a handshake claiming an incarnation beyond the clock skew is refused', async () => {
    const c = await rawClient(a.url()!, SECRET, 'future', Date.now() + 10 * 60_000).then((x) => x, (e: unknown) => e)
    if (!(c instanceof Error)) expect(await closedWithin(c as Awaited<ReturnType<typeof rawClient>>, 5000)).toBe(CloseCode.protocol)
    await settle()
    expect(a.cluster().peers.some((p) => p.node === 'future')).toBe(false)
  })

  it('a heartbeat over its own connection that contradicts its handshake closes that connection', async () => {
    const c = await rawClient(a.url()!, SECRET, 'shifty', 1)
    c.send(encodeHeartbeat({ nodeId: 'shifty', incarnation: 2, clientId: 12345, seq: 1 }))
    expect(await closedWithin(c, 5000)).toBe(CloseCode.protocol)
  })

  it('heartbeats for invented node ids enter neither the liveness table nor cluster()', async () => {
    const before = a.cluster().peers.length
    const dead: string[] = []
    const off = a.on('owner-dead', (e) => { dead.push(e.node) })
    const c = await rawClient(a.url()!, SECRET, 'inventor')
    const fakes = Array.from({ length: 2000 }, (_, i) => encodeHeartbeat({ nodeId: `fake-${i}`, incarnation: 1, clientId: i, seq: 1 }))
    c.send(Buffer.concat(fakes))
    await settle()
    a.checkLiveness()
    const peers = a.cluster().peers
    expect(peers.filter((p) => p.node?.startsWith('fake-') === true)).toEqual([])
    // Only the inventor's own (authenticated) connection was added.
    expect(peers.length).toBeLessThanOrEqual(before + 1)
    expect(dead.filter((n) => n.startsWith('fake-'))).toEqual([])
    off()
    c.ws.terminate()
  })
})
