/**
 * One authenticated WebSocket connection to a peer node: handshake, y-protocols sync of the
 * document, heartbeats and digests, per-connection limits and batched sends.
 *
 * Life of a connection: both ends send a hello (node id, incarnation, client id, nonce), then a
 * proof of the shared secret (see `auth.ts`). Until then at most {@link MAX_HANDSHAKE_BYTES}
 * are read from the socket. Only after the peer's proof checks out does any document data
 * flow: each end sends sync step 1 (its state vector) when the transport says so, answers the
 * peer's step 1 with step 2 (what the peer misses), and from then on forwards document updates.
 * Anything malformed, unknown, oversize or too frequent closes this connection with a reason;
 * the document is never touched by a message that did not decode.
 *
 * Cost control: received messages go to an inbox drained in event-loop tasks of bounded work
 * (consecutive updates applied together, in one transaction of at most 64 KiB), one connection's
 * chunk per turn process-wide; reading pauses while the inbox is full. Outgoing messages queued
 * in one turn are merged into frames of at most 1 MiB and 1,024 messages. Heartbeats (with
 * their signatures) and digests skip the inbox. A state request (step 1) is answered one at a
 * time, later requests replacing earlier waiting ones, after the current event-loop task; its
 * bytes are charged to a per-connection budget, and a large answer goes in chunks of at most
 * {@link STATE_CHUNK_BYTES} (one writer's structs each), one per task, waiting for the socket to
 * drain between them.
 *
 * Per-node keys (`host.signed`): document updates and state answers travel only as signed
 * messages (see `signed-updates.ts`); a plain sync update or step 2 closes the connection.
 */
import * as Y from 'yjs'
import { encodeClientChunk } from '../internal/partition-doc.js'
import type { Socket } from 'node:net'
import type { WebSocket } from 'ws'
import { computeProof, makeNonce, proofMatches } from './auth.js'
import { RateLimiter } from './rate-limiter.js'
import {
  DIGEST_SYNCING, PROTOCOL_VERSION, SIGNED_STATE_END, SYNC_STEP1, SYNC_STEP2, SYNC_UPDATE, WireError,
  decodeFrame, encodeDigest, encodeHeartbeat, encodeHello, encodeProof, encodeSync
} from './wire.js'
import type { HelloIdentity } from './auth.js'
import type { SignedVerdict } from './signed-updates.js'
import type { Digest, Heartbeat, Hello, Role, SignedUpdates, WireMessage } from './wire.js'

/** Most bytes read from a connection before it authenticates (a hello and a proof take about 150). */
export const MAX_HANDSHAKE_BYTES = 16 * 1024
/** Bytes of state answers one connection may make this node produce per second, per unit of `maxMessagesPerSecond` (10 MB/s at the default 10,000). */
export const STATE_BYTES_PER_MESSAGE = 1024
/** Most received messages handled in one event-loop task. */
export const MAX_MESSAGES_PER_TASK = 256
/**
 * Most update bytes applied in one event-loop task (one transaction); a single larger message
 * goes alone. About 1,000 memberships: a few ms of Yjs work, so a node working off a backlog
 * from several peers still runs its timers (heartbeats, liveness) every few ms.
 */
export const MAX_UPDATE_BYTES_PER_TASK = 64 * 1024
/** Most bytes merged into one outgoing WebSocket message (a single larger message goes alone, up to `maxMessageBytes`). */
export const MAX_SEND_FRAME_BYTES = 1024 * 1024
/** Most protocol messages merged into one outgoing WebSocket message (at most `maxMessagesPerFrame`). */
export const MAX_SEND_FRAME_MESSAGES = 1024
/** Reading from a connection pauses while this many bytes of received messages wait. */
export const MAX_INBOX_BYTES = 8 * 1024 * 1024
/** A state answer missing at most this many struct clocks may go as one step 2 (if it fits in {@link STATE_CHUNK_BYTES}). */
const STATE_CHUNK_CLOCKS = 4096
/** Most bytes of one chunk of a state answer (one writer's consecutive structs), one chunk per event-loop task. */
export const STATE_CHUNK_BYTES = 256 * 1024
/** Room left in `maxMessageBytes` for the framing of a sync message around its update (type, step, length). */
const SYNC_FRAMING_BYTES = 16
/** A state answer waits between chunks while more than this is queued in the socket. */
const SEND_HIGH_WATER_BYTES = 4 * 1024 * 1024

/**
 * How long ws waits for the peer's close frame after `close()` before it destroys the socket
 * (the `closeTimeout` option of ws's WebSocket and WebSocketServer).
 */
