/**
 * What both request paths of the HTTP API share: the headers the API reads (`Head`), whether
 * an answer is wanted as text, and the request a handler gets on the fast path (fast-http.ts),
 * whose body is already in hand. Apart from http-api.ts so that the fast path does not import it.
 */
import type { Fields, LeanRequest } from './router.js'

/** The query of a request without one (shared: a handler only reads it). */
export const NO_QUERY = new URLSearchParams()

export const wantsText = (query: URLSearchParams | null, accept: string | undefined): boolean => {
  const f = query?.get('format')
  if (f === 'text') return true
  if (f === 'json') return false
  return accept !== undefined && accept.startsWith('text/plain')
}

/**
 * The headers the API reads, taken from `req.rawHeaders` in one pass: reading `req.headers`
 * would build an object of every header (names lowercased, duplicates joined) on each request.
 * A header given twice counts by its first value, as node:http does for these names.
 */
export interface Head {
  accept: string | undefined
  contentType: string | undefined
  contentLength: string | undefined
  authorization: string | undefined
}

export const headOf = (raw: readonly string[]): Head => {
  const h: Head = { accept: undefined, contentType: undefined, contentLength: undefined, authorization: undefined }
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] as string
    switch (name.length) {
      case 6: if (h.accept === undefined && name.toLowerCase() === 'accept') h.accept = raw[i + 1]; break
      case 12: if (h.contentType === undefined && name.toLowerCase() === 'content-type') h.contentType = raw[i + 1]; break
      case 13: if (h.authorization === undefined && name.toLowerCase() === 'authorization') h.authorization = raw[i + 1]; break
      case 14: if (h.contentLength === undefined && name.toLowerCase() === 'content-length') h.contentLength = raw[i + 1]; break
    }
  }
  return h
}

/** What parses a fast-path request's body: the HTTP API's own body rules. */
export interface BodyParser {
  parseBody (head: Head, content: Buffer): Promise<Fields>
}

/** A request of the fast path: its body is already in hand (fast-http.ts). */
export class BufferedRequest implements LeanRequest {
  constructor (
    readonly method: string,
    readonly path: string,
    readonly params: Readonly<Record<string, string>>,
    readonly query: URLSearchParams,
    readonly text: boolean,
    private readonly head: Head,
    private readonly content: Buffer,
    private readonly api: BodyParser
  ) {}

  body (): Promise<Fields> { return this.api.parseBody(this.head, this.content) }
}

