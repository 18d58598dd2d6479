import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { nodeFactory, waitFor } from './support.js'

const nodes = nodeFactory()
afterEach(async () => { await nodes.closeAll() })

let dir = ''
let cert = ''
let key = ''
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'dp-tls-'))
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore', timeout: 20_000 })
  cert = readFileSync(join(dir, 'cert.pem'), 'utf8')
  key = readFileSync(join(dir, 'key.pem'), 'utf8')
})
afterAll(() => { rmSync(dir, { recursive: true, force: true }) })

describe('TLS and topologies', () => {
  it('nodes speak wss with a private CA', async () => {
    const tls = { cert, key, ca: cert }
    const a = await nodes.start('a', [], { tls })
    expect(a.url()!.startsWith('wss://')).toBe(true)
    const b = await nodes.start('b', [a.url()!], { tls })
    await b.ready
    a.store.add('over-tls', 'total')
    await waitFor(() => b.store.size('total') === 1, 'update over wss')
  })

  it('a dialler that does not trust the certificate never connects', async () => {
    const a = await nodes.start('a', [], { tls: { cert, key } })
    const b = await nodes.start('b', [a.url()!], { tls: { cert, key }, readiness: { policy: 'reject', timeoutMs: 300 } })
    await expect(b.ready).rejects.toMatchObject({ code: 'DP_ERR_NOT_READY', cause: { code: 'DP_ERR_AUTH' } })
    expect(b.cluster().peers.every((p) => !p.connected)).toBe(true)
    // It answered with a certificate b does not trust: reported as 'tls', and no reason to admit alone.
    expect(b.cluster().peers[0]!.lastError?.kind).toBe('tls')
    await expect(b.acquire('call-1', 'total', null, 5)).rejects.toMatchObject({ code: 'DP_ERR_NOT_READY' })
  })

  it('readiness "all" waits for every configured peer', async () => {
    const a = await nodes.start('a', [])
    const b = await nodes.start('b', [])
    const c = await nodes.start('c', [a.url()!, b.url()!, 'ws://127.0.0.1:9'], { readiness: { policy: 'reject', timeoutMs: 400, peers: 'all' } })
    await expect(c.ready).rejects.toMatchObject({ code: 'DP_ERR_NOT_READY' })
    const d = await nodes.start('d', [a.url()!, b.url()!], { readiness: { policy: 'reject', timeoutMs: 10_000, peers: 'all' } })
    await d.ready
    expect(d.cluster().peers.filter((p) => p.synced)).toHaveLength(2)
  })

  it('six nodes in a ring converge through restarts of every connection; each update crosses each link at most once per direction', async () => {
    const n = 5
    const ring = [await nodes.start('n0', [])]
    for (let i = 1; i < n; i++) ring.push(await nodes.start(`n${i}`, [ring[i - 1]!.url()!]))
    // Close the ring: n0 dials the last node.
    const closing = await nodes.start('n5', [ring[n - 1]!.url()!, ring[0]!.url()!])
    ring.push(closing)
    await Promise.all(ring.map((x) => x.ready))
    const writes = 40
    for (let i = 0; i < writes; i++) ring[i % ring.length]!.store.add(`d${i}`, 'caller', `v${i % 4}`)
    await waitFor(() => ring.every((x) => x.store.size('caller') === writes), 'ring converges')
    const links = ring.reduce((s, x) => s + x.cluster().peers.filter((p) => p.connected).length, 0) / 2
    const sent = ring.reduce((s, x) => s + x.traffic().updatesOut, 0)
    expect(links).toBe(ring.length)
    expect(sent).toBeLessThanOrEqual(writes * links * 2)
    // Drop every connection; writes made while reconnecting still reach everyone.
    for (const x of ring) x.reconnect()
    for (let i = 0; i < 10; i++) ring[(i * 2) % ring.length]!.store.removeDialog(`d${i}`)
    await waitFor(() => ring.every((x) => x.store.size('caller') === writes - 10), 'converges after reconnects')
  })
})
