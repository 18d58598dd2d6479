import { afterEach, describe, expect, it } from 'vitest'
import type { ClusterEvent } from '../../src/index.js'
import { encodeHeartbeat } from '../../src/transport/wire.js'
import { rawClient } from './raw-client.js'
import { SECRET, nodeFactory, sleep, waitFor } from './support.js'

const nodes = nodeFactory()
afterEach(async () => { await nodes.closeAll() })

describe('liveness over loopback (short timeouts)', () => {
  it('a silent node stops counting after timeout + grace, is purged later, and a new incarnation voids the old one', async () => {
    const a = await nodes.start('a', [])
    const b = await nodes.start('b', [a.url()!])
    const c = await nodes.start('c', [a.url()!, b.url()!], { incarnation: 1000 })
    await Promise.all([b.ready, c.ready])
    for (let i = 0; i < 5; i++) c.store.add(`c-${i}`, 'total')
    a.store.add('a-1', 'total')
    await waitFor(() => a.store.size('total') === 6 && b.store.size('total') === 6, 'sizes 6')
    const events: ClusterEvent['type'][] = []
    a.on('owner-dead', (e) => { if (e.node === 'c') events.push(e.type) })
    a.on('owner-purged', (e) => { if (e.node === 'c') events.push(e.type) })
    await c.close()
    await waitFor(() => a.store.size('total') === 1 && b.store.size('total') === 1, 'c no longer counted')
    await waitFor(() => events.includes('owner-purged'), 'c purged')
    await waitFor(() => a.store.owners().filter((o) => o.node === 'c').every((o) => o.memberships === 0), 'c records deleted')
    expect(events[0]).toBe('owner-dead')
    expect(a.cluster().peers.find((p) => p.node === 'c')?.liveness).toBe('purged')

    // c comes back with a newer incarnation: it is live again and counts its new memberships.
    const c2 = await nodes.start('c', [a.url()!], { incarnation: 2000 })
    await c2.ready
    c2.store.add('c2-1', 'total')
    await waitFor(() => a.store.size('total') === 2 && b.store.size('total') === 2, 'new incarnation counted on a and b (b via relay)')
    await waitFor(() => b.cluster().peers.find((p) => p.node === 'c')?.liveness === 'live', 'b sees c live again through a')
    expect(b.cluster().peers.find((p) => p.node === 'c')?.incarnation).toBe(2000)
  })

  it('a restarted node voids its previous incarnation on every peer at once', async () => {
    const a = await nodes.start('a', [], { purgeDelayMs: 60_000, livenessTimeoutMs: 60_000 })
    const c = await nodes.start('c', [a.url()!], { incarnation: 1, livenessTimeoutMs: 60_000 })
    await c.ready
    c.store.add('old-1', 'total')
    c.store.add('old-2', 'total')
    await waitFor(() => a.store.size('total') === 2, 'a counts c')
    // c restarts (without a clean close being noticed as death: timeouts are long).
    await c.close()
    const c2 = await nodes.start('c', [a.url()!], { incarnation: 2, livenessTimeoutMs: 60_000 })
    await c2.ready
    await waitFor(() => a.store.size('total') === 0, 'old incarnation void on a')
    expect(c2.store.size('total')).toBe(0)
  })

  it('with an injected clock: dead exactly past timeout + grace, purged past the purge delay', async () => {
    let now = 1_000_000
    const clock = (): number => now
    const timers = { clock, livenessTimeoutMs: 10_000, graceMs: 5_000, purgeDelayMs: 30_000, heartbeatIntervalMs: 50 }
    const a = await nodes.start('a', [], timers)
    const b = await nodes.start('b', [a.url()!], timers)
    await b.ready
    b.store.add('b-1', 'total')
    await waitFor(() => a.store.size('total') === 1, 'a counts b')
    await b.close()
    now += 10_001
    a.checkLiveness()
    expect(a.cluster().peers.find((p) => p.node === 'b')?.liveness).toBe('suspect')
    expect(a.store.size('total')).toBe(1)
    now += 5_000
    a.checkLiveness()
    expect(a.cluster().peers.find((p) => p.node === 'b')?.liveness).toBe('dead')
    expect(a.store.size('total')).toBe(0)
    expect(a.store.owners().find((o) => o.node === 'b')?.memberships).toBe(1)
    now += 29_999
    a.checkLiveness()
    expect(a.store.owners().find((o) => o.node === 'b')?.memberships).toBe(1)
    now += 1
    a.checkLiveness()
    expect(a.store.owners().find((o) => o.node === 'b')?.memberships).toBe(0)
    expect(a.cluster().peers.find((p) => p.node === 'b')?.liveness).toBe('purged')
  })

  it('a profile with onOwnerDead "keep" counts a dead owner\'s memberships until their expiry', async () => {
    let now = 5_000_000
    const clock = (): number => now
    const profiles = [{ name: 'total' }, { name: 'kept', onOwnerDead: 'keep' as const }]
    const timers = { clock, profiles, livenessTimeoutMs: 10_000, graceMs: 5_000, purgeDelayMs: 600_000, heartbeatIntervalMs: 50 }
    const a = await nodes.start('a', [], timers)
    const b = await nodes.start('b', [a.url()!], timers)
    await b.ready
    b.store.add('call-1', 'kept', null, { ttlMs: 60_000 })
    b.store.add('call-1', 'total', null, { ttlMs: 60_000 })
    await waitFor(() => a.store.size('kept') === 1 && a.store.size('total') === 1, 'a counts b')
    await b.close()
    now += 15_001
    a.checkLiveness()
    expect(a.cluster().peers.find((p) => p.node === 'b')?.liveness).toBe('dead')
    expect(a.store.size('total')).toBe(0)
    expect(a.store.size('kept')).toBe(1)
    now += 60_000
    expect(a.store.size('kept')).toBe(0)
  })

  it('in a chain a-b-c, relayed heartbeats keep a and c alive to each other; losing b separates them', async () => {
    const t = { livenessTimeoutMs: 600, graceMs: 400 }
    const a = await nodes.start('a', [], t)
    const b = await nodes.start('b', [a.url()!], t)
    const c = await nodes.start('c', [b.url()!], t)
    await c.ready
    a.store.add('a-call', 'total')
    c.store.add('c-call', 'total')
    await waitFor(() => a.store.size('total') === 2 && c.store.size('total') === 2, 'chain converged')
    const deaths: string[] = []
    for (const n of [a, b, c]) n.on('owner-dead', (e) => { deaths.push(`${n.store.nodeId}:${e.node}`) })
    // Several liveness timeouts pass: a and c never talk directly, yet stay live to each other.
    await new Promise((resolve) => { setTimeout(resolve, 2000) })
    expect(deaths).toEqual([])
    expect(c.cluster().peers.find((p) => p.node === 'a')?.liveness).toBe('live')
    expect(a.cluster().peers.find((p) => p.node === 'c')?.liveness).toBe('live')
    await b.close()
    await waitFor(() => deaths.includes('a:c') && deaths.includes('c:a'), 'a and c lose each other with b')
    await waitFor(() => a.store.size('total') === 1 && c.store.size('total') === 1, 'each counts only itself')
  })

  it('in a partial mesh, a relayed heartbeat cannot announce a new incarnation of a node this one does not reach directly', async () => {
    const t = { livenessTimeoutMs: 60_000 }
    const a = await nodes.start('a', [], t)
    const b = await nodes.start('b', [a.url()!], t)
    const c = await nodes.start('c', [b.url()!], t)
    await c.ready
    c.store.add('c-call', 'total')
    await waitFor(() => a.store.size('total') === 1 && a.cluster().peers.find((p) => p.node === 'c')?.incarnation === c.store.incarnation, 'a counts c through b')
    const liar = await rawClient(a.url()!, SECRET, 'liar')
    // Newer incarnations, and the current one with a huge sequence number (to mute c's real ones).
    const claims = [c.store.incarnation + 1, c.store.incarnation + 30_000, Number.MAX_SAFE_INTEGER, c.store.incarnation]
    liar.send(Buffer.concat(claims.map((incarnation, i) => encodeHeartbeat({ nodeId: 'c', incarnation, clientId: c.store.clientId, seq: 10 ** 9 + i }))))
    // One more write of c crossing b to a proves a has read the liar's frame (sent earlier, another socket: give it a moment too).
    await sleep(100)
    c.store.add('c-call-2', 'total')
    await waitFor(() => a.store.has('c-call-2', 'total'), 'a still hears c')
    expect(a.store.size('total')).toBe(2)
    expect(a.cluster().peers.find((p) => p.node === 'c')?.incarnation).toBe(c.store.incarnation)
    // c's real (lower-numbered) heartbeats still keep it live on a: the forged sequence number muted nothing.
    const heardBefore = a.cluster().peers.find((p) => p.node === 'c')?.lastHeardAt ?? 0
    await waitFor(() => (a.cluster().peers.find((p) => p.node === 'c')?.lastHeardAt ?? 0) > heardBefore, 'c heard again on a')
    liar.ws.terminate()
  })
})
