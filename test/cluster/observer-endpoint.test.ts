/**
 * The read-only y-websocket endpoint over real sockets: a stock `y-websocket` WebsocketProvider
 * with the token sees the cluster's memberships and their updates, cannot write, and is refused
 * without the token, with a wrong one, and past `maxObservers`.
 */
import { WebSocket } from 'ws'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import { afterEach, describe, expect, it } from 'vitest'
import { CLOSE_READ_ONLY, ProfileStore } from '../../src/index.js'
import type { ClusterNode } from '../../src/index.js'
import { PROFILES, nodeFactory, waitFor } from './support.js'

const TOKEN = 'observer-token'
const nodes = nodeFactory()
const providers: WebsocketProvider[] = []
afterEach(async () => {
  for (const p of providers.splice(0)) p.destroy()
  await nodes.closeAll()
})

const observe = { listen: { host: '127.0.0.1', port: 0 }, token: TOKEN }
const endpoint = (n: ClusterNode): string => `ws://127.0.0.1:${n.observerAddress()!.port}`

const observer = (url: string, params: Record<string, string>): { doc: Y.Doc, provider: WebsocketProvider, closes: number[], errors: string[] } => {
  const doc = new Y.Doc()
  const provider = new WebsocketProvider(url, 'any-room', doc, { params, WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket, disableBc: true })
  providers.push(provider)
  const closes: number[] = []
  const errors: string[] = []
  provider.on('connection-close', (e) => { if (e !== null) closes.push(e.code) })
  provider.on('connection-error', (e) => { errors.push(String((e as unknown as { message?: unknown }).message)) })
  return { doc, provider, closes, errors }
}

/** Reads the observer's copy as a replica would: the memberships it holds. */
const view = (doc: Y.Doc): ProfileStore => {
  const store = new ProfileStore({ nodeId: 'viewer', profiles: [...PROFILES] })
  store.applyUpdate(Y.encodeStateAsUpdate(doc))
  return store
}

/** Answer status of a bare WebSocket upgrade to `url`. */
const upgradeStatus = (url: string): Promise<number> => new Promise((resolve, reject) => {
  const ws = new WebSocket(url)
  ws.on('unexpected-response', (_req, res) => { resolve(res.statusCode ?? 0); ws.terminate() })
  ws.on('open', () => { resolve(101); ws.close() })
  ws.on('error', (err) => { if (!/Unexpected server response/.test(err.message)) reject(err) })
})

describe('read-only y-websocket endpoint', () => {
  it('a WebsocketProvider with the token sees the memberships and their updates, and cannot write', async () => {
    const a = await nodes.start('a', [], { observe })
    const b = await nodes.start('b', [a.url()!])
    await b.ready
    for (let i = 0; i < 10; i++) a.store.add(`a-${i}`, 'caller', 'x')
    for (let i = 0; i < 5; i++) b.store.add(`b-${i}`, 'caller', 'y')
    await waitFor(() => a.store.size('caller') === 15, 'b\'s memberships reach a')
    const o = observer(endpoint(a), { token: TOKEN })
    await waitFor(() => o.provider.synced, 'the observer synced')
    await waitFor(() => view(o.doc).size('caller') === 15, 'the observer holds all 15 memberships')
    expect(view(o.doc).size('caller', 'y')).toBe(5)
    expect(a.cluster().observe?.observers).toBe(1)
    // live updates, from either node
    b.store.add('b-late', 'caller', 'y')
    a.release('a-0')
    await waitFor(() => { const v = view(o.doc); return v.size('caller') === 15 && v.has('b-late', 'caller', 'y') && !v.has('a-0', 'caller', 'x') }, 'the observer follows updates')
    // a write: the endpoint closes the connection, the node's document is untouched
    o.doc.getArray('dp:evil:1:1').push([[0, 'w', 'caller', 'y', null]])
    await waitFor(() => o.closes.includes(CLOSE_READ_ONLY), 'the write closed the connection with 4403')
    expect(Y.decodeStateVector(a.store.stateVector()).has(o.doc.clientID)).toBe(false)
    expect(a.store.size('caller')).toBe(15)
  }, 30_000)

  it('refuses a provider without the token or with a wrong one (401), and observers past maxObservers (503)', async () => {
    const a = await nodes.start('a', [], { observe: { ...observe, maxObservers: 1 } })
    a.store.add('a-1', 'caller', 'x')
    const none = observer(endpoint(a), {})
    const wrong = observer(endpoint(a), { token: 'observer-tokem' })
    await waitFor(() => none.errors.some((e) => e.includes('401')) && wrong.errors.some((e) => e.includes('401')), 'both refused with 401')
    expect(none.provider.synced || wrong.provider.synced).toBe(false)
    expect(none.doc.share.size + wrong.doc.share.size).toBe(0)
    expect(await upgradeStatus(`${endpoint(a)}/room`)).toBe(401)
    const first = observer(endpoint(a), { token: TOKEN })
    await waitFor(() => first.provider.synced, 'the first observer synced')
    expect(await upgradeStatus(`${endpoint(a)}/room?token=${TOKEN}`)).toBe(503)
  }, 30_000)

  it('closes an observer that sends what does not decode', async () => {
    const a = await nodes.start('a', [], { observe })
    const ws = new WebSocket(`${endpoint(a)}/r?token=${TOKEN}`)
    await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject) })
    const closed = new Promise<number>((resolve) => { ws.once('close', (code) => { resolve(code) }) })
    ws.send(new Uint8Array([0, 0, 200]))
    expect(await closed).toBe(1002)
    a.store.add('still-serving', 'total')
    expect(a.store.size('total')).toBe(1)
  }, 30_000)
})
