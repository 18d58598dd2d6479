/**
 * One authenticated WebSocket connection to a peer node: handshake, y-protocols sync of the
 * document, heartbeats, per-connection limits and batched sends.
 *
 * Life of a connection: both ends send a hello (node id, incarnation, client id, nonce), then a
 * proof of the shared secret (see `auth.ts`). Only after the peer's proof checks out does any
 * document data flow: each end sends sync step 1 (its state vector), answers the peer's step 1
 * with step 2 (what the peer misses), and from then on forwards document updates. Anything
 * malformed, unknown, oversize or too frequent closes this connection with a reason; the
 * document is never touched by a message that did not decode.
 */
import * as Y from 'yjs'
import type { WebSocket } from 'ws'
import { computeProof, makeNonce, proofMatches } from './auth.js'
import { RateLimiter } from './rate-limiter.js'
import {
  PROTOCOL_VERSION, SYNC_STEP1, SYNC_STEP2, SYNC_UPDATE, WireError,
  decodeFrame, encodeHeartbeat, encodeHello, encodeProof, encodeSync
} from './wire.js'
import type { HelloIdentity } from './auth.js'
import type { Heartbeat, Hello, Role, WireMessage } from './wire.js'

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
  tooLarge: 4010
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
  /** Decode every update before `applyUpdate` (off when `applyUpdate` validates by itself). */
  readonly validateUpdates: boolean
  readonly limits: ConnectionLimits
  clock(): number
  applyUpdate(update: Uint8Array, origin: unknown): void
  /** The peer proved the secret. Return false to refuse it (the host has closed it). */
  onAuthenticated(conn: PeerConnection): boolean
  onSynced(conn: PeerConnection): void
  onHeartbeat(conn: PeerConnection, hb: Heartbeat): void
  /** The signature of the heartbeat just received (per-node keys). */
  onSignature(conn: PeerConnection, signature: Uint8Array): void
  onClosed(conn: PeerConnection, code: number, reason: string): void
  log(level: 'debug' | 'info' | 'warn', msg: string): void
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
}

