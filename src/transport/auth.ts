/**
 * Shared-secret authentication of a connection: HMAC-SHA256 challenge-response over fresh
 * random nonces, in both directions. The secret itself never crosses the wire.
 *
 * Each end sends a hello with a 32-byte nonce; the dialer then sends its proof, and the listener
 * answers with its own only once the dialer's proof checked out. A proof is
 * `HMAC(secret, "dialog-profiles/1" | role | own hello (node id, incarnation, client id, nonce) | peer's hello)`.
 * The role label (dialer or listener) stops a proof from being reflected back to its author;
 * the peer's fresh nonce stops replays of old proofs.
 *
 * This authenticates the handshake, not each later message: on an untrusted network use TLS
 * (`wss`) so that an established connection cannot be tampered with.
 *
 * With per-node keys, each node also signs every heartbeat it originates with its Ed25519
 * private key; peers check the signature against the trust list (node id to public key), so a
 * heartbeat speaks for the node it names, wherever it was relayed from. It signs the document
 * updates it writes the same way (`signUpdates`): see `signed-updates.ts`.
 */
import { createHmac, randomBytes, sign, timingSafeEqual, verify } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { MAC_BYTES, NONCE_BYTES, SIGNATURE_BYTES } from './wire.js'
import { SIGNED_CHECKPOINT } from './wire.js'
import type { Heartbeat, Role, SignedUpdates } from './wire.js'

const LABEL = 'dialog-profiles/1'

/** A fresh random nonce for one handshake. */
export const makeNonce = (): Uint8Array => new Uint8Array(randomBytes(NONCE_BYTES))

const frame = (s: string): Buffer => {
  const b = Buffer.from(s, 'utf8')
  const len = Buffer.alloc(4)
  len.writeUInt32BE(b.length)
  return Buffer.concat([len, b])
}

/** The identity a hello announces; the proof binds all of it. */
export interface HelloIdentity {
  readonly nodeId: string
  readonly incarnation: number
  readonly clientId: number
  readonly nonce: Uint8Array
}

/**
 * The proof that the end playing `role` with hello `self` knows the secret, bound to both
 * hellos (so a man in the middle cannot alter a node id, incarnation or client id) and to the
 * peer's fresh nonce.
 */
export const computeProof = (secret: string | Uint8Array, role: Role, self: HelloIdentity, peer: HelloIdentity): Uint8Array => {
  const h = createHmac('sha256', typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret)
  h.update(frame(LABEL))
  h.update(frame(role))
  for (const id of [self, peer]) {
    h.update(frame(id.nodeId))
    h.update(frame(`${id.incarnation}:${id.clientId}`))
    h.update(id.nonce)
  }
  return new Uint8Array(h.digest())
}

/** Constant-time comparison of a received proof with the expected one. */
export const proofMatches = (expected: Uint8Array, received: Uint8Array): boolean =>
  received.length === MAC_BYTES && expected.length === MAC_BYTES && timingSafeEqual(expected, received)

const heartbeatBytes = (hb: Heartbeat): Buffer =>
  Buffer.concat([frame(`${LABEL}/heartbeat`), frame(hb.nodeId), frame(`${hb.incarnation}:${hb.clientId}:${hb.seq}`)])

/** Ed25519 signature of a heartbeat (node id, incarnation, client id, sequence number) by its node. */
export const signHeartbeat = (privateKey: KeyObject, hb: Heartbeat): Uint8Array =>
  new Uint8Array(sign(null, heartbeatBytes(hb), privateKey))

/** Whether `signature` is `publicKey`'s signature of `hb`. */
export const heartbeatSigned = (publicKey: KeyObject, hb: Heartbeat, signature: Uint8Array): boolean =>
  signature.length === SIGNATURE_BYTES && verify(null, heartbeatBytes(hb), publicKey, signature)

/** What a signature of updates covers: a domain label, the signer, the signed flags and every update, each length-framed. */
const updatesBytes = (signer: string, flags: number, updates: readonly Uint8Array[]): Buffer => {
  const parts: Uint8Array[] = [frame(`${LABEL}/updates`), frame(signer), Uint8Array.of(flags & SIGNED_CHECKPOINT)]
  for (const u of updates) {
    const len = Buffer.alloc(4)
    len.writeUInt32BE(u.length)
    parts.push(len, u)
  }
  return Buffer.concat(parts)
}

/** Ed25519 signature, by `signer`'s key, of updates it sends (one signature for the whole batch). */
export const signUpdates = (privateKey: KeyObject, signer: string, flags: number, updates: readonly Uint8Array[]): Uint8Array =>
  new Uint8Array(sign(null, updatesBytes(signer, flags, updates), privateKey))

/** Whether `s.signature` is `publicKey`'s signature of `s` (its signer, signed flags and updates). */
export const updatesSigned = (publicKey: KeyObject, s: SignedUpdates): boolean =>
  s.signature.length === SIGNATURE_BYTES && verify(null, updatesBytes(s.signer, s.flags, s.updates), publicKey, s.signature)
