/**
 * Options of a cluster node, in one place: every default is a named constant here, and
 * {@link resolveOptions} checks every option and the relations between them, failing fast with
 * `DP_ERR_INVALID_ARGUMENT` naming the option. The node, transport, liveness, readiness and
 * persistence receive the resolved object; none of them picks a default of its own.
 */
import { DEFAULT_LEASE_MARGIN_MS, DEFAULT_LEASE_MS } from './admission/leases.js'
import { createPrivateKey, createPublicKey } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { fail } from './errors.js'
import { nonNegative, nonNegativeInt, onlyKnownKeys, positive, positiveInt } from './internal/checks.js'
import { MAX_CLIENT_ID, NODE_ID_PATTERN } from './internal/records.js'
import { DECLARATION_KEYS, ProfileRegistry } from './profile-registry.js'
import type { ReadinessOptions, ReadinessPolicy } from './readiness.js'
import type { Clock, ProfileDeclaration } from './types.js'
import type { FileSystem } from './persistence/file-system.js'

/** Heartbeat interval, ms. */
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 1000
/** Silence after which a node is suspect, ms. */
export const DEFAULT_LIVENESS_TIMEOUT_MS = 5000
/** Suspect time before a silent node is declared dead, ms. */
export const DEFAULT_GRACE_MS = 5000
/** Time from death to the purge of a node's memberships, ms. */
export const DEFAULT_PURGE_DELAY_MS = 60_000
/** Largest WebSocket message accepted or sent, bytes (64 MiB). */
export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024
/** Smallest `maxMessageBytes` accepted: a handshake message must fit. */
export const MIN_MAX_MESSAGE_BYTES = 1024
/** WebSocket messages per second accepted from one connection. */
export const DEFAULT_MAX_MESSAGES_PER_SECOND = 10_000
/** Protocol messages in one WebSocket message. */
export const DEFAULT_MAX_MESSAGES_PER_FRAME = 10_000
/** Bytes queued to one peer before it is dropped as too slow (128 MiB). */
export const DEFAULT_MAX_BUFFERED_BYTES = 128 * 1024 * 1024
/** Time a new connection has to authenticate, ms. */
export const DEFAULT_AUTH_TIMEOUT_MS = 5000
/** First reconnect delay, ms. */
export const DEFAULT_RECONNECT_INITIAL_MS = 100
/** Largest reconnect delay, ms. */
export const DEFAULT_RECONNECT_MAX_MS = 5000
/** Interval of the sweep of expired memberships, ms. */
export const DEFAULT_SWEEP_INTERVAL_MS = 1000
/** Most memberships one node may own. */
export const DEFAULT_MAX_LOCAL_MEMBERSHIPS = 1_000_000
/** How long local writes wait for others to share a transaction, ms (0: the end of the event-loop turn). */
export const DEFAULT_WRITE_DELAY_MS = 0
/** Largest `writeDelayMs`. */
export const MAX_WRITE_DELAY_MS = 1000
/** How long a release that found nothing is remembered for records of its dialog arriving later, ms. */
export const DEFAULT_PENDING_RELEASE_MS = 5000
/** Most releases remembered at once (see `pendingReleaseMs`). */
export const DEFAULT_MAX_PENDING_RELEASES = 10_000
/** Most Yjs clients the document may hold: a remote update that would bring in more is refused. */
export const DEFAULT_MAX_CLIENTS = 20_000
/** Most other nodes the liveness table holds. */
export const DEFAULT_MAX_TRACKED_NODES = 1000
/** How far ahead of this node's clock another node's incarnation may be, ms. */
export const DEFAULT_MAX_CLOCK_SKEW_MS = 60_000
/** Admission before the initial sync. */
export const DEFAULT_READINESS_POLICY: ReadinessPolicy = 'reject'
/** Time the initial sync may take, ms. */
export const DEFAULT_READINESS_TIMEOUT_MS = 10_000
/** Under the `'wait'` policy, how long one `acquire` waits, ms. */
export const DEFAULT_READINESS_WAIT_MS = 1000
/** Which configured peers the initial sync needs. */
export const DEFAULT_READINESS_PEERS: 'any' | 'all' = 'any'
/** Admission once the readiness timeout passed with no configured peer answering. */
export const DEFAULT_READINESS_AFTER_TIMEOUT: 'allow' | 'reject' = 'allow'
/** Spare strict rights a busy node asks its peers for (`admission.reserve`). */
export const DEFAULT_ADMISSION_RESERVE = 2
/** How long a strict acquire refused for `no-rights` waits for the rights its node asked for, ms (`admission.waitMs`; 0: refused at once). */
export const DEFAULT_ADMISSION_WAIT_MS = 0
/** Strict lease: a node admits strict calls only while a majority of `admission.nodes` granted it this recently, ms. */
export const DEFAULT_ADMISSION_LEASE_MS = DEFAULT_LEASE_MS
/** Wait past the strict lease before a majority reclaims a silent node's rights, ms (bounds clock drift and steps). */
export const DEFAULT_ADMISSION_LEASE_MARGIN_MS = DEFAULT_LEASE_MARGIN_MS
/** fsync interval of the persistence log, ms. */
export const DEFAULT_FSYNC_INTERVAL_MS = 1000
/** Snapshot interval of the persistence, ms. */
export const DEFAULT_SNAPSHOT_INTERVAL_MS = 60_000
/** Log size that triggers a snapshot at once, bytes (16 MiB). */
export const DEFAULT_SNAPSHOT_LOG_BYTES = 16 * 1024 * 1024
/** After a failed write to the data directory, how often a full snapshot is tried, ms. */
export const DEFAULT_PERSISTENCE_RETRY_MS = 1000
/** Shortest secret accepted, characters. */
export const MIN_SECRET_LENGTH = 8
/** A failing peer is logged at `warn` at most once per this interval (and on every change of error kind), ms. */
export const PEER_ERROR_LOG_INTERVAL_MS = 30_000
/** Room (document name) on the hubs. */
export const DEFAULT_HUB_ROOM = 'dialog-profiles'
/** Most hubs one node joins through. */
export const MAX_HUBS = 16
/** Longest hub or observer token, characters. */
export const MAX_TOKEN_LENGTH = 1024
/** Most observers connected at once to the read-only endpoint. */
export const DEFAULT_MAX_OBSERVERS = 16
/** Largest WebSocket message accepted from an observer, bytes (1 MiB). */
export const DEFAULT_OBSERVE_MAX_MESSAGE_BYTES = 1024 * 1024
/** WebSocket messages per second accepted from one observer (burst of one second). */
export const DEFAULT_OBSERVE_MAX_MESSAGES_PER_SECOND = 20
/** Longest timer Node.js supports, ms (about 24.8 days); longer ones would fire at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1

export type LogLevel = 'debug' | 'info' | 'warn' | 'error'
/** Receives log lines. Lines never contain the secret. */
export type Logger = (level: LogLevel, msg: string) => void

