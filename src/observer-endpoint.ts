/**
 * The read-only y-websocket endpoint: any Yjs tool speaking the y-websocket protocol (for
 * example `y-websocket`'s `WebsocketProvider`) can observe the cluster document with a token.
 *
 * Protocol, per connection: the observer's sync step 1 is answered with sync step 2 (what it
 * misses of the document), and every later update of the document is sent as a sync update.
 * The room name (the url path) is ignored: there is one document. A sync step 2 or update from
 * the observer (a write) closes the connection with code 4403 and a reason; awareness, query
 * awareness and auth messages are ignored; anything that does not decode closes it with 1002.
 * An empty awareness message goes out every `KEEPALIVE_MS`, so that a provider, which drops a
 * connection silent for 30 s, stays connected to an idle cluster.
 *
 * Access: the upgrade request must carry the url parameter `token` equal to the configured one
 * (compared in constant time over SHA-256 digests); else HTTP 401. Bounds: at most
 * `maxObservers` connections (more are refused with HTTP 503), messages of at most
 * `maxMessageBytes` (ws `maxPayload`, close 1009), at most `maxMessagesPerSecond` messages per
 * connection (close 1008), and an observer whose queued output would pass `maxBufferedBytes` is
 * disconnected (a provider reconnects and resyncs).
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import { createServer as createHttpServer } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { IncomingMessage, Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import * as decoding from 'lib0/decoding'
import { WebSocketServer } from 'ws'
import type { WebSocket } from 'ws'
import { fail } from './errors.js'
import type { Logger, ObserveOptions, TlsOptions } from './options.js'
import type { ProfileStore } from './profile-store.js'
import { RateLimiter } from './transport/rate-limiter.js'
import { MSG_SYNC, SYNC_STEP1, SYNC_STEP2, SYNC_UPDATE, encodeSync } from './transport/wire.js'

/** y-websocket message types other than sync. */
const MSG_AWARENESS = 1
const MSG_AUTH = 2
const MSG_QUERY_AWARENESS = 3
/** Interval of the keepalive message to every observer, ms. */
const KEEPALIVE_MS = 10_000
/** An awareness message carrying no state: `[1][varUint8Array [0]]`. */
const EMPTY_AWARENESS = new Uint8Array([MSG_AWARENESS, 1, 0])
/** Close code for a write from an observer (in the 4400-4499 range a provider does not retry). */
export const CLOSE_READ_ONLY = 4403

export interface ObserverEndpointOptions extends Required<ObserveOptions> {
  readonly tls: TlsOptions | undefined
  /** Output queued to one observer before it is dropped, bytes. */
  readonly maxBufferedBytes: number
  readonly clock: () => number
  readonly log: Logger
}

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest()

export class ObserverEndpoint {
  readonly #token: Buffer
  private readonly opts: Omit<ObserverEndpointOptions, 'token'>
  private server: Server | undefined
  private readonly observers = new Set<WebSocket>()
  private offUpdate: (() => void) | undefined
  private keepalive: NodeJS.Timeout | undefined
  private closed = false

  constructor (private readonly store: ProfileStore, options: ObserverEndpointOptions) {
    const { token, ...opts } = options
    this.#token = digest(token)
    this.opts = opts
  }

