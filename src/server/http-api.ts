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
import type { ApiRequest, Fields } from './router.js'

/** Options of an {@link HttpApi}. */
export interface HttpApiOptions {
  /** Largest request body, bytes; larger answers 400 and closes the connection. @defaultValue 16384 */
  readonly maxBodyBytes?: number
  /** Bearer token required on every non-public route. @defaultValue null (none) */
  readonly apiToken?: Secret | null
  /** Called once per answered request with the route (its pattern, or `unmatched`) and status. */
  readonly onAnswer?: (route: string, status: number) => void
  /** Called with errors that are not the client's fault (status 500). */
  readonly onInternalError?: (err: unknown, req: IncomingMessage) => void
  /** Idle keep-alive connections are closed after this long, ms. @defaultValue 65000 */
  readonly keepAliveTimeoutMs?: number
}

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

/** Answers JSON (or `text()` when the client asked for text). */
export const reply = (req: ApiRequest, res: ServerResponse, status: number, json: unknown, text: () => string): void => {
  const body = req.text ? text() + '\n' : JSON.stringify(json)
  res.writeHead(status, { 'content-type': req.text ? TEXT : JSON_TYPE, 'content-length': Buffer.byteLength(body) })
  res.end(body)
}

/** Answers 204 No Content. */
export const replyEmpty = (res: ServerResponse): void => {
  res.writeHead(204)
  res.end()
}

/** Answers a typed error: JSON `{"error":{"code","message"}}`, or `CODE: message` as text. */
export const replyError = (res: ServerResponse, text: boolean, code: ErrorCode, message: string, headers: Record<string, string> = {}): number => {
  const status = statusOf(code)
  const body = text ? `${code}: ${message}\n` : JSON.stringify({ error: { code, message } })
  if (!res.headersSent) {
    res.writeHead(status, { ...headers, 'content-type': text ? TEXT : JSON_TYPE, 'content-length': Buffer.byteLength(body) })
    res.end(body)
  } else res.destroy()
  return status
}

const wantsText = (query: URLSearchParams | null, accept: string | undefined): boolean => {
  const f = query?.get('format')
  if (f === 'text') return true
  if (f === 'json') return false
  return accept !== undefined && accept.startsWith('text/plain')
}

const NO_QUERY = new URLSearchParams()

const sha256 = (s: string): Buffer => createHash('sha256').update(s).digest()

const fieldsOfJson = (text: string): Fields => {
  let doc: unknown
  try { doc = JSON.parse(text) } catch (err) {
    throw fail('DP_ERR_BAD_REQUEST', `body is not valid JSON: ${err instanceof Error ? err.message : String(err)}`)
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw fail('DP_ERR_BAD_REQUEST', 'a JSON body must be an object')
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(doc)) {
    if (v === null) continue
    if (typeof v === 'string') out[k] = v
    else if (typeof v === 'number' && Number.isFinite(v)) out[k] = String(v)
    else throw fail('DP_ERR_BAD_REQUEST', `field "${k}" must be a string or a number`)
  }
  return out
}

const fieldsOfForm = (text: string): Fields => {
  const out: Record<string, string> = {}
  for (const [k, v] of new URLSearchParams(text)) {
    if (k in out) throw fail('DP_ERR_BAD_REQUEST', `field "${k}" given twice`)
    out[k] = v
  }
  return out
}

const EMPTY: Fields = Object.freeze({})

/** The HTTP server of the daemon. Routes live in `router`. */
export class HttpApi {
  readonly router = new Router()
  private readonly server: Server
  private readonly maxBodyBytes: number
  readonly #tokenHash: Buffer | null

  constructor (private readonly options: HttpApiOptions = {}) {
    this.maxBodyBytes = options.maxBodyBytes ?? 16_384
    this.#tokenHash = options.apiToken != null ? sha256(options.apiToken.reveal()) : null
    this.server = createServer({ keepAlive: true }, (req, res) => { this.handle(req, res) })
    this.server.keepAliveTimeout = options.keepAliveTimeoutMs ?? 65_000
    this.server.headersTimeout = this.server.keepAliveTimeout + 1000
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
    const t = setTimeout(() => { this.server.closeAllConnections() }, 2000)
    await closed
    clearTimeout(t)
  }