export const CLOSE_TIMEOUT_MS = 1000

/** Longest close reason, bytes of UTF-8 (RFC 6455: a control frame carries 125, two of them the code). */
const MAX_CLOSE_REASON_BYTES = 123

/** A close reason cut to {@link MAX_CLOSE_REASON_BYTES} (ws throws on a longer one). */
const fitCloseReason = (reason: string): string => {
  let r = reason.slice(0, MAX_CLOSE_REASON_BYTES)
  while (Buffer.byteLength(r) > MAX_CLOSE_REASON_BYTES) r = r.slice(0, -1)
  return r
}

/** The close code ws sends for a message over `maxPayload` (RFC 6455 "message too big"). */
export const CLOSE_MESSAGE_TOO_BIG = 1009

/** WebSocket close codes used by the transport (4000-4999 is the application range). */
export const CloseCode = {
  authFailed: 4001,
  duplicate: 4002,
  self: 4003,
  protocol: 4004,
  rateLimit: 4005,
  idle: 4006,
  shutdown: 4007,
  slowPeer: 4008,
  authTimeout: 4009,
  tooLarge: 4010,
  /** Dropped on request (`disconnectAll`, an operator's reconnect): the dialler redials. */
  reconnect: 4011
} as const

/** Limits applied to one connection. */
export interface ConnectionLimits {
  readonly maxMessageBytes: number
  readonly maxMessagesPerSecond: number
  readonly maxMessagesPerFrame: number
  readonly maxBufferedBytes: number
  readonly authTimeoutMs: number
}

/** What a connection needs from the transport that owns it. */
export interface PeerHost {
  readonly nodeId: string
  readonly incarnation: number
  readonly clientId: number
  readonly secret: string | Uint8Array
  readonly doc: Y.Doc
  readonly limits: ConnectionLimits
  clock(): number
  /** Whether an update would change nothing (a duplicate): it is then dropped before any transaction. */
  isKnownUpdate(update: Uint8Array): boolean
  /** Applies updates that arrived together, in one transaction, with `origin` (the connection); all or nothing, throws to refuse them. */
  applyUpdates(updates: readonly Uint8Array[], origin: unknown): void
  /** The peer proved the secret. Return false to refuse it (the host has closed it). */
  onAuthenticated(conn: PeerConnection): boolean
  onSynced(conn: PeerConnection): void
  onHeartbeat(conn: PeerConnection, hb: Heartbeat): void
  /** The signature of the heartbeat just received (per-node keys). */
  onSignature(conn: PeerConnection, signature: Uint8Array): void
  /** The peer's own data is being worked off (at most once per `activityIntervalMs`): it is alive even if its heartbeats wait behind that data. */
  onPeerActive(conn: PeerConnection): void
  /** See `onPeerActive`. */
  readonly activityIntervalMs: number
  /** A digest arrived (its state vector decoded); `conn.neighbours` is already updated. */
  onDigest(conn: PeerConnection, digest: Digest, stateVector: Map<number, number>): void
  onClosed(conn: PeerConnection, code: number, reason: string): void
  log(level: 'debug' | 'info' | 'warn', msg: string): void
  /**
   * Per-node keys: checks a signed message before it is applied (a `refuse` verdict: the host
   * has counted it and closed the connection), is told once it was applied, and answers state
   * requests with signed messages. Undefined without keys (plain y-protocols sync).
   */
  readonly signed?: {
    /** `known`: every update of `s` is already in the document. */
    check(conn: PeerConnection, s: SignedUpdates, known: boolean): SignedVerdict
    applied(conn: PeerConnection, s: SignedUpdates, ranges: ReadonlyMap<number, readonly [number, number]>): void
    stateAnswer(stateVector: Map<number, number>): Uint8Array[]
    /** The state vector to ask with (sync step 1): lowered to what this node can forward signed. */
    stateVector(): Uint8Array
  }
}

export type ConnectionState = 'handshake' | 'open' | 'closed'

/** Traffic counters of one connection. */
export interface ConnectionStats {
  bytesIn: number
  bytesOut: number
  framesIn: number
  framesOut: number
  updatesIn: number
  updatesOut: number
  updateBytesOut: number
  /** Updates received that this node already had, dropped before any transaction. */
  duplicatesIn: number
  /** State answers (sync step 2) sent. */
  stateAnswers: number
  /** Bytes of the state answers sent. */
  stateBytesOut: number
}

