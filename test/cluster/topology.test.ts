/**
 * Replication cost with the number of nodes: in a full mesh each update
 * reaches each node once, whatever n; a link that silently stops delivering is routed around;
 * a late joiner receives the state about once, not once per member.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { docNode, nodeFactory, waitFor } from './support.js'
import type { DocNode } from './support.js'
import { TcpProxy } from './tcp-proxy.js'

const open: DocNode[] = []
const nodes = nodeFactory()
const proxies: TcpProxy[] = []
afterEach(async () => {
  await Promise.all(open.splice(0).map((n) => n.transport.close()))
  await nodes.closeAll()
  await Promise.all(proxies.splice(0).map((p) => p.close()))
})

/** A full mesh of `n` transports; heartbeats rare enough that only updates move during a test. */
const mesh = async (n: number): Promise<DocNode[]> => {
  const out: DocNode[] = []
  for (let i = 0; i < n; i++) {
    const x = await docNode(`m${i}`, out.map((y) => y.url), { heartbeatIntervalMs: 60_000 })
    open.push(x)
    out.push(x)
  }
  await waitFor(() => out.every((x) => x.transport.connections().filter((c) => c.synced).length === n - 1), `${n}-node mesh`)
  return out
}

/** Writes `ops` keys round-robin, one transaction each, and returns update messages and bytes received per op per node. */
const perOp = async (m: DocNode[], ops: number): Promise<{ msgs: number, bytes: number }> => {
  const before = m.map((x) => x.transport.totals())
  for (let i = 0; i < ops; i++) {
    m[i % m.length]!.doc.getMap('m').set(`k${i}`, i)
    if (i % 10 === 9) await new Promise((resolve) => setImmediate(resolve))
  }
  await waitFor(() => m.every((x) => x.doc.getMap('m').size === ops), 'every node has every key')
  // Let anything still in flight (relays, duplicates) arrive before counting.
  await new Promise((resolve) => { setTimeout(resolve, 200) })
  const after = m.map((x) => x.transport.totals())
  let msgs = 0
  let bytes = 0
  for (let j = 0; j < m.length; j++) { msgs += after[j]!.updatesIn - before[j]!.updatesIn; bytes += after[j]!.bytesIn - before[j]!.bytesIn }
  return { msgs: msgs / ops / m.length, bytes: bytes / ops / m.length }
}

describe('replication cost with n', () => {
  it('in a full mesh, update messages and bytes received per op per node do not grow with n (3 vs 6 nodes)', async () => {
    const three = await perOp(await mesh(3), 300)
    await Promise.all(open.splice(0).map((n) => n.transport.close()))
    const six = await perOp(await mesh(6), 300)
    // Each op reaches each other node once: (n-1)/n messages per node, at most.
    expect(three.msgs).toBeLessThanOrEqual(2 / 3 + 1e-9)
    expect(six.msgs).toBeLessThanOrEqual(5 / 6 + 1e-9)
    // Bytes: (n-1)/n of one update per node, so 6 nodes within 1.3x of 3 (before: every update relayed to every peer, about 4x).
    expect(six.bytes / three.bytes).toBeLessThanOrEqual(1.3)
  })

  it('a link that silently stops delivering is routed around: writes go through the third node', async () => {
    const slow = { livenessTimeoutMs: 60_000, graceMs: 60_000 }
    const a = await nodes.start('a', [], slow)
    const proxy = new TcpProxy(a.address()!.port)
    proxies.push(proxy)
    const viaProxy = await proxy.listen()
    const b = await nodes.start('b', [a.url()!], slow)
    const c = await nodes.start('c', [viaProxy, b.url()!], { ...slow, readiness: { policy: 'reject', timeoutMs: 10_000, peers: 'all' } })
    await c.ready
    a.store.add('before', 'total')
    await waitFor(() => c.store.has('before', 'total'), 'c has a\'s first write')
    proxy.blackhole()
    a.store.add('during', 'total')
    a.store.removeDialog('before')
    // The a-c connection stays open (idle timeout 120 s) yet c gets a's writes, relayed by b.
    await waitFor(() => c.store.has('during', 'total') && !c.store.has('before', 'total'), 'c gets a\'s writes around the black hole')
    // (Heartbeats are not taken around it: while a's own connection is up, only a speaks for a.)
    expect(c.cluster().peers.find((p) => p.node === 'a')?.connected).toBe(true)
  })
})