let nextConnId = 1

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
  closeCode = 0
  closeReason = ''
  readonly stats: ConnectionStats = { bytesIn: 0, bytesOut: 0, framesIn: 0, framesOut: 0, updatesIn: 0, updatesOut: 0, updateBytesOut: 0 }
  private readonly nonce = makeNonce()
  private proofSent = false
  private readonly limiter: RateLimiter
  private queue: Uint8Array[] = []
  private queueBytes = 0
  private flushScheduled = false
  private authTimer: NodeJS.Timeout | undefined

  constructor (
    private readonly host: PeerHost,
    readonly ws: WebSocket,
    readonly role: Role,
    /** The url dialled (dialer side only). */
    readonly url: string | undefined
  ) {
    this.lastReceivedAt = host.clock()
    const rate = host.limits.maxMessagesPerSecond
    // Rate limits and idleness protect the socket: they read a real monotonic clock, so that an
    // injected (possibly frozen) semantic clock cannot starve real traffic.
    this.limiter = new RateLimiter(rate, Math.max(rate, 1), () => performance.now())
    this.lastReceivedMono = performance.now()
    ws.binaryType = 'nodebuffer'
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

  private onFrame (data: unknown, isBinary: boolean): void {
    if (this.state === 'closed') return
    if (!isBinary || !Buffer.isBuffer(data)) { this.protocolError('text or fragmented frame'); return }
    this.stats.bytesIn += data.length
    this.stats.framesIn++
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
    for (const m of messages) {
      if (this.isClosed()) return
      this.handle(m)
    }
  }

  private handle (m: WireMessage): void {
    if (this.state === 'handshake') {
      if (m.type === 'hello') { this.onHello(m.hello); return }
      if (m.type === 'proof') { this.onProof(m.mac); return }
      this.protocolError(`${m.type} before authentication`)
      return
    }
    switch (m.type) {
      case 'hello':
      case 'proof':
        this.protocolError(`${m.type} after authentication`)
        return
      case 'heartbeat':
        this.host.onHeartbeat(this, m.heartbeat)
        return
      case 'signature':
        this.host.onSignature(this, m.signature)
        return
      case 'sync-step1': {
        let remote: Map<number, number>
        try {
          remote = Y.decodeStateVector(m.stateVector)
        } catch {
          this.protocolError('malformed state vector')
          return
        }
        this.sendState(m.stateVector, remote)
        return
      }
      case 'sync-step2':
      case 'sync-update': {
        if (!this.applyRemote(m.update)) return
        if (m.type === 'sync-step2' && !this.synced) {
          this.synced = true
          this.host.onSynced(this)
        }
      }
    }
  }

  /**
   * Answers a sync step 1 with what the peer misses. When that does not fit in one message
   * (`maxMessageBytes`), it goes as one update per writing client (each with the delete set)
   * followed by a step 2 carrying the delete set: the limit then bounds one writer's share of
   * the state, not the whole cluster's.
   */
  private sendState (svBytes: Uint8Array, remote: Map<number, number>): void {
    const doc = this.host.doc
    const full = Y.encodeStateAsUpdate(doc, svBytes)
    const budget = this.host.limits.maxMessageBytes - 16
    if (full.length <= budget) {
      this.send(encodeSync(SYNC_STEP2, full))
      return
    }
    const local = Y.decodeStateVector(Y.encodeStateVector(doc))
    for (const [client, clock] of local) {
      const have = remote.get(client) ?? 0
      if (clock <= have) continue
      // Pretend the peer has everything but this client's missing structs.
      const target = new Map(local)
      target.set(client, have)
      const part = Y.encodeStateAsUpdate(doc, Y.encodeStateVector(target))
      if (part.length > budget) {
        this.close(CloseCode.tooLarge, `the state of client ${client} (${part.length} bytes) exceeds maxMessageBytes`)
        return
      }
      this.stats.updatesOut++
      this.send(encodeSync(SYNC_UPDATE, part))
      if (this.state === 'closed') return
    }
    this.send(encodeSync(SYNC_STEP2, Y.encodeStateAsUpdate(doc, Y.encodeStateVector(local))))
  }

  /** Validates then applies a remote update with this connection as origin. */
  private applyRemote (update: Uint8Array): boolean {
    if (this.host.validateUpdates) {
      try {
        // Decode fully first: a truncated or malformed update throws here, before the document is touched.
        Y.decodeUpdate(update)
      } catch (err) {
        this.protocolError(`malformed update: ${err instanceof Error ? err.message : String(err)}`)
        return false
      }
    }
    try {
      this.host.applyUpdate(update, this)
    } catch (err) {
      const malformed = (err as { code?: unknown }).code === 'DP_ERR_BAD_UPDATE'
      this.protocolError(`${malformed ? 'malformed update' : 'update rejected'}: ${err instanceof Error ? err.message : String(err)}`)
      return false
    }
    this.stats.updatesIn++
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
    if (!this.host.onAuthenticated(this)) return
    this.send(encodeSync(SYNC_STEP1, Y.encodeStateVector(this.host.doc)))
  }

  /** Queues a document update for this peer (sent in the next batch). */
  sendUpdate (update: Uint8Array): void {
    if (this.state !== 'open') return
    this.stats.updatesOut++
    this.stats.updateBytesOut += update.length
    this.send(encodeSync(SYNC_UPDATE, update))
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
    if (this.queueBytes + msg.length > this.host.limits.maxMessageBytes || this.queue.length >= this.host.limits.maxMessagesPerFrame) this.flush()
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

  /** Closes the connection with a code and a logged reason. Idempotent. */
  close (code: number, reason: string): void {
    if (this.state === 'closed') return
    if (code !== CloseCode.shutdown && code !== CloseCode.duplicate) this.host.log(code === CloseCode.self ? 'debug' : 'warn', `closing ${this.describe()}: ${reason}`)
    this.flush()
    this.finish(code, reason)
    try {
      // Close reasons are limited to 123 bytes by the WebSocket protocol.
      this.ws.close(code, reason.slice(0, 120))
    } catch { /* socket already gone */ }
    const ws = this.ws
    // Do not wait forever for the peer's close frame.
    setTimeout(() => { ws.terminate() }, 1000).unref()
  }

  /** Abrupt end (no close handshake), for shutdown of hostile or dead sockets. */
  terminate (): void {
    this.finish(CloseCode.shutdown, 'terminated')
    this.ws.terminate()
  }

  private onSocketClosed (code: number, reason: string): void {
    this.finish(code, reason === '' ? `socket closed (${code})` : reason)
  }

  private finish (code: number, reason: string): void {
    if (this.state === 'closed') return
    this.state = 'closed'
    this.closeCode = code
    this.closeReason = reason
    if (this.authTimer !== undefined) clearTimeout(this.authTimer)
    this.authTimer = undefined
    this.queue = []
    this.queueBytes = 0
    this.host.onClosed(this, code, reason)
  }
}