/** Counters of a fresh connection. */
export const emptyStats = (): ConnectionStats => ({ bytesIn: 0, bytesOut: 0, framesIn: 0, framesOut: 0, updatesIn: 0, updatesOut: 0, updateBytesOut: 0, duplicatesIn: 0, stateAnswers: 0, stateBytesOut: 0 })

type InboxMessage = Exclude<WireMessage, { type: 'heartbeat' | 'signature' | 'digest' | 'hello' | 'proof' }>

let nextConnId = 1

const signedBytes = (s: SignedUpdates): number => s.updates.reduce((n, u) => n + u.length, 0)

/** Payload bytes of a message waiting in the inbox (what the inbox and task budgets count). */
const inboxMessageBytes = (m: InboxMessage): number =>
  m.type === 'sync-step1' ? m.stateVector.length : m.type === 'signed-updates' ? signedBytes(m.signed) : m.update.length

export class PeerConnection {
  readonly id = nextConnId++
  /** Remote address of an inbound connection, for logs. */
  remote = '?'
  state: ConnectionState = 'handshake'
  /** Filled once the peer's hello arrived. */
  peer: Hello | undefined
  /** True once the peer's sync step 2 has been applied. */
  synced = false
  /** Injected-clock time of the last frame received. */
  lastReceivedAt: number
  /** Monotonic time (performance.now) of the last frame received, for the idle timeout. */
  lastReceivedMono: number
  readonly stats: ConnectionStats = emptyStats()
  /** The peer's direct neighbours (node ids), from its latest digest. */
  neighbours: ReadonlySet<string> = new Set()
  /** The peer said, in its latest digest, that it has an initial state exchange in progress. */
  peerSyncing = false
  /**
   * Clocks per Yjs client that the peer is known to hold, from its digests and state requests
   * (it holds at least that much: a relay of structs below them would be a duplicate).
   */
  readonly knownState = new Map<number, number>()
  /** Digests received on this connection. */
  digestsIn = 0
  /** Our sync step 1 went out and its step 2 has not arrived yet. */
  awaitingStep2 = false
  private readonly nonce = makeNonce()
  private proofSent = false
  private readonly limiter: RateLimiter
  private readonly stateBudget: RateLimiter
  private queue: Uint8Array[] = []
  private queueBytes = 0
  /** Most bytes and messages merged into one outgoing frame. */
  private readonly frameBytes: number
  private readonly frameMessages: number
  private flushScheduled = false
  private authTimer: NodeJS.Timeout | undefined
  private inbox: Array<InboxMessage | undefined> = []
  private inboxHead = 0
  private inboxBytes = 0
  private drainScheduled = false
  /** What the last {@link drain} worked off: update bytes and messages. */
  private drainUsedBytes = 0
  private drainUsedMessages = 0
  private lastActive = 0
  private pendingStateVector: Uint8Array | undefined
  private answering = false
  private answerTimer: NodeJS.Timeout | undefined

  constructor (
    private readonly host: PeerHost,
    readonly ws: WebSocket,
    readonly role: Role,
    /** The url dialled (dialer side only). */
    readonly url: string | undefined
  ) {
    this.lastReceivedAt = host.clock()
    this.frameBytes = Math.min(host.limits.maxMessageBytes, MAX_SEND_FRAME_BYTES)
    this.frameMessages = Math.min(host.limits.maxMessagesPerFrame, MAX_SEND_FRAME_MESSAGES)
    const rate = host.limits.maxMessagesPerSecond
    // Rate limits and idleness protect the socket: they read a real monotonic clock, so that an
    // injected (possibly frozen) semantic clock cannot starve real traffic.
    this.limiter = new RateLimiter(rate, Math.max(rate, 1), () => performance.now())
    const stateRate = rate * STATE_BYTES_PER_MESSAGE
    this.stateBudget = new RateLimiter(stateRate, stateRate, () => performance.now())
    this.lastReceivedMono = performance.now()
    ws.binaryType = 'nodebuffer'
    // A dialer sees its socket on upgrade and watches it once the WebSocket reads it (on open:
    // a reader added earlier would start the stream before the WebSocket's own); the transport
    // hands a listener's socket in.
    if (role === 'dialer') ws.once('upgrade', (res) => { ws.once('open', () => { this.watchHandshakeBytes(res.socket) }) })
    ws.on('message', (data, isBinary) => { this.onFrame(data, isBinary) })
    ws.on('close', (code, reason) => { this.onSocketClosed(code, reason.toString('utf8')) })
    ws.on('error', (err) => { this.host.log('debug', `connection ${this.describe()}: socket error: ${err.message}`) })
    this.authTimer = setTimeout(() => { this.close(CloseCode.authTimeout, 'authentication timed out') }, host.limits.authTimeoutMs)
    if (ws.readyState === ws.OPEN) this.start()
    else ws.once('open', () => { this.start() })
  }

