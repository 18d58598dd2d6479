/**
 * The baseline's hub in its own process: a standard `@y/websocket-server` 0.1.1
 * (`setupWSConnection` over `ws`, as its bundled server does), on 127.0.0.1 and a free port.
 * Started by process-cluster.ts with `fork`; sends `{ type: 'up', url }`, exits when the parent
 * goes away or after a hard limit of 30 minutes.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { WebSocketServer } from 'ws'
import { setupWSConnection } from '@y/websocket-server/utils'

const HARD_LIMIT_MS = 30 * 60 * 1000
const server = createServer((_req, res) => { res.writeHead(200); res.end('hub\n') })
const wss = new WebSocketServer({ server })
wss.on('connection', (ws, req) => { setupWSConnection(ws, req) })
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo
  process.send?.({ type: 'up', url: `ws://127.0.0.1:${port}` })
})
const stop = (): void => { wss.close(); server.close(); process.exit(0) }
process.on('disconnect', stop)
process.on('message', (m: { type?: string }) => { if (m.type === 'close') stop() })
setTimeout(stop, HARD_LIMIT_MS).unref()
