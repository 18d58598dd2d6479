import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'

/**
 * The document's wire records: what one partition item holds, and how partitions are named.
 * Everything read from the document goes through `decodeRecord` / `parsePartitionName`, which
 * never throw: a record that does not decode is reported and ignored, never counted.
 */

/** Longest dialog id, remote uid or profile value accepted, in UTF-16 units. */
export const MAX_ID_LENGTH = 256
/** Node ids: what may appear in a partition name. */
export const NODE_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/
/** Profile names. */
export const PROFILE_NAME_PATTERN = /^[A-Za-z0-9_.:-]{1,64}$/

export const KIND_DIALOG = 0
export const KIND_REMOTE = 1
export const KIND_REMOVAL = 2

/** An add: the membership of a dialog (or remote uid) in a profile/value. */
export interface MembershipRecord {
  readonly kind: typeof KIND_DIALOG | typeof KIND_REMOTE
  readonly dialog: string
  readonly profile: string
  readonly value: string | null
  readonly expiresAt: number | null
}

/**
 * A removal notice: "I removed these adds of yours". Written by a node that removes another
 * owner's memberships, read by that owner (so it does not re-assert them), then deleted by it.
 */
export interface RemovalRecord {
  readonly kind: typeof KIND_REMOVAL
  readonly targetClient: number
  readonly clocks: readonly number[]
}

export type PartitionRecord = MembershipRecord | RemovalRecord

/** Most targets one removal notice may carry. */
export const MAX_REMOVAL_TARGETS = 10_000

const EXPIRY_NONE = 0
const EXPIRY_INT = 1
const EXPIRY_FLOAT = 2

const utf8 = new TextEncoder()
const utf8Decoder = new TextDecoder()

/** Bytes of `s` in UTF-8, or -1 when it is not pure ASCII (the common case for SIP ids is). */
const asciiLength = (s: string): number => {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return -1
  return s.length
}

const varUintLength = (n: number): number => {
  let len = 1
  while (n > 0x7f) { n = Math.floor(n / 128); len++ }
  return len
}

// The fast path writes into one exact-size array through these module-level cursors (no
// per-record objects but the array itself): lib0's varuint layout, strings as varuint length + bytes.
const EMPTY = new Uint8Array(0)
let out = EMPTY
let pos = 0

const putVarUint = (n: number): void => {
  while (n > 0x7f) { out[pos++] = 0x80 | (n & 0x7f); n = Math.floor(n / 128) }
  out[pos++] = n
}

const putAscii = (s: string): void => {
  putVarUint(s.length)
  for (let i = 0; i < s.length; i++) out[pos++] = s.charCodeAt(i)
}

/**
 * Encodes a membership as bytes. Records are stored as Yjs binary content, which never merges
 * with its neighbours while live (so deleting one record never splits a run of live ones),
 * while deleted records still merge into one tombstone run. Layout: varuint kind, string
 * dialog, string profile, byte hasValue [string value], byte expiry kind [varuint | float64].
 */
export const encodeMembership = (r: MembershipRecord): Uint8Array => {
  const dl = asciiLength(r.dialog)
  const pl = asciiLength(r.profile)
  const vl = r.value === null ? 0 : asciiLength(r.value)
  const intExpiry = r.expiresAt !== null && Number.isSafeInteger(r.expiresAt) && r.expiresAt >= 0
  if (dl < 0 || pl < 0 || vl < 0 || (r.expiresAt !== null && !intExpiry)) return encodeMembershipSlow(r)
  const size = varUintLength(r.kind) + varUintLength(dl) + dl + varUintLength(pl) + pl +
    1 + (r.value === null ? 0 : varUintLength(vl) + vl) + 1 + (r.expiresAt === null ? 0 : varUintLength(r.expiresAt))
  out = new Uint8Array(size)
  pos = 0
  putVarUint(r.kind)
  putAscii(r.dialog)
  putAscii(r.profile)
  if (r.value === null) out[pos++] = 0
  else { out[pos++] = 1; putAscii(r.value) }
  if (r.expiresAt === null) out[pos++] = EXPIRY_NONE
  else { out[pos++] = EXPIRY_INT; putVarUint(r.expiresAt) }
  const done = out
  out = EMPTY
  return done
}

/** The general path (non-ASCII strings, fractional or negative expiry), through lib0. */
const encodeMembershipSlow = (r: MembershipRecord): Uint8Array => {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, r.kind)
  encoding.writeVarUint8Array(e, utf8.encode(r.dialog))
  encoding.writeVarUint8Array(e, utf8.encode(r.profile))
  if (r.value === null) encoding.writeUint8(e, 0)
  else { encoding.writeUint8(e, 1); encoding.writeVarUint8Array(e, utf8.encode(r.value)) }
  if (r.expiresAt === null) encoding.writeUint8(e, EXPIRY_NONE)
  else if (Number.isSafeInteger(r.expiresAt) && r.expiresAt >= 0) { encoding.writeUint8(e, EXPIRY_INT); encoding.writeVarUint(e, r.expiresAt) }
  else { encoding.writeUint8(e, EXPIRY_FLOAT); encoding.writeFloat64(e, r.expiresAt) }
  return encoding.toUint8Array(e)
}

