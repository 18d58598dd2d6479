/**
 * Wire format of the cluster transport: message types and their bounded encoders and decoders.
 *
 * Every WebSocket (binary) message carries one or more protocol messages back to back, each
 * `[type: varUint][body]` in lib0 encoding. Type 0 is y-protocols sync exactly as `y-websocket`
 * writes it (`[0][step: varUint][payload: varUint8Array]`), so the first message of a frame is
 * readable by a standard Yjs client. The other types are ours: a handshake (hello, proof) that
 * authenticates both ends with a shared secret before any document data, heartbeats, a
 * digest (state vector and neighbour list) that drives relaying and anti-entropy, and (per-node
 * keys only) signed document updates, which replace type 0's updates and state answers.
 *
 * Nothing read from the wire is trusted: every length is checked against what is left of the
 * frame and against a fixed bound before anything is allocated or copied.
 */
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import { NODE_ID_PATTERN } from '../internal/records.js'

/**
 * Version of this wire protocol, sent in the hello; a peer with another version is refused at
 * the handshake. 2: heartbeat signatures (type 103) and digests (type 104), which version 1
 * nodes would refuse mid-stream as unknown messages. 3: signed document updates (type 105).
 */
export const PROTOCOL_VERSION = 3

/** Message types (the first varUint of every message). */
export const MSG_SYNC = 0
export const MSG_HELLO = 100
export const MSG_PROOF = 101
export const MSG_HEARTBEAT = 102
/** Ed25519 signature of the heartbeat just before it (per-node keys only). */
export const MSG_SIGNATURE = 103
export const MSG_DIGEST = 104
/** Document updates signed by the node that wrote them (per-node keys only). */
export const MSG_SIGNED_UPDATES = 105

/** y-protocols sync steps. */
export const SYNC_STEP1 = 0
export const SYNC_STEP2 = 1
export const SYNC_UPDATE = 2

/** Which end of the connection a node is: it dialled (`dialer`) or accepted (`listener`). */
export type Role = 'dialer' | 'listener'

export const NONCE_BYTES = 32
export const MAC_BYTES = 32
export const SIGNATURE_BYTES = 64
/** Longest node id, in UTF-8 bytes (the store accepts at most 64 ASCII characters). */
export const MAX_NODE_ID_BYTES = 64
/** Most node ids in one digest's neighbour list. */
export const MAX_NEIGHBOURS = 4096
/** Longest state vector in a digest, bytes (about 10 bytes per writing client). */
export const MAX_DIGEST_STATE_VECTOR_BYTES = 256 * 1024
/** Digest flag: the sender has an initial state exchange in progress (do not repair it yet). */
export const DIGEST_SYNCING = 1
/** Most updates in one signed message. */
export const MAX_SIGNED_UPDATES = 4096
/** Signed-updates flag (covered by the signature): the writer's checkpoint, all its partitions' structs. */
export const SIGNED_CHECKPOINT = 1
/** Signed-updates flag (set by the sender, not signed): the last message of a state answer (as sync step 2). */
export const SIGNED_STATE_END = 2

export interface Hello {
  readonly version: number
  readonly nodeId: string
  readonly incarnation: number
  readonly clientId: number
  readonly role: Role
  readonly nonce: Uint8Array
}

export interface Heartbeat {
  readonly nodeId: string
  readonly incarnation: number
  readonly clientId: number
  /** Increases with every heartbeat of one incarnation: relays forward only what is new. */
  readonly seq: number
}

/**
 * What a node tells each direct neighbour every heartbeat interval and whenever its
 * connections change: its state vector (anti-entropy) and the nodes it is directly connected
 * to (relay pruning: a neighbour's neighbours get an update from that neighbour).
 */
export interface Digest {
  readonly flags: number
  readonly stateVector: Uint8Array
  readonly neighbours: readonly string[]
}

/**
 * Document updates that node `signer` wrote (or, in a state answer of `signer`'s own, its
 * partitions' structs and any delete set), with `signer`'s Ed25519 signature over the
 * signed flags and the updates (see `auth.ts`). Relays forward it unchanged.
 */
export interface SignedUpdates {
  readonly flags: number
  readonly signer: string
  readonly updates: readonly Uint8Array[]
  readonly signature: Uint8Array
}

/** One decoded protocol message. */
export type WireMessage =
  | { readonly type: 'hello'; readonly hello: Hello }
  | { readonly type: 'proof'; readonly mac: Uint8Array }
  | { readonly type: 'heartbeat'; readonly heartbeat: Heartbeat }
  | { readonly type: 'signature'; readonly signature: Uint8Array }
  | { readonly type: 'digest'; readonly digest: Digest }
  | { readonly type: 'signed-updates'; readonly signed: SignedUpdates }
  | { readonly type: 'sync-step1'; readonly stateVector: Uint8Array }
  | { readonly type: 'sync-step2'; readonly update: Uint8Array }
  | { readonly type: 'sync-update'; readonly update: Uint8Array }

