import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { ClusterNode, DialogProfilesError, PEER_ERROR_LOG_INTERVAL_MS } from '../../src/index.js'
import type { ClusterEvent } from '../../src/index.js'
import { codeOfAsync as codeOf, rejectionOf } from '../support/errors.js'
import { SECRET, memoryLog, nodeFactory, waitFor } from './support.js'
import { TcpProxy } from './tcp-proxy.js'


const nodes = nodeFactory()
afterEach(async () => { await nodes.closeAll() })

describe('ClusterNode', () => {
  it('a full mesh of three nodes shares sizes and reports its peers', async () => {
    const a = await nodes.start('a', [])
    const b = await nodes.start('b', [a.url()!])
    const c = await nodes.start('c', [a.url()!, b.url()!])
    await Promise.all([a.ready, b.ready, c.ready])
    expect((await a.acquire('d1', 'caller', 'alice', 2)).admitted).toBe(true)
    expect((await b.acquire('d2', 'caller', 'alice', 2)).admitted).toBe(true)
    c.store.add('d3', 'total')
    await waitFor(() => [a, b, c].every((n) => n.store.size('caller', 'alice') === 2 && n.store.size('total') === 1), 'sizes converge')
    expect((await c.acquire('d4', 'caller', 'alice', 2)).admitted).toBe(false)
    await waitFor(() => c.cluster().peers.filter((p) => p.connected && p.synced).length === 2, 'c sees two synced peers')
    const view = c.cluster()
    expect(view.ready).toBe(true)
    expect(view.peers.map((p) => p.node).sort()).toEqual(['a', 'b'])
    expect(view.peers.every((p) => p.liveness === 'live')).toBe(true)
    expect(view.document.memberships).toBe(3)
    expect(view.document.stateBytes).toBeGreaterThan(0)
    // Removal replicates too.
    a.store.removeDialog('d1')
    await waitFor(() => [a, b, c].every((n) => n.store.size('caller', 'alice') === 1), 'removal converges')
  })

  it('an eventual-only cluster with no admission.nodes logs no warning about its peers\' strict-admission rows', async () => {
    const a = await nodes.start('a', [])
    const b = await nodes.start('b', [a.url()!])
    const c = await nodes.start('c', [a.url()!, b.url()!])
    await Promise.all([a.ready, b.ready, c.ready])
    c.store.add('d1', 'total')
    await waitFor(() => [a, b, c].every((n) => n.store.size('total') === 1), 'sizes converge')
    for (const n of [a, b, c]) {
      expect(n.lines.filter((l) => l.startsWith('warn:'))).toEqual([])
      // the rows were seen (and ignored, at debug): the test would pass vacuously otherwise
      expect(n.lines.filter((l) => l.includes('strict-admission row')).length).toBeGreaterThan(0)
    }
  })

  it('ready rejects with DP_ERR_NOT_READY when no peer answers, and the policy governs acquire', async () => {
    const lonely = await nodes.start('x', ['ws://127.0.0.1:9'], { readiness: { policy: 'reject', timeoutMs: 200 } })
    await expect(lonely.acquire('d1', 'total', null, 10)).rejects.toMatchObject({ code: 'DP_ERR_NOT_READY' })
    const err = await rejectionOf(lonely.ready)
    expect(err.code).toBe('DP_ERR_NOT_READY')
    expect(lonely.cluster().readyState).toBe('timed-out')

    const allow = await nodes.start('y', ['ws://127.0.0.1:9'], { readiness: { policy: 'allow', timeoutMs: 5000 } })
    expect((await allow.acquire('d1', 'total', null, 10)).admitted).toBe(true)

    const waiter = await nodes.start('z', ['ws://127.0.0.1:9'], { readiness: { policy: 'wait', timeoutMs: 5000, waitMs: 100 } })
    await expect(waiter.acquire('d1', 'total', null, 10)).rejects.toMatchObject({ code: 'DP_ERR_NOT_READY' })
  })

  it('under the wait policy, acquire proceeds once the initial sync completes', async () => {
    const a = await nodes.start('a', [])
    a.store.add('old', 'total')
    const b = await nodes.start('b', [a.url()!], { readiness: { policy: 'wait', timeoutMs: 5000, waitMs: 5000 } })
    const r = await b.acquire('new', 'total', null, 2)
    expect(r).toMatchObject({ admitted: true, size: 2 })
  })

  it('a late joiner reaches a large state (100k memberships) and only then is ready', async () => {
    // Long liveness timers: building and sending the state blocks the event loop (one process).
    const slow = { livenessTimeoutMs: 30_000, readiness: { policy: 'reject' as const, timeoutMs: 30_000 } }
    const a = await nodes.start('a', [], slow)
    const n = 100_000
    for (let i = 0; i < n; i++) a.store.add(`dialog-${i}@host.example`, 'caller', `user-${i % 100}`)
    const b = await nodes.start('b', [a.url()!], slow)
    await b.ready
    expect(b.store.size('caller')).toBe(n)
    expect(b.store.size('caller', 'user-7')).toBe(n / 100)
    expect(b.store.recount().ok).toBe(true)
  })

  it('emits peer-up, synced, ready, then peer-down and not-synced when the peer goes', async () => {
    const a = await nodes.start('a', [])
    const b = new ClusterNode({ nodeId: 'b', listen: { host: '127.0.0.1', port: 0 }, peers: [a.url()!], secret: 'cluster-test-secret', log: () => {}, reconnectInitialMs: 20 })
    const seen: string[] = []
    for (const t of ['peer-up', 'synced', 'ready', 'peer-down', 'not-synced'] as const) b.on(t, (e) => { seen.push('node' in e ? `${e.type}:${e.node}` : e.type) })
    try {
      await b.start()
      await b.ready
      await a.close()
      await waitFor(() => seen.includes('not-synced:a'), 'not-synced')
      expect(seen).toEqual(['peer-up:a', 'synced:a', 'ready', 'peer-down:a', 'not-synced:a'])
    } finally {
      await b.close()
    }
  })

  it('a node listing its own url, alone, is ready once it has recognised itself', async () => {
    // The usual "same peer list everywhere": the node's own url, here through a proxy so that
    // the url is known before the node listens.
    const proxy = new TcpProxy(0)
    const url = await proxy.listen()
    try {
      const solo = await nodes.start('solo', [url], { readiness: { policy: 'reject', timeoutMs: 30_000 } })
      proxy.targetPort = solo.address()!.port
      await solo.ready
      expect(solo.cluster().peers).toEqual([])
    } finally {
      await proxy.close()
    }
  })

  it('after the readiness timeout, admission proceeds by default (afterTimeout: allow), or not (reject)', async () => {
    const open = await nodes.start('o', ['ws://127.0.0.1:9'], { readiness: { policy: 'reject', timeoutMs: 150 } })
    const closed = await nodes.start('c', ['ws://127.0.0.1:9'], { readiness: { policy: 'reject', timeoutMs: 150, afterTimeout: 'reject' } })
    await expect(open.ready).rejects.toMatchObject({ code: 'DP_ERR_NOT_READY' })
    await expect(closed.ready).rejects.toMatchObject({ code: 'DP_ERR_NOT_READY' })
    expect((await open.acquire('d1', 'total', null, 5)).admitted).toBe(true)
    await expect(closed.acquire('d1', 'total', null, 5)).rejects.toMatchObject({ code: 'DP_ERR_NOT_READY' })
  })

  it('a state larger than maxMessageBytes reaches a late joiner one writer at a time', async () => {
    // Long liveness timers: the large syncs block the event loop (all nodes share this process).
    const limits = { maxMessageBytes: 64 * 1024, livenessTimeoutMs: 30_000 }
    const writers = []
    for (let w = 0; w < 3; w++) {
      const x = await nodes.start(`w${w}`, [], limits)
      for (let i = 0; i < 800; i++) x.store.add(`w${w}-call-${i}@example.com`, 'caller', `user-${i % 10}`)
      writers.push(x)
    }
    const hub = await nodes.start('hub', writers.map((x) => x.url()!), { ...limits, readiness: { policy: 'reject', timeoutMs: 20_000, peers: 'all' } })
    await hub.ready
    expect(hub.cluster().document.stateBytes).toBeGreaterThan(limits.maxMessageBytes)
    const joiner = await nodes.start('joiner', [hub.url()!], { ...limits, readiness: { policy: 'reject', timeoutMs: 20_000 } })
    await joiner.ready
    expect(joiner.store.size('caller')).toBe(2400)
    expect(joiner.lines.filter((l) => l.includes('exceeds'))).toEqual([])
  })

  it('writes made just before close still reach the peers', async () => {
    const a = await nodes.start('a', [])
    const b = await nodes.start('b', [a.url()!], { livenessTimeoutMs: 60_000 })
    await b.ready
    for (let i = 0; i < 50; i++) b.store.add(`last-${i}`, 'total')
    await b.close()
    await waitFor(() => a.store.size('total') === 50, 'a got the last writes')
  })
})