  isClosed (): boolean { return this.state === 'closed' }

  /** Node id of the peer once known, else a placeholder. */
  get peerNodeId (): string { return this.peer?.nodeId ?? '?' }

  describe (): string { return `#${this.id} ${this.role}${this.url !== undefined ? ' ' + this.url : ''} peer=${this.peerNodeId}` }

  private start (): void {
    if (this.state === 'closed') return
    this.sendNow(encodeHello({
      version: PROTOCOL_VERSION,
      nodeId: this.host.nodeId,
      incarnation: this.host.incarnation,
      clientId: this.host.clientId,
      role: this.role,
      nonce: this.nonce
    }))
  }

  /**
   * Counts the bytes the socket delivers before authentication and cuts the connection past
   * {@link MAX_HANDSHAKE_BYTES}: the WebSocket layer would otherwise buffer a whole message of up
   * to `maxMessageBytes` (its `maxPayload` is fixed per server) from a peer that proved nothing.
   */
  watchHandshakeBytes (socket: Socket): void {
    let n = 0
    const onData = (chunk: Buffer): void => {
      if (this.state !== 'handshake') { socket.off('data', onData); return }
      n += chunk.length
      if (n > MAX_HANDSHAKE_BYTES) {
        socket.off('data', onData)
        this.abort(CloseCode.tooLarge, `more than ${MAX_HANDSHAKE_BYTES} bytes before authentication`)
      }
    }
    socket.on('data', onData)
  }

  private onFrame (data: unknown, isBinary: boolean): void {
    if (this.state === 'closed') return
    if (!isBinary || !Buffer.isBuffer(data)) { this.protocolError('text or fragmented frame'); return }
    this.stats.bytesIn += data.length
    this.stats.framesIn++
    if (this.state === 'handshake' && data.length > MAX_HANDSHAKE_BYTES) {
      this.abort(CloseCode.tooLarge, `a message of ${data.length} bytes before authentication`)
      return
    }
    if (!this.limiter.take()) { this.close(CloseCode.rateLimit, 'message rate limit exceeded'); return }
    this.lastReceivedAt = this.host.clock()
    this.lastReceivedMono = performance.now()
    let messages: WireMessage[]
    try {
      messages = decodeFrame(data, this.host.limits.maxMessagesPerFrame)
    } catch (err) {
      this.protocolError(err instanceof WireError ? err.reason : `undecodable frame: ${String(err)}`)
      return
    }
    let i = 0
    // The handshake in order; after it, heartbeats and digests at once, the rest through the inbox.
    for (; i < messages.length && this.state === 'handshake'; i++) this.handshake(messages[i]!)
    for (; i < messages.length && this.state === 'open'; i++) {
      const m = messages[i]!
      switch (m.type) {
        case 'hello':
        case 'proof':
          this.protocolError(`${m.type} after authentication`)
          return
        case 'heartbeat':
          this.host.onHeartbeat(this, m.heartbeat)
          break
        case 'signature':
          this.host.onSignature(this, m.signature)
          break
        case 'digest':
          this.onDigest(m.digest)
          break
        case 'signed-updates':
          if (this.host.signed === undefined) { this.protocolError('signed updates, but this node has no per-node keys'); return }
          this.inbox.push(m)
          this.inboxBytes += inboxMessageBytes(m)
          break
        default:
          if (this.host.signed !== undefined && m.type !== 'sync-step1') { this.protocolError('unsigned document update: this cluster uses per-node keys'); return }
          this.inbox.push(m)
          this.inboxBytes += inboxMessageBytes(m)
      }
    }
    if (this.inboxHead < this.inbox.length) {
      this.scheduleDrain()
      // Backpressure: stop reading this peer until the backlog is worked off.
      if (this.inboxBytes > MAX_INBOX_BYTES && !this.ws.isPaused) this.ws.pause()
    }
  }

  private handshake (m: WireMessage): void {
    if (m.type === 'hello') { this.onHello(m.hello); return }
    if (m.type === 'proof') { this.onProof(m.mac); return }
    this.protocolError(`${m.type} before authentication`)
  }

  private onDigest (g: Digest): void {
    let sv: Map<number, number>
    try {
      sv = Y.decodeStateVector(g.stateVector)
    } catch {
      this.protocolError('malformed state vector in digest')
      return
    }
    this.neighbours = new Set(g.neighbours)
    this.learnState(sv)
    this.peerSyncing = (g.flags & DIGEST_SYNCING) !== 0
    this.digestsIn++
    this.host.onDigest(this, g, sv)
  }

