/**
 * The HTTP fast path (src/server/fast-http.ts) against node:http: two in-process daemons of the
 * same configuration, one with the fast path and one without, get the same corpus of raw
 * requests (valid and invalid, JSON and form bodies, missing and extra headers, split across
 * TCP writes at every byte, pipelined, oversized, bad tokens, hand-overs to node:http in the
 * middle of a connection) and must answer with the same bytes (the `Date` header aside) and
 * close the same connections. Then random bytes from fast-check on the fast-path daemon: it
 * must stay up and answer the next connection; a client that does not read its answers is not
 * read either; the idle and headers timeouts hold.
 */
import { connect } from 'node:net'
import type { Socket } from 'node:net'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { resolveConfig } from '../../src/server/config.js'
import { Daemon } from '../../src/server/daemon.js'
import { HttpApi, replyJson } from '../../src/server/http-api.js'
import { createLogger } from '../../src/server/logging.js'
import { fcParams } from '../support/fc.js'

const TOKEN = 'api-token-0123456789'
const MAX_BODY = 256

/** What one connection got: every byte the server sent, and whether it closed the connection. */
interface Got { bytes: string, closed: boolean }

/** Complete answers at the start of `s` (Content-Length bodies; an answer without one ends the connection). */
const countAnswers = (s: string): number => {
  let n = 0
  let at = 0
  for (;;) {
    const end = s.indexOf('\r\n\r\n', at)
    if (end < 0) return n
    const head = s.slice(at, end)
    const m = /\r\ncontent-length: *(\d+)/i.exec(head)
    const len = m !== null ? Number(m[1]) : 0
    if (s.length < end + 4 + len) return n
    n++
    at = end + 4 + len
  }
}

/**
 * Opens a connection, writes `parts` one by one (a pause between them so that each is its own
 * TCP segment), and collects the answers until `answers` complete ones came, the server closed
 * the connection, or `waitMs` passed.
 */
const exchange = async (port: number, parts: readonly string[], answers: number, waitMs = 2000): Promise<Got> => {
  const socket: Socket = await new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port }, () => { resolve(s) })
    s.once('error', reject)
  })
  socket.setNoDelay(true)
  let bytes = ''
  let closed = false
  const done = new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, waitMs)
    const check = (): void => { if (closed || countAnswers(bytes) >= answers) { clearTimeout(timer); resolve() } }
    socket.on('data', (b: Buffer) => { bytes += b.toString('latin1'); check() })
    socket.on('close', () => { closed = true; check() })
    socket.on('error', () => {})
  })
  for (const [i, p] of parts.entries()) {
    if (i > 0) await new Promise((resolve) => setTimeout(resolve, 1))
    if (!socket.destroyed) socket.write(p, 'latin1')
  }
  await done
  // a server that closes after its answer does so right after writing it
  if (!closed) await new Promise((resolve) => setTimeout(resolve, 20))
  socket.destroy()
  return { bytes: bytes.replace(/\r\nDate: [^\r]*\r\n/g, '\r\nDate: -\r\n'), closed }
}

const auth = `Authorization: Bearer ${TOKEN}`
const req = (method: string, path: string, headers: readonly string[], body = '', length = true): string =>
  `${method} ${path} HTTP/1.1\r\n${headers.map((h) => h + '\r\n').join('')}${length ? `Content-Length: ${Buffer.byteLength(body)}\r\n` : ''}\r\n${body}`
const FORM = 'Content-Type: application/x-www-form-urlencoded'
const JSON_TYPE = 'Content-Type: application/json'
const acquireForm = (dialog: string, extra: readonly string[] = [], limit = 1_000_000): string =>
  req('POST', '/v1/acquire', ['Host: t', auth, FORM, ...extra], `dialog=${dialog}&profile=total&limit=${limit}`)
const end = (dialog: string, extra: readonly string[] = []): string => req('POST', `/v1/dialogs/${dialog}/end`, ['Host: t', auth, FORM, ...extra], 'reason=bye')

