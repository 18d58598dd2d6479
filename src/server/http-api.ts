/**
 * The daemon's HTTP server (node:http): routing through a {@link Router}, the optional bearer
 * token (compared in constant time), bounded JSON and form bodies, plain-text or JSON answers,
 * and typed errors `{"error":{"code","message"}}`. It knows no route itself: the route table
 * is routes.ts, and other modules add theirs through `router`.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import { createServer } from 'node:http'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { DialogProfilesError, fail } from '../errors.js'
import type { ErrorCode } from '../errors.js'
import type { Secret } from './config.js'
import { Router } from './router.js'
import type { ApiRequest, ApiResponse, Fields, LeanRequest, Route } from './router.js'
import { FastPath } from './fast-http.js'
import { NO_QUERY, headOf, wantsText } from './requests.js'
import type { Head } from './requests.js'

/** Options of an {@link HttpApi}. */
export interface HttpApiOptions {
  /** Largest request body, bytes; larger answers 400 and closes the connection. @defaultValue 16384 */
  readonly maxBodyBytes?: number
  /** Bearer token required on every non-public route. @defaultValue null (none) */
  readonly apiToken?: Secret | null
  /** Called once per answered request with the route (its pattern, or `unmatched`) and status. */
  readonly onAnswer?: (route: string, status: number) => void
  /** Called with errors that are not the client's fault (status 500). */
  readonly onInternalError?: (err: unknown, req: RequestInfo) => void
  /** Idle keep-alive connections are closed after this long, ms. @defaultValue 65000 */
  readonly keepAliveTimeoutMs?: number
  /**
   * Answer plain requests of lean routes (the hot `POST /v1/acquire`, `POST /v1/dialogs/{id}/end`)
   * on the fast path of fast-http.ts instead of node:http: same answers, byte for byte.
   * @defaultValue true
   */
  readonly fastPath?: boolean
}

/** What an internal error is logged with. */
export interface RequestInfo { readonly method?: string | undefined; readonly url?: string | undefined }

/** HTTP status of each error code. */
export const statusOf = (code: ErrorCode): number => {
  switch (code) {
    case 'DP_ERR_UNKNOWN_PROFILE':
    case 'DP_ERR_NOT_FOUND':
      return 404
    case 'DP_ERR_VALUE_MISMATCH':
    case 'DP_ERR_INVALID_ARGUMENT':
    case 'DP_ERR_BAD_REQUEST':
      return 400
    case 'DP_ERR_UNAUTHORIZED':
      return 401
    case 'DP_ERR_METHOD_NOT_ALLOWED':
      return 405
    case 'DP_ERR_NOT_READY':
    case 'DP_ERR_DESTROYED':
    case 'DP_ERR_LIMIT_EXCEEDED':
      return 503
    default:
      return 500
  }
}

const TEXT = 'text/plain; charset=utf-8'
const JSON_TYPE = 'application/json'

/** Answers a JSON text already encoded. */
export const replyJson = (res: ApiResponse, status: number, body: string): void => {
  res.writeHead(status, { 'content-type': JSON_TYPE, 'content-length': Buffer.byteLength(body) })
  res.end(body)
}

/** Answers one plain-text line (the newline is added). */
export const replyText = (res: ApiResponse, status: number, line: string): void => {
  const body = line + '\n'
  res.writeHead(status, { 'content-type': TEXT, 'content-length': Buffer.byteLength(body) })
  res.end(body)
}

/** Answers JSON (or `text()` when the client asked for text). */
export const reply = (req: LeanRequest, res: ApiResponse, status: number, json: unknown, text: () => string): void => {
  if (req.text) replyText(res, status, text())
  else replyJson(res, status, JSON.stringify(json))
}

/** Answers 204 No Content. */
export const replyEmpty = (res: ApiResponse): void => {
  res.writeHead(204)
  res.end()
}