/** Certificate and key (PEM contents, not paths) for `wss`; `ca` to trust a private CA when dialling. */
export interface TlsOptions {
  readonly cert: string | Buffer
  readonly key: string | Buffer
  /** Extra trusted CA certificates for dialling peers (for example a self-signed cluster CA). */
  readonly ca?: string | Buffer | ReadonlyArray<string | Buffer>
  /** Verify peers' certificates when dialling. @defaultValue true */
  readonly rejectUnauthorized?: boolean
}

/** Per-node keys, resolved: this node's Ed25519 private key and the trusted nodes' public keys. */
export interface NodeKeys {
  readonly privateKey: KeyObject
  readonly trusted: ReadonlyMap<string, KeyObject>
}

/**
 * One y-websocket hub to join the cluster through: `url` is the server url (`ws://host:port` or
 * `wss://host:port`, optionally with a path), `room` the document name on it, `token` the
 * credential the hub checks, sent as the url parameter `token` (at least 8 characters).
 */
export interface HubOptions {
  readonly url: string
  /** @defaultValue 'dialog-profiles' */
  readonly room?: string
  readonly token: string
}

/**
 * The read-only y-websocket endpoint: where it listens (its own port; 0 picks a free one, see
 * `observerAddress()`), the token an observer must send as the url parameter `token`, and its
 * bounds.
 */
export interface ObserveOptions {
  readonly listen: { readonly host: string; readonly port: number }
  /** At least 8 characters. Never a property, never logged. */
  readonly token: string
  /** Most observers connected at once; more are refused (HTTP 503). @defaultValue 16 */
  readonly maxObservers?: number
  /** Largest WebSocket message accepted from an observer, bytes (past it the connection is closed). @defaultValue 1048576 */
  readonly maxMessageBytes?: number
  /** Messages per second accepted from one observer (burst of one second); past it the connection is closed. @defaultValue 20 */
  readonly maxMessagesPerSecond?: number
}

/**
 * Options of a {@link ClusterNode}. Every limit and timer has a default (the `DEFAULT_*`
 * constants of this module); {@link resolveOptions} refuses an unknown, malformed or
 * contradictory option with `DP_ERR_INVALID_ARGUMENT` naming it.
 *
 * @example
 * ```ts
 * const node = new ClusterNode({
 *   nodeId: 'proxy-a', profiles: [{ name: 'caller', withValue: true }],
 *   listen: { host: '0.0.0.0', port: 7400 }, peers: ['ws://proxy-b:7400'], secret: process.env.DP_SECRET!
 * })
 * await node.start(); await node.ready
 * ```
 */
