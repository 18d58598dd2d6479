import * as fc from 'fast-check'
import { fcParams } from '../support/fc.js'
import { describe, expect, it } from 'vitest'
import { computeProof, makeNonce, proofMatches } from '../../src/transport/auth.js'
import {
  DIGEST_SYNCING, MSG_DIGEST, MSG_HELLO, MSG_SYNC, PROTOCOL_VERSION, SYNC_UPDATE, WireError,
  decodeFrame, encodeDigest, encodeHeartbeat, encodeHello, encodeProof, encodeSync
} from '../../src/transport/wire.js'

const hello = { version: PROTOCOL_VERSION, nodeId: 'node-a', incarnation: 1_764_000_000_000, clientId: 4_000_000_000, role: 'dialer' as const, nonce: makeNonce() }

describe('wire format', () => {
  it('round-trips every message type, several in one frame', () => {
    const frame = Buffer.concat([
      encodeHello(hello),
      encodeProof(new Uint8Array(32).fill(7)),
      encodeHeartbeat({ nodeId: 'b', incarnation: 2, clientId: 3, seq: 4 }),
      encodeSync(SYNC_UPDATE, Uint8Array.from([1, 2, 3]))
    ])
    const msgs = decodeFrame(frame, 10)
    expect(msgs.map((m) => m.type)).toEqual(['hello', 'proof', 'heartbeat', 'sync-update'])
    expect(msgs[0]).toMatchObject({ hello: { nodeId: 'node-a', incarnation: hello.incarnation, clientId: hello.clientId, role: 'dialer' } })
  })

  it('rejects lengths that run past the frame, even when the buffer behind it is larger', () => {
    // A pooled buffer: the frame is a view into a larger ArrayBuffer full of readable bytes.
    const pool = new Uint8Array(4096).fill(0x41)
    const frame = pool.subarray(0, 4)
    frame.set([MSG_SYNC, SYNC_UPDATE, 0xff, 0x01]) // claims a 255-byte payload, has 0
    expect(() => decodeFrame(frame, 10)).toThrow(WireError)
    // A node id length of 2^40 is refused before anything is allocated.
    expect(() => decodeFrame(Uint8Array.from([MSG_HELLO, 1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20]), 10)).toThrow(/node id length out of range/)
    expect(() => decodeFrame(new Uint8Array(0), 10)).toThrow(/empty frame/)
    expect(() => decodeFrame(Uint8Array.from([77]), 10)).toThrow(/unknown message type 77/)
    expect(() => decodeFrame(Buffer.concat([encodeProof(new Uint8Array(32)), encodeProof(new Uint8Array(32))]), 1)).toThrow(/too many messages/)
  })

  it('any byte string either decodes or throws a WireError, never anything else (property)', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      try { decodeFrame(bytes, 100) } catch (err) { expect(err).toBeInstanceOf(WireError) }
    }), fcParams(2000))
  })
})

describe('handshake proofs', () => {
  const secret = 'a shared secret'
  const a = { nodeId: 'a', incarnation: 1, clientId: 11, nonce: makeNonce() }
  const b = { nodeId: 'b', incarnation: 2, clientId: 22, nonce: makeNonce() }
  it('verify with the right secret, role and hellos only', () => {
    const proof = computeProof(secret, 'dialer', a, b)
    expect(proofMatches(computeProof(secret, 'dialer', a, b), proof)).toBe(true)
    expect(proofMatches(computeProof('another secret', 'dialer', a, b), proof)).toBe(false)
    // Reflection: a listener's proof is never a dialer's.
    expect(proofMatches(computeProof(secret, 'listener', a, b), proof)).toBe(false)
    expect(proofMatches(computeProof(secret, 'dialer', { ...a, incarnation: 9 }, b), proof)).toBe(false)
    expect(proofMatches(computeProof(secret, 'dialer', a, { ...b, nonce: makeNonce() }), proof)).toBe(false)
    expect(proofMatches(computeProof(secret, 'dialer', a, b), proof.subarray(0, 31))).toBe(false)
  })
})

describe('sync and digest messages', () => {
  it('encodeSync writes exactly what a lib0 encoder writes, for every payload length class (property)', async () => {
    const encoding = await import('lib0/encoding')
    fc.assert(fc.property(fc.integer({ min: 0, max: 2 }), fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 0, max: 70_000 }).map((n) => new Uint8Array(n))), (step, payload) => {
      const e = encoding.createEncoder()
      encoding.writeVarUint(e, MSG_SYNC)
      encoding.writeVarUint(e, step)
      encoding.writeVarUint8Array(e, payload)
      expect(Buffer.from(encodeSync(step as 0 | 1 | 2, payload)).equals(Buffer.from(encoding.toUint8Array(e)))).toBe(true)
    }), fcParams(300))
  })

  it('a digest round-trips, and a neighbour list past its bound is refused', () => {
    const g = { flags: DIGEST_SYNCING, stateVector: Uint8Array.from([1, 2, 3]), neighbours: ['a', 'node-b'] }
    expect(decodeFrame(encodeDigest(g), 1)).toEqual([{ type: 'digest', digest: g }])
    const huge = Uint8Array.from([MSG_DIGEST, 0, 0, 0x80, 0x80, 0x04])
    expect(() => decodeFrame(huge, 1)).toThrow(/neighbour count out of range/)
  })
})