/** Cases: the TCP writes of one connection and the number of answers expected (fewer if the server closes). */
const corpus = (): Array<{ name: string, parts: string[], answers: number }> => {
  const one = (name: string, request: string): { name: string, parts: string[], answers: number } => ({ name, parts: [request], answers: 1 })
  return [
    one('acquire, form', acquireForm('c1')),
    one('acquire, same dialog again', acquireForm('c1')),
    one('acquire, JSON', req('POST', '/v1/acquire', ['Host: t', auth, JSON_TYPE], '{"dialog":"c2","profile":"total","limit":100,"expires":30}')),
    one('acquire, JSON with a charset, header names in capitals', req('POST', '/v1/acquire', ['HOST: t', `AUTHORIZATION: bearer ${TOKEN}`, 'CONTENT-TYPE: Application/JSON; charset=utf-8'], '{"dialog":"c3","profile":"total","limit":"100"}')),
    one('acquire, text answer', acquireForm('c4', ['Accept: text/plain'])),
    one('acquire, user agent and accept-encoding', acquireForm('c5', ['User-Agent: kamailio', 'Accept-Encoding: gzip', 'Accept: */*'])),
    one('acquire, no content type (a form)', req('POST', '/v1/acquire', ['Host: t', auth], 'dialog=c6&profile=total&limit=100')),
    one('acquire, percent and plus in the form', acquireForm('c%207+x')),
    one('acquire, refused at the limit', acquireForm('c8', [], 0)),
    one('acquire, valued profile with its value', req('POST', '/v1/acquire', ['Host: t', auth, FORM], 'dialog=c9&profile=trunk&value=gw1&limit=5')),
    one('acquire, valued profile without a value', req('POST', '/v1/acquire', ['Host: t', auth, FORM], 'dialog=c10&profile=trunk&limit=5')),
    one('acquire, unknown profile', req('POST', '/v1/acquire', ['Host: t', auth, FORM], 'dialog=c11&profile=nope&limit=5')),
    one('acquire, missing dialog', req('POST', '/v1/acquire', ['Host: t', auth, FORM], 'profile=total&limit=5')),
    one('acquire, negative limit', req('POST', '/v1/acquire', ['Host: t', auth, FORM], 'dialog=c12&profile=total&limit=-1')),
    one('acquire, field twice', req('POST', '/v1/acquire', ['Host: t', auth, FORM], 'dialog=a&dialog=b&profile=total&limit=5')),
    one('acquire, bad JSON', req('POST', '/v1/acquire', ['Host: t', auth, JSON_TYPE], '{"dialog":')),
    one('acquire, JSON array', req('POST', '/v1/acquire', ['Host: t', auth, JSON_TYPE], '[1]')),
    one('acquire, unsupported type', req('POST', '/v1/acquire', ['Host: t', auth, 'Content-Type: text/xml'], '<x/>')),
    one('acquire, empty body', req('POST', '/v1/acquire', ['Host: t', auth, FORM], '')),
    one('acquire, no content-length', req('POST', '/v1/acquire', ['Host: t', auth, FORM], '', false)),
    one('acquire, no token', req('POST', '/v1/acquire', ['Host: t', FORM], 'dialog=c13&profile=total&limit=5')),
    one('acquire, bad token', req('POST', '/v1/acquire', ['Host: t', 'Authorization: Bearer nope', FORM], 'dialog=c13&profile=total&limit=5')),
    one('acquire, token of another scheme', req('POST', '/v1/acquire', ['Host: t', `Authorization: Basic ${TOKEN}`, FORM], 'dialog=c13&profile=total&limit=5')),
    one('acquire, bad token as text', req('POST', '/v1/acquire', ['Host: t', 'Authorization: Bearer x', 'Accept: text/plain', FORM], 'dialog=c13&profile=total&limit=5')),
    one('acquire, Connection: close', acquireForm('c14', ['Connection: close'])),
    one('acquire, Connection: keep-alive', acquireForm('c15', ['Connection: Keep-Alive'])),
    one('acquire, Connection: upgrade', acquireForm('c16', ['Connection: upgrade', 'Upgrade: h2c'])),
    one('acquire, oversized body', req('POST', '/v1/acquire', ['Host: t', auth, FORM], 'dialog=c17&profile=total&limit=5&x=' + 'y'.repeat(MAX_BODY))),
    one('acquire, body at the bound', req('POST', '/v1/acquire', ['Host: t', auth, FORM], ('dialog=c18&profile=total&limit=5&x=' + 'y'.repeat(MAX_BODY)).slice(0, MAX_BODY))),
    one('acquire, chunked', `POST /v1/acquire HTTP/1.1\r\nHost: t\r\n${auth}\r\n${FORM}\r\nTransfer-Encoding: chunked\r\n\r\n1e\r\ndialog=c19&profile=total&limit\r\n4\r\n=100\r\n0\r\n\r\n`),
    one('acquire, Expect: 100-continue', acquireForm('c20', ['Expect: 100-continue'])),
    one('acquire, an extra header', acquireForm('c21', ['X-Call: 1'])),
    one('acquire, no Host', req('POST', '/v1/acquire', [auth, FORM], 'dialog=c22&profile=total&limit=5')),
    one('acquire, Host twice', acquireForm('c23', ['Host: u'])),
    one('acquire, Content-Length twice', `POST /v1/acquire HTTP/1.1\r\nHost: t\r\n${auth}\r\nContent-Length: 29\r\nContent-Length: 29\r\n\r\ndialog=c24&profile=total&limi`),
    one('acquire, Content-Length not a number', `POST /v1/acquire HTTP/1.1\r\nHost: t\r\n${auth}\r\nContent-Length: 2x\r\n\r\nab`),
    one('acquire, a tab in a value', acquireForm('c25', ['Accept:\ttext/plain'])),
    one('acquire, white space before the colon', acquireForm('c26', ['Accept : text/plain'])),
    one('acquire, a value with trailing space', acquireForm('c27', ['Accept: text/plain '])),
    one('acquire, a value outside ASCII', acquireForm('c28', ['User-Agent: caf\u00e9'])),
    one('acquire, obs-fold', acquireForm('c29', ['User-Agent: a', ' b'])),
    one('acquire, bare LF', acquireForm('c30').replace('Host: t\r\n', 'Host: t\n')),
    one('acquire, HTTP/1.0', acquireForm('c31').replace('HTTP/1.1', 'HTTP/1.0')),
    one('acquire, lowercase method', acquireForm('c32').replace('POST', 'post')),
    one('acquire, query', acquireForm('c33').replace('/v1/acquire', '/v1/acquire?format=text')),
    one('acquire, fragment', acquireForm('c34').replace('/v1/acquire', '/v1/acquire#x')),
    one('acquire, absolute form', acquireForm('c35').replace('/v1/acquire', 'http://t/v1/acquire')),
    one('acquire, GET', req('GET', '/v1/acquire', ['Host: t', auth])),
    one('acquire, PUT', acquireForm('c36').replace('POST', 'PUT')),
    one('acquire, long head', acquireForm('c37', ['User-Agent: ' + 'u'.repeat(5000)])),
    one('acquire, huge head', acquireForm('c38', ['User-Agent: ' + 'u'.repeat(20000)])),
    one('end', end('c1')),
    one('end, percent-encoded dialog', end('c%207%2Bx')),
    one('end, bad percent-encoding', end('%zz')),
    one('end, unknown dialog', end('nobody')),
    one('end, JSON body', req('POST', '/v1/dialogs/c2/end', ['Host: t', auth, JSON_TYPE], '{"reason":"bye"}')),
    one('end, no token', req('POST', '/v1/dialogs/c3/end', ['Host: t', FORM], 'reason=bye')),
    one('delete dialog', req('DELETE', '/v1/dialogs/c3', ['Host: t', auth], '', false)),
    one('delete membership with a query', req('DELETE', '/v1/dialogs/c9/profiles/trunk?value=gw1', ['Host: t', auth], '', false)),
    one('add membership', req('POST', '/v1/dialogs/c40/profiles', ['Host: t', auth, FORM], 'profile=total')),
    one('size', req('GET', '/v1/profiles/total/size', ['Host: t', auth], '', false)),
    one('size, text by the query', req('GET', '/v1/profiles/total/size?format=text', ['Host: t', auth], '', false)),
    one('size, text by Accept', req('GET', '/v1/profiles/total/size', ['Host: t', auth, 'Accept: text/plain'], '', false)),
    one('size, JSON by the query over Accept', req('GET', '/v1/profiles/total/size?format=json', ['Host: t', auth, 'Accept: text/plain'], '', false)),
    one('size of a value', req('GET', '/v1/profiles/trunk/size?value=gw1', ['Host: t', auth], '', false)),
    one('size of a value, percent and plus', req('GET', '/v1/profiles/trunk/size?value=g%20w+1&format=text', ['Host: t', auth], '', false)),
    one('size of a value given twice', req('GET', '/v1/profiles/trunk/size?value=gw1&value=gw2', ['Host: t', auth], '', false)),
    one('size of a value with ? in the query', req('GET', '/v1/profiles/trunk/size?value=gw1?x', ['Host: t', auth], '', false)),
    one('size, every value', req('GET', '/v1/profiles/trunk/size', ['Host: t', auth], '', false)),
    one('size, empty query', req('GET', '/v1/profiles/total/size?', ['Host: t', auth], '', false)),
    one('size, a value on a plain profile', req('GET', '/v1/profiles/total/size?value=x', ['Host: t', auth], '', false)),
    one('size, unknown profile', req('GET', '/v1/profiles/nope/size', ['Host: t', auth], '', false)),
    one('size, bad percent-encoding in the path', req('GET', '/v1/profiles/%zz/size', ['Host: t', auth], '', false)),
    one('size, bad percent-encoding in the query', req('GET', '/v1/profiles/trunk/size?value=%zz', ['Host: t', auth], '', false)),
    one('size, a fragment', req('GET', '/v1/profiles/total/size?format=text#x', ['Host: t', auth], '', false)),
    one('size, a space in the query', req('GET', '/v1/profiles/total/size?value=a b', ['Host: t', auth], '', false)),
    one('size, with a body', req('GET', '/v1/profiles/total/size', ['Host: t', auth, FORM], 'a=1')),
    one('size, no token', req('GET', '/v1/profiles/total/size', ['Host: t'], '', false)),
    one('size, Connection: close', req('GET', '/v1/profiles/total/size', ['Host: t', auth, 'Connection: close'], '', false)),
    one('members, a node:http route', req('GET', '/v1/profiles/trunk/members?value=nobody', ['Host: t', auth], '', false)),
    one('no route', req('POST', '/v1/nothing', ['Host: t', auth], '')),
    one('healthz', req('GET', '/healthz', ['Host: t'], '', false)),
    { name: 'pipelined acquire, end, acquire', parts: [acquireForm('p1') + end('p1') + acquireForm('p2')], answers: 3 },
    // a route of node:http that does not read the state: node:http runs pipelined handlers side by side (a
    // read pipelined after an acquire may be answered before the acquire is applied), the fast path one by one
    { name: 'pipelined, node:http in the middle', parts: [acquireForm('p3') + req('GET', '/healthz', ['Host: t'], '', false) + end('p3') + acquireForm('p4')], answers: 4 },
    { name: 'pipelined, Connection: close in the middle', parts: [acquireForm('p5') + acquireForm('p6', ['Connection: close']) + acquireForm('p7')], answers: 3 },
    { name: 'keep-alive, then a hand-over, then fast requests', parts: [acquireForm('p8'), req('POST', '/v1/acquire', ['Host: t', auth, FORM, 'X-A: 1'], 'dialog=p9&profile=total&limit=100'), end('p8'), end('p9')], answers: 4 },
    { name: 'keep-alive, size queries between writes', parts: [req('GET', '/v1/profiles/total/size', ['Host: t', auth], '', false), acquireForm('p13'), req('GET', '/v1/profiles/total/size?format=text', ['Host: t', auth], '', false), end('p13'), req('GET', '/v1/profiles/total/size', ['Host: t', auth], '', false)], answers: 5 },
    { name: 'body in a later write', parts: (() => { const r = acquireForm('p10'); const cut = r.indexOf('\r\n\r\n') + 4; return [r.slice(0, cut), r.slice(cut, cut + 5), r.slice(cut + 5)] })(), answers: 1 },
    { name: 'oversized body, then more', parts: [req('POST', '/v1/acquire', ['Host: t', auth, FORM], 'x='.padEnd(MAX_BODY + 10, 'z')) + acquireForm('p11')], answers: 2 },
    { name: 'bad token, then good', parts: [req('POST', '/v1/acquire', ['Host: t', 'Authorization: Bearer zz', FORM], 'dialog=p12&profile=total&limit=5') + acquireForm('p12')], answers: 2 }
  ]
}

