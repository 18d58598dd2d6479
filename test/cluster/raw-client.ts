/**
 * A hand-driven peer for hostile-input tests: it can authenticate like a real dialer (or not)
 * and then send arbitrary bytes.
 */
import { WebSocket } from 'ws'
import { computeProof, makeNonce } from '../../src/transport/auth.js'
import { PROTOCOL_VERSION, decodeFrame, encodeHello, encodeProof } from '../../src/transport/wire.js'
import type { WireMessage } from '../../src/transport/wire.js'

export interface RawClient {
  readonly ws: WebSocket
  readonly received: WireMessage[]
  /** Resolves with the close code once the socket is closed. */
  readonly closed: Promise<number>
  isClosed (): boolean
  send (frame: Uint8Array): void
}

const withTimeout = <T>(p: Promise<T>, ms: number, what: string): Promise<T> =>
  Promise.race([p, new Promise<T>((_resolve, reject) => { setTimeout(() => { reject(new Error(`timeout: ${what}`)) }, ms).unref() })])

/** Connects; with a secret, completes the handshake as node `nodeId` (`incarnation`, client id 12345) before resolving. */
export const rawClient = async (url: string, secret: string | null, nodeId = 'fuzz', incarnation = 1): Promise<RawClient> => {
  const ws = new WebSocket(url, { perMessageDeflate: false })
  const received: WireMessage[] = []
  let closedFlag = false
  const closed = new Promise<number>((resolve) => { ws.on('close', (code) => { closedFlag = true; resolve(code) }) })
  ws.on('error', () => {})
  const nonce = makeNonce()
  let authed: () => void = () => {}
  const authPromise = new Promise<void>((resolve) => { authed = resolve })
  ws.on('message', (data: Buffer) => {
    let msgs: WireMessage[]
    try { msgs = decodeFrame(data, 100_000) } catch { return }
    for (const m of msgs) {
      received.push(m)
      if (m.type === 'hello' && secret !== null) {
        ws.send(encodeProof(computeProof(secret, 'dialer', { nodeId, incarnation, clientId: 12345, nonce }, m.hello)))
      }
      if (m.type === 'proof') authed()
    }
  })
  await withTimeout(new Promise<void>((resolve, reject) => {
    ws.once('open', () => {
      // The hello must leave before any proof (sent when the listener's hello arrives).
      if (secret !== null) ws.send(encodeHello({ version: PROTOCOL_VERSION, nodeId, incarnation, clientId: 12345, role: 'dialer', nonce }))
      resolve()
    })
    ws.once('error', reject)
  }), 5000, 'open')
  if (secret !== null) {
    await withTimeout(Promise.race([authPromise, closed.then(() => { throw new Error('closed during handshake') })]), 5000, 'handshake')
  }
  return {
    ws,
    received,
    closed,
    isClosed: () => closedFlag,
    send: (frame) => { if (ws.readyState === ws.OPEN) ws.send(frame) }
  }
}

/** Waits until the client is closed or `ms` passed; returns the close code or null. */
export const closedWithin = async (c: RawClient, ms: number): Promise<number | null> =>
  Promise.race([c.closed, new Promise<null>((resolve) => { setTimeout(() => { resolve(null) }, ms) })])
