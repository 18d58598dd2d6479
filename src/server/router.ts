/**
 * A small router for the daemon's HTTP API: static paths in a map (the hot path
 * `POST /v1/acquire` is one lookup that allocates nothing: its match is built once, when the
 * route is added), parameterised paths (`/v1/dialogs/:dialog/profiles`) as segment patterns
 * tried in order. Other modules mount their own routes (the status page at
 * `/`) through {@link Router.add}.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { fail } from '../errors.js'
import { setIfUndefined } from 'lib0/map'

/** Form or JSON fields of a request body, all strings (numbers in JSON are turned into strings). */
export type Fields = Readonly<Record<string, string>>

/** What a lean handler gets: the request without the node:http message. */
export interface LeanRequest {
  readonly method: string
  readonly path: string
  /** Path parameters, percent-decoded. */
  readonly params: Readonly<Record<string, string>>
  /** Query parameters (parsed on first use). */
  readonly query: URLSearchParams
  /** Whether the client asked for plain text (`?format=text` or `Accept: text/plain`). */
  readonly text: boolean
  /** Reads and parses the body (JSON, urlencoded; no content type is a form). Empty body: {}. */
  body (): Promise<Fields>
}

/** What a handler gets. */
export interface ApiRequest extends LeanRequest {
  readonly raw: IncomingMessage
}

/**
 * The part of a `ServerResponse` a lean handler may use: one `writeHead` with every header
 * (a body needs its `content-length`), then one `end`. The fast path (fast-http.ts) answers
 * through an object of this shape, node:http through its `ServerResponse`.
 */
export interface ApiResponse {
  statusCode: number
  readonly headersSent: boolean
  shouldKeepAlive: boolean
  writeHead (status: number, headers?: Record<string, string | number>): unknown
  end (body?: string): unknown
  destroy (): unknown
}

/**
 * A handler answers through `res` (see the `reply*` helpers of http-api.ts) or throws a
 * `DialogProfilesError`, which becomes the typed error answer.
 */
export type Handler = (req: ApiRequest, res: ServerResponse) => void | Promise<void>

/**
 * A handler that needs neither the node:http request nor more than {@link ApiResponse}: the
 * daemon may answer its route on the fast path (fast-http.ts) as well as through node:http.
 */
export type LeanHandler = (req: LeanRequest, res: ApiResponse) => void | Promise<void>

/** Options of one route. */
export interface RouteOptions {
  /** Answer without the API token (health probes, a public status page). @defaultValue false */
  readonly public?: boolean
}

/** A registered route. */
export interface Route {
  readonly method: string
  readonly path: string
  readonly handler: Handler
  /** The same handler when it is lean (see {@link Router.addLean}), else null. */
  readonly lean: LeanHandler | null
  readonly public: boolean
  /** `METHOD /path/:pattern`, the route's label in metrics. */
  readonly name: string
}

/** The result of {@link Router.match}. */
export type Match =
  | { readonly kind: 'found'; readonly route: Route; readonly params: Record<string, string> }
  | { readonly kind: 'method'; readonly allowed: readonly string[] }
  | { readonly kind: 'none' }

interface Pattern { readonly segments: readonly string[]; readonly byMethod: Map<string, Route> }

const NO_PARAMS: Record<string, string> = Object.freeze({}) as Record<string, string>

type Found = Extract<Match, { kind: 'found' }>

/** Routes by method and path; `:name` segments capture one path segment. */
export class Router {
  /** Static paths: by path, then method, the match answered for it (built once). */
  private readonly statics = new Map<string, Map<string, Found>>()
  private readonly patterns: Pattern[] = []

  /** Adds a route; a second route for the same method and path replaces the first. */
  add (method: string, path: string, handler: Handler, options: RouteOptions = {}): void {
    this.put({ method, path, handler, lean: null, public: options.public ?? false, name: `${method} ${path}` })
  }

  /** Adds a lean route: answered by the fast path of hot requests too (see fast-http.ts). */
  addLean (method: string, path: string, handler: LeanHandler, options: RouteOptions = {}): void {
    this.put({ method, path, handler, lean: handler, public: options.public ?? false, name: `${method} ${path}` })
  }

  private put (route: Route): void {
    const { method, path } = route
    if (!path.includes('/:')) {
      const m = setIfUndefined(this.statics, path, () => new Map<string, Found>())
      m.set(method, { kind: 'found', route, params: NO_PARAMS })
      return
    }
    const segments = path.split('/')
    let p = this.patterns.find((x) => x.segments.join('/') === path)
    if (p === undefined) { p = { segments, byMethod: new Map() }; this.patterns.push(p) }
    p.byMethod.set(method, route)
  }

  /** Every registered route, for listings. */
  routes (): Route[] {
    return [...[...this.statics.values()].flatMap((m) => [...m.values()].map((f) => f.route)), ...this.patterns.flatMap((p) => [...p.byMethod.values()])]
  }

  /**
   * Finds the route of a request; a known path with another method gives the allowed ones.
   * @throws DialogProfilesError `DP_ERR_BAD_REQUEST` for a parameter that is not valid percent-encoding
   */
  match (method: string, path: string): Match {
    const s = this.statics.get(path)
    if (s !== undefined) {
      return s.get(method) ?? (method === 'HEAD' ? s.get('GET') : undefined) ?? { kind: 'method', allowed: [...s.keys()] }
    }
    const parts = path.split('/')
    for (const p of this.patterns) {
      if (p.segments.length !== parts.length) continue
      const params: Record<string, string> = {}
      let ok = true
      for (let i = 0; i < parts.length && ok; i++) {
        const seg = p.segments[i] as string
        const part = parts[i] as string
        if (seg.startsWith(':')) {
          if (part === '') { ok = false; break }
          let v = part
          if (part.includes('%')) {
            try { v = decodeURIComponent(part) } catch { throw fail('DP_ERR_BAD_REQUEST', `path segment "${part}" is not valid percent-encoding`) }
          }
          params[seg.slice(1)] = v
        } else if (seg !== part) ok = false
      }
      if (!ok) continue
      const route = p.byMethod.get(method) ?? (method === 'HEAD' ? p.byMethod.get('GET') : undefined)
      return route !== undefined ? { kind: 'found', route, params } : { kind: 'method', allowed: [...p.byMethod.keys()] }
    }
    return { kind: 'none' }
  }
}
