import { afterEach, describe, expect, it } from 'vitest'
import { docNode, keysOf, waitFor } from './support.js'
import type { DocNode } from './support.js'

const open: DocNode[] = []
afterEach(async () => {
  await Promise.all(open.splice(0).map((n) => n.transport.close()))
})
const track = (n: DocNode): DocNode => { open.push(n); return n }

describe('transport over loopback', () => {
  it('a full mesh of three nodes converges, with one connection per pair', async () => {
    const a = track(await docNode('a', []))
    const b = track(await docNode('b', [a.url]))
    const c = track(await docNode('c', [a.url, b.url]))
    // a dials back too: duplicates must be resolved to one connection per pair.
    const a2 = track(await docNode('d', [a.url, b.url, c.url]))
    a.doc.getMap('m').set('from-a', 1)
    b.doc.getMap('m').set('from-b', 1)
    c.doc.getMap('m').set('from-c', 1)
    a2.doc.getMap('m').set('from-d', 1)
    const want = 'from-a,from-b,from-c,from-d'
    await waitFor(() => [a, b, c, a2].every((n) => keysOf(n.doc) === want), 'convergence')
    await waitFor(() => [a, b, c, a2].every((n) => n.transport.connections().length === 3), 'one connection per pair')
  })

  it('a chain a-b-c converges through the relay, each update crossing each link a bounded number of times', async () => {
    const a = track(await docNode('a', []))
    const b = track(await docNode('b', [a.url]))
    const c = track(await docNode('c', [b.url]))
    await waitFor(() => a.transport.isSyncedWith('b') && c.transport.isSyncedWith('b'), 'chain up')
    const n = 200
    for (let i = 0; i < n; i++) a.doc.getMap('m').set(`k${i}`, i)
    await waitFor(() => c.doc.getMap('m').size === n, 'c has every key')
    for (let i = 0; i < n; i++) c.doc.getMap('m').set(`c${i}`, i)
    await waitFor(() => a.doc.getMap('m').size === 2 * n, 'a has every key')
    expect(keysOf(a.doc)).toBe(keysOf(c.doc))
    // Each update is sent at most once per link and direction: a sent n (+ none echoed), c sent
    // n; b relayed at most n each way (updates that arrived together go on as one).
    const upd = (x: DocNode): number => x.transport.totals().updatesOut
    expect(upd(a)).toBe(n)
    expect(upd(b)).toBeGreaterThan(0)
    expect(upd(b)).toBeLessThanOrEqual(2 * n)
    expect(upd(c)).toBe(n)
  })

  it('refuses a peer with the wrong secret before any document data', async () => {
    const a = track(await docNode('a', []))
    a.doc.getMap('m').set('secret-data', 1)
    const rejected: string[] = []
    a.transport.events.onAny((e) => { if (e.type === 'rejected') rejected.push(e.reason) })
    const bad = track(await docNode('x', [a.url], { secret: 'wrong' }))
    await waitFor(() => rejected.length > 0, 'rejection')
    expect(keysOf(bad.doc)).toBe('')
    expect(bad.transport.connections()).toHaveLength(0)
    expect(a.transport.totals().updatesOut).toBe(0)
  })

  it('reconnects after a dropped connection and exchanges what was missed', async () => {
    const a = track(await docNode('a', []))
    const b = track(await docNode('b', [a.url]))
    await waitFor(() => b.transport.isSyncedWith('a'), 'first sync')
    a.transport.disconnectAll()
    a.doc.getMap('m').set('while-apart', 1)
    await waitFor(() => keysOf(b.doc) === 'while-apart', 'resync after reconnect')
  })

  it('nodes dialling each other settle on one connection per pair and stay there', async () => {
    const p = track(await docNode('p', []))
    const q = track(await docNode('q', [p.url]))
    const r = track(await docNode('r', [p.url, q.url]))
    p.transport.addPeer(q.url)
    p.transport.addPeer(r.url)
    q.transport.addPeer(r.url)
    // Each pair keeps the connection dialled by its smaller node id (a replacement emits no peer-down).
    const dir = (n: DocNode, peer: string): string | undefined => n.transport.connections().find((c) => c.node === peer)?.direction
    await waitFor(() => [p, q, r].every((n) => n.transport.connections().length === 2) &&
      dir(p, 'q') === 'outbound' && dir(p, 'r') === 'outbound' && dir(q, 'r') === 'outbound', 'one connection per pair')
    const downs: string[] = []
    for (const n of [p, q, r]) n.transport.events.onAny((e) => { if (e.type === 'peer-down') downs.push(`${n.id}-${e.node}`) })
    await new Promise((resolve) => { setTimeout(resolve, 400) })
    expect([p, q, r].every((n) => n.transport.connections().length === 2)).toBe(true)
    expect(downs).toEqual([])
    expect(dir(q, 'p')).toBe('inbound')
    expect(dir(r, 'q')).toBe('inbound')
    p.doc.getMap('m').set('k', 1)
    await waitFor(() => keysOf(q.doc) === 'k' && keysOf(r.doc) === 'k', 'converge')
  })
})