export interface ClusterNodeOptions {
  /** This node's id, `[A-Za-z0-9._-]{1,64}`, the same across restarts. */
  readonly nodeId: string
  /** Declared profiles. @defaultValue [] */
  readonly profiles?: readonly ProfileDeclaration[]
  /** Where to accept peers: a non-empty host and a port in 0..65535 (0 picks a free port, see `address()`). Omit to only dial. */
  readonly listen?: { readonly host: string; readonly port: number }
  /**
   * Peer urls to dial: `ws://host:port` or `wss://host:port`, with a host and an explicit port
   * in 1..65535 (no user info, query or fragment); each listed once. Listing this node itself
   * is harmless. @defaultValue []
   */
  readonly peers?: readonly string[]
  /**
   * Shared secret of the mesh (HMAC challenge-response; never sent, never logged), at least 8
   * characters. Required unless `hubs` is given (a hub node has no mesh).
   */
  readonly secret?: string
  /**
   * Join the cluster through these y-websocket servers instead of a mesh: one `y-websocket`
   * provider per hub on the node's document, so the node stays in the cluster while any one hub
   * is up. Updates received from a hub go through the store's checks; liveness runs over the
   * awareness protocol. Cannot be combined with `peers`, `listen` (the mesh) or per-node keys
   * (`identity`, `trustedNodes`). @defaultValue undefined (mesh)
   */
  readonly hubs?: readonly HubOptions[]
  /** Serve the read-only y-websocket endpoint. @defaultValue undefined (none) */
  readonly observe?: ObserveOptions
  /** Serve and dial `wss` with this certificate and key. @defaultValue undefined (plain ws) */
  readonly tls?: TlsOptions
  /** Time source, ms: liveness, expiry, rate limits of log lines. @defaultValue Date.now */
  readonly clock?: Clock
  /** Random source in [0, 1): reconnect jitter. @defaultValue Math.random */
  readonly random?: () => number
  /**
   * This run's incarnation; must grow across restarts and must not be ahead of `clock()` by
   * more than `maxClockSkewMs` (peers refuse incarnations from the future). @defaultValue clock()
   * at construction; with `dataDir`, also above the previous run's (recorded there), so a clock
   * stepped back cannot make a restarted node look older than its previous life.
   */
  readonly incarnation?: number
  /** Yjs client id, an unsigned 32-bit integer. @defaultValue random 32-bit */
  readonly clientId?: number
  /** Most memberships this node may own. @defaultValue 1000000 */
  readonly maxLocalMemberships?: number
  /**
   * How long local writes may wait for others to share one Yjs transaction (one update to the
   * peers and the data directory), ms, 0..1000: 0 writes them at the end of the current
   * event-loop turn. A node answering one request per turn (the daemon under light load) pays a
   * transaction per request at 0. Local reads never wait; peers see a write at most this much
   * later. @defaultValue 0
   */
  readonly writeDelayMs?: number
  /**
   * How long a release (`release`, the end of a dialog) that found nothing here is remembered,
   * ms: a record of the dialog that arrives from a peer within it (the call was acquired on
   * another node and its record had not arrived yet) is released then, as the release would have
   * released it. Local to this node, not replicated, lost on restart. 0 turns it off; keep it
   * several replication delays long. @defaultValue 5000
   */
  readonly pendingReleaseMs?: number
  /** Most releases remembered at once (see `pendingReleaseMs`); past it the oldest is dropped, so above 2,000 releases/s (by default) the window shrinks. @defaultValue 10000 */
  readonly maxPendingReleases?: number
  /**
   * Most Yjs clients the document may hold (one per node incarnation or client-id move, never
   * forgotten; Yjs's work per transaction and each digest grow with them): a remote update that
   * would bring in more is refused (`DP_ERR_BAD_UPDATE`, its connection closed). @defaultValue 20000
   */
  readonly maxClients?: number
  /** Interval of heartbeats to peers, ms; at most `livenessTimeoutMs / 2`. @defaultValue 1000 */
  readonly heartbeatIntervalMs?: number
  /** A node not heard of for this long is suspect (still counted), ms. @defaultValue 5000 */
  readonly livenessTimeoutMs?: number
  /** After the timeout, how long until a silent node is declared dead and its memberships stop counting, ms. @defaultValue 5000 */
  readonly graceMs?: number
  /** After being declared dead, how long until its memberships are deleted from the document, ms. @defaultValue 60000 */
  readonly purgeDelayMs?: number
  /**
   * Most other nodes the liveness table holds (nodes that authenticated to this one, or own
   * memberships in the document). Past it, new nodes are not tracked (logged). @defaultValue 1000
   */
  readonly maxTrackedNodes?: number
  /**
   * How far another node's incarnation may be ahead of this node's clock, ms: a heartbeat or
   * handshake claiming a later incarnation is refused. @defaultValue 60000
   */
  readonly maxClockSkewMs?: number
  /**
   * Largest WebSocket message accepted (ws `maxPayload`) or sent, bytes, at least 1024; give
   * every node the same value. A state exchange larger than this goes one writing node at a
   * time, so it must hold one node's share of the state (about 56 bytes per live membership).
   * @defaultValue 67108864 (64 MiB)
   */
  readonly maxMessageBytes?: number
  /** Most WebSocket messages per second accepted from one connection (burst of one second); past it the connection is closed. @defaultValue 10000 */
  readonly maxMessagesPerSecond?: number
  /** Most protocol messages in one WebSocket message. @defaultValue 10000 */
  readonly maxMessagesPerFrame?: number
  /** Bytes queued to one peer before it is dropped as too slow (it resyncs on reconnect); at least `maxMessageBytes`. @defaultValue 134217728 (128 MiB) */
  readonly maxBufferedBytes?: number
  /** Time a new connection has to authenticate, ms. @defaultValue 5000 */
  readonly authTimeoutMs?: number
  /** First reconnect delay, ms (doubles per failure, with jitter); at most `reconnectMaxMs`. @defaultValue 100 */
  readonly reconnectInitialMs?: number
  /** Largest reconnect delay, ms. @defaultValue 5000 */
  readonly reconnectMaxMs?: number
  /** How often expired memberships are swept from the document, ms. @defaultValue 1000 */
  readonly sweepIntervalMs?: number
  /** Initial sync and admission before it. @defaultValue { policy: 'reject', timeoutMs: 10000, waitMs: 1000, peers: 'any', afterTimeout: 'allow' } */
  readonly readiness?: ReadinessOptions
  /** Persist the document here (append log + snapshots). @defaultValue undefined (no persistence) */
  readonly dataDir?: string
  /** fsync interval of the persistence log, ms. @defaultValue 1000 */
  readonly fsyncIntervalMs?: number
  /** Snapshot interval of the persistence, ms. @defaultValue 60000 */
  readonly snapshotIntervalMs?: number
  /**
   * Resume this node's own memberships from `dataDir` instead of voiding them: for a restart of
   * the node process alone, while its proxy still carries the calls and will end them. The node
   * keeps the incarnation recorded in `dataDir` (peers see the same owner come back, as after a
   * partition), takes a fresh Yjs client id, and treats every partition of its node id and
   * incarnation as its own (ProfileStore `resume`). Requires `dataDir`. @defaultValue false
   */
  readonly resume?: boolean
  /** After a failed write to `dataDir`, how often a full snapshot is tried until one succeeds, ms. @defaultValue 1000 */
  readonly persistenceRetryMs?: number
  /** File operations of the persistence (tests inject disk faults). @defaultValue node:fs */
  readonly fileSystem?: FileSystem
  /** Log lines. @defaultValue warnings and errors to console.warn, the rest dropped */
  readonly log?: Logger
  /**
   * Per-node keys: this node's Ed25519 private key (PEM, PKCS#8), given together with
   * `trustedNodes`. Every heartbeat this node originates is signed with it. Never a property,
   * never logged. @defaultValue undefined (shared secret only)
   */
  readonly identity?: { readonly privateKey: string | Buffer }
  /**
   * Per-node keys: the trust list, node id to Ed25519 public key (PEM, SPKI), this node
   * included (matching `identity`). Only listed nodes may connect, and a heartbeat (direct or
   * relayed) counts only with the signature of the node it names. Give every node the same
   * list. @defaultValue undefined (shared secret only)
   */
  readonly trustedNodes?: Readonly<Record<string, string | Buffer>>
  /**
   * Call admission (`acquire`). `nodes` lists every node id of the cluster (the same list on
   * every node): strict profiles split their limits over them; required when a strict profile
   * is declared and peers are given. `reserve`: spare rights a busy strict node asks its peers
   * for. `waitMs`: how long a strict acquire refused for `no-rights` waits for the rights its
   * node asked for, then decides again (once); 0 refuses at once. `leaseMs` (3 or more nodes): a
   * node admits strict calls only while a majority of `nodes` granted its lease within that
   * time, else it refuses with `no-quorum`; 0 turns leases and reclaims off. `leaseMarginMs`: a
   * majority reclaims a node's rights once it has been silent for `leaseMs + leaseMarginMs`, which
   * must exceed how far two nodes' clocks can drift or step apart meanwhile.
   * @defaultValue { nodes: [nodeId], reserve: 2, waitMs: 0, leaseMs: 2000, leaseMarginMs: 1000 }
   */
  readonly admission?: {
    readonly nodes?: readonly string[], readonly reserve?: number, readonly waitMs?: number,
    readonly leaseMs?: number, readonly leaseMarginMs?: number
  }
}