  /**
   * Connections of this process with received messages waiting, in the order they asked. One
   * event-loop turn works off at most {@link MAX_MESSAGES_PER_TASK} messages and
   * {@link MAX_UPDATE_BYTES_PER_TASK} update bytes in all, from the connections in turn (each
   * connection once per turn): with many busy peers the work per turn stays one chunk, not one
   * per peer, so timers (heartbeats, liveness) run between chunks, while small messages from
   * many peers still go in one turn. Process-wide on purpose: the event loop is.
   */
  private static readonly drainQueue: PeerConnection[] = []
  private static drainTurnScheduled = false

  private static drainTurn (): void {
    PeerConnection.drainTurnScheduled = false
    const q = PeerConnection.drainQueue
    let bytes = 0
    let messages = 0
    try {
      // Only the connections waiting when the turn began: one that re-queues waits for the next.
      for (let k = q.length; k > 0 && q.length > 0 && bytes < MAX_UPDATE_BYTES_PER_TASK && messages < MAX_MESSAGES_PER_TASK; k--) {
        const c = q.shift()!
        c.drainScheduled = false
        c.drainUsedBytes = 0
        c.drainUsedMessages = 0
        c.drain(MAX_UPDATE_BYTES_PER_TASK - bytes, MAX_MESSAGES_PER_TASK - messages, bytes === 0)
        bytes += c.drainUsedBytes
        messages += c.drainUsedMessages
      }
    } finally {
      if (q.length > 0 && !PeerConnection.drainTurnScheduled) {
        PeerConnection.drainTurnScheduled = true
        setImmediate(PeerConnection.drainTurn)
      }
    }
  }

  /** Queues this connection for a turn of {@link drain} (behind the others waiting). */
  private scheduleDrain (): void {
    if (this.drainScheduled) return
    this.drainScheduled = true
    PeerConnection.drainQueue.push(this)
    if (!PeerConnection.drainTurnScheduled) {
      PeerConnection.drainTurnScheduled = true
      setImmediate(PeerConnection.drainTurn)
    }
  }

  /**
   * Works off the inbox within what is left of this turn's budget: at most `maxMessages`
   * messages and `maxBytes` update bytes (a single larger message only when `mayExceed`, the
   * turn's first), consecutive updates applied together; the rest in a later turn, after the
   * other connections waiting (see `drainQueue`).
   */
  private drain (maxBytes: number, maxMessages: number, mayExceed: boolean): void {
    if (this.state !== 'open') return
    // Busy with this peer's data: it is not silent, and it is alive.
    this.lastReceivedMono = performance.now()
    if (this.lastReceivedMono - this.lastActive >= this.host.activityIntervalMs) {
      this.lastActive = this.lastReceivedMono
      this.host.onPeerActive(this)
    }
    const batch: Uint8Array[] = []
    let batchHasStep2 = false
    let bytes = 0
    const applyBatch = (): boolean => {
      if (batch.length === 0 && !batchHasStep2) return true
      const ok = batch.length === 0 || this.applyRemote(batch)
      batch.length = 0
      if (ok && batchHasStep2) {
        this.awaitingStep2 = false
        if (!this.synced) { this.synced = true; this.host.onSynced(this) }
      }
      batchHasStep2 = false
      return ok && this.state === 'open'
    }
    for (let n = 0; n < maxMessages && this.inboxHead < this.inbox.length; n++) {
      const m = this.inbox[this.inboxHead]!
      // A message that would take this turn past its byte budget waits for the next one (a
      // single larger message goes alone, first in its turn: it is applied whole or not at all).
      const size = inboxMessageBytes(m)
      if (bytes + size > maxBytes && (bytes > 0 || !mayExceed)) break
      this.inbox[this.inboxHead++] = undefined
      this.inboxBytes -= size
      this.drainUsedMessages++
      if (m.type === 'sync-step1') {
        if (!applyBatch()) return
        this.onStep1(m.stateVector)
        if (this.state !== 'open') return
      } else if (m.type === 'signed-updates') {
        bytes += size
        this.drainUsedBytes = bytes
        if (!applyBatch()) return
        if (!this.applySigned(m.signed)) return
      } else {
        bytes += size
        this.drainUsedBytes = bytes
        if (m.type === 'sync-step2') batchHasStep2 = true
        if (this.host.isKnownUpdate(m.update)) this.stats.duplicatesIn++
        else batch.push(m.update)
      }
    }
    if (!applyBatch()) return
    // A long apply is work on this peer's data too: the idle timer starts after it.
    this.lastReceivedMono = performance.now()
    if (this.inboxHead < this.inbox.length) { this.scheduleDrain(); return }
    this.inbox = []
    this.inboxHead = 0
    this.inboxBytes = 0
    if (this.ws.isPaused) this.ws.resume()
  }