/** A frame or message that breaks the protocol. `reason` is logged and sent as the close reason. */
export class WireError extends Error {
  constructor (readonly reason: string) {
    super(reason)
    this.name = 'WireError'
  }
}

const bad = (reason: string): WireError => new WireError(reason)

/** Reads a varUint and checks it against an inclusive bound. */
const readBoundedUint = (d: decoding.Decoder, max: number, what: string): number => {
  if (!decoding.hasContent(d)) throw bad(`truncated ${what}`)
  let n: number
  try {
    n = decoding.readVarUint(d)
  } catch {
    throw bad(`bad integer in ${what}`)
  }
  if (!Number.isSafeInteger(n) || n < 0 || n > max) throw bad(`${what} out of range`)
  return n
}

/**
 * Reads `[len: varUint][bytes]` with `len` bounded by `max` and by what is left of the frame.
 * Returns a view into the frame; the frame must be its own ArrayBuffer (see `decodeFrame`).
 */
const readBoundedBytes = (d: decoding.Decoder, max: number, what: string): Uint8Array => {
  const len = readBoundedUint(d, max, `${what} length`)
  if (len > d.arr.length - d.pos) throw bad(`truncated ${what}`)
  return decoding.readUint8Array(d, len)
}

const readNodeId = (d: decoding.Decoder): string => {
  const bytes = readBoundedBytes(d, MAX_NODE_ID_BYTES, 'node id')
  const id = new TextDecoder('utf-8', { fatal: false }).decode(bytes)
  if (!NODE_ID_PATTERN.test(id)) throw bad('malformed node id')
  return id
}

/**
 * Decodes one WebSocket message into its protocol messages, in order.
 *
 * @param frame - the received bytes; copied first so that no read can reach past its end
 * @param maxMessages - bound on the messages in one frame
 * @throws WireError - malformed, truncated or unknown content; nothing of the frame should then be used
 */
export const decodeFrame = (frame: Uint8Array, maxMessages: number): WireMessage[] => {
  // Own ArrayBuffer of exactly the frame's length: an overlong length can never read into a
  // pooled neighbour buffer, it throws instead.
  const own = new Uint8Array(frame.byteLength)
  own.set(frame)
  const d = decoding.createDecoder(own)
  const out: WireMessage[] = []
  if (own.length === 0) throw bad('empty frame')
  while (decoding.hasContent(d)) {
    if (out.length >= maxMessages) throw bad('too many messages in one frame')
    const type = readBoundedUint(d, 0xffff, 'message type')
    switch (type) {
      case MSG_SYNC: {
        const step = readBoundedUint(d, 2, 'sync step')
        const payload = readBoundedBytes(d, own.length, 'sync payload')
        if (step === SYNC_STEP1) out.push({ type: 'sync-step1', stateVector: payload })
        else if (step === SYNC_STEP2) out.push({ type: 'sync-step2', update: payload })
        else out.push({ type: 'sync-update', update: payload })
        break
      }
      case MSG_HELLO: {
        const version = readBoundedUint(d, 0xffff, 'version')
        const nodeId = readNodeId(d)
        const incarnation = readBoundedUint(d, Number.MAX_SAFE_INTEGER, 'incarnation')
        const clientId = readBoundedUint(d, 0xffffffff, 'client id')
        const roleCode = readBoundedUint(d, 1, 'role')
        const nonce = readBoundedBytes(d, NONCE_BYTES, 'nonce')
        if (nonce.length !== NONCE_BYTES) throw bad('short nonce')
        out.push({ type: 'hello', hello: { version, nodeId, incarnation, clientId, role: roleCode === 0 ? 'dialer' : 'listener', nonce } })
        break
      }
      case MSG_PROOF: {
        const mac = readBoundedBytes(d, MAC_BYTES, 'proof')
        if (mac.length !== MAC_BYTES) throw bad('short proof')
        out.push({ type: 'proof', mac })
        break
      }
      case MSG_HEARTBEAT: {
        const nodeId = readNodeId(d)
        const incarnation = readBoundedUint(d, Number.MAX_SAFE_INTEGER, 'incarnation')
        const clientId = readBoundedUint(d, 0xffffffff, 'client id')
        const seq = readBoundedUint(d, Number.MAX_SAFE_INTEGER, 'heartbeat seq')
        out.push({ type: 'heartbeat', heartbeat: { nodeId, incarnation, clientId, seq } })
        break
      }
      case MSG_SIGNATURE: {
        const signature = readBoundedBytes(d, SIGNATURE_BYTES, 'signature')
        if (signature.length !== SIGNATURE_BYTES) throw bad('short signature')
        out.push({ type: 'signature', signature })
        break
      }
      case MSG_DIGEST: {
        const flags = readBoundedUint(d, 0xff, 'digest flags')
        const stateVector = readBoundedBytes(d, MAX_DIGEST_STATE_VECTOR_BYTES, 'digest state vector')
        const count = readBoundedUint(d, MAX_NEIGHBOURS, 'neighbour count')
        const neighbours: string[] = []
        for (let i = 0; i < count; i++) neighbours.push(readNodeId(d))
        out.push({ type: 'digest', digest: { flags, stateVector, neighbours } })
        break
      }
      case MSG_SIGNED_UPDATES: {
        const flags = readBoundedUint(d, SIGNED_CHECKPOINT | SIGNED_STATE_END, 'signed-updates flags')
        const signer = readNodeId(d)
        const count = readBoundedUint(d, MAX_SIGNED_UPDATES, 'signed update count')
        if (count === 0) throw bad('signed message without updates')
        const updates: Uint8Array[] = []
        for (let i = 0; i < count; i++) updates.push(readBoundedBytes(d, own.length, 'signed update'))
        const signature = readBoundedBytes(d, SIGNATURE_BYTES, 'signature')
        if (signature.length !== SIGNATURE_BYTES) throw bad('short signature')
        out.push({ type: 'signed-updates', signed: { flags, signer, updates, signature } })
        break
      }
      default:
        throw bad(`unknown message type ${type}`)
    }
  }
  return out
}