/** Every option resolved to its value and checked. Holds the secret: keep it out of public properties. */
export interface ResolvedOptions {
  readonly nodeId: string
  readonly profiles: readonly ProfileDeclaration[]
  readonly listen: { readonly host: string; readonly port: number } | undefined
  readonly peers: readonly string[]
  readonly secret: string
  readonly tls: TlsOptions | undefined
  readonly clock: Clock
  readonly random: () => number
  /** Undefined: chosen at construction (clock, or the data directory's record). */
  readonly incarnation: number | undefined
  readonly clientId: number | undefined
  readonly maxLocalMemberships: number
  readonly writeDelayMs: number
  readonly pendingReleaseMs: number
  readonly maxPendingReleases: number
  readonly maxClients: number
  readonly heartbeatIntervalMs: number
  readonly livenessTimeoutMs: number
  readonly graceMs: number
  readonly purgeDelayMs: number
  readonly maxTrackedNodes: number
  readonly maxClockSkewMs: number
  readonly maxMessageBytes: number
  readonly maxMessagesPerSecond: number
  readonly maxMessagesPerFrame: number
  readonly maxBufferedBytes: number
  readonly authTimeoutMs: number
  readonly reconnectInitialMs: number
  readonly reconnectMaxMs: number
  readonly sweepIntervalMs: number
  readonly readiness: Required<ReadinessOptions>
  readonly dataDir: string | undefined
  readonly fsyncIntervalMs: number
  readonly snapshotIntervalMs: number
  readonly resume: boolean
  readonly persistenceRetryMs: number
  readonly fileSystem: FileSystem | undefined
  readonly log: Logger
  /** Per-node keys, or undefined in shared-secret mode. Holds the private key: keep it private. */
  readonly keys: NodeKeys | undefined
  readonly admission: {
    readonly nodes: readonly string[], readonly reserve: number, readonly waitMs: number,
    readonly leaseMs: number, readonly leaseMarginMs: number
  }
  /** Hubs (with their tokens), empty in mesh mode. Keep private. */
  readonly hubs: ReadonlyArray<Required<HubOptions>>
  /** The read-only endpoint (with its token), or undefined. Keep private. */
  readonly observe: Required<ObserveOptions> | undefined
}

const KNOWN_OPTIONS: ReadonlySet<string> = new Set<keyof ClusterNodeOptions>([
  'nodeId', 'profiles', 'listen', 'peers', 'secret', 'tls', 'clock', 'random', 'incarnation', 'clientId',
  'maxLocalMemberships', 'writeDelayMs', 'pendingReleaseMs', 'maxPendingReleases', 'maxClients', 'heartbeatIntervalMs', 'livenessTimeoutMs', 'graceMs', 'purgeDelayMs', 'maxTrackedNodes',
  'maxClockSkewMs', 'maxMessageBytes', 'maxMessagesPerSecond', 'maxMessagesPerFrame', 'maxBufferedBytes',
  'authTimeoutMs', 'reconnectInitialMs', 'reconnectMaxMs', 'sweepIntervalMs', 'readiness', 'dataDir',
  'fsyncIntervalMs', 'snapshotIntervalMs', 'resume', 'persistenceRetryMs', 'fileSystem', 'log', 'identity', 'trustedNodes', 'admission',
  'hubs', 'observe'
])
const KNOWN_HUB: ReadonlySet<string> = new Set<keyof HubOptions>(['url', 'room', 'token'])
const KNOWN_OBSERVE: ReadonlySet<string> = new Set<keyof ObserveOptions>(['listen', 'token', 'maxObservers', 'maxMessageBytes', 'maxMessagesPerSecond'])
// A room name: url-path safe characters.
const ROOM_PATTERN = /^[A-Za-z0-9._~-]{1,128}$/
const KNOWN_READINESS: ReadonlySet<string> = new Set<keyof ReadinessOptions>(['policy', 'timeoutMs', 'waitMs', 'peers', 'afterTimeout'])
const KNOWN_LISTEN: ReadonlySet<string> = new Set<keyof NonNullable<ClusterNodeOptions['listen']>>(['host', 'port'])
const KNOWN_TLS: ReadonlySet<string> = new Set<keyof TlsOptions>(['cert', 'key', 'ca', 'rejectUnauthorized'])
const KNOWN_IDENTITY: ReadonlySet<string> = new Set<keyof NonNullable<ClusterNodeOptions['identity']>>(['privateKey'])
const KNOWN_ADMISSION: ReadonlySet<string> = new Set<keyof NonNullable<ClusterNodeOptions['admission']>>(['nodes', 'reserve', 'waitMs', 'leaseMs', 'leaseMarginMs'])