  /** Checks, applies and hands on one signed message; false once the connection is closed. */
  private applySigned (s: SignedUpdates): boolean {
    const verdict = this.host.signed!.check(this, s, s.updates.every((u) => this.host.isKnownUpdate(u)))
    if (verdict.kind === 'duplicate') {
      this.stats.duplicatesIn++
    } else if (verdict.kind === 'refuse') {
      return false
    } else if (verdict.kind === 'drop') {
      this.host.log('debug', `connection ${this.describe()}: skipped a signed update: ${verdict.reason}`)
    } else {
      if (!this.applyRemote(s.updates)) return false
      this.host.signed!.applied(this, s, verdict.ranges)
    }
    if ((s.flags & SIGNED_STATE_END) !== 0) {
      this.awaitingStep2 = false
      if (!this.synced) { this.synced = true; this.host.onSynced(this) }
    }
    return this.state === 'open'
  }

  private onStep1 (sv: Uint8Array): void {
    let decoded: Map<number, number>
    try {
      decoded = Y.decodeStateVector(sv)
    } catch {
      this.protocolError('malformed state vector')
      return
    }
    this.learnState(decoded)
    this.requestState(sv)
  }

  /** Raises `knownState` to a state vector the peer sent (it holds at least that much). */
  private learnState (sv: Map<number, number>): void {
    for (const [client, clock] of sv) if (clock > (this.knownState.get(client) ?? 0)) this.knownState.set(client, clock)
  }

  /**
   * Queues an answer to a state request (the peer's state vector): sent after the current task,
   * one at a time per connection, a newer request replacing a waiting one, and only while the
   * connection's state budget is not in debt.
   */
  requestState (stateVector: Uint8Array): void {
    if (this.state !== 'open') return
    this.pendingStateVector = stateVector
    if (!this.answering && this.answerTimer === undefined) this.answerTimer = setTimeout(() => { this.answerTimer = undefined; this.pumpState() }, 0)
  }

  /** Whether a state answer is being sent or waits to be. */
  get stateAnswerPending (): boolean { return this.answering || this.pendingStateVector !== undefined }

  private pumpState (): void {
    if (this.answering || this.pendingStateVector === undefined || this.state !== 'open' || this.answerTimer !== undefined) return
    const wait = this.stateBudget.msUntilAvailable()
    if (wait > 0) {
      this.answerTimer = setTimeout(() => { this.answerTimer = undefined; this.pumpState() }, wait)
      return
    }
    const sv = this.pendingStateVector
    this.pendingStateVector = undefined
    this.answering = true
    this.answerState(sv, () => { this.answering = false; this.pumpState() })
  }

  /**
   * Sends what the peer misses (step 2). A small answer goes as one step 2. A larger one goes
   * as chunks of at most {@link STATE_CHUNK_BYTES} (or `maxMessageBytes`), each made of
   * consecutive structs of one writing client and so a valid update on its own, one chunk per
   * event-loop task, each sent once the socket has drained, followed by a step 2 carrying the
   * delete set and whatever was written meanwhile. Only what the peer's state vector lacks is
   * sent: a joiner that got a writer's structs from another member is not sent them again.
   */
  private answerState (svBytes: Uint8Array, done: () => void): void {
    const doc = this.host.doc
    const remote = Y.decodeStateVector(svBytes)
    if (this.host.signed !== undefined) { this.answerSigned(this.host.signed.stateAnswer(remote), done); return }
    const local = Y.decodeStateVector(Y.encodeStateVector(doc))
    const missing: Array<[number, number]> = []
    let gap = 0
    for (const [client, clock] of local) {
      const have = remote.get(client) ?? 0
      if (clock > have) { missing.push([client, have]); gap += clock - have }
    }
    const chunkBytes = Math.min(STATE_CHUNK_BYTES, this.host.limits.maxMessageBytes - SYNC_FRAMING_BYTES)
    if (gap <= STATE_CHUNK_CLOCKS) {
      const full = Y.encodeStateAsUpdate(doc, svBytes)
      if (full.length <= chunkBytes) {
        this.sendStateMessage(SYNC_STEP2, full)
        done()
        return
      }
    }
    let i = 0
    let from = -1
    const next = (): void => {
      if (this.state !== 'open') { done(); return }
      if (this.ws.bufferedAmount > SEND_HIGH_WATER_BYTES) { setTimeout(next, 5); return }
      const m = missing[i]
      if (m === undefined) {
        this.sendStateMessage(SYNC_STEP2, Y.encodeStateAsUpdate(doc, Y.encodeStateVector(local)))
        done()
        return
      }
      if (from < 0) from = m[1]
      // The next chunk of this client's structs the peer lacks, up to what it held at the start.
      const chunk = encodeClientChunk(doc, m[0], from, local.get(m[0]) ?? 0, chunkBytes)
      if (chunk === undefined) { i++; from = -1; next(); return }
      from = chunk.next
      if (chunk.update.length > this.host.limits.maxMessageBytes - SYNC_FRAMING_BYTES) {
        this.close(CloseCode.tooLarge, `a struct of client ${m[0]} (${chunk.update.length} bytes) exceeds maxMessageBytes`)
        done()
        return
      }
      this.sendStateMessage(SYNC_UPDATE, chunk.update)
      setImmediate(next)
    }
    next()
  }

