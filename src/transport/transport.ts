/**
 * The cluster transport: a WebSocket server plus one dialler per configured peer url, a
 * registry of authenticated connections (one per pair of nodes), relay of document updates and
 * heartbeats, and anti-entropy between neighbours.
 *
 * Relay rule: every node tells its neighbours, in a digest, which nodes it is directly
 * connected to and has heard from lately. An update applied from connection C goes on to every other open connection
 * except those whose node is C's neighbour too: C gave it to them itself (by induction back to
 * the writer, who sends to all its neighbours). In a full mesh nothing is relayed; in a partial
 * mesh an update crosses the graph about once per node. Nor does it go to a connection whose
 * peer's state vectors (its digests and state requests) say it holds every struct the update
 * added, when the update deleted nothing: a joiner passes none of a member's state answer on to
 * members that had it, even when a busy member's digest named no neighbours. Yjs emits nothing
 * for content it already has, so duplicates stop where they arrive. Heartbeats follow the same
 * rule (without the state vectors), deduplicated by (node, incarnation, seq).
 *
 * Repair: the digest also carries the sender's state vector, every heartbeat interval; a node
 * that had, three intervals ago, something a neighbour still misses and made no progress on
 * over its last three digests sends it what it misses (a state answer, with the delete set). A node that loses a connection asks its remaining
 * neighbours for what it misses (sync step 1), so a mesh healing from a partition converges.
 *
 * Join: a node sends sync step 1 to one new connection at a time, the next only once the
 * previous answered (or stopped making progress), each with its state vector as it then is, so
 * a joiner gets each missing struct about once rather than once per member. Large answers come
 * in chunks of one writer's structs (see `peer.ts`).
 *
 * Reconnect: a dialler retries with exponential backoff and jitter (injected random); every
 * (re)connect starts with a state exchange (sync step 1 / step 2). Every failed attempt is
 * classified (refused, unreachable, tls, auth-failed, protocol) and kept per configured peer; it
 * is logged at warn (error for a failed authentication) at most once per
 * `PEER_ERROR_LOG_INTERVAL_MS` per peer, and at once when the kind of failure changes.
 *
 * Claims about a node (shared-secret mode): the handshake binds a connection's node id,
 * incarnation and client id. A heartbeat over a node's own connection must repeat that identity.
 * A relayed heartbeat about node v is ignored while v's own connection is up (v speaks for
 * itself), when it claims an incarnation ahead of this node's clock by more than
 * `maxClockSkewMs`, and unless it is for the incarnation of v this node already tracks
 * (`knownIncarnation`): a relay keeps a known incarnation alive, it never announces a new one.
 * A handshake claiming an incarnation beyond the skew is refused, and so is a second connection
 * claiming a connected node's id with another incarnation, until the first one ends.
 *
 * Per-node keys: document updates travel as messages signed by their writer (`SignedUpdateLog`,
 * see `signed-updates.ts` for the rules and the choice): a node signs what it writes, relays
 * forward the signed messages they applied (not their own re-encoding of the document's update),
 * state answers and repairs send each writer's retained signed messages, and a message with a
 * bad signature or a struct in a partition that is not its signer's is refused whole, counted
 * (`update-refused`) and closes the connection it came on.
 */