const invalid = (msg: string): Error => fail('DP_ERR_INVALID_ARGUMENT', msg)

/** The default logger: warnings and errors to `console.warn`. */
export const defaultLog: Logger = (level, msg) => { if (level === 'warn' || level === 'error') console.warn(`dialog-profiles: ${msg}`) }

/** A timer option: positive and at most {@link MAX_TIMER_MS}. */
const timer = (v: unknown, what: string): number => {
  const ms = positive(v, what)
  if (ms > MAX_TIMER_MS) throw invalid(`${what} must be at most ${MAX_TIMER_MS} ms`)
  return ms
}

/** A delay that may be 0: non-negative and at most {@link MAX_TIMER_MS}. */
const delay = (v: unknown, what: string): number => {
  const ms = nonNegative(v, what)
  if (ms > MAX_TIMER_MS) throw invalid(`${what} must be at most ${MAX_TIMER_MS} ms`)
  return ms
}

const fn = <T>(v: unknown, what: string): T => {
  if (typeof v !== 'function') throw invalid(`${what} must be a function`)
  return v as T
}

const oneOf = <T extends string>(v: unknown, allowed: readonly T[], what: string): T => {
  if (!allowed.includes(v as T)) throw invalid(`${what} must be one of ${allowed.map((a) => `'${a}'`).join(', ')}`)
  return v as T
}

const pem = (v: unknown): boolean => typeof v === 'string' || Buffer.isBuffer(v)

// ws://host:port[/path]: a bracketed IPv6 address or a host name without user info, then an explicit port.
const PEER_URL = /^wss?:\/\/(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~%!$&'()*+,;=-]+):(\d{1,5})(\/[^\s?#]*)?$/

/**
 * Checks one peer url: `ws://` or `wss://`, a host, an explicit port in 1..65535, no user info,
 * query or fragment. Returns the url as given.
 * @throws DialogProfilesError `DP_ERR_INVALID_ARGUMENT` naming `what`
 */
export const checkPeerUrl = (url: unknown, what = 'peer url'): string => {
  const shown = typeof url === 'string' ? JSON.stringify(url.slice(0, 200)) : typeof url
  const m = typeof url === 'string' ? PEER_URL.exec(url) : null
  if (m === null) throw invalid(`${what} ${shown} must be ws://host:port or wss://host:port (a host and an explicit port)`)
  const port = Number(m[2])
  if (port < 1 || port > 65535) throw invalid(`${what} ${shown}: port must be in 1..65535`)
  try { new URL(url as string) } catch { throw invalid(`${what} ${shown} is not a valid url`) }
  return url as string
}

/** The key two urls of one peer share (scheme, host and port, case-insensitive host). */
const peerKey = (url: string): string => { const u = new URL(url); return `${u.protocol}//${u.host}${u.pathname}` }

const checkListen = (v: unknown, what = 'listen'): { host: string; port: number } | undefined => {
  if (v === undefined) return undefined
  if (typeof v !== 'object' || v === null) throw invalid(`${what} must be { host, port }`)
  onlyKnownKeys(v, KNOWN_LISTEN, what)
  const { host, port } = v as { host?: unknown; port?: unknown }
  if (typeof host !== 'string' || host === '') throw invalid(`${what}.host must be a non-empty string`)
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) throw invalid(`${what}.port must be an integer in 0..65535`)
  return { host, port }
}

const checkTls = (v: unknown): TlsOptions | undefined => {
  if (v === undefined) return undefined
  if (typeof v !== 'object' || v === null) throw invalid('tls must be { cert, key, ca?, rejectUnauthorized? }')
  onlyKnownKeys(v, KNOWN_TLS, 'tls')
  const t = v as Record<string, unknown>
  if (!pem(t['cert'])) throw invalid('tls.cert must be the PEM certificate (a string or Buffer)')
  if (!pem(t['key'])) throw invalid('tls.key must be the PEM private key (a string or Buffer)')
  const ca = t['ca']
  if (ca !== undefined && !pem(ca) && !(Array.isArray(ca) && ca.every(pem))) throw invalid('tls.ca must be a PEM string or Buffer, or an array of them')
  if (t['rejectUnauthorized'] !== undefined && typeof t['rejectUnauthorized'] !== 'boolean') throw invalid('tls.rejectUnauthorized must be a boolean')
  return v as TlsOptions
}

const spki = (k: KeyObject): string => k.export({ type: 'spki', format: 'der' }).toString('hex')

const checkKeys = (nodeId: string, identity: unknown, trustedNodes: unknown): NodeKeys | undefined => {
  if (identity === undefined && trustedNodes === undefined) return undefined
  if (identity === undefined || trustedNodes === undefined) throw invalid('identity and trustedNodes go together (per-node keys)')
  const pk = (identity as { privateKey?: unknown } | null)?.privateKey
  if (typeof identity !== 'object' || !pem(pk)) throw invalid('identity.privateKey must be a PEM Ed25519 private key (a string or Buffer)')
  onlyKnownKeys(identity as object, KNOWN_IDENTITY, 'identity')
  let privateKey: KeyObject
  try { privateKey = createPrivateKey(pk as string | Buffer) } catch { throw invalid('identity.privateKey is not a readable private key') }
  if (privateKey.asymmetricKeyType !== 'ed25519') throw invalid('identity.privateKey must be an Ed25519 key')
  if (typeof trustedNodes !== 'object' || trustedNodes === null || Array.isArray(trustedNodes)) throw invalid('trustedNodes must map node ids to PEM Ed25519 public keys')
  const trusted = new Map<string, KeyObject>()
  for (const [id, v] of Object.entries(trustedNodes as Record<string, unknown>)) {
    if (!NODE_ID_PATTERN.test(id)) throw invalid(`trustedNodes: ${JSON.stringify(id.slice(0, 80))} is not a node id`)
    let key: KeyObject
    try { key = createPublicKey(v as string | Buffer) } catch { throw invalid(`trustedNodes.${id} is not a readable public key`) }
    if (key.asymmetricKeyType !== 'ed25519') throw invalid(`trustedNodes.${id} must be an Ed25519 key`)
    trusted.set(id, key)
  }
  const own = trusted.get(nodeId)
  if (own === undefined || spki(own) !== spki(createPublicKey(privateKey))) throw invalid(`trustedNodes.${nodeId} must be the public key of identity.privateKey`)
  return { privateKey, trusted }
}

