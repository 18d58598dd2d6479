/**
 * The fast path of the daemon's HTTP API: the hot requests (`POST /v1/acquire`,
 * `POST /v1/dialogs/{id}/end`, and the other lean routes of routes.ts: the membership writes
 * and `GET /v1/profiles/{profile}/size`) parsed and answered
 * straight on the TCP socket, without node:http's per-request machinery (its parser callbacks,
 * IncomingMessage and ServerResponse streams), which cost more than the decision itself.
 *
 * It takes every connection of the node:http server first and reads requests itself while
 * they are *plain*: `GET`, `POST` or `DELETE`, a path that the router matches to a lean route
 * (then, if any, a query of the same bytes and `?`: no `#`, no space), `HTTP/1.1`, CRLF lines, only the headers it knows (`Host`, `Content-Type`, `Content-Length`,
 * `Authorization`, `Accept`, `Connection`, `User-Agent`, `Accept-Encoding`) each at most once
 * (a `Host`, no `Transfer-Encoding`, `Expect` or `Upgrade`), printable ASCII values,
 * `Connection` absent or exactly `keep-alive` / `close`, a `Content-Length` body within the
 * body bound, a head within {@link MAX_HEAD} bytes. At the first request that is not plain it
 * hands the connection, that request's bytes first, to node:http (`socket.unshift`, then
 * node:http's own connection listener), which then answers it and everything after exactly as
 * it would have: every other route, error and edge case keeps node:http's behaviour.
 *
 * The answers are node:http's, byte for byte (test/server/fast-http.test.ts): the same route
 * handlers, token check and error answers (`HttpApi.serve`), and a {@link FastResponse} that
 * writes the status line and headers in node's order (`Date`, `Connection`, `Keep-Alive`).
 * Requests are answered one at a time, in order; pipelined bytes wait in the buffer (reading
 * pauses past {@link MAX_PENDING} bytes). Idle connections close after the server's
 * `keepAliveTimeout`; a request not complete within its `headersTimeout` gets node's 408.
 */
import { STATUS_CODES } from 'node:http'
import type { Server } from 'node:http'
import type { Socket } from 'node:net'
import type { HttpApi } from './http-api.js'
import { BufferedRequest, NO_QUERY, wantsText } from './requests.js'
import type { Head } from './requests.js'
import type { ApiResponse, Route } from './router.js'

/** Largest request head the fast path reads; a longer one goes to node:http (its limit: 16 KiB). */
export const MAX_HEAD = 4096
/** Unread bytes past which a busy connection stops reading until its answer is written. */
const MAX_PENDING = 65_536

/** Node's answer to a request not complete in time (`requestTimeoutResponse` of node:http). */
const TIMEOUT_ANSWER = 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n'

const CR = 13
const LF = 10

/** tchar of RFC 9110, the bytes of a header name or method. */
const TOKEN = new Uint8Array(256)
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") TOKEN[c.charCodeAt(0)] = 1
/** Bytes of a plain path: unreserved, sub-delims, `:`, `@`, `/`, `%` (no `?`, no `#`). */
const PATH = new Uint8Array(256)
for (const c of "-._~!$&'()*+,;=:@/%0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") PATH[c.charCodeAt(0)] = 1
/** Bytes of a plain query (after the first `?`): those of a path, and `?` (no `#`). */
const QUERY = PATH.slice()
QUERY[0x3f] = 1

let dateSecond = -1
let dateText = ''
/** The `Date` header's value, as node:http writes it (one string per second). */
const httpDate = (): string => {
  const now = Date.now()
  const s = Math.floor(now / 1000)
  if (s !== dateSecond) { dateSecond = s; dateText = new Date(now).toUTCString() }
  return dateText
}

/** A parsed plain request. */
interface Plain {
  /** Bytes of the request, head and body. */
  size: number
  method: string
  path: string
  route: Route
  params: Record<string, string>
  /** The query after `?`, or null without one. */
  query: URLSearchParams | null
  head: Head
  close: boolean
  body: Buffer
}

/** What the parser made of the bytes at the buffer's start. */
type Parsed = Plain | 'more' | 'node'