import { createServer as createHttpServer } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { Server as HttpServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import * as Y from 'yjs'
import { WebSocket, WebSocketServer } from 'ws'
import { fail } from '../errors.js'
import type { DialogProfilesError } from '../errors.js'
import { backoffDelay } from './backoff.js'
import { Emitter } from '../internal/emitter.js'
import { encodeTransactionUpdate, holdsTransaction, isKnownUpdate, onDocumentChange } from '../internal/partition-doc.js'
import { DEFAULT_MAX_CLOCK_SKEW_MS, PEER_ERROR_LOG_INTERVAL_MS, checkPeerUrl } from '../options.js'
import type { Logger, NodeKeys, TlsOptions } from '../options.js'
import { heartbeatSigned, signHeartbeat } from './auth.js'
import { CLOSE_MESSAGE_TOO_BIG, CLOSE_TIMEOUT_MS, CloseCode, PeerConnection, emptyStats } from './peer.js'
import type { ConnectionLimits, ConnectionStats, PeerHost } from './peer.js'
import { SignedUpdateLog } from './signed-updates.js'
import { DIGEST_SYNCING, SYNC_UPDATE, encodeSignature, encodeSync } from './wire.js'
import type { Digest, Heartbeat, SignedUpdates } from './wire.js'

export type { LogLevel, Logger, TlsOptions } from '../options.js'

/**
 * Why the last attempt to reach a configured peer failed: `'refused'` (nothing listens),
 * `'unreachable'` (no answer, reset, timeout, name not found), and the kinds where the peer
 * answered but the handshake failed: `'tls'` (certificate not trusted), `'auth-failed'` (the
 * peer's proof of the shared secret did not match ours, or ours not theirs) and `'protocol'`
 * (not a dialog-profiles node, another protocol version, or a protocol violation).
 */
export type PeerErrorKind = 'refused' | 'unreachable' | 'tls' | 'auth-failed' | 'protocol'

/** Kinds of {@link PeerErrorKind} where the peer answered: evidence of a cluster this node cannot join. */
export const ANSWERED_ERROR_KINDS: ReadonlySet<PeerErrorKind> = new Set(['tls', 'auth-failed', 'protocol'])

/** The last failure of a configured peer. */
export interface PeerError {
  readonly kind: PeerErrorKind
  readonly message: string
  /** Clock time of the failure, ms. */
  readonly at: number
}

export interface TransportOptions {
  readonly nodeId: string
  readonly incarnation: number
  readonly clientId: number
  readonly doc: Y.Doc
  /**
   * Applies updates that arrived together from a peer, in one transaction with `origin` (the
   * connection), all or nothing: it checks them first and throws to refuse them (nothing
   * applied), and the transport then closes that connection as a protocol violation. The
   * transport decodes none of them itself (ProfileStore.applyUpdates checks them).
   */
  readonly applyUpdates: (updates: readonly Uint8Array[], origin: unknown) => void
  /** Where to listen; omit to only dial. Port 0 picks a free port. */
  readonly listen?: { readonly host: string; readonly port: number }
  /** Peer urls to dial (`ws://host:port` or `wss://host:port`). */
  readonly peers: readonly string[]
  /** Kept in a private field: never a property, never logged. */
  readonly secret: string | Uint8Array
  readonly tls?: TlsOptions
  readonly clock: () => number
  readonly random: () => number
  readonly heartbeatIntervalMs: number
  /** A connection that receives nothing for this long (real time) is closed and redialled. */
  readonly idleTimeoutMs: number
  readonly limits: ConnectionLimits
  readonly backoffInitialMs: number
  readonly backoffMaxMs: number
  readonly log: Logger
  /**
   * The incarnation of `node` this node tracks (learned from its handshake or its partition in
   * the document), if any: a relayed heartbeat about `node` is accepted only for that
   * incarnation. Heartbeats over a node's own connection are checked against its handshake.
   * @defaultValue undefined (relayed heartbeats of any incarnation within the clock skew)
   */
  readonly knownIncarnation?: (node: string) => number | undefined
  /** Largest lead of a claimed incarnation over `clock()`, ms. @defaultValue 60000 */
  readonly maxClockSkewMs?: number
  /**
   * Per-node keys: only trusted node ids may connect, each must sign a heartbeat of its own
   * within `authTimeoutMs`, and heartbeats count only with a valid signature (relayed ones may
   * then announce a new incarnation). Kept in a private field. @defaultValue undefined
   */
  readonly keys?: NodeKeys
}

/** Events of the transport, a discriminated union on `type`. */
export type TransportEvent =
  | { readonly type: 'listening'; readonly host: string; readonly port: number }
  | { readonly type: 'peer-up'; readonly node: string; readonly incarnation: number; readonly clientId: number; readonly direction: 'inbound' | 'outbound'; readonly url: string | null }
  /** `synced`: whether the state exchange over the lost connection had completed. */
  | { readonly type: 'peer-down'; readonly node: string; readonly reason: string; readonly code: number; readonly synced: boolean }
  | { readonly type: 'synced'; readonly node: string }
  /** A configured peer url turned out to be this node: it is never dialled again. */
  | { readonly type: 'self'; readonly url: string }
  | { readonly type: 'heartbeat'; readonly node: string; readonly incarnation: number; readonly clientId: number; readonly via: string }
  /**
   * A connection refused for failed authentication (`kind: 'auth-failed'`, or `'tls'` for a
   * certificate this node does not trust; `error.code` `DP_ERR_AUTH`) or a protocol violation
   * (`kind: 'protocol'`, `error.code` `DP_ERR_PROTOCOL`), by either end. `code` is the
   * WebSocket close code (1006 when the socket never opened, for example a TLS failure).
   */
  | { readonly type: 'rejected'; readonly remote: string; readonly reason: string; readonly code: number; readonly kind: 'auth-failed' | 'tls' | 'protocol'; readonly error: DialogProfilesError }
  /**
   * Per-node keys: a signed message refused whole (bad signature, unknown signer, or a struct in
   * a partition of another node than `node`, its claimed signer), received from `via`; that
   * connection is closed. `error.code` is `DP_ERR_BAD_UPDATE`.
   */
  | { readonly type: 'update-refused'; readonly node: string; readonly via: string; readonly reason: string; readonly error: DialogProfilesError }

/** Public view of one connection. */
export interface ConnectionInfo {
  readonly node: string
  readonly direction: 'inbound' | 'outbound'
  readonly url: string | null
  readonly synced: boolean
  readonly lastReceivedAt: number
  readonly stats: Readonly<ConnectionStats>
}

/** Heartbeat intervals a neighbour must lag, without progress, before anti-entropy repairs it. */
const REPAIR_AFTER_ROUNDS = 3

/** Close codes that mean a peer was refused for breaking the protocol (as opposed to unreachable or shut down). */
const PROTOCOL_CODES: ReadonlySet<number> = new Set([
  CloseCode.protocol, CloseCode.rateLimit, CloseCode.authTimeout, CloseCode.tooLarge, CLOSE_MESSAGE_TOO_BIG
])

/** Heartbeat sequence numbers remembered per node for deduplication (about a minute of heartbeats at the default interval). */
const SEQ_WINDOW = 64

/** Classifies a socket error of a dial that never opened. */
const socketErrorKind = (err: Error): PeerErrorKind => {
  const code = String((err as NodeJS.ErrnoException).code ?? '')
  if (code === 'ECONNREFUSED') return 'refused'
  if (/CERT|SSL|TLS/.test(code) || code === 'EPROTO') return 'tls'
  if (err.message.startsWith('Unexpected server response')) return 'protocol'
  return 'unreachable'
}

interface Dialler {
  readonly url: string
  attempt: number
  timer: NodeJS.Timeout | undefined
  conn: PeerConnection | undefined
  /** Node id learned from the first successful handshake. */
  nodeId: string | undefined
  /** Waiting for another connection to the same node to end. */
  parked: boolean
  /** The url points at this node itself: never dialled again. */
  self: boolean
  /** Socket error of the current attempt (before the WebSocket opened). */
  socketError: Error | undefined
  /** Last failure, cleared by a successful authentication. */
  lastError: PeerError | undefined
  /** The last failed handshake with this peer (it answered) since the last successful one. */
  handshakeError: PeerError | undefined
  /** Failures since the last warning, the kind and clock time of that warning. */
  unlogged: number
  loggedKind: PeerErrorKind | undefined
  loggedAt: number
}

const newDialler = (url: string): Dialler => ({
  url, attempt: 0, timer: undefined, conn: undefined, nodeId: undefined, parked: false, self: false,
  socketError: undefined, lastError: undefined, handshakeError: undefined, unlogged: 0, loggedKind: undefined, loggedAt: 0
})

export class Transport {
  /** Every transport event (`events.onAny(e => ...)`); a throwing listener is logged and never breaks the transport. */
  readonly events = new Emitter<TransportEvent>((err) => { console.error('dialog-profiles: event listener threw', err) })
  private readonly conns = new Set<PeerConnection>()
  private readonly byNode = new Map<string, PeerConnection>()
  private readonly diallers: Dialler[]
  /** Per node: the newest incarnation heard and its recently seen heartbeat sequence numbers. */
  private readonly seen = new Map<string, { incarnation: number; seqs: Set<number>; max: number }>()
  /** The connection whose initial step 1 is outstanding, and those waiting to send theirs. */
  private syncing: PeerConnection | undefined
  private syncWaiting: PeerConnection[] = []
  private syncTimer: NodeJS.Timeout | undefined
  /** Our state vector at the last REPAIR_AFTER_ROUNDS heartbeat rounds, oldest first (anti-entropy). */
  private svHistory: Array<Map<number, number>> = []
  private rounds = 0
  private readonly openedAt = new WeakMap<PeerConnection, number>()
  /** Each neighbour's state vectors from its latest digests, oldest first. */
  private readonly peerStateVectors = new WeakMap<PeerConnection, Array<Map<number, number>>>()
  /** Monotonic time of the last heartbeat round, and the round until which digests say "busy" (rounds ran late). */
  private lastRoundAt = 0
  private busyUntilRound = 0
  /** State answers sent because a digest showed a neighbour missing something. */
  repairs = 0
  private server: HttpServer | undefined
  private wss: WebSocketServer | undefined
  private heartbeatTimer: NodeJS.Timeout | undefined
  /**
   * Last heartbeat sequence number sent. It starts at the clock (ms) so that a node that comes
   * back with the same incarnation (a resumed restart) still sends numbers above its previous
   * run's, which signed relays require; one heartbeat per ms at most keeps it below the clock.
   */
  private seq: number
  private closed = false
  /** Every peer is asked for its state at the next heartbeat round (see `requestState`). */
  private stateWanted = false
  private readonly host: PeerHost
  readonly #secret: string | Uint8Array
  readonly #keys: NodeKeys | undefined
  /** Per-node keys: the heartbeat of each connection waiting for its signature. */
  private readonly unsigned = new WeakMap<PeerConnection, Heartbeat>()
  /** Per-node keys: connections whose node has not yet signed a heartbeat of its own, with their deadline. */
  private readonly unproven = new Map<PeerConnection, NodeJS.Timeout>()
  /** Per-node keys: signing of own updates, checks and retained messages of the others'. */
  private readonly signed: SignedUpdateLog | undefined
  private signScheduled = false
  private readonly opts: Omit<TransportOptions, 'secret'>
  /** Connections that completed the handshake (to tell failed attempts from lost connections). */
  private readonly authenticated = new WeakSet<PeerConnection>()
  private readonly offUpdate: () => void
  /** Totals over closed connections, so that stats survive reconnects. */
  private readonly closedStats: ConnectionStats = emptyStats()

  /** @throws DialogProfilesError `DP_ERR_INVALID_ARGUMENT` for a peer url that is not `ws(s)://host:port` */
  constructor (options: TransportOptions) {
    const { secret, keys, ...opts } = options
    this.#secret = secret
    this.#keys = keys
    this.opts = opts
    this.seq = Math.max(0, Math.floor(opts.clock()))
    this.diallers = opts.peers.map((url, i) => newDialler(checkPeerUrl(url, `peers[${i}]`)))
    const self = this
    const host: Omit<PeerHost, 'secret'> = {
      nodeId: opts.nodeId,
      incarnation: opts.incarnation,
      clientId: opts.clientId,
      doc: opts.doc,
      limits: opts.limits,
      clock: opts.clock,
      applyUpdates: opts.applyUpdates,
      isKnownUpdate: (u) => isKnownUpdate(opts.doc, u),
      onAuthenticated: (c) => self.onAuthenticated(c),
      onSynced: (c) => { self.onSynced(c) },
      onHeartbeat: (c, hb) => { self.onHeartbeat(c, hb) },
      onSignature: (c, signature) => { self.onSignature(c, signature) },
      activityIntervalMs: opts.heartbeatIntervalMs,
      onPeerActive: (c) => {
        // Its data proves the direct peer alive while its heartbeats wait behind that data.
        const p = c.peer
        if (p !== undefined && self.speaksFor(p.nodeId) === c) self.events.emit({ type: 'heartbeat', node: p.nodeId, incarnation: p.incarnation, clientId: p.clientId, via: p.nodeId })
      },
      onDigest: (c, _g, sv) => { self.onDigest(c, sv) },
      onClosed: (c, code, reason) => { self.onClosed(c, code, reason) },
      log: opts.log
    }
    if (keys !== undefined) {
      const signed = new SignedUpdateLog(opts.doc, opts.nodeId, keys, opts.limits.maxMessageBytes, opts.log)
      this.signed = signed
      Object.assign(host, {
        signed: {
          check: (c: PeerConnection, s: SignedUpdates, known: boolean) => self.checkSigned(c, s, known),
          applied: (c: PeerConnection, s: SignedUpdates, ranges: ReadonlyMap<number, readonly [number, number]>) => { self.relaySigned(c, s, signed.retain(s, ranges)) },
          stateAnswer: (sv: Map<number, number>) => signed.stateAnswer(sv),
          stateVector: () => signed.stateVector()
        }
      })
    }
    // The secret is reachable only through a non-enumerable getter over a private field: no
    // inspect, JSON or log line of the transport or its connections can print it.
    Object.defineProperty(host, 'secret', { get: () => self.#secret, enumerable: false })
    this.host = host as PeerHost
    // Every change of the document, encoded only when it goes to a peer (applying a state answer
    // relays nothing, so a joiner encodes none of it).
    const onChange = (tr: Y.Transaction): void => {
      const origin: unknown = tr.origin
      if (this.signed !== undefined) { if (!(origin instanceof PeerConnection)) this.queueSigned(encodeTransactionUpdate(tr)); return }
      // Encoded once for every peer it goes to.
      let update: Uint8Array | undefined
      let msg: Uint8Array | undefined
      const relayed = origin instanceof PeerConnection
      for (const c of this.relayTargets(origin)) {
        // Never relay what a peer said it holds (a joiner's state answer, members already have).
        if (relayed && holdsTransaction(c.knownState, tr)) continue
        update ??= encodeTransactionUpdate(tr)
        msg ??= encodeSync(SYNC_UPDATE, update)
        c.sendEncodedUpdate(msg, update.length)
      }
    }
    this.offUpdate = onDocumentChange(opts.doc, onChange)
  }

  /**
   * Per-node keys: an update of this node's own (updates applied from a connection are relayed
   * as their signed messages), signed in one batch with the others of the turn at its end.
   */
  private queueSigned (update: Uint8Array): void {
    this.signed!.queueOwn(update)
    if (this.signScheduled) return
    this.signScheduled = true
    setImmediate(() => {
      this.signScheduled = false
      if (this.closed) return
      for (const msg of this.signed!.takeOwn()) for (const c of this.byNode.values()) c.sendEncodedUpdate(msg, msg.length)
    })
  }

  /** Per-node keys: the verdict on a received signed message; a refused one is counted and closes its connection. */
  private checkSigned (from: PeerConnection, s: SignedUpdates, known: boolean): ReturnType<SignedUpdateLog['check']> {
    const verdict = this.signed!.check(s, known)
    if (verdict.kind === 'refuse') {
      const error = fail('DP_ERR_BAD_UPDATE', `refused updates signed by ${s.signer}, received from ${from.peerNodeId}: ${verdict.reason}`)
      this.events.emit({ type: 'update-refused', node: s.signer, via: from.peerNodeId, reason: verdict.reason, error })
      from.close(CloseCode.protocol, `refused signed update: ${verdict.reason}`)
    }
    return verdict
  }

  /** Per-node keys: an applied signed message goes on along the relay rule, never back to its signer. */
  private relaySigned (from: PeerConnection, s: SignedUpdates, msg: Uint8Array): void {
    for (const c of this.relayTargets(from)) if (c.peerNodeId !== s.signer) c.sendEncodedUpdate(msg, msg.length)
  }

  /** Starts listening (if configured), dialling and heartbeating. Resolves once listening. */
  async start (): Promise<void> {
    if (this.opts.listen !== undefined) await this.listen(this.opts.listen.host, this.opts.listen.port)
    for (const d of this.diallers) this.dial(d)
    this.heartbeatTimer = setInterval(() => { this.sendHeartbeats() }, this.opts.heartbeatIntervalMs)
  }

  private listen (host: string, port: number): Promise<void> {
    const tls = this.opts.tls
    const server = tls !== undefined ? createHttpsServer({ cert: tls.cert, key: tls.key }) : createHttpServer()
    server.on('request', (_req, res) => { res.writeHead(426, { 'content-type': 'text/plain' }); res.end('dialog-profiles cluster port: WebSocket only\n') })
    const wss = new WebSocketServer(this.socketOptions({ server }))
    wss.on('connection', (ws, req) => {
      if (this.closed) { ws.terminate(); return }
      const c = new PeerConnection(this.host, ws, 'listener', undefined)
      c.watchHandshakeBytes(req.socket)
      c.remote = `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`
      this.conns.add(c)
    })
    // The server re-emits the http server's errors: those are reported below (a listen error
    // once, as the DP_ERR_TRANSPORT that start() throws; later ones logged).
    wss.on('error', () => {})
    this.server = server
    this.wss = wss
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => { reject(fail('DP_ERR_TRANSPORT', `cannot listen on ${host}:${port}: ${err.message}`, err)) }
      server.once('error', onError)
      server.listen(port, host, () => {
        server.off('error', onError)
        server.on('error', (err) => { this.opts.log('warn', `server error: ${err.message}`) })
        const addr = server.address() as AddressInfo
        this.events.emit({ type: 'listening', host: addr.address, port: addr.port })
        resolve()
      })
    })
  }

  /**
   * ws options of both ends, with `extra`: no compression, `maxPayload`, and ws's own
   * `closeTimeout` (not yet in @types/ws).
   */
  private socketOptions<T extends object> (extra: T): T & { maxPayload: number; perMessageDeflate: false; closeTimeout: number } {
    return { ...extra, maxPayload: this.opts.limits.maxMessageBytes, perMessageDeflate: false, closeTimeout: CLOSE_TIMEOUT_MS }
  }

  /** The bound address, once listening. */
  address (): { host: string; port: number } | undefined {
    const a = this.server?.address()
    if (a === null || a === undefined || typeof a === 'string') return undefined
    return { host: a.address, port: a.port }
  }

  private dial (d: Dialler): void {
    if (this.closed || d.self || d.conn !== undefined) return
    if (d.timer !== undefined) { clearTimeout(d.timer); d.timer = undefined }
    if (d.nodeId !== undefined && this.byNode.has(d.nodeId)) { d.parked = true; return }
    d.parked = false
    const tls = this.opts.tls
    let ws: WebSocket
    try {
      ws = new WebSocket(d.url, this.socketOptions({
        handshakeTimeout: this.opts.limits.authTimeoutMs,
        ...(tls !== undefined && d.url.startsWith('wss:')
          ? { ca: tls.ca as string | Buffer | Array<string | Buffer>, rejectUnauthorized: tls.rejectUnauthorized ?? true }
          : {})
      }))
    } catch (err) {
      this.opts.log('warn', `cannot dial ${d.url}: ${err instanceof Error ? err.message : String(err)}`)
      this.scheduleDial(d)
      return
    }
    d.socketError = undefined
    ws.on('error', (err) => { d.socketError = err })
    const c = new PeerConnection(this.host, ws, 'dialer', d.url)
    d.conn = c
    this.conns.add(c)
  }

  /**
   * Adds a peer url to dial (for example a node that joined later). No-op for a known url.
   * @throws DialogProfilesError `DP_ERR_INVALID_ARGUMENT` for a url that is not `ws(s)://host:port`
   */
  addPeer (url: string): void {
    checkPeerUrl(url)
    if (this.closed || this.diallers.some((d) => d.url === url)) return
    const d = newDialler(url)
    this.diallers.push(d)
    if (this.heartbeatTimer !== undefined) this.dial(d)
  }

  private scheduleDial (d: Dialler): void {
    if (this.closed || d.self || d.timer !== undefined) return
    const delay = backoffDelay(d.attempt, { initialMs: this.opts.backoffInitialMs, maxMs: this.opts.backoffMaxMs, random: this.opts.random })
    d.attempt++
    d.timer = setTimeout(() => { d.timer = undefined; this.dial(d) }, delay)
  }

  private onAuthenticated (c: PeerConnection): boolean {
    const peer = c.peer!
    const d = c.url !== undefined ? this.diallers.find((x) => x.conn === c) : undefined
    if (d !== undefined) d.nodeId = peer.nodeId
    const skew = this.opts.maxClockSkewMs ?? DEFAULT_MAX_CLOCK_SKEW_MS
    if (peer.incarnation > this.opts.clock() + skew) {
      c.close(CloseCode.protocol, `incarnation ${peer.incarnation} of ${peer.nodeId} is ahead of this node's clock by more than maxClockSkewMs (${skew} ms)`)
      return false
    }
    if (peer.nodeId === this.opts.nodeId) {
      if (peer.incarnation === this.opts.incarnation && peer.clientId === this.opts.clientId) {
        c.close(CloseCode.self, 'connected to itself')
        this.markSelf(d)
      } else {
        c.close(CloseCode.protocol, `another process uses node id ${peer.nodeId} (incarnation ${peer.incarnation})`)
      }
      return false
    }
    if (this.#keys !== undefined && !this.#keys.trusted.has(peer.nodeId)) {
      c.close(CloseCode.authFailed, `node ${peer.nodeId} is not in the trust list`)
      return false
    }
    const existing = this.byNode.get(peer.nodeId)
    if (existing !== undefined && existing.peer !== undefined && existing.peer.incarnation !== peer.incarnation) {
      // The connected node speaks for itself: another incarnation may take its place only once
      // its connection has ended (a restart closes it; a dead host's times out).
      this.opts.log('warn', `node id ${peer.nodeId} is claimed by two incarnations at once (connected: ${existing.peer.incarnation}, new: ${peer.incarnation}): a restart, or two processes configured with the same node id; the new connection is refused until the connected one ends`)
      c.close(CloseCode.duplicate, `node ${peer.nodeId} is connected with another incarnation`)
      return false
    }
    if (existing !== undefined) {
      // One connection per pair: keep the one dialled by the smaller node id, on both ends.
      const dialerOf = (x: PeerConnection): string => x.role === 'dialer' ? this.opts.nodeId : peer.nodeId
      const preferred = this.opts.nodeId < peer.nodeId ? this.opts.nodeId : peer.nodeId
      const keepNew = dialerOf(c) === preferred && dialerOf(existing) !== preferred
      const sameDialer = dialerOf(c) === dialerOf(existing)
      if (keepNew || sameDialer) {
        // A replacement, not a loss: no peer-down / peer-up pair for it.
        this.byNode.delete(peer.nodeId)
        existing.close(CloseCode.duplicate, 'duplicate connection')
        this.byNode.set(peer.nodeId, c)
        this.accepted(c, d)
        this.opened(c)
        return true
      } else {
        c.close(CloseCode.duplicate, 'duplicate connection')
        return false
      }
    }
    this.byNode.set(peer.nodeId, c)
    this.accepted(c, d)
    this.events.emit({ type: 'peer-up', node: peer.nodeId, incarnation: peer.incarnation, clientId: peer.clientId, direction: c.role === 'dialer' ? 'outbound' : 'inbound', url: c.url ?? null })
    this.opened(c)
    return true
  }

  /**
   * A connection joined the registry: it gets a heartbeat, every neighbour a new digest (the
   * neighbour list changed), and it queues for the initial state exchange.
   */
  private opened (c: PeerConnection): void {
    this.openedAt.set(c, this.rounds)
    this.sendOwnHeartbeat(c)
    this.broadcastDigest()
    if (this.syncing === undefined) this.startSync(c)
    else this.syncWaiting.push(c)
  }

  private startSync (c: PeerConnection): void {
    this.syncing = c
    c.sendStep1()
    // Move on when the answer stops making progress (a peer that never answers must not block the others).
    let seen = c.lastReceivedMono
    const check = (): void => {
      this.syncTimer = undefined
      if (this.syncing !== c) return
      if (c.lastReceivedMono === seen || c.isClosed()) { this.nextSync(); return }
      seen = c.lastReceivedMono
      this.syncTimer = setTimeout(check, this.opts.limits.authTimeoutMs)
    }
    this.syncTimer = setTimeout(check, this.opts.limits.authTimeoutMs)
  }

  private nextSync (): void {
    this.syncing = undefined
    if (this.syncTimer !== undefined) { clearTimeout(this.syncTimer); this.syncTimer = undefined }
    if (this.closed) return
    for (let c = this.syncWaiting.shift(); c !== undefined; c = this.syncWaiting.shift()) {
      if (!c.isClosed() && this.byNode.get(c.peerNodeId) === c) { this.startSync(c); return }
    }
    this.broadcastDigest()
  }

  private onSynced (c: PeerConnection): void {
    if (this.syncing === c) this.nextSync()
    this.events.emit({ type: 'synced', node: c.peerNodeId })
  }

  /** Where an update or heartbeat that came from `origin` goes on to (see the relay rule above). */
  private * relayTargets (origin: unknown): Generator<PeerConnection> {
    const from = origin instanceof PeerConnection ? origin : undefined
    for (const [node, c] of this.byNode) {
      if (c === origin || (from !== undefined && from.neighbours.has(node))) continue
      yield c
    }
  }

  /**
   * Neighbours named in digests: open connections heard from within two and a half heartbeat
   * intervals. A link that stops delivering (a black hole) drops out, so the others relay
   * around it long before its idle timeout closes it.
   */
  private healthyNeighbours (): string[] {
    const now = performance.now()
    const out: string[] = []
    for (const [node, c] of this.byNode) if (now - c.lastReceivedMono <= 2.5 * this.opts.heartbeatIntervalMs) out.push(node)
    return out
  }

  private digest (): Digest {
    const busy = this.syncing !== undefined || this.syncWaiting.length > 0 || this.rounds <= this.busyUntilRound
    // With per-node keys, the state vector says what this node can forward signed (see SignedUpdateLog.stateVector).
    return { flags: busy ? DIGEST_SYNCING : 0, stateVector: this.signed?.stateVector() ?? Y.encodeStateVector(this.opts.doc), neighbours: this.healthyNeighbours() }
  }

  private broadcastDigest (): void {
    if (this.byNode.size === 0) return
    const g = this.digest()
    for (const c of this.byNode.values()) c.sendDigest(g)
  }

  /**
   * Anti-entropy: a neighbour that still misses what this node held three heartbeat rounds ago, and made
   * no progress on it over its last three digests (a slow peer that is catching up is left
   * alone), is sent what it misses, unless it says it is busy (a state exchange, or heartbeat rounds
   * running late: a starved process) or our own backlog to it is not drained.
   */
  private onDigest (c: PeerConnection, sv: Map<number, number>): void {
    const prev = this.peerStateVectors.get(c) ?? []
    prev.push(sv)
    if (prev.length > REPAIR_AFTER_ROUNDS) prev.shift()
    this.peerStateVectors.set(c, prev)
    const old = this.svHistory[0]
    const opened = this.openedAt.get(c)
    if (prev.length < REPAIR_AFTER_ROUNDS || old === undefined || opened === undefined || this.svHistory.length < REPAIR_AFTER_ROUNDS || opened > this.rounds - REPAIR_AFTER_ROUNDS) return
    if (c.peerSyncing || c.stateAnswerPending || c.awaitingStep2 || c.ws.bufferedAmount > 0) return
    for (const [client, ours] of old) {
      // With per-node keys, only what this node can send signed (its retained messages) counts.
      const clock = this.signed !== undefined ? Math.min(ours, this.signed.coverage(client)) : ours
      const theirs = sv.get(client) ?? 0
      if (theirs < clock && prev.every((p) => (p.get(client) ?? 0) === theirs)) {
        this.repairs++
        this.opts.log('debug', `${c.peerNodeId} misses updates of client ${client}: sending what it misses`)
        c.requestState(Y.encodeStateVector(sv))
        prev.length = 0
        return
      }
    }
  }

  private accepted (c: PeerConnection, d: Dialler | undefined): void {
    this.authenticated.add(c)
    if (this.#keys !== undefined) {
      // The handshake proved the shared secret, not the node id: the node must sign a heartbeat.
      this.unproven.set(c, setTimeout(() => { c.close(CloseCode.authFailed, `no heartbeat signed by ${c.peerNodeId}'s key`) }, this.opts.limits.authTimeoutMs))
    }
    if (d === undefined) return
    d.attempt = 0
    d.parked = false
    d.lastError = undefined
    d.handshakeError = undefined
  }

  private markSelf (d: Dialler | undefined): void {
    if (d === undefined || d.self) return
    d.self = true
    this.events.emit({ type: 'self', url: d.url })
  }

  private onClosed (c: PeerConnection, code: number, reason: string): void {
    this.conns.delete(c)
    this.proven(c)
    for (const k of Object.keys(this.closedStats) as Array<keyof ConnectionStats>) this.closedStats[k] += c.stats[k]
    const d = c.url !== undefined ? this.diallers.find((x) => x.conn === c) : undefined
    if (d !== undefined) d.conn = undefined
    this.syncWaiting = this.syncWaiting.filter((x) => x !== c)
    if (this.syncing === c) this.nextSync()
    if (this.byNode.get(c.peerNodeId) === c) {
      this.byNode.delete(c.peerNodeId)
      if (!this.closed) {
        // What was on its way over the lost link may be missing: ask the others (their answers carry the delete set).
        this.broadcastDigest()
        this.askForState()
      }
      this.events.emit({ type: 'peer-down', node: c.peerNodeId, reason, code, synced: c.synced })
      // Another dialler waiting for this node may try now.
      for (const x of this.diallers) {
        if (x !== d && x.parked && x.nodeId === c.peerNodeId) { x.parked = false; x.attempt = 0; this.scheduleDial(x) }
      }
    }
    const failure = this.classify(c, code, reason, d)
    if (failure !== undefined && ANSWERED_ERROR_KINDS.has(failure.kind)) {
      const kind = failure.kind as 'auth-failed' | 'tls' | 'protocol'
      const error = fail(kind === 'protocol' ? 'DP_ERR_PROTOCOL' : 'DP_ERR_AUTH', `${c.url ?? c.remote}: ${failure.message}`)
      this.events.emit({ type: 'rejected', remote: c.url ?? c.remote, reason: failure.message, code, kind, error })
    }
    if (d !== undefined && failure !== undefined && !this.closed) this.dialFailed(d, failure)
    if (d !== undefined && d.nodeId === undefined && c.peer !== undefined) d.nodeId = c.peer.nodeId
    // The listening end (this very node) refused the dial as a connection to itself.
    if (d !== undefined && code === CloseCode.self) this.markSelf(d)
    if (d !== undefined && !this.closed) {
      if (code === CloseCode.duplicate && d.nodeId !== undefined && this.byNode.has(d.nodeId)) d.parked = true
      else this.scheduleDial(d)
    }
  }

  /** What went wrong with a connection that ended, or undefined for an ordinary end. */
  private classify (c: PeerConnection, code: number, reason: string, d: Dialler | undefined): { kind: PeerErrorKind; message: string } | undefined {
    if (code === CloseCode.authFailed) {
      return { kind: 'auth-failed', message: `authentication failed (${reason}): the two nodes do not share the same secret` }
    }
    if (PROTOCOL_CODES.has(code)) return { kind: 'protocol', message: `protocol error (close ${code}: ${reason})` }
    if (this.authenticated.has(c) || d === undefined) return undefined
    if (code === CloseCode.self || code === CloseCode.duplicate || code === CloseCode.shutdown) return undefined
    const err = d.socketError
    if (err !== undefined) {
      const kind = socketErrorKind(err)
      return { kind, message: `${kind === 'tls' ? 'TLS handshake failed' : kind === 'protocol' ? 'not a dialog-profiles node' : kind}: ${err.message}` }
    }
    return { kind: 'unreachable', message: `connection ended before the handshake (close ${code}: ${reason})` }
  }

  /** Records a failed attempt of a configured peer and logs it, rate-limited per peer. */
  private dialFailed (d: Dialler, failure: { kind: PeerErrorKind; message: string }): void {
    const now = this.opts.clock()
    d.lastError = { kind: failure.kind, message: failure.message, at: now }
    if (ANSWERED_ERROR_KINDS.has(failure.kind)) d.handshakeError = d.lastError
    d.unlogged++
    if (failure.kind === d.loggedKind && now - d.loggedAt < PEER_ERROR_LOG_INTERVAL_MS) {
      this.opts.log('debug', `peer ${d.url}: ${failure.message}`)
      return
    }
    const what = failure.kind === 'refused' || failure.kind === 'unreachable' ? 'unreachable' : 'answered but the handshake failed'
    const attempts = d.unlogged === 1 ? '' : ` (${d.unlogged} failed attempts since the last report)`
    this.opts.log(failure.kind === 'auth-failed' ? 'error' : 'warn',
      `peer ${d.url} ${what}: ${failure.message}${attempts}; retrying with backoff (reported at most every ${PEER_ERROR_LOG_INTERVAL_MS / 1000} s)`)
    d.unlogged = 0
    d.loggedKind = failure.kind
    d.loggedAt = now
  }

  private nextHeartbeat (): Heartbeat {
    return { nodeId: this.opts.nodeId, incarnation: this.opts.incarnation, clientId: this.opts.clientId, seq: ++this.seq }
  }

  private onHeartbeat (from: PeerConnection, hb: Heartbeat): void {
    if (this.#keys === undefined) { this.acceptHeartbeat(from, hb, undefined); return }
    // Per-node keys: the heartbeat counts once its signature (the next message) checks out.
    if (this.unsigned.has(from)) { from.close(CloseCode.protocol, 'heartbeat without its signature'); return }
    this.unsigned.set(from, hb)
  }

  private onSignature (from: PeerConnection, signature: Uint8Array): void {
    if (this.#keys === undefined) return
    const hb = this.unsigned.get(from)
    this.unsigned.delete(from)
    if (hb === undefined) { from.close(CloseCode.protocol, 'signature without a heartbeat'); return }
    this.acceptHeartbeat(from, hb, signature)
  }

  /** Applies the claim rules to a heartbeat (signed with per-node keys), then reports and floods it. */
  private acceptHeartbeat (from: PeerConnection, hb: Heartbeat, signature: Uint8Array | undefined): void {
    if (hb.nodeId === this.opts.nodeId) return
    const direct = hb.nodeId === from.peerNodeId
    if (direct) {
      // A node speaks for itself only with the identity its handshake bound.
      const bound = from.peer!
      if (hb.incarnation !== bound.incarnation || hb.clientId !== bound.clientId) {
        from.close(CloseCode.protocol, `heartbeat claims incarnation ${hb.incarnation} / client ${hb.clientId}, the handshake bound ${bound.incarnation} / ${bound.clientId}`)
        return
      }
    } else {
      // Relayed: v's own connection, when up, is the only authority about v; otherwise, without
      // v's signature, a relay may only keep alive the incarnation of v this node already
      // knows, never announce one.
      if (this.speaksFor(hb.nodeId) !== undefined) return
      if (hb.incarnation > this.opts.clock() + (this.opts.maxClockSkewMs ?? DEFAULT_MAX_CLOCK_SKEW_MS)) return
      if (signature === undefined && this.opts.knownIncarnation !== undefined && this.opts.knownIncarnation(hb.nodeId) !== hb.incarnation) return
      if (!this.isFresh(hb, signature !== undefined)) return
    }
    if (signature !== undefined) {
      const key = this.#keys!.trusted.get(hb.nodeId)
      if (key === undefined) return
      // Honest relays forward only what they verified: a bad signature is a forgery.
      if (!heartbeatSigned(key, hb, signature)) { from.close(CloseCode.protocol, `heartbeat of ${hb.nodeId} with a bad signature`); return }
      if (direct) this.proven(from)
    }
    // A node's own heartbeat always passes (a forged copy of its sequence number cannot mute it).
    this.remember(hb)
    this.events.emit({ type: 'heartbeat', node: hb.nodeId, incarnation: hb.incarnation, clientId: hb.clientId, via: from.peerNodeId })
    // On along the relay rule, never back to the node the heartbeat is about.
    for (const c of this.relayTargets(from)) if (c.peerNodeId !== hb.nodeId) this.sendHeartbeat(c, hb, signature)
  }

  /**
   * Whether a relayed heartbeat (node, incarnation, seq) is new. Without keys, sequence numbers
   * are remembered as a window of the last `SEQ_WINDOW` distinct ones, not as a maximum, so a
   * forged huge one cannot mute the node's real heartbeats; signed ones cannot be forged, so
   * they must grow (a replay of an old one is not new).
   */
  private isFresh (hb: Heartbeat, signed: boolean): boolean {
    const e = this.seen.get(hb.nodeId)
    if (e === undefined || hb.incarnation > e.incarnation) return true
    if (hb.incarnation < e.incarnation) return false
    return signed ? hb.seq > e.max : !e.seqs.has(hb.seq)
  }

  private remember (hb: Heartbeat): void {
    let e = this.seen.get(hb.nodeId)
    if (e !== undefined && hb.incarnation < e.incarnation) return
    if (e === undefined || hb.incarnation > e.incarnation) {
      e = { incarnation: hb.incarnation, seqs: new Set(), max: 0 }
      this.seen.set(hb.nodeId, e)
    }
    e.max = Math.max(e.max, hb.seq)
    e.seqs.add(hb.seq)
    if (e.seqs.size > SEQ_WINDOW) e.seqs.delete(e.seqs.values().next().value!)
  }

  /** Sends a heartbeat, followed by its signature with per-node keys. */
  private sendHeartbeat (c: PeerConnection, hb: Heartbeat, signature: Uint8Array | undefined): void {
    c.sendHeartbeat(hb)
    if (signature !== undefined && c.state === 'open') c.send(encodeSignature(signature))
  }

  /** This node's next heartbeat to `c` (signed with per-node keys). */
  private sendOwnHeartbeat (c: PeerConnection): void {
    const hb = this.nextHeartbeat()
    this.sendHeartbeat(c, hb, this.#keys !== undefined ? signHeartbeat(this.#keys.privateKey, hb) : undefined)
  }

  /** Per-node keys: the peer signed a heartbeat of its own, so it holds the key of the id it claimed. */
  private proven (c: PeerConnection): void {
    const t = this.unproven.get(c)
    if (t !== undefined) { clearTimeout(t); this.unproven.delete(c) }
  }

  /**
   * Every heartbeat interval: this node's heartbeat and digest to every peer, connections
   * silent past the idle timeout closed, and the state vector remembered for anti-entropy.
   */
  private sendHeartbeats (): void {
    this.rounds++
    const now = performance.now()
    // A heartbeat round that runs late means a starved or overloaded process: do not let others repair us.
    if (this.lastRoundAt > 0 && now - this.lastRoundAt > 1.5 * this.opts.heartbeatIntervalMs) this.busyUntilRound = this.rounds + REPAIR_AFTER_ROUNDS
    this.lastRoundAt = now
    this.svHistory.push(Y.decodeStateVector(Y.encodeStateVector(this.opts.doc)))
    if (this.svHistory.length > REPAIR_AFTER_ROUNDS) this.svHistory.shift()
    const hb = this.nextHeartbeat()
    const signature = this.#keys !== undefined ? signHeartbeat(this.#keys.privateKey, hb) : undefined
    let g: Digest | undefined
    for (const c of [...this.byNode.values()]) {
      if (now - c.lastReceivedMono > this.opts.idleTimeoutMs) { c.close(CloseCode.idle, 'peer silent'); continue }
      this.sendHeartbeat(c, hb, signature)
      g ??= this.digest()
      c.sendDigest(g)
    }
    if (this.stateWanted) {
      this.stateWanted = false
      this.askForState()
    }
  }

  /** Sync step 1 to every peer not in (or queued for) its initial state exchange, which asks anyway. */
  private askForState (): void {
    for (const c of this.byNode.values()) if (c !== this.syncing && !this.syncWaiting.includes(c)) c.sendStep1()
  }

  /**
   * Asks every peer for its state (sync step 1) at the next heartbeat round, so at most once per
   * interval: the store dropped parts of updates that waited for structs not here yet, and the
   * answers carry what it lacks with their delete sets.
   */
  requestState (): void { this.stateWanted = true }

  /** Open (authenticated) connections by peer node id. */
  connections (): ConnectionInfo[] {
    return [...this.byNode.values()].map((c) => ({
      node: c.peerNodeId,
      direction: c.role === 'dialer' ? 'outbound' as const : 'inbound' as const,
      url: c.url ?? null,
      synced: c.synced,
      lastReceivedAt: c.lastReceivedAt,
      stats: { ...c.stats }
    }))
  }

  /** Incarnation bound by the handshake of the open connection to `node`, if any (with per-node keys, once the node signed a heartbeat over it). */
  connectedIncarnation (node: string): number | undefined { return this.speaksFor(node)?.peer?.incarnation }

  /**
   * The open connection to `node` that speaks for it: with per-node keys, only once the node
   * signed a heartbeat over it (the handshake proves the shared secret, not the node id).
   */
  private speaksFor (node: string): PeerConnection | undefined {
    const c = this.byNode.get(node)
    return c !== undefined && !this.unproven.has(c) ? c : undefined
  }

  /** Whether an open connection to `node` exists and has completed its initial sync. */
  isSyncedWith (node: string): boolean { return this.byNode.get(node)?.synced === true }

  /**
   * Configured peer urls with the node id learned behind each (once connected), the last failure
   * and the last failed handshake (the peer answered), both cleared by a successful handshake.
   */
  configuredPeers (): Array<{ url: string; node: string | null; self: boolean; lastError: PeerError | null; handshakeError: PeerError | null }> {
    return this.diallers.map((d) => ({ url: d.url, node: d.nodeId ?? null, self: d.self, lastError: d.lastError ?? null, handshakeError: d.handshakeError ?? null }))
  }

  /** Per-node keys: bytes of other writers' signed messages retained for state answers (0 without keys). */
  retainedBytes (): number { return this.signed?.retainedBytes() ?? 0 }

  /** Forgets the heartbeat sequence of `node` (it left the liveness table). */
  forget (node: string): void { this.seen.delete(node) }

  /** Traffic totals over every connection this transport ever had. */
  totals (): ConnectionStats {
    const t = { ...this.closedStats }
    for (const c of this.conns) for (const k of Object.keys(t) as Array<keyof ConnectionStats>) t[k] += c.stats[k]
    return t
  }

  /** Drops every connection (they redial with backoff); for tests and operators. */
  disconnectAll (reason = 'disconnect requested'): void {
    for (const c of [...this.conns]) c.close(CloseCode.reconnect, reason)
  }

  /** Ends every socket, dialler and timer. Idempotent. */
  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.offUpdate()
    if (this.heartbeatTimer !== undefined) clearInterval(this.heartbeatTimer)
    if (this.syncTimer !== undefined) clearTimeout(this.syncTimer)
    for (const d of this.diallers) if (d.timer !== undefined) { clearTimeout(d.timer); d.timer = undefined }
    // Close politely (queued messages go out before the close frame) and wait for every socket
    // to end: ws destroys one whose peer does not answer within CLOSE_TIMEOUT_MS.
    const sockets = [...this.conns].map((c) => c.ws)
    for (const c of [...this.conns]) c.close(CloseCode.shutdown, 'node shutting down')
    await Promise.all(sockets.map(async (ws) => { if (ws.readyState !== ws.CLOSED) await new Promise((resolve) => { ws.once('close', resolve) }) }))
    this.events.clear()
    const wss = this.wss
    const server = this.server
    if (wss !== undefined) {
      for (const ws of wss.clients) ws.terminate()
      await new Promise<void>((resolve) => { wss.close(() => { resolve() }) })
    }
    if (server !== undefined) {
      server.closeAllConnections()
      await new Promise<void>((resolve) => { server.close(() => { resolve() }) })
    }
  }
}
