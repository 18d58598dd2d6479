/**
 * The floor of the http-acquire scenario: the least a node:http server can do per request, in
 * its own process. It answers `POST /v1/acquire` with a fixed acquire answer
 * (`{"admitted":true,"size":1,"limit":L}`) and `POST /v1/dialogs/{id}/end` with 204, after
 * reading the form body, over the same keep-alive settings as the daemon (keepAlive, Nagle off,
 * 65 s idle timeout); it counts nothing and checks nothing. The gap between it and Redis is Node's
 * HTTP stack; the gap between the daemon and it is the daemon's own work.
 * Started by the scenario with `fork`; sends `{ type: 'up', port }`, exits when the parent goes
 * away or after a hard limit of 30 minutes.
 */
import { createServer } from 'node:http'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

const HARD_LIMIT_MS = 30 * 60 * 1000
const ACQUIRED = '{"admitted":true,"size":1,"limit":1000000}'
const ACQUIRED_BYTES = String(Buffer.byteLength(ACQUIRED))

const answer = (req: IncomingMessage, res: ServerResponse): void => {
  if (req.method === 'POST' && req.url === '/v1/acquire') {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': ACQUIRED_BYTES })
    res.end(ACQUIRED)
  } else if (req.method === 'POST' && req.url?.endsWith('/end') === true) {
    res.writeHead(204)
    res.end()
  } else {
    res.writeHead(404, { 'content-length': '0' })
    res.end()
  }
}

const server = createServer({ keepAlive: true, noDelay: true }, (req, res) => {
  // The body is read (as the daemon reads it) before answering.
  req.on('data', () => {})
  req.on('end', () => { answer(req, res) })
})
server.keepAliveTimeout = 65_000
server.headersTimeout = 66_000
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo
  process.send?.({ type: 'up', port })
})
const stop = (): void => { server.close(); server.closeAllConnections(); process.exit(0) }
process.on('disconnect', stop)
process.on('message', (m: { type?: string }) => { if (m.type === 'close') stop() })
setTimeout(stop, HARD_LIMIT_MS).unref()