/**
 * The answer of one fast request, written as node:http's `ServerResponse` writes it for a
 * `writeHead(status, headers)` then `end(body)` with a `content-length` header.
 */
class FastResponse implements ApiResponse {
  statusCode = 200
  headersSent = false
  shouldKeepAlive: boolean
  private head = ''

  constructor (private readonly conn: FastConnection, keepAlive: boolean) { this.shouldKeepAlive = keepAlive }

  writeHead (status: number, headers?: Record<string, string | number>): this {
    if (this.headersSent) throw new Error('writeHead after the head was sent')
    this.statusCode = status
    let h = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'unknown'}\r\n`
    let length = false
    if (headers !== undefined) {
      for (const k in headers) {
        h += `${k}: ${String(headers[k])}\r\n`
        if (k === 'content-length') length = true
      }
    }
    if (!length && status !== 204 && status !== 304) throw new Error('a fast answer needs its content-length')
    this.head = h
    this.headersSent = true
    return this
  }

  end (body?: string): this {
    if (!this.headersSent) this.writeHead(this.statusCode, { 'content-length': body === undefined ? 0 : Buffer.byteLength(body) })
    const keep = this.shouldKeepAlive
    const text = this.head + `Date: ${httpDate()}\r\n` + (keep ? this.conn.keepAliveHeader : 'Connection: close\r\n') + '\r\n' + (body ?? '')
    this.conn.answered(this, text, keep)
    return this
  }

  destroy (): this { this.conn.destroy(); return this }
}

/** One connection while the fast path reads it. */
class FastConnection {
  private buf: Buffer | null = null
  /** The answer awaited, if a request is being handled. */
  private current: FastResponse | null = null
  private pumping = false
  /** Waiting for answers already written to leave (the client reads slowly). */
  private draining = false
  private done = false
  /** Closing: the daemon stops; end after the answer in flight. */
  private closing = false
  private timer: NodeJS.Timeout | null = null
  readonly keepAliveHeader: string
  private readonly onData = (c: Buffer): void => { this.data(c) }
  private readonly onEnd = (): void => { this.ended() }
  private readonly onClose = (): void => { this.finish() }
  private readonly onError = (): void => { this.socket.destroy() }

  constructor (private readonly socket: Socket, private readonly fast: FastPath) {
    this.keepAliveHeader = `Connection: keep-alive\r\nKeep-Alive: timeout=${Math.floor(fast.server.keepAliveTimeout / 1000)}\r\n`
    socket.on('data', this.onData)
    socket.on('end', this.onEnd)
    socket.on('close', this.onClose)
    socket.on('error', this.onError)
    this.arm()
  }

  get idle (): boolean { return this.current === null && this.buf === null }

  private data (c: Buffer): void {
    this.buf = this.buf === null ? c : Buffer.concat([this.buf, c])
    if (this.current !== null || this.draining) {
      if (this.buf.length > MAX_PENDING) this.socket.pause()
      return
    }
    this.pump()
  }

  /** Answers the complete plain requests in the buffer, one at a time; hands over at the first other. */
  private pump (): void {
    if (this.pumping) return
    this.pumping = true
    try {
      while (!this.done && !this.draining && this.current === null && this.buf !== null) {
        const p = this.fast.parse(this.buf)
        if (p === 'more') break
        if (p === 'node') { this.handOver(); return }
        this.buf = p.size < this.buf.length ? this.buf.subarray(p.size) : null
        this.serve(p)
      }
    } finally { this.pumping = false }
    if (!this.done) this.arm()
  }

  private serve (p: Plain): void {
    const res = new FastResponse(this, !p.close)
    this.current = res
    if (this.timerPartial) this.clearTimer() // the next request's headersTimeout starts afresh
    const text = wantsText(p.query, p.head.accept)
    const req = new BufferedRequest(p.method, p.path, p.params, p.query ?? NO_QUERY, text, p.head, p.body, this.fast.api)
    const lean = p.route.lean as NonNullable<Route['lean']>
    this.fast.api.serve(p.route, text, p.head, res, { method: p.method, url: p.path }, () => lean(req, res))
  }

  /** Writes the answer of the request in flight, then goes on with the next one. */
  answered (res: FastResponse, text: string, keep: boolean): void {
    if (res !== this.current || this.done) return
    this.current = null
    const s = this.socket
    if (!s.writable) { this.finish(); return }
    if (!keep || this.closing) {
      this.fast.served++
      this.finish()
      s.end(text, 'latin1')
      s.once('finish', () => { s.destroy() })
      return
    }
    this.fast.served++
    if (!s.write(text, 'latin1')) {
      // the client does not read its answers: read nothing more until they are out, as node:http
      this.draining = true
      s.pause()
      s.once('drain', () => { this.draining = false; if (!this.done) { s.resume(); this.pump() } })
      return
    }
    if (s.isPaused()) s.resume()
    this.pump()
  }

  /** The client ended its side: as node:http, end ours (an answer still awaited is lost, as there). */
  private ended (): void {
    if (this.done) return
    if (this.buf !== null && this.current === null) {
      // an incomplete request at the end: node:http's parser answers 400 and closes
      this.finish()
      if (this.socket.writable) this.socket.write('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n')
      this.socket.destroy()
      return
    }
    this.finish()
    if (this.socket.writable) this.socket.end()
  }

  /** Gives the connection to node:http, the unread bytes first. */
  private handOver (): void {
    const s = this.socket
    const rest = this.buf
    this.finish()
    s.pause()
    if (rest !== null) s.unshift(rest)
    this.fast.handedOver++
    this.fast.handOver(s)
    s.resume()
  }

  destroy (): void { this.finish(); this.socket.destroy() }

  /** Ends the connection at once when idle, else after the answer in flight. */
  close (): void {
    if (this.idle) this.destroy()
    else this.closing = true
  }

  /** Stops reading the connection (handed over, closed, or ending). */
  private finish (): void {
    if (this.done) return
    this.done = true
    this.clearTimer()
    const s = this.socket
    s.off('data', this.onData)
    s.off('end', this.onEnd)
    s.off('close', this.onClose)
    s.off('error', this.onError)
    if (!s.destroyed) s.on('error', () => {}) // late errors of a closing socket
    this.fast.forget(this)
  }

  private clearTimer (): void {
    if (this.timer !== null) { clearTimeout(this.timer); this.timer = null }
  }

  /**
   * Idle: close after keepAliveTimeout; a request begun: node's 408 after headersTimeout. One
   * timer, refreshed after each answer (not cleared while a request is handled: it re-arms
   * itself when it fires then).
   */
  private arm (): void {
    if (this.current !== null) return
    const partial = this.buf !== null
    // a request begun keeps its deadline, counted from its first bytes as node:http does
    if (this.timer !== null && partial === this.timerPartial) { if (!partial) this.timer.refresh(); return }
    this.clearTimer()
    this.timerPartial = partial
    const server = this.fast.server
    this.timer = setTimeout(() => {
      if (this.done) { this.timer = null; return }
      if (this.current !== null || this.draining) { this.timer?.refresh(); return }
      this.timer = null
      if (!partial) { this.destroy(); return }
      this.finish()
      if (this.socket.writable) this.socket.write(TIMEOUT_ANSWER)
      this.socket.destroy()
    }, partial ? server.headersTimeout : server.keepAliveTimeout)
    this.timer.unref()
  }

  private timerPartial = false
}

/** The fast path of one HttpApi's node:http server. */
export class FastPath {
  private readonly nodeListeners: Array<(socket: Socket) => void>
  private readonly conns = new Set<FastConnection>()
  /** Requests answered on the fast path, connections handed over to node:http (for tests and metrics). */
  served = 0
  handedOver = 0

  constructor (readonly server: Server, readonly api: HttpApi) {
    // node:http's own connection listener: called for the connections handed over
    this.nodeListeners = server.listeners('connection') as Array<(socket: Socket) => void>
    server.removeAllListeners('connection')
    server.on('connection', (socket: Socket) => { this.conns.add(new FastConnection(socket, this)) })
  }

  handOver (socket: Socket): void {
    for (const l of this.nodeListeners) l.call(this.server, socket)
  }

  forget (c: FastConnection): void { this.conns.delete(c) }

  closeIdle (): void { for (const c of [...this.conns]) c.close() }
  closeAll (): void { for (const c of [...this.conns]) c.destroy() }

  /**
   * Reads one plain request at the start of `b`: 'more' when it is not complete yet, 'node'
   * when it is not plain (or the head is too long).
   */
  parse (b: Buffer): Parsed {
    const end = b.indexOf('\r\n\r\n')
    if (end < 0) return b.length >= MAX_HEAD ? 'node' : 'more'
    if (end + 4 > MAX_HEAD) return 'node'
    // request line
    let i = 0
    while (i < end && TOKEN[b[i] as number] === 1) i++
    const method = b.toString('latin1', 0, i)
    if (method !== 'POST' && method !== 'DELETE' && method !== 'GET') return 'node'
    if (b[i] !== 0x20 || b[i + 1] !== 0x2f) return 'node'
    const p0 = ++i
    while (i < end && PATH[b[i] as number] === 1) i++
    const path = b.toString('latin1', p0, i)
    // the query's bounds: parsed once the request is known complete and plain (parse runs again
    // on every chunk of a request still arriving)
    let q0 = -1
    let q1 = -1
    if (b[i] === 0x3f) {
      q0 = ++i
      while (i < end && QUERY[b[i] as number] === 1) i++
      q1 = i
    }
    if (b.toString('latin1', i, i + 11) !== ' HTTP/1.1\r\n') return 'node'
    i += 11
    let match
    try { match = this.api.router.match(method, path) } catch { return 'node' }
    if (match.kind !== 'found' || match.route.lean === null) return 'node'
    // headers
    const head: Head = { accept: undefined, contentType: undefined, contentLength: undefined, authorization: undefined }
    let host = false
    let connection: string | undefined
    let userAgent = false
    let acceptEncoding = false
    while (i < end + 2) {
      const n0 = i
      while (TOKEN[b[i] as number] === 1) i++
      if (i === n0 || b[i] !== 0x3a) return 'node'
      const name = b.toString('latin1', n0, i).toLowerCase()
      i++
      while (b[i] === 0x20) i++
      const v0 = i
      let c = b[i] as number
      while (c >= 0x20 && c <= 0x7e) c = b[++i] as number
      if (c !== CR || b[i + 1] !== LF || i === v0 || b[i - 1] === 0x20) return 'node'
      const value = b.toString('latin1', v0, i)
      i += 2
      switch (name) {
        case 'host': if (host) return 'node'; host = true; break
        case 'content-type': if (head.contentType !== undefined) return 'node'; head.contentType = value; break
        case 'content-length': if (head.contentLength !== undefined) return 'node'; head.contentLength = value; break
        case 'authorization': if (head.authorization !== undefined) return 'node'; head.authorization = value; break
        case 'accept': if (head.accept !== undefined) return 'node'; head.accept = value; break
        case 'connection': if (connection !== undefined) return 'node'; connection = value.toLowerCase(); break
        case 'user-agent': if (userAgent) return 'node'; userAgent = true; break
        case 'accept-encoding': if (acceptEncoding) return 'node'; acceptEncoding = true; break
        default: return 'node'
      }
    }
    if (!host) return 'node'
    if (connection !== undefined && connection !== 'keep-alive' && connection !== 'close') return 'node'
    let length = 0
    if (head.contentLength !== undefined) {
      if (!/^\d{1,9}$/.test(head.contentLength)) return 'node'
      length = Number(head.contentLength)
      if (length > this.api.maxBodyBytes) return 'node'
    }
    const total = end + 4 + length
    if (b.length < total) return 'more'
    // node:http's parser takes bytes after a `Connection: close` request for an error (400): let it
    if (connection === 'close' && b.length > total) return 'node'
    const query = q0 < 0 ? null : new URLSearchParams(b.toString('latin1', q0, q1))
    return { size: total, method, path, route: match.route, params: match.params, query, head, close: connection === 'close', body: b.subarray(end + 4, total) }
  }
}
