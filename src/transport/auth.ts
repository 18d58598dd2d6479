/**
 * Shared-secret authentication of a connection: HMAC-SHA256 challenge-response over fresh
 * random nonces, in both directions. The secret itself never crosses the wire.
 *
 * Each end sends a hello with a 32-byte nonce; the dialer then sends its proof, and the listener
 * answers with its own only once the dialer's proof checked out. A proof is
 * `HMAC(secret, "dialog-profiles/1" | role | ownNodeId | peerNodeId | peerNonce | ownNonce)`.
 * The role label (dialer or listener) stops a proof from being reflected back to its author;
 * the peer's fresh nonce stops replays of old proofs.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { MAC_BYTES, NONCE_BYTES } from './wire.js'
import type { Role } from './wire.js'

const LABEL = 'dialog-profiles/1'

/** A fresh random nonce for one handshake. */
export const makeNonce = (): Uint8Array => new Uint8Array(randomBytes(NONCE_BYTES))

const frame = (s: string): Buffer => {
  const b = Buffer.from(s, 'utf8')
  const len = Buffer.alloc(4)
  len.writeUInt32BE(b.length)
  return Buffer.concat([len, b])
}

/** The proof that the end playing `role` with node id `self` knows the secret. */
export const computeProof = (secret: string | Uint8Array, role: Role, self: string, peer: string, peerNonce: Uint8Array, ownNonce: Uint8Array): Uint8Array => {
  const h = createHmac('sha256', typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret)
  h.update(frame(LABEL))
  h.update(frame(role))
  h.update(frame(self))
  h.update(frame(peer))
  h.update(peerNonce)
  h.update(ownNonce)
  return new Uint8Array(h.digest())
}

/** Constant-time comparison of a received proof with the expected one. */
export const proofMatches = (expected: Uint8Array, received: Uint8Array): boolean =>
  received.length === MAC_BYTES && expected.length === MAC_BYTES && timingSafeEqual(expected, received)