describe('ClusterNode lifecycle', () => {
  it('every method after close() answers DP_ERR_DESTROYED, start() included', async () => {
    const a = await nodes.start('a', [])
    await a.close()
    await a.close() // idempotent
    const calls: Array<[string, () => unknown]> = [
      ['start', () => a.start()],
      ['acquire', () => a.acquire('d', 'total', null, 1)],
      ['snapshot', () => { a.snapshot() }],
      ['cluster', () => a.cluster()],
      ['addPeer', () => { a.addPeer('ws://127.0.0.1:9') }],
      ['reconnect', () => { a.reconnect() }],
      ['traffic', () => a.traffic()],
      ['address', () => a.address()],
      ['url', () => a.url()],
      ['checkLiveness', () => { a.checkLiveness() }],
      ['on', () => a.on('ready', () => {})]
    ]
    for (const [name, fn] of calls) expect([name, await codeOf(fn)]).toEqual([name, 'DP_ERR_DESTROYED'])
  })

  it('a listen error is thrown once as DP_ERR_TRANSPORT and not also logged; the node is then closed', async () => {
    const a = await nodes.start('a', [])
    const { lines, log } = memoryLog()
    const b = new ClusterNode({ nodeId: 'b', secret: SECRET, log, listen: { host: '127.0.0.1', port: a.address()!.port } })
    const err = await rejectionOf(b.start())
    expect(err.code).toBe('DP_ERR_TRANSPORT')
    expect(err.message).toContain('EADDRINUSE')
    expect(lines.filter((l) => l.includes('EADDRINUSE'))).toEqual([])
    expect(await codeOf(() => b.start())).toBe('DP_ERR_DESTROYED')
  })

  it('addPeer refuses a url that is not ws(s)://host:port and changes nothing', async () => {
    const a = await nodes.start('a', [], { readiness: { policy: 'allow', timeoutMs: 60_000 } })
    for (const url of ['127.0.0.1:7400', 'not a url', 'http://127.0.0.1:7400', 'ws://127.0.0.1', 'ws://127.0.0.1:99999']) {
      expect([url, await codeOf(() => { a.addPeer(url) })]).toEqual([url, 'DP_ERR_INVALID_ARGUMENT'])
    }
    expect(a.cluster().peers).toEqual([])
  })
})