  private authorized (req: IncomingMessage): boolean {
    const expected = this.#tokenHash
    if (expected === null) return true
    const h = req.headers.authorization
    if (h === undefined || !/^Bearer /i.test(h)) return false
    return timingSafeEqual(sha256(h.slice(7).trim()), expected)
  }

  private handle (req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? '/'
    const q = url.indexOf('?')
    const path = q < 0 ? url : url.slice(0, q)
    const query = q < 0 ? null : new URLSearchParams(url.slice(q + 1))
    const text = wantsText(query, req.headers.accept)
    const method = req.method ?? 'GET'
    let routeName = 'unmatched'
    const answered = (status: number): void => { this.options.onAnswer?.(routeName, status) }
    let match
    try {
      match = this.router.match(method, path)
    } catch (err) {
      answered(this.fail(req, res, text, err))
      return
    }
    if (match.kind === 'none') { answered(replyError(res, text, 'DP_ERR_NOT_FOUND', `no route ${path}`)); return }
    if (match.kind === 'method') {
      answered(replyError(res, text, 'DP_ERR_METHOD_NOT_ALLOWED', `${method} is not allowed on ${path} (allowed: ${match.allowed.join(', ')})`, { allow: match.allowed.join(', ') }))
      return
    }
    const route = match.route
    routeName = `${route.method} ${route.path}`
    if (!route.public && !this.authorized(req)) {
      answered(replyError(res, text, 'DP_ERR_UNAUTHORIZED', 'this API needs its token: Authorization: Bearer <token>', { 'www-authenticate': 'Bearer' }))
      return
    }
    const request: ApiRequest = { method, path, params: match.params, query: query ?? NO_QUERY, text, raw: req, body: async () => await this.readBody(req, res) }
    let result: void | Promise<void>
    try {
      result = route.handler(request, res)
    } catch (err) {
      answered(this.fail(req, res, text, err))
      return
    }
    if (result instanceof Promise) {
      result.then(() => { answered(res.statusCode) }, (err: unknown) => { answered(this.fail(req, res, text, err)) })
    } else answered(res.statusCode)
  }

  private fail (req: IncomingMessage, res: ServerResponse, text: boolean, err: unknown): number {
    if (err instanceof DialogProfilesError) {
      const status = replyError(res, text, err.code, err.message)
      if (status !== 500) return status
    }
    this.options.onInternalError?.(err, req)
    return replyError(res, text, 'DP_ERR_INTERNAL', 'internal error')
  }

  private async readBody (req: IncomingMessage, res: ServerResponse): Promise<Fields> {
    const declared = req.headers['content-length']
    const tooLarge = (): DialogProfilesError => {
      res.shouldKeepAlive = false // the rest of the body is not read
      return fail('DP_ERR_BAD_REQUEST', `body larger than ${this.maxBodyBytes} bytes`)
    }
    if (declared !== undefined && Number(declared) > this.maxBodyBytes) throw tooLarge()
    const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? ''
    const isJson = type === 'application/json' || type.endsWith('+json')
    if (!isJson && type !== '' && type !== 'application/x-www-form-urlencoded') {
      throw fail('DP_ERR_BAD_REQUEST', `unsupported content type "${type}": send application/json or application/x-www-form-urlencoded`)
    }
    const text = await new Promise<string>((resolve, reject) => {
      const chunks: Buffer[] = []
      let size = 0
      const onData = (c: Buffer): void => {
        size += c.length
        if (size > this.maxBodyBytes) { cleanup(); req.pause(); reject(tooLarge()); return }
        chunks.push(c)
      }
      const onEnd = (): void => { cleanup(); resolve(chunks.length === 1 ? (chunks[0] as Buffer).toString('utf8') : Buffer.concat(chunks).toString('utf8')) }
      const onError = (err: Error): void => { cleanup(); reject(fail('DP_ERR_BAD_REQUEST', `body could not be read: ${err.message}`)) }
      const cleanup = (): void => { req.off('data', onData); req.off('end', onEnd); req.off('error', onError) }
      req.on('data', onData)
      req.on('end', onEnd)
      req.on('error', onError)
    })
    if (text.trim() === '') return EMPTY
    return isJson ? fieldsOfJson(text) : fieldsOfForm(text)
  }
}