const checkToken = (v: unknown, what: string): string => {
  if (typeof v !== 'string' || v.length < MIN_SECRET_LENGTH || v.length > MAX_TOKEN_LENGTH) throw invalid(`${what} must be a string of ${MIN_SECRET_LENGTH} to ${MAX_TOKEN_LENGTH} characters`)
  return v
}

const checkHubs = (v: unknown): Array<Required<HubOptions>> => {
  if (v === undefined) return []
  if (!Array.isArray(v) || v.length === 0 || v.length > MAX_HUBS) throw invalid(`hubs must be an array of 1 to ${MAX_HUBS} { url, room?, token }`)
  const seen = new Map<string, number>()
  return v.map((h: unknown, i) => {
    if (typeof h !== 'object' || h === null) throw invalid(`hubs[${i}] must be { url, room?, token }`)
    onlyKnownKeys(h, KNOWN_HUB, `hubs[${i}]`)
    const { url, room, token } = h as HubOptions
    checkPeerUrl(url, `hubs[${i}].url`)
    const r = room ?? DEFAULT_HUB_ROOM
    if (typeof r !== 'string' || !ROOM_PATTERN.test(r)) throw invalid(`hubs[${i}].room must match ${String(ROOM_PATTERN)}`)
    const key = `${peerKey(url)} ${r}`
    const first = seen.get(key)
    if (first !== undefined) throw invalid(`hubs[${i}] repeats hubs[${first}]`)
    seen.set(key, i)
    return { url, room: r, token: checkToken(token, `hubs[${i}].token`) }
  })
}

const checkObserve = (v: unknown): Required<ObserveOptions> | undefined => {
  if (v === undefined) return undefined
  if (typeof v !== 'object' || v === null) throw invalid('observe must be { listen, token, maxObservers?, maxMessageBytes?, maxMessagesPerSecond? }')
  onlyKnownKeys(v, KNOWN_OBSERVE, 'observe')
  const o = v as ObserveOptions
  const listen = checkListen(o.listen, 'observe.listen')
  if (listen === undefined) throw invalid('observe.listen must be { host, port }')
  const maxMessageBytes = positiveInt(o.maxMessageBytes ?? DEFAULT_OBSERVE_MAX_MESSAGE_BYTES, 'observe.maxMessageBytes')
  if (maxMessageBytes < MIN_MAX_MESSAGE_BYTES) throw invalid(`observe.maxMessageBytes must be at least ${MIN_MAX_MESSAGE_BYTES}`)
  return {
    listen,
    token: checkToken(o.token, 'observe.token'),
    maxObservers: positiveInt(o.maxObservers ?? DEFAULT_MAX_OBSERVERS, 'observe.maxObservers'),
    maxMessageBytes,
    maxMessagesPerSecond: positiveInt(o.maxMessagesPerSecond ?? DEFAULT_OBSERVE_MAX_MESSAGES_PER_SECOND, 'observe.maxMessagesPerSecond')
  }
}

const checkReadiness = (v: unknown): Required<ReadinessOptions> => {
  if (v !== undefined && (typeof v !== 'object' || v === null)) throw invalid('readiness must be an object')
  const r = (v ?? {}) as ReadinessOptions
  onlyKnownKeys(r, KNOWN_READINESS, 'readiness')
  return {
    policy: oneOf(r.policy ?? DEFAULT_READINESS_POLICY, ['reject', 'allow', 'wait'], 'readiness.policy'),
    timeoutMs: timer(r.timeoutMs ?? DEFAULT_READINESS_TIMEOUT_MS, 'readiness.timeoutMs'),
    waitMs: timer(r.waitMs ?? DEFAULT_READINESS_WAIT_MS, 'readiness.waitMs'),
    peers: oneOf(r.peers ?? DEFAULT_READINESS_PEERS, ['any', 'all'], 'readiness.peers'),
    afterTimeout: oneOf(r.afterTimeout ?? DEFAULT_READINESS_AFTER_TIMEOUT, ['allow', 'reject'], 'readiness.afterTimeout')
  }
}

const checkPeers = (v: unknown): string[] => {
  if (v === undefined) return []
  if (!Array.isArray(v)) throw invalid('peers must be an array of urls')
  const seen = new Map<string, number>()
  return v.map((url: unknown, i) => {
    checkPeerUrl(url, `peers[${i}]`)
    const key = peerKey(url as string)
    const first = seen.get(key)
    if (first !== undefined) throw invalid(`peers[${i}] repeats peers[${first}]`)
    seen.set(key, i)
    return url as string
  })
}

const writeDelay = (v: unknown): number => {
  const ms = nonNegative(v ?? DEFAULT_WRITE_DELAY_MS, 'writeDelayMs')
  if (ms > MAX_WRITE_DELAY_MS) throw fail('DP_ERR_INVALID_ARGUMENT', `writeDelayMs must be at most ${MAX_WRITE_DELAY_MS}, got ${ms}`)
  return ms
}

