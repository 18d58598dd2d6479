/**
 * Figures of a node under attack (not a scenario: it attacks one node on purpose).
 *   node --import tsx bench/attack-figures.ts [SRC_ROOT] [MEMBERSHIPS]
 * SRC_ROOT (default: this checkout) holds the `src/` to measure, so that an older tree
 * (`git archive <commit> src | tar -x -C DIR`, DIR inside this checkout for its node_modules)
 * gives the "before" figures. One process, loopback only, bounded loops:
 * 1. an authenticated raw client sends one 800-byte frame of 200 sync step 1 messages (empty
 *    state vectors): bytes the node sends back, largest event-loop stall;
 * 2. sixteen unauthenticated connections each announce a 64 MiB frame and stream it in 1 MiB
 *    chunks: peak RSS of the process over 10 s.
 */
import * as Y from 'yjs'
import { WebSocket } from 'ws'
import { monitorEventLoopDelay } from 'node:perf_hooks'
const src = process.argv[2] ?? new URL('..', import.meta.url).pathname
const { ClusterNode } = await import(`${src}/src/index.ts`)
const wire = await import(`${src}/src/transport/wire.ts`)
const auth = await import(`${src}/src/transport/auth.ts`)
const node = new ClusterNode({ nodeId: 'a', profiles: [{ name: 'caller', withValue: true }], listen: { host: '127.0.0.1', port: 0 }, secret: 'figure-secret', authTimeoutMs: 60_000, livenessTimeoutMs: 60_000, log: () => {} })
await node.start()
const n = Number(process.argv[3] ?? '20000')
for (let i = 0; i < n; i++) node.store.add(`call-${i}@example.org`, 'caller', `user-${i % 50}`)
node.store.flushWrites()
const state = Y.encodeStateAsUpdate(node.store.doc).length
const url = node.url()!
// item 5: authenticated raw client, one frame of 200 step-1 messages
const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 2 ** 31 })
let bytes = 0
const nonce = auth.makeNonce()
await new Promise<void>((resolve) => {
  ws.on('open', () => { ws.send(wire.encodeHello({ version: wire.PROTOCOL_VERSION, nodeId: 'fuzz', incarnation: 1, clientId: 7, role: 'dialer', nonce })) })
  ws.on('message', (data: Buffer) => {
    bytes += data.length
    for (const m of wire.decodeFrame(data, 1e6)) {
      if (m.type === 'hello') ws.send(wire.encodeProof(auth.computeProof('figure-secret', 'dialer', { nodeId: 'fuzz', incarnation: 1, clientId: 7, nonce }, m.hello)))
      if (m.type === 'proof') resolve()
    }
  })
})
const h = monitorEventLoopDelay({ resolution: 10 }); h.enable()
const before = bytes
const step1 = wire.encodeSync(wire.SYNC_STEP1, Y.encodeStateVector(new Y.Doc()))
ws.send(Buffer.concat(Array.from({ length: 200 }, () => step1)))
let last = -1
for (let i = 0; i < 600; i++) { await new Promise((r) => setTimeout(r, 100)); if (bytes === last && bytes - before > state) break; last = bytes }
h.disable()
console.log(JSON.stringify({ memberships: n, stateBytes: state, frameBytes: 200 * step1.length, bytesSentBack: bytes - before, maxLoopStallMs: Math.round(h.max / 1e6) }))
ws.terminate()
// item 6: 16 unauthenticated connections each announcing a 64 MiB frame and streaming it
const rss0 = process.memoryUsage().rss
let peak = rss0
const chunk = Buffer.alloc(1024 * 1024)
const socks = await Promise.all(Array.from({ length: 16 }, async () => await new Promise<WebSocket>((resolve) => { const c = new WebSocket(url, { perMessageDeflate: false }); c.on('error', () => {}); c.on('open', () => resolve(c)) })))
for (const c of socks) {
  const header = Buffer.alloc(14); header[0] = 0x82; header[1] = 0x80 | 127; header.writeBigUInt64BE(BigInt(64 * 1024 * 1024), 2)
  const s = (c as any)._socket
  s.write(header)
  let k = 0
  const pump = (): void => { while (k < 64 && !s.destroyed) { k++; if (!s.write(chunk)) { s.once('drain', pump); return } } }
  pump()
}
for (let i = 0; i < 100; i++) { await new Promise((r) => setTimeout(r, 100)); peak = Math.max(peak, process.memoryUsage().rss) }
const closed = socks.filter((c) => c.readyState === c.CLOSED).length
console.log(JSON.stringify({ rssBeforeMiB: Math.round(rss0 / 2 ** 20), rssPeakMiB: Math.round(peak / 2 ** 20), connectionsClosedWithin10s: closed }))
for (const c of socks) c.terminate()
await node.close()
process.exit(0)