  /** Sends the signed messages of a state answer (the last one ends it), a few per task, each once the socket has drained. */
  private answerSigned (parts: readonly Uint8Array[], done: () => void): void {
    let i = 0
    const next = (): void => {
      if (this.state !== 'open') { done(); return }
      if (this.ws.bufferedAmount > SEND_HIGH_WATER_BYTES) { setTimeout(next, 5); return }
      let bytes = 0
      while (i < parts.length && bytes < MAX_UPDATE_BYTES_PER_TASK) {
        const msg = parts[i++]!
        bytes += msg.length
        if (msg.length > this.host.limits.maxMessageBytes) {
          this.close(CloseCode.tooLarge, `a signed state answer of ${msg.length} bytes exceeds maxMessageBytes`)
          done()
          return
        }
        this.sendStateBytes(msg, i === parts.length)
      }
      if (i < parts.length) setImmediate(next)
      else done()
    }
    next()
  }

  private sendStateMessage (step: typeof SYNC_STEP2 | typeof SYNC_UPDATE, payload: Uint8Array): void {
    this.sendStateBytes(encodeSync(step, payload), step === SYNC_STEP2)
  }

  private sendStateBytes (msg: Uint8Array, last: boolean): void {
    this.stateBudget.charge(msg.length / STATE_BYTES_PER_MESSAGE)
    if (last) this.stats.stateAnswers++
    else this.stats.updatesOut++
    this.stats.stateBytesOut += msg.length
    this.send(msg)
  }

  /** Applies updates that arrived together, with this connection as origin; a refusal closes the connection. */
  private applyRemote (updates: readonly Uint8Array[]): boolean {
    try {
      this.host.applyUpdates(updates, this)
    } catch (err) {
      const malformed = (err as { code?: unknown }).code === 'DP_ERR_BAD_UPDATE'
      this.protocolError(`${malformed ? 'malformed update' : 'update rejected'}: ${err instanceof Error ? err.message : String(err)}`)
      return false
    }
    this.stats.updatesIn += updates.length
    return true
  }

  private onHello (h: Hello): void {
    if (this.peer !== undefined) { this.protocolError('second hello'); return }
    if (h.version !== PROTOCOL_VERSION) { this.close(CloseCode.protocol, `unsupported protocol version ${h.version}`); return }
    if (h.role === this.role) { this.protocolError('both ends claim the same role'); return }
    this.peer = h
    // The dialer proves first; the listener proves only to a dialer that proved itself.
    if (this.role === 'dialer') this.sendProof()
  }

  private identity (): HelloIdentity {
    return { nodeId: this.host.nodeId, incarnation: this.host.incarnation, clientId: this.host.clientId, nonce: this.nonce }
  }

  private sendProof (): void {
    const h = this.peer!
    this.proofSent = true
    this.sendNow(encodeProof(computeProof(this.host.secret, this.role, this.identity(), h)))
  }

  private onProof (mac: Uint8Array): void {
    const peer = this.peer
    if (peer === undefined || (this.role === 'dialer' && !this.proofSent)) { this.protocolError('proof before hello'); return }
    const expected = computeProof(this.host.secret, peer.role, peer, this.identity())
    if (!proofMatches(expected, mac)) { this.close(CloseCode.authFailed, 'authentication failed'); return }
    if (this.role === 'listener') this.sendProof()
    if (this.authTimer !== undefined) clearTimeout(this.authTimer)
    this.authTimer = undefined
    this.state = 'open'
    // The transport sends our step 1 when it sees fit (see `sendStep1`).
    this.host.onAuthenticated(this)
  }