/**
 * Resolves every option to its value (defaults from the `DEFAULT_*` constants) and checks each
 * one and the relations between them: `heartbeatIntervalMs <= livenessTimeoutMs / 2`,
 * `reconnectInitialMs <= reconnectMaxMs`, `maxBufferedBytes >= maxMessageBytes`,
 * `maxTrackedNodes >= peers.length`, `incarnation <= clock() + maxClockSkewMs`.
 * Pure: reads the clock once and touches nothing else (the data directory is opened later).
 * @throws DialogProfilesError `DP_ERR_INVALID_ARGUMENT` naming the option
 */
export const resolveOptions = (options: ClusterNodeOptions): ResolvedOptions => {
  if (typeof options !== 'object' || options === null) throw invalid('options must be an object')
  onlyKnownKeys(options, KNOWN_OPTIONS, '')
  const o = options as { readonly [K in keyof ClusterNodeOptions]: unknown }
  if (typeof o.nodeId !== 'string' || !NODE_ID_PATTERN.test(o.nodeId)) throw invalid(`nodeId must match ${String(NODE_ID_PATTERN)}`)
  const hubs = checkHubs(o.hubs)
  if (hubs.length > 0) {
    // A node joins either a mesh or hubs: combining them would relay every update between the
    // two and leave liveness with two sources of different strength (signed or not).
    if (o.peers !== undefined) throw invalid('hubs cannot be combined with peers: a node joins either a mesh or hubs')
    if (o.listen !== undefined) throw invalid('hubs cannot be combined with listen: a hub node accepts no mesh peers (observers use observe.listen)')
    if (o.identity !== undefined || o.trustedNodes !== undefined) throw invalid('hubs cannot be combined with per-node keys (identity, trustedNodes): awareness states are not signed')
  }
  const secretNeeded = o.secret !== undefined || hubs.length === 0
  if (secretNeeded && (typeof o.secret !== 'string' || o.secret.length < MIN_SECRET_LENGTH)) throw invalid(`secret must be a string of at least ${MIN_SECRET_LENGTH} characters`)
  if (o.profiles !== undefined && !Array.isArray(o.profiles)) throw invalid('profiles must be an array of declarations')
  // An unknown key is an unknown option here (as elsewhere in the options); the rest of a
  // declaration is checked by the profile registry (DP_ERR_BAD_DECLARATION).
  for (const [i, p] of ((o.profiles ?? []) as unknown[]).entries()) if (typeof p === 'object' && p !== null) onlyKnownKeys(p, DECLARATION_KEYS, `profiles[${i}]`)
  // every declaration checked now, before the node touches its data directory (DP_ERR_BAD_DECLARATION)
  new ProfileRegistry(o.profiles ?? [])
  const clock = fn<Clock>(o.clock ?? Date.now, 'clock')
  const random = fn<() => number>(o.random ?? Math.random, 'random')
  const log = fn<Logger>(o.log ?? defaultLog, 'log')
  const peers = checkPeers(o.peers)
  const heartbeatIntervalMs = timer(o.heartbeatIntervalMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS, 'heartbeatIntervalMs')
  const livenessTimeoutMs = timer(o.livenessTimeoutMs ?? DEFAULT_LIVENESS_TIMEOUT_MS, 'livenessTimeoutMs')
  if (heartbeatIntervalMs > livenessTimeoutMs / 2) {
    throw invalid(`heartbeatIntervalMs (${heartbeatIntervalMs}) must be at most livenessTimeoutMs / 2 (${livenessTimeoutMs / 2}): a live node would be taken for silent`)
  }
  const maxMessageBytes = positiveInt(o.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES, 'maxMessageBytes')
  if (maxMessageBytes < MIN_MAX_MESSAGE_BYTES) throw invalid(`maxMessageBytes must be at least ${MIN_MAX_MESSAGE_BYTES}`)
  const maxBufferedBytes = positiveInt(o.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES, 'maxBufferedBytes')
  if (maxBufferedBytes < maxMessageBytes) throw invalid(`maxBufferedBytes (${maxBufferedBytes}) must be at least maxMessageBytes (${maxMessageBytes})`)
  const reconnectInitialMs = timer(o.reconnectInitialMs ?? DEFAULT_RECONNECT_INITIAL_MS, 'reconnectInitialMs')
  const reconnectMaxMs = timer(o.reconnectMaxMs ?? DEFAULT_RECONNECT_MAX_MS, 'reconnectMaxMs')
  if (reconnectInitialMs > reconnectMaxMs) throw invalid(`reconnectInitialMs (${reconnectInitialMs}) must be at most reconnectMaxMs (${reconnectMaxMs})`)
  const maxTrackedNodes = positiveInt(o.maxTrackedNodes ?? DEFAULT_MAX_TRACKED_NODES, 'maxTrackedNodes')
  if (maxTrackedNodes < peers.length) throw invalid(`maxTrackedNodes (${maxTrackedNodes}) must be at least the number of peers (${peers.length})`)
  const maxClockSkewMs = delay(o.maxClockSkewMs ?? DEFAULT_MAX_CLOCK_SKEW_MS, 'maxClockSkewMs')
  let incarnation: number | undefined
  if (o.incarnation !== undefined) {
    incarnation = nonNegativeInt(o.incarnation, 'incarnation')
    const limit = clock() + maxClockSkewMs
    if (incarnation > limit) throw invalid(`incarnation (${incarnation}) is ahead of clock() by more than maxClockSkewMs (${maxClockSkewMs}): peers would refuse it`)
  }
  let clientId: number | undefined
  if (o.clientId !== undefined) {
    if (typeof o.clientId !== 'number' || !Number.isInteger(o.clientId) || o.clientId < 0 || o.clientId > MAX_CLIENT_ID) throw invalid('clientId must be an unsigned 32-bit integer')
    clientId = o.clientId
  }
  const keys = checkKeys(o.nodeId, o.identity, o.trustedNodes)
  if (keys !== undefined && maxTrackedNodes < keys.trusted.size - 1) throw invalid(`maxTrackedNodes (${maxTrackedNodes}) must be at least the number of other trusted nodes (${keys.trusted.size - 1})`)
  if (o.dataDir !== undefined && (typeof o.dataDir !== 'string' || o.dataDir === '')) throw invalid('dataDir must be a non-empty path')
  if (o.resume !== undefined && typeof o.resume !== 'boolean') throw invalid('resume must be a boolean')
  if (o.resume === true && o.dataDir === undefined) throw invalid('resume needs dataDir')
  if (o.fileSystem !== undefined && (typeof o.fileSystem !== 'object' || o.fileSystem === null)) throw invalid('fileSystem must be an object of file operations')
  const admission = checkAdmission(options)
  return {
    nodeId: o.nodeId,
    profiles: (o.profiles ?? []) as readonly ProfileDeclaration[],
    listen: checkListen(o.listen),
    peers,
    // Never used without a mesh: a hub node's transport neither listens nor dials.
    secret: (o.secret as string | undefined) ?? '',
    tls: checkTls(o.tls),
    clock,
    random,
    incarnation,
    clientId,
    maxLocalMemberships: positiveInt(o.maxLocalMemberships ?? DEFAULT_MAX_LOCAL_MEMBERSHIPS, 'maxLocalMemberships'),
    writeDelayMs: writeDelay(o.writeDelayMs),
    pendingReleaseMs: delay(o.pendingReleaseMs ?? DEFAULT_PENDING_RELEASE_MS, 'pendingReleaseMs'),
    maxPendingReleases: nonNegativeInt(o.maxPendingReleases ?? DEFAULT_MAX_PENDING_RELEASES, 'maxPendingReleases'),
    maxClients: positiveInt(o.maxClients ?? DEFAULT_MAX_CLIENTS, 'maxClients'),
    heartbeatIntervalMs,
    livenessTimeoutMs,
    graceMs: delay(o.graceMs ?? DEFAULT_GRACE_MS, 'graceMs'),
    purgeDelayMs: delay(o.purgeDelayMs ?? DEFAULT_PURGE_DELAY_MS, 'purgeDelayMs'),
    maxTrackedNodes,
    maxClockSkewMs,
    maxMessageBytes,
    maxMessagesPerSecond: positiveInt(o.maxMessagesPerSecond ?? DEFAULT_MAX_MESSAGES_PER_SECOND, 'maxMessagesPerSecond'),
    maxMessagesPerFrame: positiveInt(o.maxMessagesPerFrame ?? DEFAULT_MAX_MESSAGES_PER_FRAME, 'maxMessagesPerFrame'),
    maxBufferedBytes,
    authTimeoutMs: timer(o.authTimeoutMs ?? DEFAULT_AUTH_TIMEOUT_MS, 'authTimeoutMs'),
    reconnectInitialMs,
    reconnectMaxMs,
    sweepIntervalMs: timer(o.sweepIntervalMs ?? DEFAULT_SWEEP_INTERVAL_MS, 'sweepIntervalMs'),
    readiness: checkReadiness(o.readiness),
    dataDir: o.dataDir as string | undefined,
    fsyncIntervalMs: timer(o.fsyncIntervalMs ?? DEFAULT_FSYNC_INTERVAL_MS, 'fsyncIntervalMs'),
    snapshotIntervalMs: timer(o.snapshotIntervalMs ?? DEFAULT_SNAPSHOT_INTERVAL_MS, 'snapshotIntervalMs'),
    resume: o.resume === true,
    persistenceRetryMs: timer(o.persistenceRetryMs ?? DEFAULT_PERSISTENCE_RETRY_MS, 'persistenceRetryMs'),
    fileSystem: o.fileSystem as FileSystem | undefined,
    log,
    keys,
    admission,
    hubs,
    observe: checkObserve(o.observe)
  }
}

