/**
 * The strict-admission rows of the shared document. Each node incarnation writes only into its
 * own root Y.Array `dpa:<node>:<incarnation>:<clientId>` (one embed item per row, appended at
 * the end, deleted by ID, as the store's partitions). Rows carry totals, never increments, so a
 * duplicated or reordered row changes nothing. Everything read goes through `decodeRow` /
 * `parseRightsName`, which never throw: a malformed row is reported and ignored.
 *
 * Rows:
 * - `[0]` hello: this incarnation exists (so the others seal its predecessors);
 * - `[1, profile, value, toClient, toNode, origin, total]` offer: all the rights of `origin`'s
 *   share this writer ever handed to the incarnation `toClient` (of node `toNode`) for the key;
 *   `origin` is the writer's node (its own share) or `toNode` (a return to the share's owner);
 * - `[2, profile, value, seq, want, limit, urgent]` request: this writer asks for `want` rights for
 *   the key, used with `limit`; `seq` grows with each new request, so each peer answers a request
 *   once; `urgent` (1) when a call waits for a right, 0 to refill a reserve (may be left out: 0);
 * - `[3, node, incarnation, client, [[profile, value, held], ...]]` seal: this writer knows
 *   incarnation `incarnation` (Yjs client `client`) of `node`, accepts no row of that node's
 *   earlier incarnations from now on, and holds `held` rights of that node's share per key;
 * - `[4, seq]` lease request: this writer asks every peer to grant its lease (see leases.ts);
 *   `seq` grows with each request;
 * - `[5, [[client, seq], ...]]` grants: for each incarnation (Yjs client) the latest lease
 *   request this writer granted;
 * - `[6, node, incarnation, client]` vote: this writer will never grant that incarnation a lease
 *   again, and votes to reclaim it;
 * - `[7, node, incarnation, client, heir, heirClient, [[node, incarnation, client], ...],
 *   [[profile, value, held], ...]]` report: this writer saw that incarnation reclaimed (votes
 *   from a majority), accepts no row of it from now on, holds `held` rights of that node's share
 *   per key, names the incarnation it sees as the share's heir (node and client; client 0 when
 *   it knows none) and the latest incarnation it knows of each node; rewritten when that changes.
 */
import { ADMISSION_PREFIX, MAX_CLIENT_ID, MAX_ID_LENGTH, NODE_ID_PATTERN, parseRootName, PROFILE_NAME_PATTERN, type PartitionName } from '../internal/records.js'

export const ROW_HELLO = 0
export const ROW_OFFER = 1
export const ROW_REQUEST = 2
export const ROW_SEAL = 3
export const ROW_LEASE = 4
export const ROW_GRANT = 5
export const ROW_VOTE = 6
export const ROW_REPORT = 7

export interface OfferRow {
  readonly kind: typeof ROW_OFFER
  readonly profile: string
  readonly value: string | null
  readonly toClient: number
  readonly toNode: string
  readonly origin: string
  readonly total: number
}

export interface RequestRow {
  readonly kind: typeof ROW_REQUEST
  readonly profile: string
  readonly value: string | null
  readonly seq: number
  readonly want: number
  readonly limit: number
  /** A call waits for a right (else the writer refills its reserve). */
  readonly urgent: boolean
}

export interface SealRow {
  readonly kind: typeof ROW_SEAL
  readonly node: string
  readonly incarnation: number
  readonly client: number
  /** Rights of the sealed node's share that the writer holds, per key. */
  readonly held: ReadonlyArray<readonly [string, string | null, number]>
}

/** A report on a reclaimed incarnation: a seal's fields and the heir. */
export interface ReportRow extends Omit<SealRow, 'kind'> {
  readonly kind: typeof ROW_REPORT
  readonly heir: string
  readonly heirClient: number
  /** The latest incarnation the writer knows of each node: node, incarnation, client. */
  readonly latest: ReadonlyArray<readonly [string, number, number]>
}

export interface LeaseRow { readonly kind: typeof ROW_LEASE, readonly seq: number }
export interface GrantRow { readonly kind: typeof ROW_GRANT, readonly grants: ReadonlyArray<readonly [number, number]> }
export interface VoteRow { readonly kind: typeof ROW_VOTE, readonly node: string, readonly incarnation: number, readonly client: number }

export type RightsRow = { readonly kind: typeof ROW_HELLO } | OfferRow | RequestRow | SealRow | ReportRow | LeaseRow | GrantRow | VoteRow

/** Most keys one seal lists. */
export const MAX_SEAL_ENTRIES = 100_000

export const encodeHello = (): unknown[] => [ROW_HELLO]
export const encodeOffer = (r: Omit<OfferRow, 'kind'>): unknown[] => [ROW_OFFER, r.profile, r.value, r.toClient, r.toNode, r.origin, r.total]
export const encodeRequest = (r: Omit<RequestRow, 'kind'>): unknown[] => [ROW_REQUEST, r.profile, r.value, r.seq, r.want, r.limit, r.urgent ? 1 : 0]
export const encodeSeal = (r: Omit<SealRow, 'kind'>): unknown[] => [ROW_SEAL, r.node, r.incarnation, r.client, r.held.map(([p, v, h]) => [p, v, h])]
export const encodeReport = (r: Omit<ReportRow, 'kind'>): unknown[] => [ROW_REPORT, r.node, r.incarnation, r.client, r.heir, r.heirClient, r.latest.map(([n, i, c]) => [n, i, c]), r.held.map(([p, v, h]) => [p, v, h])]
export const encodeLease = (seq: number): unknown[] => [ROW_LEASE, seq]
export const encodeGrant = (grants: ReadonlyArray<readonly [number, number]>): unknown[] => [ROW_GRANT, grants.map(([c, s]) => [c, s])]
export const encodeVote = (r: Omit<VoteRow, 'kind'>): unknown[] => [ROW_VOTE, r.node, r.incarnation, r.client]