  /** Asks the peer for what this node misses: sync step 1 with the current state vector. */
  sendStep1 (): void {
    if (this.state !== 'open') return
    this.awaitingStep2 = true
    this.send(encodeSync(SYNC_STEP1, this.host.signed?.stateVector() ?? Y.encodeStateVector(this.host.doc)))
  }

  /** Queues a document update for this peer (sent in the next batch). */
  sendUpdate (update: Uint8Array): void {
    this.sendEncodedUpdate(encodeSync(SYNC_UPDATE, update), update.length)
  }

  /** Queues an update message already encoded (`encodeSync(SYNC_UPDATE, update)`), shared between peers. */
  sendEncodedUpdate (msg: Uint8Array, updateBytes: number): void {
    if (this.state !== 'open') return
    this.stats.updatesOut++
    this.stats.updateBytesOut += updateBytes
    this.send(msg)
  }

  sendDigest (g: Digest): void {
    if (this.state !== 'open') return
    this.send(encodeDigest(g))
  }

  sendHeartbeat (hb: Heartbeat): void {
    if (this.state !== 'open') return
    this.send(encodeHeartbeat(hb))
  }

  /** Queues one message; messages queued in one tick go out in one WebSocket message. */
  send (msg: Uint8Array): void {
    if (this.state === 'closed') return
    if (msg.length > this.host.limits.maxMessageBytes) {
      this.close(CloseCode.tooLarge, `outgoing message of ${msg.length} bytes exceeds maxMessageBytes`)
      return
    }
    // A frame is worked off by the receiver in bounded tasks, but decoded in one: keep it small.
    if (this.queueBytes + msg.length > this.frameBytes || this.queue.length >= this.frameMessages) this.flush()
    this.queue.push(msg)
    this.queueBytes += msg.length
    if (!this.flushScheduled) {
      this.flushScheduled = true
      setImmediate(() => { this.flushScheduled = false; this.flush() })
    }
  }

  private sendNow (msg: Uint8Array): void {
    this.send(msg)
    this.flush()
  }

  private flush (): void {
    if (this.queue.length === 0 || this.state === 'closed') return
    const frame = this.queue.length === 1 ? this.queue[0]! : Buffer.concat(this.queue, this.queueBytes)
    this.queue = []
    this.queueBytes = 0
    if (this.ws.bufferedAmount + frame.length > this.host.limits.maxBufferedBytes) {
      this.close(CloseCode.slowPeer, 'peer too slow: send buffer full')
      return
    }
    this.stats.bytesOut += frame.length
    this.stats.framesOut++
    this.ws.send(frame, { binary: true })
  }

  private protocolError (reason: string): void {
    this.close(CloseCode.protocol, reason)
  }

  /**
   * Closes the connection with a code and a logged reason. Idempotent. ws destroys the socket
   * if the peer does not answer the close frame within {@link CLOSE_TIMEOUT_MS} (its `closeTimeout`).
   */
  close (code: number, reason: string): void {
    if (this.state === 'closed') return
    if (code !== CloseCode.shutdown && code !== CloseCode.duplicate) this.host.log(code === CloseCode.self ? 'debug' : 'warn', `closing ${this.describe()}: ${reason}`)
    this.flush()
    this.finish(code, reason)
    this.ws.close(code, fitCloseReason(reason))
  }

  /** Cuts the socket without reading further (a peer that sends too much before proving anything). */
  private abort (code: number, reason: string): void {
    if (this.state === 'closed') return
    this.host.log('warn', `closing ${this.describe()}: ${reason}`)
    this.finish(code, reason)
    this.ws.terminate()
  }

  private onSocketClosed (code: number, reason: string): void {
    this.finish(code, reason === '' ? `socket closed (${code})` : reason)
  }

  private finish (code: number, reason: string): void {
    if (this.state === 'closed') return
    this.state = 'closed'
    if (this.authTimer !== undefined) clearTimeout(this.authTimer)
    this.authTimer = undefined
    if (this.answerTimer !== undefined) clearTimeout(this.answerTimer)
    this.answerTimer = undefined
    this.pendingStateVector = undefined
    this.queue = []
    this.queueBytes = 0
    this.inbox = []
    this.inboxHead = 0
    this.inboxBytes = 0
    this.host.onClosed(this, code, reason)
  }
}