/** Admission options: node list (this node included, no duplicates), reserve, wait, lease and its margin. */
const checkAdmission = (o: ClusterNodeOptions): ResolvedOptions['admission'] => {
  const a = o.admission ?? {}
  if (typeof a !== 'object' || a === null) throw invalid('admission must be an object')
  onlyKnownKeys(a, KNOWN_ADMISSION, 'admission')
  const strict = (o.profiles ?? []).some(p => p?.admission === 'strict')
  if (a.nodes === undefined && strict && ((o.peers?.length ?? 0) > 0 || o.hubs !== undefined)) throw invalid('a strict profile needs admission.nodes: every node id of the cluster')
  if (strict && o.resume === true) throw invalid('strict admission needs a new incarnation per start: it cannot be combined with resume')
  const nodes = a.nodes ?? [o.nodeId]
  if (!Array.isArray(nodes) || nodes.length === 0 || !nodes.every(n => typeof n === 'string' && NODE_ID_PATTERN.test(n))) throw invalid('admission.nodes must be a non-empty array of node ids')
  if (new Set(nodes).size !== nodes.length) throw invalid('admission.nodes lists a node twice')
  if (!nodes.includes(o.nodeId)) throw invalid(`admission.nodes must include this node (${o.nodeId})`)
  const waitMs = a.waitMs ?? DEFAULT_ADMISSION_WAIT_MS
  return {
    nodes: [...nodes],
    reserve: nonNegativeInt(a.reserve ?? DEFAULT_ADMISSION_RESERVE, 'admission.reserve'),
    waitMs: waitMs === 0 ? 0 : timer(waitMs, 'admission.waitMs'),
    leaseMs: a.leaseMs === 0 ? 0 : timer(a.leaseMs ?? DEFAULT_ADMISSION_LEASE_MS, 'admission.leaseMs'),
    leaseMarginMs: delay(a.leaseMarginMs ?? DEFAULT_ADMISSION_LEASE_MARGIN_MS, 'admission.leaseMarginMs')
  }
}