  /** Listens; resolves once bound. @throws DialogProfilesError `DP_ERR_TRANSPORT` when it cannot listen. */
  async start (): Promise<void> {
    const tls = this.opts.tls
    const server = tls !== undefined ? createHttpsServer({ cert: tls.cert, key: tls.key }) : createHttpServer()
    server.on('request', (_req, res) => { res.writeHead(426, { 'content-type': 'text/plain' }); res.end('dialog-profiles read-only y-websocket endpoint: WebSocket only\n') })
    const wss = new WebSocketServer({ noServer: true, maxPayload: this.opts.maxMessageBytes, perMessageDeflate: false })
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => { this.upgrade(wss, req, socket, head) })
    this.server = server
    const onUpdate = (update: Uint8Array): void => {
      if (this.observers.size === 0) return
      const msg = encodeSync(SYNC_UPDATE, update)
      for (const ws of this.observers) this.send(ws, msg)
    }
    this.offUpdate = this.store.onUpdate(onUpdate)
    this.keepalive = setInterval(() => { for (const ws of this.observers) this.send(ws, EMPTY_AWARENESS) }, KEEPALIVE_MS)
    const { host, port } = this.opts.listen
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => { reject(fail('DP_ERR_TRANSPORT', `observe: cannot listen on ${host}:${port}: ${err.message}`, err)) }
      server.once('error', onError)
      server.listen(port, host, () => {
        server.off('error', onError)
        server.on('error', (err) => { this.opts.log('warn', `observe: server error: ${err.message}`) })
        resolve()
      })
    })
  }

  /** The bound address, once listening. */
  address (): { host: string; port: number } | undefined {
    const a = this.server?.address() as AddressInfo | null | undefined
    return a === null || a === undefined ? undefined : { host: a.address, port: a.port }
  }

  /** Observers connected now. */
  get count (): number { return this.observers.size }

  private upgrade (wss: WebSocketServer, req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const refuse = (status: number, text: string): void => {
      socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
      socket.destroy()
    }
    if (this.closed) { refuse(503, 'Service Unavailable'); return }
    let token: string | null = null
    try { token = new URL(req.url ?? '/', 'http://observer').searchParams.get('token') } catch { /* refused below */ }
    if (token === null || !timingSafeEqual(digest(token), this.#token)) { refuse(401, 'Unauthorized'); return }
    if (this.observers.size >= this.opts.maxObservers) { refuse(503, 'Service Unavailable'); return }
    wss.handleUpgrade(req, socket, head, (ws) => { this.accept(ws) })
  }

  private accept (ws: WebSocket): void {
    if (this.closed || this.observers.size >= this.opts.maxObservers) { ws.close(1013, 'too many observers'); return }
    this.observers.add(ws)
    const limiter = new RateLimiter(this.opts.maxMessagesPerSecond, this.opts.maxMessagesPerSecond, this.opts.clock)
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!limiter.take()) { ws.close(1008, 'too many messages'); return }
      if (!isBinary) { ws.close(1003, 'binary messages only'); return }
      this.onMessage(ws, data)
    })
    ws.on('close', () => { this.observers.delete(ws) })
    ws.on('error', () => { this.observers.delete(ws) })
  }

  private onMessage (ws: WebSocket, data: Buffer): void {
    try {
      // A copy: lib0 bounds its reads by the underlying buffer, which for a view into Node's
      // buffer pool would reach past this message.
      const decoder = decoding.createDecoder(new Uint8Array(data))
      const type = decoding.readVarUint(decoder)
      if (type === MSG_SYNC) {
        const step = decoding.readVarUint(decoder)
        const payload = decoding.readVarUint8Array(decoder)
        if (decoding.hasContent(decoder)) throw new Error('trailing bytes after a sync message')
        if (step === SYNC_STEP1) { this.send(ws, encodeSync(SYNC_STEP2, this.store.encodeState(payload))); return }
        if (step === SYNC_STEP2 || step === SYNC_UPDATE) { ws.close(CLOSE_READ_ONLY, 'read-only endpoint: writes are refused'); return }
        throw new Error(`unknown sync step ${step}`)
      }
      if (type === MSG_AWARENESS || type === MSG_AUTH || type === MSG_QUERY_AWARENESS) return
      throw new Error(`unknown message type ${type}`)
    } catch (err) {
      ws.close(1002, `protocol error: ${err instanceof Error ? err.message : String(err)}`.slice(0, 120))
    }
  }

  private send (ws: WebSocket, msg: Uint8Array): void {
    if (ws.readyState !== ws.OPEN) return
    if (ws.bufferedAmount + msg.byteLength > this.opts.maxBufferedBytes) { ws.terminate(); this.observers.delete(ws); return }
    ws.send(msg)
  }

  /** Closes every observer and the listener. Idempotent. */
  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.offUpdate?.()
    if (this.keepalive !== undefined) clearInterval(this.keepalive)
    for (const ws of this.observers) ws.terminate()
    this.observers.clear()
    const server = this.server
    if (server !== undefined) {
      server.closeAllConnections()
      await new Promise<void>((resolve) => { server.close(() => { resolve() }) })
    }
  }
}