describe('late join', () => {
  it('a joiner dialling three members receives the state about once and relays none of it back', async () => {
    // The nodes share this process: long idle timeouts, so that the fill never looks like silence.
    const slow = { livenessTimeoutMs: 60_000, graceMs: 60_000, heartbeatIntervalMs: 200 }
    const a = await nodes.start('a', [], slow)
    const b = await nodes.start('b', [a.url()!], slow)
    const c = await nodes.start('c', [a.url()!, b.url()!], slow)
    await waitFor(() => [a, b, c].every((x) => x.cluster().peers.filter((p) => p.synced).length === 2), 'members meshed')
    for (const [i, x] of [a, b, c].entries()) for (let k = 0; k < 1500; k++) x.store.add(`n${i}-call-${k}@example.org`, 'caller', `user-${k % 40}`)
    await waitFor(() => [a, b, c].every((x) => x.store.size('caller') === 4500), 'members converge')
    await new Promise((resolve) => { setTimeout(resolve, 500) })
    const state = a.cluster().document.stateBytes
    const out = [a, b, c].map((x) => x.traffic().bytesOut)
    const j = await nodes.start('j', [a.url()!, b.url()!, c.url()!], { ...slow, readiness: { policy: 'reject', timeoutMs: 10_000, peers: 'all' } })
    await j.ready
    expect(j.store.size('caller')).toBe(4500)
    await new Promise((resolve) => { setTimeout(resolve, 300) })
    const into = j.traffic().bytesIn
    const sentByMembers = [a, b, c].reduce((s, x, i) => s + x.traffic().bytesOut - out[i]!, 0)
    // Before: every member sent the full state (3x), and the joiner relayed it on.
    expect(into).toBeLessThanOrEqual(1.2 * state + 16 * 1024)
    expect(sentByMembers).toBeLessThanOrEqual(1.2 * state + 16 * 1024)
    expect(j.traffic().bytesOut).toBeLessThan(0.1 * state)
  })
})

describe('receiving', () => {
  it('in a ring of four, the node opposite the writer gets each update twice and runs one transaction for it', async () => {
    const r: DocNode[] = []
    for (let i = 0; i < 4; i++) {
      const x = await docNode(`r${i}`, i === 0 ? [] : i === 3 ? [r[2]!.url, r[0]!.url] : [r[i - 1]!.url], { heartbeatIntervalMs: 60_000 })
      open.push(x)
      r.push(x)
    }
    await waitFor(() => r.every((x) => x.transport.connections().filter((c) => c.synced).length === 2), 'ring up')
    await new Promise((resolve) => { setTimeout(resolve, 100) })
    let remoteTransactions = 0
    r[2]!.doc.on('afterTransaction', (tr: { origin: unknown }) => { if (tr.origin !== null && typeof tr.origin === 'object') remoteTransactions++ })
    const dupsBefore = r[2]!.transport.totals().duplicatesIn
    const writes = 20
    for (let i = 0; i < writes; i++) {
      r[0]!.doc.getMap('m').set(`k${i}`, i)
      await waitFor(() => r[2]!.doc.getMap('m').has(`k${i}`) && r[2]!.transport.totals().updatesIn + r[2]!.transport.totals().duplicatesIn >= 2 * (i + 1), `k${i} reached r2 both ways`)
    }
    expect(r[2]!.transport.totals().duplicatesIn - dupsBefore).toBe(writes)
    expect(remoteTransactions).toBe(writes)
  })
})
