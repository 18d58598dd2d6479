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

/** Largest Yjs client id (an unsigned 32-bit integer). */
export const MAX_CLIENT_ID = 0xffffffff

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

/**
 * A membership as stored: `[kind, dialog, profile, value | null, expiresAt | null]`, held by a
 * Yjs embed item. Embed items never merge with their neighbours while live (so deleting one
 * record never splits a run of live ones), deleted ones still merge into one tombstone run, and
 * the array shares its strings with the index: a record costs one small array in memory.
 */
export const encodeMembership = (r: MembershipRecord): StoredMembership => [r.kind, r.dialog, r.profile, r.value, r.expiresAt]

/** A membership record as stored (see `encodeMembership`), once `decodeRecord` accepted it. */
export type StoredMembership = [kind: typeof KIND_DIALOG | typeof KIND_REMOTE, dialog: string, profile: string, value: string | null, expiresAt: number | null]

/** A removal notice as stored: `[2, targetClient, [clock, ...]]`. */
export const encodeRemoval = (targetClient: number, clocks: readonly number[]): unknown[] => [KIND_REMOVAL, targetClient, clocks.slice()]

const isId = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= MAX_ID_LENGTH
const isUint = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0

/**
 * Decodes one element of a partition. Never throws: returns a string reason when the element
 * is not a well-formed record (wrong shape, out-of-range fields).
 */
export const decodeRecord = (raw: unknown): PartitionRecord | string => {
  if (!Array.isArray(raw)) return 'not a record'
  const kind = raw[0]
  if (kind === KIND_DIALOG || kind === KIND_REMOTE) {
    if (raw.length !== 5) return 'membership of wrong length'
    const [, dialog, profile, value, expiresAt] = raw as unknown[]
    if (!isId(dialog)) return 'bad dialog id'
    if (typeof profile !== 'string' || !PROFILE_NAME_PATTERN.test(profile)) return 'bad profile name'
    if (value !== null && !isId(value)) return 'bad value'
    if (expiresAt !== null && !(typeof expiresAt === 'number' && Number.isFinite(expiresAt))) return 'bad expiry'
    if (kind === KIND_REMOTE && expiresAt === null) return 'remote membership without expiry'
    return { kind, dialog, profile, value, expiresAt }
  }
  if (kind === KIND_REMOVAL) {
    if (raw.length !== 3) return 'removal notice of wrong length'
    const [, targetClient, clocks] = raw as unknown[]
    if (!isUint(targetClient) || targetClient > MAX_CLIENT_ID) return 'bad removal target'
    if (!Array.isArray(clocks) || clocks.length === 0 || clocks.length > MAX_REMOVAL_TARGETS || !clocks.every(isUint)) return 'bad removal targets'
    return { kind, targetClient, clocks: clocks as number[] }
  }
  return 'unknown record kind'
}

/** Partition root names: `dp:<node>:<incarnation>:<clientId>`. */
const PARTITION_PREFIX = 'dp:'
/**
 * Roots reserved for the strict-admission module: `dpa:<node>:<incarnation>:<clientId>`, with
 * the same shape rules as partitions (a Y.Array of embed items written only by the client in the
 * name). The store checks their shape, never interprets or counts their content.
 */
/** Root names of strict-admission partitions (src/admission/rows.ts): `dpa:<node>:<incarnation>:<clientId>`. */
export const ADMISSION_PREFIX = 'dpa:'

export interface PartitionName {
  readonly node: string
  readonly incarnation: number
  readonly clientId: number
}

export const partitionName = (p: PartitionName): string =>
  `${PARTITION_PREFIX}${p.node}:${p.incarnation}:${p.clientId}`

/** Parses a root type name; null when it is not a partition (other root types are ignored). */
export const parsePartitionName = (name: string): PartitionName | null =>
  name.startsWith(PARTITION_PREFIX) ? parseNameParts(name.slice(PARTITION_PREFIX.length)) : null

/** Parses any root name a peer may write to: a partition (`dp:`) or an admission root (`dpa:`); null otherwise. */
export const parseRootName = (name: string): PartitionName | null =>
  name.startsWith(ADMISSION_PREFIX) ? parseNameParts(name.slice(ADMISSION_PREFIX.length)) : parsePartitionName(name)

const parseNameParts = (rest: string): PartitionName | null => {
  const parts = rest.split(':')
  if (parts.length !== 3) return null
  const [node, inc, client] = parts as [string, string, string]
  if (!NODE_ID_PATTERN.test(node) || !/^\d{1,16}$/.test(inc) || !/^\d{1,10}$/.test(client)) return null
  const incarnation = Number(inc); const clientId = Number(client)
  if (!Number.isSafeInteger(incarnation) || clientId > MAX_CLIENT_ID) return null
  return { node, incarnation, clientId }
}