describe('HTTP fast path against node:http', () => {
  const daemons: Daemon[] = []
  let fast = 0
  let plain = 0
  beforeAll(async () => {
    for (const httpFastPath of [true, false]) {
      const config = resolveConfig({ flags: { nodeId: 'n1', secret: 'secret-0123456789', listen: '127.0.0.1:0', http: '127.0.0.1:0', profiles: ['total', 'trunk:value'], apiToken: TOKEN, maxBodyBytes: MAX_BODY } })
      const d = await Daemon.start(config, createLogger('silent', 'n1'), { httpFastPath })
      daemons.push(d)
    }
    fast = Number(new URL(daemons[0]?.httpUrl() as string).port)
    plain = Number(new URL(daemons[1]?.httpUrl() as string).port)
  })
  afterAll(async () => { for (const d of daemons) await d.stop() })

  it('answers every request of the corpus with node:http\'s bytes', async () => {
    for (const c of corpus()) {
      const a = await exchange(fast, c.parts, c.answers)
      const b = await exchange(plain, c.parts, c.answers)
      expect({ name: c.name, ...a }).toEqual({ name: c.name, ...b })
      expect(a.bytes.startsWith('HTTP/1.1 '), c.name).toBe(true)
    }
    expect(daemons[0]?.node.store.size('total')).toBe(daemons[1]?.node.store.size('total'))
    // both paths were taken on the fast daemon, none on the other
    const counts = daemons[0]?.http.fastPathCounts()
    expect(counts?.served).toBeGreaterThan(30)
    expect(counts?.handedOver).toBeGreaterThan(20)
    expect(daemons[1]?.http.fastPathCounts()).toBeNull()
  })

  it('keeps a connection that asks for sizes between its writes on the fast path', async () => {
    const before = daemons[0]?.http.fastPathCounts()
    const got = await exchange(fast, [
      req('GET', '/v1/profiles/trunk/size?value=gw1&format=text', ['Host: t', auth], '', false),
      acquireForm('kept-1'),
      req('GET', '/v1/profiles/total/size', ['Host: t', auth], '', false),
      end('kept-1')
    ], 4)
    expect(countAnswers(got.bytes)).toBe(4)
    expect(got.closed).toBe(false)
    const after = daemons[0]?.http.fastPathCounts()
    expect(after?.handedOver).toBe(before?.handedOver)
    expect((after?.served ?? 0) - (before?.served ?? 0)).toBe(4)
  })

  it('answers a request split across two TCP writes at every byte as node:http does', async () => {
    const base = acquireForm('split-0', ['Accept: text/plain'])
    for (let cut = 1; cut < base.length; cut++) {
      const r = acquireForm(`split-${cut}`, ['Accept: text/plain'])
      const parts = [r.slice(0, cut), r.slice(cut)]
      const a = await exchange(fast, parts, 1)
      const b = await exchange(plain, parts, 1)
      expect({ cut, ...a }).toEqual({ cut, ...b })
      expect(a.bytes.startsWith('HTTP/1.1 200 OK'), String(cut)).toBe(true)
    }
  })

  it('stops reading a client that does not read its answers, and reads on once it does', async () => {
    const socket: Socket = await new Promise((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port: fast }, () => { resolve(s) })
      s.once('error', reject)
    })
    socket.pause()
    const before = daemons[0]?.http.fastPathCounts()?.served ?? 0
    const burst = Array.from({ length: 200 }, (_x, i) => acquireForm(`slow-${i}`) + end(`slow-${i}`)).join('')
    // far more than the socket buffers hold: writes until the kernel stops taking them
    let written = 0
    for (let i = 0; i < 400; i++) {
      written += 400
      if (!socket.write(burst)) break
      await new Promise((resolve) => setImmediate(resolve))
    }
    const served = (): number => (daemons[0]?.http.fastPathCounts()?.served ?? 0) - before
    await new Promise((resolve) => setTimeout(resolve, 300))
    const stalled = served()
    // the daemon still answers others meanwhile
    const ok = await exchange(fast, [acquireForm('while-stalled')], 1)
    expect(ok.bytes.startsWith('HTTP/1.1 200 OK')).toBe(true)
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(served()).toBe(stalled + 1) // that one only: the unread client got no more answers
    expect(stalled).toBeLessThan(written) // the kernel's buffers hold the rest
    socket.resume()
    await new Promise<void>((resolve) => { const t = setInterval(() => { if (served() > stalled + 1) { clearInterval(t); resolve() } }, 20) })
    socket.destroy()
  })

  it('stays up under random bytes: every connection ends, and the next one is answered', async () => {
    const fragments = [
      acquireForm('f1'), end('f1'), 'POST /v1/acquire HTTP/1.1\r\n', 'Host: t\r\n', `${auth}\r\n`, 'Content-Length: 5\r\n', 'Content-Length: 99999\r\n',
      'Connection: close\r\n', 'Transfer-Encoding: chunked\r\n', '\r\n', '\r\n\r\n', 'dialog=x&profile=total&limit=1', '0\r\n\r\n', '\n', '\u0000', ':'
    ]
    const piece = fc.oneof(fc.constantFrom(...fragments), fc.string({ maxLength: 40 }), fc.uint8Array({ maxLength: 40 }).map((u) => Buffer.from(u).toString('latin1')))
    await fc.assert(fc.asyncProperty(fc.array(fc.array(piece, { maxLength: 6 }).map((x) => x.join('')), { minLength: 1, maxLength: 4 }), async (parts) => {
      await exchange(fast, parts, 1 + parts.length, 100)
      const ok = await exchange(fast, [req('GET', '/healthz', ['Host: t'], '', false)], 1)
      expect(ok.bytes.startsWith('HTTP/1.1 200 OK')).toBe(true)
      const acq = await exchange(fast, [acquireForm('after-fuzz')], 1)
      expect(acq.bytes.startsWith('HTTP/1.1 200 OK')).toBe(true)
    }), fcParams(40))
  })
})