export const encodeHello = (h: Hello): Uint8Array => {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, MSG_HELLO)
  encoding.writeVarUint(e, h.version)
  encoding.writeVarString(e, h.nodeId)
  encoding.writeVarUint(e, h.incarnation)
  encoding.writeVarUint(e, h.clientId)
  encoding.writeVarUint(e, h.role === 'dialer' ? 0 : 1)
  encoding.writeVarUint8Array(e, h.nonce)
  return encoding.toUint8Array(e)
}

export const encodeProof = (mac: Uint8Array): Uint8Array => {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, MSG_PROOF)
  encoding.writeVarUint8Array(e, mac)
  return encoding.toUint8Array(e)
}

export const encodeHeartbeat = (h: Heartbeat): Uint8Array => {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, MSG_HEARTBEAT)
  encoding.writeVarString(e, h.nodeId)
  encoding.writeVarUint(e, h.incarnation)
  encoding.writeVarUint(e, h.clientId)
  encoding.writeVarUint(e, h.seq)
  return encoding.toUint8Array(e)
}

export const encodeSignature = (signature: Uint8Array): Uint8Array => {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, MSG_SIGNATURE)
  encoding.writeVarUint8Array(e, signature)
  return encoding.toUint8Array(e)
}

export const encodeDigest = (g: Digest): Uint8Array => {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, MSG_DIGEST)
  encoding.writeVarUint(e, g.flags)
  encoding.writeVarUint8Array(e, g.stateVector)
  encoding.writeVarUint(e, g.neighbours.length)
  for (const n of g.neighbours) encoding.writeVarString(e, n)
  return encoding.toUint8Array(e)
}

export const encodeSignedUpdates = (s: SignedUpdates): Uint8Array => {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, MSG_SIGNED_UPDATES)
  encoding.writeVarUint(e, s.flags)
  encoding.writeVarString(e, s.signer)
  encoding.writeVarUint(e, s.updates.length)
  for (const u of s.updates) encoding.writeVarUint8Array(e, u)
  encoding.writeVarUint8Array(e, s.signature)
  return encoding.toUint8Array(e)
}

/**
 * A y-protocols sync message (`[0][step][payload]`), as `y-websocket` writes it, in one
 * allocation of exactly its size (no encoder: this runs once per update).
 */
export const encodeSync = (step: typeof SYNC_STEP1 | typeof SYNC_STEP2 | typeof SYNC_UPDATE, payload: Uint8Array): Uint8Array => {
  let len = payload.length
  let lenBytes = 1
  while (len > 0x7f) { len = Math.floor(len / 128); lenBytes++ }
  const out = new Uint8Array(2 + lenBytes + payload.length)
  out[0] = MSG_SYNC
  out[1] = step
  let pos = 2
  len = payload.length
  while (len > 0x7f) { out[pos++] = 0x80 | (len & 0x7f); len = Math.floor(len / 128) }
  out[pos++] = len
  out.set(payload, pos)
  return out
}