const isUint = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
const isClient = (v: unknown): v is number => isUint(v) && v <= MAX_CLIENT_ID
const isProfile = (v: unknown): v is string => typeof v === 'string' && PROFILE_NAME_PATTERN.test(v)
const isValue = (v: unknown): v is string | null => v === null || (typeof v === 'string' && v.length > 0 && v.length <= MAX_ID_LENGTH)
const isNode = (v: unknown): v is string => typeof v === 'string' && NODE_ID_PATTERN.test(v)

const decodeHeld = (held: unknown): Array<readonly [string, string | null, number]> | string => {
  if (!Array.isArray(held) || held.length > MAX_SEAL_ENTRIES) return 'bad seal entries'
  const out: Array<readonly [string, string | null, number]> = []
  for (const e of held) {
    if (!Array.isArray(e) || e.length !== 3 || !isProfile(e[0]) || !isValue(e[1]) || !isUint(e[2])) return 'bad seal entry'
    out.push([e[0], e[1], e[2]])
  }
  return out
}

/** Decodes one row; a string is the reason it is malformed. Never throws. */
export const decodeRow = (raw: unknown): RightsRow | string => {
  if (!Array.isArray(raw)) return 'not a row'
  switch (raw[0]) {
    case ROW_HELLO:
      return raw.length === 1 ? { kind: ROW_HELLO } : 'hello of wrong length'
    case ROW_OFFER: {
      if (raw.length !== 7) return 'offer of wrong length'
      const [, profile, value, toClient, toNode, origin, total] = raw as unknown[]
      if (!isProfile(profile) || !isValue(value)) return 'bad offer key'
      if (!isClient(toClient) || !isNode(toNode) || !isNode(origin)) return 'bad offer target'
      if (!isUint(total)) return 'bad offer total'
      return { kind: ROW_OFFER, profile, value, toClient, toNode, origin, total }
    }
    case ROW_REQUEST: {
      if (raw.length !== 6 && raw.length !== 7) return 'request of wrong length'
      const [, profile, value, seq, want, limit, urgent] = raw as unknown[]
      if (!isProfile(profile) || !isValue(value)) return 'bad request key'
      if (!isUint(seq) || !isUint(want) || !isUint(limit)) return 'bad request numbers'
      if (urgent !== undefined && urgent !== 0 && urgent !== 1) return 'bad request urgency'
      return { kind: ROW_REQUEST, profile, value, seq, want, limit, urgent: urgent === 1 }
    }
    case ROW_SEAL: {
      if (raw.length !== 5) return 'seal of wrong length'
      const [, node, incarnation, client, held] = raw as unknown[]
      if (!isNode(node) || !isUint(incarnation) || !isClient(client)) return 'bad seal subject'
      const out = decodeHeld(held)
      return typeof out === 'string' ? out : { kind: ROW_SEAL, node, incarnation, client, held: out }
    }
    case ROW_REPORT: {
      if (raw.length !== 8) return 'report of wrong length'
      const [, node, incarnation, client, heir, heirClient, latest, held] = raw as unknown[]
      if (!isNode(node) || !isUint(incarnation) || !isClient(client) || !isNode(heir) || !isClient(heirClient)) return 'bad report subject'
      if (!Array.isArray(latest) || latest.length > MAX_SEAL_ENTRIES) return 'bad report incarnations'
      const known: Array<readonly [string, number, number]> = []
      for (const e of latest) {
        if (!Array.isArray(e) || e.length !== 3 || !isNode(e[0]) || !isUint(e[1]) || !isClient(e[2])) return 'bad report incarnation'
        known.push([e[0], e[1], e[2]])
      }
      const out = decodeHeld(held)
      return typeof out === 'string' ? out : { kind: ROW_REPORT, node, incarnation, client, heir, heirClient, latest: known, held: out }
    }
    case ROW_LEASE:
      return raw.length === 2 && isUint(raw[1]) ? { kind: ROW_LEASE, seq: raw[1] } : 'bad lease request'
    case ROW_GRANT: {
      if (raw.length !== 2 || !Array.isArray(raw[1]) || raw[1].length > MAX_SEAL_ENTRIES) return 'bad grants'
      const grants: Array<readonly [number, number]> = []
      for (const g of raw[1] as unknown[]) {
        if (!Array.isArray(g) || g.length !== 2 || !isClient(g[0]) || !isUint(g[1])) return 'bad grant'
        grants.push([g[0], g[1]])
      }
      return { kind: ROW_GRANT, grants }
    }
    case ROW_VOTE: {
      if (raw.length !== 4) return 'vote of wrong length'
      const [, node, incarnation, client] = raw as unknown[]
      if (!isNode(node) || !isUint(incarnation) || !isClient(client)) return 'bad vote subject'
      return { kind: ROW_VOTE, node, incarnation, client }
    }
    default:
      return 'unknown row kind'
  }
}

export type RightsPartitionName = PartitionName

export const rightsName = (p: RightsPartitionName): string => `${ADMISSION_PREFIX}${p.node}:${p.incarnation}:${p.clientId}`

/** Parses a root type name; null when it is not a strict-admission partition. */
export const parseRightsName = (name: string): RightsPartitionName | null =>
  name.startsWith(ADMISSION_PREFIX) ? parseRootName(name) : null

/** A strict key's map key: profile and value (`\u0000` cannot appear in either). */
export const keyOf = (profile: string, value: string | null): string => value === null ? profile : `${profile}\u0000${value}`