describe('HTTP fast path bounds', () => {
  it('answers a request begun and not finished within headersTimeout with node\'s 408, and closes an idle connection after keepAliveTimeout', async () => {
    const api = new HttpApi({ keepAliveTimeoutMs: 300 })
    api.router.addLean('POST', '/lean', async (req, res) => { replyJson(res, 200, JSON.stringify(await req.body())) })
    const { port } = await api.listen('127.0.0.1', 0)
    try {
      // a complete request first: answered on the fast path, the connection then kept
      const ok = await exchange(port, ['POST /lean HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\na=1'], 1)
      expect(ok.bytes).toContain('{"a":"1"}')
      expect(ok.bytes).toContain('Keep-Alive: timeout=0')
      // a head that never ends: node's 408 after headersTimeout (keepAliveTimeout + 1 s), then the end
      const partial = await exchange(port, ['POST /lean HTTP/1.1\r\nHost: t\r\n'], 1, 5000)
      expect(partial).toEqual({ bytes: 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n', closed: true })
      // nothing at all: closed without an answer after keepAliveTimeout
      const idle = await exchange(port, [], 1, 5000)
      expect(idle).toEqual({ bytes: '', closed: true })
      expect(api.fastPathCounts()).toEqual({ served: 1, handedOver: 0 })
    } finally { await api.close() }
  })
})
