/**
 * The daemon's HTTP layer on its own (an HttpApi with test routes) and the acquire route of an
 * in-process Daemon, over raw loopback sockets so that header spelling, chunking and the
 * connection's life are exactly what the test writes: headers read from `rawHeaders` whatever
 * their case, bodies in several chunks, typed errors for bad bodies, the idle keep-alive
 * timeout (it must outlive a proxy's idle reuse: Kamailio's http_client keeps connections),
 * and acquire answered on both of its paths (ready and eventual; not ready).
 */
import { connect } from 'node:net'
import type { Socket } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { HttpApi, replyJson } from '../../src/server/http-api.js'
import type { HttpApiOptions } from '../../src/server/http-api.js'
import { Secret, resolveConfig } from '../../src/server/config.js'
import { Daemon } from '../../src/server/daemon.js'
import { createLogger } from '../../src/server/logging.js'

interface Answer { status: number, headers: string, body: string }

/** One keep-alive connection written to by hand; answers parsed by Content-Length. */
class RawConnection {
  private buf = ''
  private waiting: ((a: Answer) => void) | null = null
  private failed: ((e: Error) => void) | null = null
  closed = false

  private constructor (readonly socket: Socket) {
    socket.setEncoding('latin1')
    socket.on('data', (s: string) => { this.buf += s; this.parse() })
    socket.on('close', () => { this.closed = true; this.failed?.(new Error('connection closed')) })
    socket.on('error', () => {})
  }

  static async open (port: number): Promise<RawConnection> {
    return await new Promise((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port }, () => { resolve(new RawConnection(s)) })
      s.once('error', reject)
    })
  }

  private parse (): void {
    const head = this.buf.indexOf('\r\n\r\n')
    if (head < 0 || this.waiting === null) return
    const headers = this.buf.slice(0, head)
    const len = Number(/\r\ncontent-length: *(\d+)/i.exec(headers)?.[1] ?? 0)
    if (this.buf.length < head + 4 + len) return
    const answer = { status: Number(headers.slice(9, 12)), headers, body: this.buf.slice(head + 4, head + 4 + len) }
    this.buf = this.buf.slice(head + 4 + len)
    const w = this.waiting
    this.waiting = null
    this.failed = null
    w(answer)
  }

  /** Writes `parts` one by one (a request split where the test says), then waits for the answer. */
  async send (...parts: string[]): Promise<Answer> {
    if (this.closed) throw new Error('connection closed')
    const answer = new Promise<Answer>((resolve, reject) => { this.waiting = resolve; this.failed = reject })
    for (const [i, p] of parts.entries()) {
      if (i > 0) await new Promise((resolve) => setTimeout(resolve, 20))
      this.socket.write(p, 'latin1')
    }
    return await answer
  }

  /** Resolves once the server closed the connection. */
  async whenClosed (): Promise<void> {
    if (this.closed) return
    await new Promise<void>((resolve) => { this.socket.once('close', () => { resolve() }) })
  }

  close (): void { this.socket.destroy() }
}

const post = (path: string, body: string, headers: string[] = []): string =>
  `POST ${path} HTTP/1.1\r\nHost: t\r\n${headers.map((h) => h + '\r\n').join('')}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`

const opened: Array<{ close: () => unknown }> = []
afterEach(async () => {
  for (const x of opened.splice(0).reverse()) await x.close()
})

/** An HttpApi with an echo route (`POST /echo` answers the parsed body) and a GET route answering whether text was asked. */
const startApi = async (options: HttpApiOptions = {}): Promise<{ api: HttpApi, port: number, conn: () => Promise<RawConnection> }> => {
  const api = new HttpApi(options)
  api.router.add('POST', '/echo', async (req, res) => { replyJson(res, 200, JSON.stringify(await req.body())) })
  api.router.add('GET', '/mode', (req, res) => { replyJson(res, 200, JSON.stringify({ text: req.text })) })
  opened.push(api)
  const { port } = await api.listen('127.0.0.1', 0)
  return {
    api,
    port,
    conn: async () => { const c = await RawConnection.open(port); opened.push(c); return c }
  }
}