/** Node's native one-byte-per-char slice (ASCII is checked first); TextDecoder where it is missing. */
const latin1Slice = (Buffer.prototype as unknown as { latin1Slice?: (this: Uint8Array, start: number, end: number) => string }).latin1Slice

/** Reads a string (varuint length + UTF-8) of at most `max` bytes; ASCII without TextDecoder. */
const readString = (d: decoding.Decoder, max: number): string => {
  const len = decoding.readVarUint(d)
  if (len > max || d.pos + len > d.arr.length) throw new RangeError('string out of bounds')
  const start = d.pos
  d.pos += len
  let ascii = true
  for (let i = start; i < start + len; i++) if ((d.arr[i] as number) > 0x7f) { ascii = false; break }
  if (ascii && latin1Slice !== undefined) return latin1Slice.call(d.arr, start, start + len)
  return utf8Decoder.decode(d.arr.subarray(start, start + len))
}

export const encodeRemoval = (targetClient: number, clocks: readonly number[]): Uint8Array => {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, KIND_REMOVAL)
  encoding.writeVarUint(e, targetClient)
  encoding.writeVarUint(e, clocks.length)
  for (const c of clocks) encoding.writeVarUint(e, c)
  return encoding.toUint8Array(e)
}

const isId = (v: string): boolean => v.length > 0 && v.length <= MAX_ID_LENGTH
/** Longest record accepted: bounds every length read from it. */
export const MAX_RECORD_BYTES = 4 * MAX_ID_LENGTH * 3 + 64 + MAX_REMOVAL_TARGETS * 10

/**
 * Decodes one element of a partition. Never throws: returns a string reason when the element
 * is not a well-formed record (wrong type, truncated, trailing bytes, out-of-range fields).
 */
export const decodeRecord = (raw: unknown): PartitionRecord | string => {
  if (!(raw instanceof Uint8Array)) return 'not a binary record'
  if (raw.length > MAX_RECORD_BYTES) return 'record too large'
  try {
    const d = decoding.createDecoder(raw)
    const kind = decoding.readVarUint(d)
    let rec: PartitionRecord
    if (kind === KIND_DIALOG || kind === KIND_REMOTE) {
      const dialog = readString(d, 4 * MAX_ID_LENGTH)
      const profile = readString(d, 4 * 64)
      const hasValue = decoding.readUint8(d)
      if (hasValue > 1) return 'bad value flag'
      const value = hasValue === 1 ? readString(d, 4 * MAX_ID_LENGTH) : null
      const expiryKind = decoding.readUint8(d)
      let expiresAt: number | null
      if (expiryKind === EXPIRY_NONE) expiresAt = null
      else if (expiryKind === EXPIRY_INT) expiresAt = decoding.readVarUint(d)
      else if (expiryKind === EXPIRY_FLOAT) expiresAt = decoding.readFloat64(d)
      else return 'bad expiry flag'
      if (!isId(dialog)) return 'bad dialog id'
      if (!PROFILE_NAME_PATTERN.test(profile)) return 'bad profile name'
      if (value !== null && !isId(value)) return 'bad value'
      if (expiresAt !== null && !Number.isFinite(expiresAt)) return 'bad expiry'
      if (kind === KIND_REMOTE && expiresAt === null) return 'remote membership without expiry'
      rec = { kind, dialog, profile, value, expiresAt }
    } else if (kind === KIND_REMOVAL) {
      const targetClient = decoding.readVarUint(d)
      const n = decoding.readVarUint(d)
      if (targetClient > 0xffffffff) return 'bad removal target'
      if (n === 0 || n > MAX_REMOVAL_TARGETS) return 'bad removal targets'
      const clocks: number[] = []
      for (let i = 0; i < n; i++) clocks.push(decoding.readVarUint(d))
      rec = { kind, targetClient, clocks }
    } else {
      return 'unknown record kind'
    }
    if (decoding.hasContent(d)) return 'trailing bytes'
    return rec
  } catch {
    return 'truncated record'
  }
}

/** Partition root names: `dp:<node>:<incarnation>:<clientId>`. */
const PARTITION_PREFIX = 'dp:'

export interface PartitionName {
  readonly node: string
  readonly incarnation: number
  readonly clientId: number
}

export const partitionName = (p: PartitionName): string =>
  `${PARTITION_PREFIX}${p.node}:${p.incarnation}:${p.clientId}`

/** Parses a root type name; null when it is not a partition (other root types are ignored). */
export const parsePartitionName = (name: string): PartitionName | null => {
  if (!name.startsWith(PARTITION_PREFIX)) return null
  const parts = name.slice(PARTITION_PREFIX.length).split(':')
  if (parts.length !== 3) return null
  const [node, inc, client] = parts as [string, string, string]
  if (!NODE_ID_PATTERN.test(node) || !/^\d{1,16}$/.test(inc) || !/^\d{1,10}$/.test(client)) return null
  const incarnation = Number(inc); const clientId = Number(client)
  if (!Number.isSafeInteger(incarnation) || clientId > 0xffffffff) return null
  return { node, incarnation, clientId }
}