/** Answers a typed error: JSON `{"error":{"code","message"}}`, or `CODE: message` as text. */
export const replyError = (res: ApiResponse, text: boolean, code: ErrorCode, message: string, headers: Record<string, string> = {}): number => {
  const status = statusOf(code)
  const body = text ? `${code}: ${message}\n` : JSON.stringify({ error: { code, message } })
  if (!res.headersSent) {
    res.writeHead(status, { ...headers, 'content-type': text ? TEXT : JSON_TYPE, 'content-length': Buffer.byteLength(body) })
    res.end(body)
  } else res.destroy()
  return status
}

const sha256 = (s: string): Buffer => createHash('sha256').update(s).digest()

const fieldsOfJson = (text: string): Fields => {
  let doc: unknown
  try { doc = JSON.parse(text) } catch (err) {
    throw fail('DP_ERR_BAD_REQUEST', `body is not valid JSON: ${err instanceof Error ? err.message : String(err)}`)
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw fail('DP_ERR_BAD_REQUEST', 'a JSON body must be an object')
  const out: Record<string, string> = Object.create(null) as Record<string, string>
  for (const [k, v] of Object.entries(doc)) {
    if (v === null) continue
    if (typeof v === 'string') out[k] = v
    else if (typeof v === 'number' && Number.isFinite(v)) out[k] = String(v)
    else throw fail('DP_ERR_BAD_REQUEST', `field "${k}" must be a string or a number`)
  }
  return out
}

const addField = (out: Record<string, string>, k: string, v: string): void => {
  if (k in out) throw fail('DP_ERR_BAD_REQUEST', `field "${k}" given twice`)
  out[k] = v
}

/**
 * An `application/x-www-form-urlencoded` body, as URLSearchParams reads it. A body with neither
 * `%` nor `+` decodes to itself, so it is split by hand (the hot path: `dialog=..&profile=..`).
 */
const fieldsOfForm = (text: string): Fields => {
  const out: Record<string, string> = Object.create(null) as Record<string, string>
  if (text.includes('%') || text.includes('+')) {
    for (const [k, v] of new URLSearchParams(text)) addField(out, k, v)
    return out
  }
  let at = 0
  while (at <= text.length) {
    let end = text.indexOf('&', at)
    if (end < 0) end = text.length
    if (end > at) {
      const eq = text.indexOf('=', at)
      if (eq < 0 || eq > end) addField(out, text.slice(at, end), '')
      else addField(out, text.slice(at, eq), text.slice(eq + 1, end))
    }
    at = end + 1
  }
  return out
}

const EMPTY: Fields = Object.freeze({})

const FORM = 'application/x-www-form-urlencoded'

/** The request a handler gets: one object per request, its body read on demand. */
class Request implements ApiRequest {
  constructor (
    readonly method: string,
    readonly path: string,
    readonly params: Readonly<Record<string, string>>,
    readonly query: URLSearchParams,
    readonly text: boolean,
    readonly raw: IncomingMessage,
    private readonly head: Head,
    private readonly res: ServerResponse,
    private readonly api: HttpApi
  ) {}

  body (): Promise<Fields> { return this.api.readBody(this.raw, this.res, this.head) }
}

/** How a body is parsed, from its content type. */
type BodyKind = 'json' | 'form'

/** The HTTP server of the daemon. Routes live in `router`. */
export class HttpApi {
  readonly router = new Router()
  private readonly server: Server
  readonly maxBodyBytes: number
  readonly #tokenHash: Buffer | null
  private readonly fast: FastPath | null

  constructor (private readonly options: HttpApiOptions = {}) {
    this.maxBodyBytes = options.maxBodyBytes ?? 16_384
    this.#tokenHash = options.apiToken != null ? sha256(options.apiToken.reveal()) : null
    // noDelay: answers leave at once (no Nagle delay); keepAlive: TCP keep-alive probes on idle connections.
    this.server = createServer({ keepAlive: true, noDelay: true }, (req, res) => { this.handle(req, res) })
    this.server.keepAliveTimeout = options.keepAliveTimeoutMs ?? 65_000
    this.server.headersTimeout = this.server.keepAliveTimeout + 1000
    this.fast = options.fastPath ?? true ? new FastPath(this.server, this) : null
  }

  /** Requests answered on the fast path and connections it handed over to node:http (null: no fast path). */
  fastPathCounts (): { served: number; handedOver: number } | null {
    return this.fast === null ? null : { served: this.fast.served, handedOver: this.fast.handedOver }
  }

  /** Starts listening; resolves with the bound address (port 0: a free port). */
  async listen (host: string, port: number): Promise<{ host: string; port: number }> {
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => { reject(fail('DP_ERR_TRANSPORT', `HTTP API cannot listen on ${host}:${port}: ${err.message}`, err)) }
      this.server.once('error', onError)
      this.server.listen(port, host, () => { this.server.off('error', onError); resolve() })
    })
    const a = this.server.address() as AddressInfo
    return { host: a.address, port: a.port }
  }

  /** The bound address, once listening. */
  address (): { host: string; port: number } | undefined {
    const a = this.server.address()
    return a !== null && typeof a === 'object' ? { host: a.address, port: a.port } : undefined
  }

  /** Stops accepting, ends idle keep-alive connections at once and busy ones after their answer. */
  async close (): Promise<void> {
    if (!this.server.listening) return
    const closed = new Promise<void>((resolve) => { this.server.close(() => { resolve() }) })
    this.server.closeIdleConnections()
    this.fast?.closeIdle()
    const t = setTimeout(() => { this.server.closeAllConnections(); this.fast?.closeAll() }, 2000)
    await closed
    clearTimeout(t)
  }

  private authorized (h: string | undefined): boolean {
    const expected = this.#tokenHash
    if (expected === null) return true
    if (h === undefined || !/^Bearer /i.test(h)) return false
    return timingSafeEqual(sha256(h.slice(7).trim()), expected)
  }

  private handle (req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? '/'
    const q = url.indexOf('?')
    const path = q < 0 ? url : url.slice(0, q)
    const query = q < 0 ? null : new URLSearchParams(url.slice(q + 1))
    const head = headOf(req.rawHeaders)
    const text = wantsText(query, head.accept)
    const method = req.method ?? 'GET'
    let match
    try {
      match = this.router.match(method, path)
    } catch (err) {
      this.answered('unmatched', this.fail(req, res, text, err))
      return
    }
    if (match.kind === 'none') { this.answered('unmatched', replyError(res, text, 'DP_ERR_NOT_FOUND', `no route ${path}`)); return }
    if (match.kind === 'method') {
      this.answered('unmatched', replyError(res, text, 'DP_ERR_METHOD_NOT_ALLOWED', `${method} is not allowed on ${path} (allowed: ${match.allowed.join(', ')})`, { allow: match.allowed.join(', ') }))
      return
    }
    const route = match.route
    const params = match.params
    this.serve(route, text, head, res, req, () => route.handler(new Request(method, path, params, query ?? NO_QUERY, text, req, head, res, this), res))
  }

  /**
   * The rest of a request once its route is found, for node:http and the fast path alike: the
   * token, the handler (`call`), its typed error, the answer's count.
   */
  serve (route: Route, text: boolean, head: Head, res: ApiResponse, info: RequestInfo, call: () => void | Promise<void>): void {
    if (!route.public && !this.authorized(head.authorization)) {
      this.answered(route.name, replyError(res, text, 'DP_ERR_UNAUTHORIZED', 'this API needs its token: Authorization: Bearer <token>', { 'www-authenticate': 'Bearer' }))
      return
    }
    let result: void | Promise<void>
    try {
      result = call()
    } catch (err) {
      this.answered(route.name, this.fail(info, res, text, err))
      return
    }
    if (result instanceof Promise) {
      result.then(() => { this.answered(route.name, res.statusCode) }, (err: unknown) => { this.answered(route.name, this.fail(info, res, text, err)) })
    } else this.answered(route.name, res.statusCode)
  }

  private answered (route: string, status: number): void { this.options.onAnswer?.(route, status) }

  private fail (info: RequestInfo, res: ApiResponse, text: boolean, err: unknown): number {
    if (err instanceof DialogProfilesError) {
      const status = replyError(res, text, err.code, err.message)
      if (status !== 500) return status
    }
    this.options.onInternalError?.(err, info)
    return replyError(res, text, 'DP_ERR_INTERNAL', 'internal error')
  }

  /**
   * How a body of this content type is parsed (JSON, urlencoded; no content type is a form).
   * @throws DialogProfilesError `DP_ERR_BAD_REQUEST` for any other type
   */
  private bodyKind (head: Head): BodyKind {
    const raw = head.contentType
    // the hot path's type (what SIP proxies send), then anything else by its media type
    const type = raw === undefined ? '' : raw === FORM ? FORM : (raw.split(';')[0] as string).trim().toLowerCase()
    const isJson = type === 'application/json' || type.endsWith('+json')
    if (!isJson && type !== '' && type !== FORM) {
      throw fail('DP_ERR_BAD_REQUEST', `unsupported content type "${type}": send application/json or application/x-www-form-urlencoded`)
    }
    return isJson ? 'json' : 'form'
  }

  /** The fields of a whole body. */
  private fieldsOf (kind: BodyKind, text: string): Fields {
    return text.trim() === '' ? EMPTY : kind === 'json' ? fieldsOfJson(text) : fieldsOfForm(text)
  }

  /** Parses a body already read whole (the fast path's, at most `maxBodyBytes`), as {@link readBody} does. */
  parseBody (head: Head, content: Buffer): Promise<Fields> {
    try {
      return Promise.resolve(this.fieldsOf(this.bodyKind(head), content.toString('utf8')))
    } catch (err) { return Promise.reject(err) }
  }

  /**
   * Reads and parses a request's body (JSON, urlencoded; no content type is a form); for
   * {@link Request.body}. One promise per body: settled from the stream's events, parsed there.
   */
  readBody (req: IncomingMessage, res: ServerResponse, head: Head = headOf(req.rawHeaders)): Promise<Fields> {
    const max = this.maxBodyBytes
    const tooLarge = (): DialogProfilesError => {
      res.shouldKeepAlive = false // the rest of the body is not read
      return fail('DP_ERR_BAD_REQUEST', `body larger than ${max} bytes`)
    }
    if (head.contentLength !== undefined && Number(head.contentLength) > max) return Promise.reject(tooLarge())
    let kind: BodyKind
    try { kind = this.bodyKind(head) } catch (err) { return Promise.reject(err) }
    return new Promise<Fields>((resolve, reject) => {
      let first: Buffer | undefined
      let more: Buffer[] | undefined
      let size = 0
      const onData = (c: Buffer): void => {
        size += c.length
        if (size > max) { cleanup(); req.pause(); reject(tooLarge()); return }
        if (first === undefined) first = c
        else (more ??= [first]).push(c)
      }
      const onEnd = (): void => {
        cleanup()
        const text = more !== undefined ? Buffer.concat(more).toString('utf8') : first !== undefined ? first.toString('utf8') : ''
        try {
          resolve(this.fieldsOf(kind, text))
        } catch (err) { reject(err) }
      }
      const onError = (err: Error): void => { cleanup(); reject(fail('DP_ERR_BAD_REQUEST', `body could not be read: ${err.message}`)) }
      const cleanup = (): void => { req.off('data', onData); req.off('end', onEnd); req.off('error', onError) }
      req.on('data', onData)
      req.on('end', onEnd)
      req.on('error', onError)
    })
  }
}
