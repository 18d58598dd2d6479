/**
 * The daemon's configuration: one table of settings ({@link SETTINGS}) gives every flag of
 * `dialog-profiles serve`, its `DP_*` environment variable and its config-file key, and one
 * function ({@link resolveConfig}) merges the three sources (flags over environment over config
 * file), fills the defaults and checks everything before anything starts. A bad value throws a
 * `DialogProfilesError` with code `DP_ERR_CONFIG` naming the setting and its source.
 */
import { readFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { parse as parseYaml } from 'yaml'
import { fail } from '../errors.js'
import {
  DEFAULT_GRACE_MS, DEFAULT_HUB_ROOM, DEFAULT_HEARTBEAT_INTERVAL_MS, DEFAULT_LIVENESS_TIMEOUT_MS, DEFAULT_PURGE_DELAY_MS,
  DEFAULT_MAX_PENDING_RELEASES, DEFAULT_PENDING_RELEASE_MS, DEFAULT_READINESS_POLICY, MAX_TIMER_MS, MAX_WRITE_DELAY_MS, MIN_SECRET_LENGTH
} from '../options.js'
import type { ProfileDeclaration } from '../types.js'
import { NODE_ID_PATTERN } from '../internal/records.js'

/** Default cluster WebSocket address. */
export const DEFAULT_LISTEN = '127.0.0.1:7400'
/** Default HTTP API address (loopback: a sidecar answers its own proxy). */
export const DEFAULT_HTTP = '127.0.0.1:7480'
/** Default most time a membership added by the daemon counts, seconds (12 h, Kamailio's dialog `default_timeout`). */
export const DEFAULT_MAX_CALL_DURATION_S = 43_200
/** Default largest HTTP request body, bytes. */
export const DEFAULT_MAX_BODY_BYTES = 16_384
/** Default number of values per valued profile exported as their own metric series. */
export const DEFAULT_METRICS_TOP_VALUES = 10
/**
 * Default wait of the daemon's local writes for others to share one Yjs transaction, ms: one
 * transaction (and one update to each peer) per millisecond at most instead of one per request
 * when requests come one per event-loop turn (a few SIP workers each waiting for its answer).
 */
export const DEFAULT_DAEMON_WRITE_DELAY_MS = 1
/** Default log level. */
export const DEFAULT_LOG_LEVEL = 'info'

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
export type DaemonLogLevel = typeof LOG_LEVELS[number]
export const MODES = ['eventual', 'strict'] as const
export type AdmissionMode = typeof MODES[number]
export const READINESS_POLICIES = ['reject', 'allow', 'wait'] as const

/** A host and port as given on the command line (`HOST:PORT`, `[::1]:PORT`). */
export interface HostPort { readonly host: string; readonly port: number }

/**
 * A secret value that never prints: `String()`, `JSON.stringify` and `util.inspect` show
 * `[redacted]`; only {@link Secret.reveal} gives the value.
 */
export class Secret {
  readonly #value: string
  constructor (value: string) { this.#value = value }
  reveal (): string { return this.#value }
  toString (): string { return '[redacted]' }
  toJSON (): string { return '[redacted]' }
  [Symbol.for('nodejs.util.inspect.custom')] (): string { return '[redacted]' }
}

/** The resolved configuration of one daemon. */
export interface DaemonConfig {
  readonly nodeId: string
  /** Cluster WebSocket address; null for a hub node (it accepts no mesh peers). @defaultValue 127.0.0.1:7400 */
  readonly listen: HostPort | null
  /** HTTP API address. @defaultValue 127.0.0.1:7480 */
  readonly http: HostPort
  readonly peers: readonly string[]
  /** The mesh secret; null only for a hub node without one. */
  readonly secret: Secret | null
  /** y-websocket hubs to join through instead of a mesh (urls). @defaultValue [] (mesh) */
  readonly hubs: readonly string[]
  /** Token the hubs check (required with hubs). @defaultValue null */
  readonly hubToken: Secret | null
  /** Room on the hubs. @defaultValue 'dialog-profiles' */
  readonly hubRoom: string
  /** The read-only y-websocket endpoint and the token observers send. @defaultValue null (none) */
  readonly observe: { readonly listen: HostPort; readonly token: Secret } | null
  /** Per-node keys: this node's PEM Ed25519 private key and the trusted nodes' PEM public keys. @defaultValue null (shared secret only) */
  readonly keys: { readonly privateKey: Secret; readonly trustedNodes: Readonly<Record<string, string>> } | null
  /** Bearer token required by the HTTP API; required to bind it to a non-loopback address. @defaultValue null */
  readonly apiToken: Secret | null
  readonly profiles: readonly ProfileDeclaration[]
  /** Admission mode given to every profile declared without one. @defaultValue 'eventual' */
  readonly mode: AdmissionMode
  /** Every node id of the cluster (strict shares). @defaultValue [] (ClusterNode: this node only) */
  readonly admissionNodes: readonly string[]
  /** Strict mode: how long an acquire refused for `no-rights` waits for rights it requested from peers, ms. @defaultValue undefined (ClusterNode: 0, no wait) */
  readonly admissionWaitMs: number | undefined
  /** Strict lease, ms (0: no leases, no reclaim). @defaultValue undefined (ClusterNode: 2000) */
  readonly admissionLeaseMs: number | undefined
  /** Margin past the strict lease before a reclaim, ms. @defaultValue undefined (ClusterNode: 1000) */
  readonly admissionLeaseMarginMs: number | undefined
  /** Node options left unset fall back to ClusterNode's defaults. */
  readonly livenessTimeoutMs: number | undefined
  readonly graceMs: number | undefined
  readonly heartbeatIntervalMs: number | undefined
  readonly purgeDelayMs: number | undefined
  /** How long local writes wait to share a Yjs transaction (ClusterNode `writeDelayMs`), ms. @defaultValue 1 */
  readonly writeDelayMs: number
  /**
   * How long a release of a call this node does not know yet is remembered for its record
   * arriving from a peer (ClusterNode `pendingReleaseMs`), ms; 0 turns it off.
   * @defaultValue undefined (ClusterNode: 5000)
   */
  readonly pendingReleaseMs: number | undefined
  /**
   * How many such releases are remembered at most; past it the oldest is dropped and counted
   * (ClusterNode `maxPendingReleases`). @defaultValue undefined (ClusterNode: 10,000)
   */
  readonly maxPendingReleases: number | undefined
  readonly readiness: 'reject' | 'allow' | 'wait' | undefined
  readonly dataDir: string | null
  /**
   * A restart with the same `dataDir` keeps this node's incarnation and own memberships (its
   * proxy still carries those calls and will send their BYEs). @defaultValue true with dataDir, else false
   */
  readonly resume: boolean
  /** @defaultValue 'info' */
  readonly logLevel: DaemonLogLevel
  /** @defaultValue 43200000 (12 h) */
  readonly maxCallDurationMs: number
  /** @defaultValue 16384 */
  readonly maxBodyBytes: number
  /** @defaultValue 10 */
  readonly metricsTopValues: number
  /** Answer plain hot requests on the HTTP fast path (src/server/fast-http.ts). @defaultValue true */
  readonly httpFastPath: boolean
}

type Kind = 'string' | 'list' | 'int' | 'ms' | 'bool'

/** One setting: its flag, environment variable and config key. */
export interface Setting {
  /** Config-file key (camelCase). */
  readonly key: string
  /** Flag with its argument, commander syntax. */
  readonly flag: string
  /** Environment variables, first found wins. */
  readonly env: readonly string[]
  readonly kind: Kind
  readonly description: string
  /** Shown in --help and the README; applied by resolveConfig. */
  readonly defaultText?: string
}

/** Every setting of `dialog-profiles serve`. The README's table mirrors this list. */
export const SETTINGS: readonly Setting[] = [
  { key: 'nodeId', flag: '--node-id <id>', env: ['DP_NODE_ID'], kind: 'string', description: 'this node\'s id, [A-Za-z0-9._-]{1,64}, the same across restarts', defaultText: 'the host name' },
  { key: 'listen', flag: '--listen <host:port>', env: ['DP_LISTEN'], kind: 'string', description: 'cluster WebSocket address (port 0: a free port)', defaultText: DEFAULT_LISTEN },
  { key: 'http', flag: '--http <host:port>', env: ['DP_HTTP'], kind: 'string', description: 'HTTP API address; a non-loopback host needs --api-token', defaultText: DEFAULT_HTTP },
  { key: 'peers', flag: '--peer <url>', env: ['DP_PEERS', 'DP_PEER'], kind: 'list', description: 'ws://HOST:PORT of a peer to dial (repeatable; env: comma-separated)', defaultText: 'none' },
  { key: 'secret', flag: '--secret <s>', env: ['DP_SECRET'], kind: 'string', description: 'shared cluster secret, at least 8 characters (required, or --secret-file)' },
  { key: 'secretFile', flag: '--secret-file <file>', env: ['DP_SECRET_FILE'], kind: 'string', description: 'read the secret from this file (surrounding white space dropped)' },
  { key: 'identityFile', flag: '--identity-file <file>', env: ['DP_IDENTITY_FILE'], kind: 'string', description: 'per-node keys: this node\'s PEM Ed25519 private key; needs --trusted-node for every node, this one included', defaultText: 'none' },
  { key: 'trustedNodes', flag: '--trusted-node <id=file>', env: ['DP_TRUSTED_NODES'], kind: 'list', description: 'per-node keys: a node id and the file of its PEM Ed25519 public key (repeatable; env: comma-separated)', defaultText: 'none' },
  { key: 'hubs', flag: '--hub <url>', env: ['DP_HUBS', 'DP_HUB'], kind: 'list', description: 'join through this y-websocket server instead of a mesh (repeatable; env: comma-separated); excludes --listen, --peer and per-node keys', defaultText: 'none (mesh)' },
  { key: 'hubToken', flag: '--hub-token <token>', env: ['DP_HUB_TOKEN'], kind: 'string', description: 'token the hubs check, sent as the url parameter token (required with --hub)' },
  { key: 'hubTokenFile', flag: '--hub-token-file <file>', env: ['DP_HUB_TOKEN_FILE'], kind: 'string', description: 'read the hub token from this file' },
  { key: 'hubRoom', flag: '--hub-room <room>', env: ['DP_HUB_ROOM'], kind: 'string', description: 'room (document name) on the hubs', defaultText: DEFAULT_HUB_ROOM },
  { key: 'observe', flag: '--observe <host:port>', env: ['DP_OBSERVE'], kind: 'string', description: 'serve the read-only y-websocket endpoint here (needs --observe-token)', defaultText: 'none' },
  { key: 'observeToken', flag: '--observe-token <token>', env: ['DP_OBSERVE_TOKEN'], kind: 'string', description: 'token an observer sends as the url parameter token' },
  { key: 'observeTokenFile', flag: '--observe-token-file <file>', env: ['DP_OBSERVE_TOKEN_FILE'], kind: 'string', description: 'read the observer token from this file' },
  { key: 'profiles', flag: '--profile <name[:value]>', env: ['DP_PROFILES', 'DP_PROFILE'], kind: 'list', description: 'declare a profile: NAME plain, NAME:value with values (repeatable; env: comma-separated)', defaultText: 'none' },
  { key: 'mode', flag: '--mode <mode>', env: ['DP_MODE'], kind: 'string', description: 'admission mode of the declared profiles: eventual or strict', defaultText: 'eventual' },
  { key: 'admissionWaitMs', flag: '--admission-wait-ms <ms>', env: ['DP_ADMISSION_WAIT_MS'], kind: 'int', description: 'strict mode: how long an acquire without a spare right waits for the rights this node asked its peers for, before it is refused with no_rights (the SIP worker waits that long)', defaultText: '0' },
  { key: 'admissionLeaseMs', flag: '--admission-lease-ms <ms>', env: ['DP_ADMISSION_LEASE_MS'], kind: 'int', description: 'strict mode, 3 or more admission nodes: a node cut off from a majority of them for this long refuses strict calls (no_quorum); 0 turns leases and reclaims off', defaultText: '2000' },
  { key: 'admissionLeaseMarginMs', flag: '--admission-lease-margin-ms <ms>', env: ['DP_ADMISSION_LEASE_MARGIN_MS'], kind: 'int', description: 'strict mode: a majority reclaims the rights of a node silent for lease + this margin, which must exceed how far two nodes\' clocks drift or step apart meanwhile', defaultText: '1000' },
  { key: 'admissionNodes', flag: '--admission-node <id>', env: ['DP_ADMISSION_NODES'], kind: 'list', description: 'every node id of the cluster, the same list on every node (repeatable; env: comma-separated); required by --mode strict with peers', defaultText: 'this node' },
  { key: 'livenessTimeout', flag: '--liveness-timeout <ms>', env: ['DP_LIVENESS_TIMEOUT'], kind: 'ms', description: 'a peer silent this long is suspect', defaultText: String(DEFAULT_LIVENESS_TIMEOUT_MS) },
  { key: 'grace', flag: '--grace <ms>', env: ['DP_GRACE'], kind: 'ms', description: 'then this long more: dead, its calls stop counting', defaultText: String(DEFAULT_GRACE_MS) },
  { key: 'heartbeatInterval', flag: '--heartbeat-interval <ms>', env: ['DP_HEARTBEAT_INTERVAL'], kind: 'ms', description: 'heartbeat to every peer', defaultText: String(DEFAULT_HEARTBEAT_INTERVAL_MS) },
  { key: 'purgeDelay', flag: '--purge-delay <ms>', env: ['DP_PURGE_DELAY'], kind: 'ms', description: 'then this long more: a dead node\'s calls are deleted', defaultText: String(DEFAULT_PURGE_DELAY_MS) },
  { key: 'writeDelay', flag: '--write-delay <ms>', env: ['DP_WRITE_DELAY'], kind: 'ms', description: `how long this node's writes wait for others to share one transaction and one update to the peers, 0..${MAX_WRITE_DELAY_MS} (0: the end of the event-loop turn, one transaction per request under light load); peers see a call at most this much later`, defaultText: String(DEFAULT_DAEMON_WRITE_DELAY_MS) },
  { key: 'pendingRelease', flag: '--pending-release <ms>', env: ['DP_PENDING_RELEASE'], kind: 'ms', description: 'a release (end route) of a call whose record has not reached this node yet is remembered this long and applied when the record arrives from a peer; 0 turns it off', defaultText: String(DEFAULT_PENDING_RELEASE_MS) },
  { key: 'maxPendingReleases', flag: '--max-pending-releases <n>', env: ['DP_MAX_PENDING_RELEASES'], kind: 'int', description: 'at most this many such releases are remembered (about 250 bytes each); past it the oldest is dropped and counted', defaultText: String(DEFAULT_MAX_PENDING_RELEASES) },
  { key: 'readiness', flag: '--readiness <policy>', env: ['DP_READINESS'], kind: 'string', description: 'admission before the initial sync: reject, allow or wait', defaultText: DEFAULT_READINESS_POLICY },
  { key: 'dataDir', flag: '--data-dir <dir>', env: ['DP_DATA_DIR'], kind: 'string', description: 'persist the document here (append log + snapshots)', defaultText: 'none (memory only)' },
  { key: 'resume', flag: '--resume <bool>', env: ['DP_RESUME'], kind: 'bool', description: 'with --data-dir, a restart resumes this node\'s own memberships instead of voiding them (true or false)', defaultText: 'true with --data-dir' },
  { key: 'logLevel', flag: '--log-level <level>', env: ['DP_LOG_LEVEL'], kind: 'string', description: `${LOG_LEVELS.join(', ')}`, defaultText: DEFAULT_LOG_LEVEL },
  { key: 'maxCallDuration', flag: '--max-call-duration <s>', env: ['DP_MAX_CALL_DURATION'], kind: 'int', description: 'seconds a membership added through the daemon counts at most (caps expires)', defaultText: String(DEFAULT_MAX_CALL_DURATION_S) },
  { key: 'apiToken', flag: '--api-token <token>', env: ['DP_API_TOKEN'], kind: 'string', description: 'require Authorization: Bearer TOKEN on the HTTP API', defaultText: 'none' },
  { key: 'apiTokenFile', flag: '--api-token-file <file>', env: ['DP_API_TOKEN_FILE'], kind: 'string', description: 'read the API token from this file' },
  { key: 'maxBodyBytes', flag: '--max-body-bytes <n>', env: ['DP_MAX_BODY_BYTES'], kind: 'int', description: 'largest HTTP request body accepted (larger: 400)', defaultText: String(DEFAULT_MAX_BODY_BYTES) },
  { key: 'httpFastPath', flag: '--http-fast-path <bool>', env: ['DP_HTTP_FAST_PATH'], kind: 'bool', description: 'answer plain POST /v1/acquire and the other write requests straight off the socket, with node:http\'s exact answers; false: node:http for every request (true or false)', defaultText: 'true' },
  { key: 'metricsTopValues', flag: '--metrics-top-values <n>', env: ['DP_METRICS_TOP_VALUES'], kind: 'int', description: 'values of a valued profile exported as their own series; the rest are summed in value="__other__"', defaultText: String(DEFAULT_METRICS_TOP_VALUES) }
]

/** Raw values of one source, by setting key. */
export type RawSettings = Record<string, unknown>
type Source = 'flag' | 'environment' | 'config file'

const bad = (message: string): Error => fail('DP_ERR_CONFIG', message)

/** The commander attribute name of a setting (`--node-id` → `nodeId`; `--peer` → `peer`). */
export const flagAttribute = (s: Setting): string => {
  const name = (s.flag.split(' ')[0] ?? '').replace(/^--/, '')
  return name.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase())
}

/** Reads `DP_*` variables into raw settings (lists: comma- or space-separated). */
export const settingsFromEnv = (env: NodeJS.ProcessEnv): RawSettings => {
  const out: RawSettings = {}
  for (const s of SETTINGS) {
    const name = s.env.find((e) => env[e] !== undefined && env[e] !== '')
    if (name === undefined) continue
    const v = env[name] as string
    out[s.key] = s.kind === 'list' ? v.split(/[\s,]+/).filter((x) => x !== '') : v
  }
  return out
}

/** Reads commander's parsed options into raw settings (only the flags that were given). */
export const settingsFromFlags = (opts: Record<string, unknown>): RawSettings => {
  const out: RawSettings = {}
  for (const s of SETTINGS) {
    const v = opts[flagAttribute(s)]
    if (v !== undefined) out[s.key] = v
  }
  return out
}

/** Reads a JSON or YAML config file (by extension; `.json` is JSON, anything else YAML, a superset). */
export const settingsFromFile = (path: string): RawSettings => {
  let text: string
  try { text = readFileSync(path, 'utf8') } catch (err) {
    throw bad(`cannot read config file ${path}: ${err instanceof Error ? err.message : String(err)}`)
  }
  let doc: unknown
  try { doc = path.endsWith('.json') ? JSON.parse(text) : parseYaml(text) } catch (err) {
    throw bad(`config file ${path} does not parse: ${err instanceof Error ? err.message : String(err)}`)
  }
  if (doc === null || doc === undefined) return {}
  if (typeof doc !== 'object' || Array.isArray(doc)) throw bad(`config file ${path} must hold an object of settings`)
  const known = new Set(SETTINGS.map((s) => s.key))
  for (const k of Object.keys(doc)) {
    if (!known.has(k)) throw bad(`config file ${path}: unknown setting "${k}" (known: ${[...known].join(', ')})`)
  }
  return doc as RawSettings
}

/** Parses `HOST:PORT` (`[v6]:PORT` for IPv6). */
export const parseHostPort = (text: string, what: string): HostPort => {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(text)
  const port = m !== null ? Number(m[3]) : NaN
  if (m === null || port > 65535) throw bad(`${what} must be HOST:PORT (IPv6 as [::1]:PORT), got "${text}"`)
  return { host: (m[1] ?? m[2]) as string, port }
}

/** Whether a host name or address is a loopback one (127.0.0.0/8, ::1, localhost). */
export const isLoopback = (host: string): boolean =>
  host === 'localhost' || host === '::1' || /^127(?:\.\d{1,3}){3}$/.test(host) || /^::ffff:127(?:\.\d{1,3}){3}$/.test(host)

const parseProfile = (text: unknown, where: string): ProfileDeclaration => {
  if (typeof text === 'object' && text !== null && !Array.isArray(text)) return text as ProfileDeclaration
  if (typeof text !== 'string') throw bad(`${where}: a profile is NAME or NAME:value, got ${JSON.stringify(text)}`)
  const i = text.lastIndexOf(':')
  if (i < 0) return { name: text }
  const suffix = text.slice(i + 1)
  if (suffix !== 'value') throw bad(`${where}: a profile is NAME or NAME:value, got "${text}"`)
  return { name: text.slice(0, i), withValue: true }
}

const readKeyFile = (path: string, what: string): string => {
  try { return readFileSync(path, 'utf8') } catch (err) {
    throw bad(`cannot read ${what} ${path}: ${err instanceof Error ? err.message : String(err)}`)
  }
}

/** Per-node keys from `--identity-file` and `--trusted-node ID=FILE` (contents checked by the node). */
const nodeKeysOf = (identityFile: string | undefined, trusted: unknown[]): DaemonConfig['keys'] => {
  if (identityFile === undefined && trusted.length === 0) return null
  if (identityFile === undefined || trusted.length === 0) throw bad('per-node keys need both --identity-file and --trusted-node (one per node, this one included)')
  const trustedNodes: Record<string, string> = {}
  for (const t of trusted) {
    const m = typeof t === 'string' ? /^([^=]+)=(.+)$/.exec(t) : null
    if (m === null) throw bad(`a trusted node is ID=FILE (its PEM Ed25519 public key), got ${JSON.stringify(t)}`)
    const id = m[1] as string
    if (!NODE_ID_PATTERN.test(id)) throw bad(`a trusted node id must match [A-Za-z0-9._-]{1,64}, got "${id}"`)
    if (Object.hasOwn(trustedNodes, id)) throw bad(`trusted node "${id}" given twice`)
    trustedNodes[id] = readKeyFile(m[2] as string, `the public key file of ${id}`)
  }
  return { privateKey: new Secret(readKeyFile(identityFile, 'the identity file')), trustedNodes }
}

/** The merged raw value of one setting and where it came from. */
interface Picked { value: unknown; source: Source }

/**
 * Merges flags over environment over config file, fills defaults and checks every value.
 * @throws DialogProfilesError `DP_ERR_CONFIG`
 */
export const resolveConfig = (sources: { flags?: RawSettings; env?: RawSettings; file?: RawSettings }): DaemonConfig => {
  const levels: Array<[Source, RawSettings]> = [['flag', sources.flags ?? {}], ['environment', sources.env ?? {}], ['config file', sources.file ?? {}]]
  const pick = (key: string): Picked | undefined => {
    for (const [source, raw] of levels) if (raw[key] !== undefined) return { value: raw[key], source }
    return undefined
  }
  const label = (key: string, p: Picked): string => {
    const s = SETTINGS.find((x) => x.key === key) as Setting
    return p.source === 'flag' ? (s.flag.split(' ')[0] as string) : p.source === 'environment' ? (s.env[0] as string) : `"${key}" in the config file`
  }
  const str = (key: string): string | undefined => {
    const p = pick(key)
    if (p === undefined) return undefined
    if (typeof p.value !== 'string' || p.value === '') throw bad(`${label(key, p)} must be a non-empty string`)
    return p.value
  }
  const int = (key: string, min: number): number | undefined => {
    const p = pick(key)
    if (p === undefined) return undefined
    const n = typeof p.value === 'number' ? p.value : typeof p.value === 'string' && /^\d+$/.test(p.value.trim()) ? Number(p.value) : NaN
    if (!Number.isSafeInteger(n) || n < min) throw bad(`${label(key, p)} must be an integer >= ${min}, got ${JSON.stringify(p.value)}`)
    return n
  }
  const list = (key: string): unknown[] => {
    const p = pick(key)
    if (p === undefined) return []
    if (typeof p.value === 'string') return p.value.split(/[\s,]+/).filter((x) => x !== '')
    if (!Array.isArray(p.value)) throw bad(`${label(key, p)} must be a list`)
    return p.value
  }
  const bool = (key: string): boolean | undefined => {
    const p = pick(key)
    if (p === undefined) return undefined
    if (typeof p.value === 'boolean') return p.value
    const v = typeof p.value === 'string' ? p.value.trim().toLowerCase() : ''
    if (['true', 'yes', 'on', '1'].includes(v)) return true
    if (['false', 'no', 'off', '0'].includes(v)) return false
    throw bad(`${label(key, p)} must be true or false, got ${JSON.stringify(p.value)}`)
  }
  const oneOf = <T extends string>(key: string, allowed: readonly T[]): T | undefined => {
    const v = str(key)
    if (v === undefined) return undefined
    if (!(allowed as readonly string[]).includes(v)) throw bad(`${label(key, pick(key) as Picked)} must be one of ${allowed.join(', ')}, got "${v}"`)
    return v as T
  }
  // A secret given inline or by file: the highest level that has either wins; both at one level is an error.
  const secretOf = (inline: string, file: string): Secret | null => {
    for (const [source, raw] of levels) {
      const a = raw[inline]; const b = raw[file]
      if (a !== undefined && b !== undefined) throw bad(`${inline} and ${file} both given (${source}): give one`)
      if (a !== undefined) {
        if (typeof a !== 'string' || a === '') throw bad(`${label(inline, { value: a, source })} must be a non-empty string`)
        return new Secret(a)
      }
      if (b !== undefined) {
        if (typeof b !== 'string' || b === '') throw bad(`${label(file, { value: b, source })} must be a file name`)
        let text: string
        try { text = readFileSync(b, 'utf8').trim() } catch (err) {
          throw bad(`cannot read ${label(file, { value: b, source })} ${b}: ${err instanceof Error ? err.message : String(err)}`)
        }
        if (text === '') throw bad(`${label(file, { value: b, source })} ${b} is empty`)
        return new Secret(text)
      }
    }
    return null
  }

  const nodeId = str('nodeId') ?? hostname()
  if (!NODE_ID_PATTERN.test(nodeId)) throw bad(`node id must match [A-Za-z0-9._-]{1,64}, got "${nodeId}" (set --node-id)`)
  const wsUrl = (u: unknown, what: string): string => {
    if (typeof u !== 'string' || !/^wss?:\/\/[^\s/]+(\/\S*)?$/.test(u)) throw bad(`${what} must be ws://HOST:PORT or wss://HOST:PORT, got ${JSON.stringify(u)}`)
    return u
  }
  const peers = list('peers').map((u) => wsUrl(u, 'a peer'))
  const hubs = list('hubs').map((u) => wsUrl(u, 'a hub'))
  const hubToken = secretOf('hubToken', 'hubTokenFile')
  const hubRoom = str('hubRoom') ?? DEFAULT_HUB_ROOM
  if (hubs.length > 0) {
    // A hub node has no mesh: no cluster port, no peers, no per-node keys (awareness is not signed).
    if (pick('listen') !== undefined) throw bad('--hub cannot be combined with --listen: a hub node accepts no mesh peers')
    if (peers.length > 0) throw bad('--hub cannot be combined with --peer: a node joins either a mesh or hubs')
    if (pick('identityFile') !== undefined || pick('trustedNodes') !== undefined) throw bad('--hub cannot be combined with per-node keys (--identity-file, --trusted-node)')
    if (hubToken === null) throw bad('--hub needs a hub token: --hub-token, --hub-token-file, DP_HUB_TOKEN or "hubToken" in the config file')
  } else if (hubToken !== null || pick('hubRoom') !== undefined) {
    throw bad('a hub token or room without --hub: give the hubs to join (--hub)')
  }
  const listen = hubs.length > 0 ? null : parseHostPort(str('listen') ?? DEFAULT_LISTEN, 'listen address')
  const http = parseHostPort(str('http') ?? DEFAULT_HTTP, 'HTTP address')
  const secret = secretOf('secret', 'secretFile')
  if (secret === null && hubs.length === 0) throw bad('a cluster secret is required: --secret, --secret-file, DP_SECRET or "secret" in the config file')
  if (secret !== null && secret.reveal().length < MIN_SECRET_LENGTH) throw bad(`the cluster secret must be at least ${MIN_SECRET_LENGTH} characters`)
  const observeAt = str('observe')
  const observeToken = secretOf('observeToken', 'observeTokenFile')
  if ((observeAt === undefined) !== (observeToken === null)) throw bad('--observe and --observe-token go together (the read-only endpoint needs its token)')
  const observe = observeAt !== undefined && observeToken !== null ? { listen: parseHostPort(observeAt, 'observe address'), token: observeToken } : null
  const keys = nodeKeysOf(str('identityFile'), list('trustedNodes'))
  const apiToken = secretOf('apiToken', 'apiTokenFile')
  if (apiToken !== null && apiToken.reveal().length < 16) throw bad('the API token must be at least 16 characters')
  if (!isLoopback(http.host) && apiToken === null) {
    throw bad(`the HTTP API would listen on ${http.host}, which is not a loopback address: configure an API token (--api-token or --api-token-file) or bind 127.0.0.1`)
  }
  const mode = oneOf('mode', MODES) ?? 'eventual'
  const profiles = list('profiles').map((p) => parseProfile(p, 'profile')).map((p) => p.admission === undefined ? { ...p, admission: mode } : p)
  const names = new Set<string>()
  for (const p of profiles) {
    if (typeof p.name !== 'string' || !/^[A-Za-z0-9_.:-]{1,64}$/.test(p.name)) throw bad(`profile name must match [A-Za-z0-9_.:-]{1,64}, got ${JSON.stringify(p.name)}`)
    if (names.has(p.name)) throw bad(`profile "${p.name}" declared twice`)
    names.add(p.name)
  }
  const maxCallDurationS = int('maxCallDuration', 1) ?? DEFAULT_MAX_CALL_DURATION_S
  const dataDir = str('dataDir') ?? null
  const explicitResume = bool('resume')
  if (explicitResume === true && mode === 'strict') throw bad('--mode strict needs a new incarnation per start: it cannot be combined with --resume true')
  const resume = explicitResume ?? (dataDir !== null && mode !== 'strict')
  if (resume && dataDir === null) throw bad('resume needs a data directory (--data-dir)')
  const admissionNodes = list('admissionNodes').map((n) => {
    if (typeof n !== 'string' || !NODE_ID_PATTERN.test(n)) throw bad(`an admission node must be a node id, got ${JSON.stringify(n)}`)
    return n
  })
  if (mode === 'strict' && peers.length > 0 && admissionNodes.length === 0) throw bad('--mode strict with peers needs --admission-node for every node id of the cluster (the same list on every node)')
  if (admissionNodes.length > 0 && !admissionNodes.includes(nodeId)) throw bad(`the admission nodes must include this node (${nodeId})`)
  const writeDelayMs = int('writeDelay', 0) ?? DEFAULT_DAEMON_WRITE_DELAY_MS
  if (writeDelayMs > MAX_WRITE_DELAY_MS) throw bad(`--write-delay must be at most ${MAX_WRITE_DELAY_MS} ms, got ${writeDelayMs}`)
  const pendingReleaseMs = int('pendingRelease', 0)
  if (pendingReleaseMs !== undefined && pendingReleaseMs > MAX_TIMER_MS) throw bad(`--pending-release must be at most ${MAX_TIMER_MS} ms, got ${pendingReleaseMs}`)
  return {
    nodeId,
    listen,
    http,
    peers,
    secret,
    hubs,
    hubToken,
    hubRoom,
    observe,
    keys,
    apiToken,
    profiles,
    mode,
    admissionNodes,
    admissionWaitMs: int('admissionWaitMs', 0),
    admissionLeaseMs: int('admissionLeaseMs', 0),
    admissionLeaseMarginMs: int('admissionLeaseMarginMs', 0),
    livenessTimeoutMs: int('livenessTimeout', 1),
    graceMs: int('grace', 0),
    heartbeatIntervalMs: int('heartbeatInterval', 1),
    purgeDelayMs: int('purgeDelay', 0),
    writeDelayMs,
    pendingReleaseMs,
    maxPendingReleases: int('maxPendingReleases', 0),
    readiness: oneOf('readiness', READINESS_POLICIES),
    dataDir,
    resume,
    logLevel: oneOf('logLevel', LOG_LEVELS) ?? DEFAULT_LOG_LEVEL,
    maxCallDurationMs: maxCallDurationS * 1000,
    maxBodyBytes: int('maxBodyBytes', 64) ?? DEFAULT_MAX_BODY_BYTES,
    metricsTopValues: int('metricsTopValues', 0) ?? DEFAULT_METRICS_TOP_VALUES,
    httpFastPath: bool('httpFastPath') ?? true
  }
}