describe('HttpApi headers and bodies', () => {
  it('reads the headers it needs whatever their case, the first of a repeated one counting', async () => {
    const { conn } = await startApi()
    const c = await conn()
    const asJson = await c.send(post('/echo', '{"dialog":"d1","limit":3}', ['CONTENT-TYPE: Application/JSON; charset=utf-8']))
    expect(asJson.status).toBe(200)
    expect(JSON.parse(asJson.body)).toEqual({ dialog: 'd1', limit: '3' })
    // the first content type counts: a form, although a JSON type follows
    const first = await c.send(post('/echo', 'dialog=d2&profile=p', ['content-type: application/x-www-form-urlencoded', 'Content-Type: application/json']))
    expect(JSON.parse(first.body)).toEqual({ dialog: 'd2', profile: 'p' })
    // no content type at all: a form
    const bare = await c.send(post('/echo', 'a=1&b=x%20y'))
    expect(JSON.parse(bare.body)).toEqual({ a: '1', b: 'x y' })
    const text = await c.send('GET /mode HTTP/1.1\r\nHost: t\r\nACCEPT: text/plain\r\n\r\n')
    expect(JSON.parse(text.body)).toEqual({ text: true })
    const json = await c.send('GET /mode HTTP/1.1\r\nHost: t\r\naccept: application/json\r\n\r\n')
    expect(JSON.parse(json.body)).toEqual({ text: false })
  })

  it('joins a body that arrives in several chunks', async () => {
    const { conn } = await startApi()
    const c = await conn()
    const body = 'dialog=' + 'x'.repeat(3000) + '&profile=total'
    const req = post('/echo', body, ['Content-Type: application/x-www-form-urlencoded'])
    const cut = req.indexOf('\r\n\r\n') + 4 + 1000
    const a = await c.send(req.slice(0, cut), req.slice(cut, cut + 1000), req.slice(cut + 1000))
    expect(a.status).toBe(200)
    expect(JSON.parse(a.body)).toEqual({ dialog: 'x'.repeat(3000), profile: 'total' })
  })

  it('answers a bad body with a typed 400 and keeps the connection; an oversize one closes it', async () => {
    const { conn } = await startApi({ maxBodyBytes: 64 })
    const c = await conn()
    const badJson = await c.send(post('/echo', '{"dialog":', ['Content-Type: application/json']))
    expect(badJson.status).toBe(400)
    expect(JSON.parse(badJson.body).error.code).toBe('DP_ERR_BAD_REQUEST')
    const badType = await c.send(post('/echo', 'x', ['Content-Type: text/xml']))
    expect(badType.status).toBe(400)
    expect(JSON.parse(badType.body).error.message).toContain('text/xml')
    const twice = await c.send(post('/echo', 'a=1&a=2'))
    expect(twice.status).toBe(400)
    const empty = await c.send(post('/echo', ''))
    expect(JSON.parse(empty.body)).toEqual({})
    const big = await c.send(post('/echo', 'a=' + 'y'.repeat(100)))
    expect(big.status).toBe(400)
    expect(big.headers.toLowerCase()).toContain('connection: close')
    await c.whenClosed()
  })

  it('reads the bearer token from any spelling of the Authorization header', async () => {
    const { conn } = await startApi({ apiToken: new Secret('tok-0123456789') })
    const c = await conn()
    expect((await c.send(post('/echo', 'a=1'))).status).toBe(401)
    expect((await c.send(post('/echo', 'a=1', ['AUTHORIZATION: bearer wrong-token']))).status).toBe(401)
    expect((await c.send(post('/echo', 'a=1', ['authorization: Bearer tok-0123456789']))).status).toBe(200)
  })
})

describe('HttpApi idle keep-alive connections', () => {
  it('closes a connection idle past keepAliveTimeoutMs', async () => {
    const { conn } = await startApi({ keepAliveTimeoutMs: 200 })
    const c = await conn()
    expect((await c.send(post('/echo', 'a=1'))).status).toBe(200)
    await c.whenClosed()
    await expect(c.send(post('/echo', 'a=2'))).rejects.toThrow('closed')
  })

  it('keeps an idle connection open past node:http\'s default 5 s by default, and answers on it', async () => {
    const { conn } = await startApi()
    const c = await conn()
    expect((await c.send(post('/echo', 'a=1'))).status).toBe(200)
    // idle longer than node:http's default keepAliveTimeout (5 s; node closes about 1 s after it),
    // as a proxy's worker between calls
    await new Promise((resolve) => setTimeout(resolve, 6_500))
    expect(c.closed).toBe(false)
    const again = await c.send(post('/echo', 'a=2'))
    expect(JSON.parse(again.body)).toEqual({ a: '2' })
  }, 20_000)
})

describe('acquire route', () => {
  const start = async (flags: Record<string, unknown>): Promise<{ daemon: Daemon, conn: RawConnection }> => {
    const config = resolveConfig({ flags: { nodeId: 'n1', secret: 'secret-0123456789', listen: '127.0.0.1:0', http: '127.0.0.1:0', profiles: ['total'], ...flags } })
    const daemon = await Daemon.start(config, createLogger('silent', 'n1'))
    opened.push({ close: async () => { await daemon.stop() } })
    const conn = await RawConnection.open(Number(new URL(daemon.httpUrl() as string).port))
    opened.push(conn)
    return { daemon, conn }
  }

  it('admits up to the limit and refuses past it, the count following every answer', async () => {
    const { daemon, conn } = await start({})
    const acquire = async (dialog: string): Promise<Answer> => await conn.send(post('/v1/acquire', `dialog=${dialog}&profile=total&limit=2`))
    expect(JSON.parse((await acquire('a')).body)).toEqual({ admitted: true, size: 1, limit: 2 })
    expect(JSON.parse((await acquire('a')).body)).toEqual({ admitted: true, size: 1, limit: 2 }) // a retransmission counts once
    expect(JSON.parse((await acquire('b')).body)).toEqual({ admitted: true, size: 2, limit: 2 })
    const refused = await acquire('c')
    expect(refused.status).toBe(429)
    expect(JSON.parse(refused.body)).toEqual({ admitted: false, size: 2, limit: 2 })
    expect((await conn.send(post('/v1/dialogs/a/end', 'reason=bye'))).status).toBe(204)
    expect(daemon.node.store.size('total')).toBe(1)
    expect((await acquire('c')).status).toBe(200)
    const bad = await conn.send(post('/v1/acquire', 'dialog=d&profile=total&limit=-1'))
    expect(bad.status).toBe(400)
    expect(daemon.node.store.size('total')).toBe(2)
  })

  it('answers 503 and adds nothing while not ready under the reject policy', async () => {
    // a peer that never answers: the initial sync cannot complete
    const { daemon, conn } = await start({ peers: ['ws://127.0.0.1:9'], readiness: 'reject' })
    expect(daemon.node.isReady).toBe(false)
    const a = await conn.send(post('/v1/acquire', 'dialog=a&profile=total&limit=5'))
    expect(a.status).toBe(503)
    expect(JSON.parse(a.body).error.code).toBe('DP_ERR_NOT_READY')
    expect(daemon.node.store.size('total')).toBe(0)
  })
})