describe('misconfiguration is loud', () => {
  it('a node with the wrong secret logs the failed authentication, reports it, and does not admit alone after the readiness timeout', async () => {
    const good = await nodes.start('good', [])
    const goodEvents: ClusterEvent[] = []
    good.on('rejected', (e) => { goodEvents.push(e) })
    const bad = await nodes.start('bad', [good.url()!], { secret: 'not-the-cluster-secret', readiness: { policy: 'reject', timeoutMs: 300 } })
    const badEvents: ClusterEvent[] = []
    bad.on('rejected', (e) => { badEvents.push(e) })
    const err = await rejectionOf(bad.ready)
    expect(err.code).toBe('DP_ERR_NOT_READY')
    expect(err.message).toContain('authentication failed')
    expect(err.message).not.toContain('no configured peer reachable')
    expect((err.cause as DialogProfilesError).code).toBe('DP_ERR_AUTH')
    expect(bad.cluster().readyState).toBe('timed-out')
    // Past the timeout, afterTimeout 'allow' does not apply: a cluster answered, this node cannot join it.
    const refused = await rejectionOf(bad.acquire('call-1', 'total', null, 10))
    expect(refused.code).toBe('DP_ERR_NOT_READY')
    expect((refused.cause as DialogProfilesError).code).toBe('DP_ERR_AUTH')
    expect(bad.store.size('total')).toBe(0)
    const peer = bad.cluster().peers.find((p) => p.url === good.url())!
    expect(peer.lastError?.kind).toBe('auth-failed')
    expect(bad.lines.some((l) => l.startsWith('error: ') && l.includes('authentication failed'))).toBe(true)
    await waitFor(() => badEvents.length > 0 && goodEvents.length > 0, 'rejected on both ends')
    for (const e of [...badEvents, ...goodEvents]) expect(e).toMatchObject({ type: 'rejected', kind: 'auth-failed', error: { code: 'DP_ERR_AUTH' } })
    // The secret is in no log line of either node.
    expect([...bad.lines, ...good.lines].some((l) => l.includes(SECRET) || l.includes('not-the-cluster-secret'))).toBe(false)
    // The good node goes away: bad's peer is now refused, but it did answer once: still no admission alone.
    const goodUrl = good.url()!
    await good.close()
    await waitFor(() => bad.cluster().peers.find((p) => p.url === goodUrl)?.lastError?.kind === 'refused', 'peer refused')
    const still = await rejectionOf(bad.acquire('call-2', 'total', null, 10))
    expect(still.code).toBe('DP_ERR_NOT_READY')
    expect((still.cause as DialogProfilesError).code).toBe('DP_ERR_AUTH')
  })

  it('under readiness peers "all", a peer failing authentication keeps the node not ready, but a node synced with another peer still admits after the timeout', async () => {
    const good = await nodes.start('good', [])
    const stranger = await nodes.start('stranger', [], { secret: 'another-cluster-secret' })
    const c = await nodes.start('c', [good.url()!, stranger.url()!], { readiness: { policy: 'reject', timeoutMs: 400, peers: 'all' } })
    const err = await rejectionOf(c.ready)
    expect(err.message).toContain('authentication failed')
    expect(c.cluster().peers.find((p) => p.url === stranger.url())?.lastError?.kind).toBe('auth-failed')
    await waitFor(() => c.cluster().peers.some((p) => p.node === 'good' && p.synced), 'synced with good')
    expect((await c.acquire('call-1', 'total', null, 10)).admitted).toBe(true)
  })

  it('a peer that is not a dialog-profiles node is a protocol error (DP_ERR_PROTOCOL), and no reason to admit alone either', async () => {
    const http = createServer((_req, res) => { res.writeHead(200); res.end('hello') })
    await new Promise<void>((resolve) => { http.listen(0, '127.0.0.1', resolve) })
    try {
      const url = `ws://127.0.0.1:${(http.address() as AddressInfo).port}`
      const n = await nodes.start('n', [url], { readiness: { policy: 'reject', timeoutMs: 300 } })
      const err = await rejectionOf(n.ready)
      expect((err.cause as DialogProfilesError).code).toBe('DP_ERR_PROTOCOL')
      expect(n.cluster().peers[0]!.lastError?.kind).toBe('protocol')
      expect(await codeOf(() => n.acquire('c', 'total', null, 1))).toBe('DP_ERR_NOT_READY')
    } finally {
      http.closeAllConnections()
      await new Promise<void>((resolve) => { http.close(() => { resolve() }) })
    }
  })

  it('unreachable peers are logged at warn, at most once per interval per peer, with the count of failed attempts', async () => {
    let now = 1_000_000
    const n = await nodes.start('lonely', ['ws://127.0.0.1:9'], { clock: () => now, reconnectInitialMs: 10, reconnectMaxMs: 20, readiness: { policy: 'reject', timeoutMs: 60_000 } })
    const debug = (): number => n.lines.filter((l) => l.startsWith('debug: peer ws://127.0.0.1:9')).length
    const warns = (): string[] => n.lines.filter((l) => l.startsWith('warn: peer ws://127.0.0.1:9'))
    await waitFor(() => debug() >= 3, 'several failed attempts')
    expect(warns()).toHaveLength(1)
    expect(warns()[0]).toContain('unreachable')
    expect(n.cluster().peers[0]!.lastError).toMatchObject({ kind: 'refused', at: 1_000_000 })
    now += PEER_ERROR_LOG_INTERVAL_MS
    await waitFor(() => warns().length === 2, 'a second warning once the interval passed')
    expect(warns()[1]).toMatch(/\d+ failed attempts since the last report/)
  })
})

