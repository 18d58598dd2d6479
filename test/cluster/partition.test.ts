import { afterEach, describe, expect, it } from 'vitest'
import { nodeFactory, waitFor } from './support.js'
import { TcpProxy } from './tcp-proxy.js'

const nodes = nodeFactory()
const proxies: TcpProxy[] = []
afterEach(async () => {
  await nodes.closeAll()
  await Promise.all(proxies.splice(0).map((p) => p.close()))
})

const proxyTo = async (port: number): Promise<{ proxy: TcpProxy; url: string }> => {
  const proxy = new TcpProxy(port)
  proxies.push(proxy)
  return { proxy, url: await proxy.listen() }
}

describe('partitions through a controlled TCP proxy', () => {
  it('cut and heal: both sides keep writing, then converge; removals made while apart stay removed', async () => {
    const slow = { livenessTimeoutMs: 60_000, graceMs: 60_000 }
    const a = await nodes.start('a', [], slow)
    const { proxy, url } = await proxyTo(a.address()!.port)
    const b = await nodes.start('b', [url], slow)
    await b.ready
    a.store.add('a-1', 'total')
    b.store.add('b-1', 'total')
    b.store.add('b-2', 'total')
    await waitFor(() => a.store.size('total') === 3 && b.store.size('total') === 3, 'before the cut')

    proxy.cut()
    await waitFor(() => a.cluster().peers.every((p) => !p.connected) && !b.cluster().peers[0]!.connected, 'cut noticed')
    a.store.add('a-2', 'total')
    a.store.removeDialog('b-1')
    b.store.add('b-3', 'total')
    expect(a.store.size('total')).toBe(3)
    expect(b.store.size('total')).toBe(4)

    proxy.heal()
    // Equal sizes are not enough (b briefly holds b-1 and lacks a-2): wait for the exact set.
    const dialogs = (n: typeof a): string => n.store.members('total').map((m) => m.dialog).sort().join(',')
    await waitFor(() => dialogs(a) === 'a-1,a-2,b-2,b-3' && dialogs(b) === 'a-1,a-2,b-2,b-3', 'after the heal')
    expect(a.store.size('total')).toBe(4)
    expect(b.store.size('total')).toBe(4)
  })

  it('a silent partition: the far side is declared dead and purged, and re-asserts its live memberships on heal', async () => {
    const a = await nodes.start('a', [])
    const { proxy, url } = await proxyTo(a.address()!.port)
    const b = await nodes.start('b', [url])
    await b.ready
    b.store.add('b-1', 'total')
    b.store.add('b-2', 'total')
    await waitFor(() => a.store.size('total') === 2, 'a counts b')
    let purged = false
    a.on('owner-purged', (e) => { if (e.node === 'b') purged = true })
    proxy.blackhole()
    await waitFor(() => purged, 'a purges b')
    expect(a.store.size('total')).toBe(0)
    proxy.cut()
    proxy.heal()
    // b reconnects (idle timeout or the cut), a hears it again, and b re-adds what a purged.
    try {
      await waitFor(() => a.store.size('total') === 2 && b.store.size('total') === 2, 'b re-asserted after the heal', 30_000)
    } catch (err) {
      console.log('DIAG', JSON.stringify({ a: a.cluster(), b: b.cluster(), aOwners: a.store.owners(), bOwners: b.store.owners(), aLines: a.lines.slice(-20), bLines: b.lines.slice(-20) }))
      throw err
    }
  })

  it('a delayed link still converges, and in order', async () => {
    const a = await nodes.start('a', [])
    const { proxy, url } = await proxyTo(a.address()!.port)
    proxy.delayMs = 40
    const b = await nodes.start('b', [url])
    await b.ready
    for (let i = 0; i < 30; i++) a.store.add(`a-${i}`, 'total')
    for (let i = 0; i < 10; i++) a.store.removeDialog(`a-${i}`)
    for (let i = 0; i < 5; i++) b.store.add(`b-${i}`, 'total')
    await waitFor(() => a.store.size('total') === 25 && b.store.size('total') === 25, 'converged through the delay')
    expect(b.store.has('a-3', 'total')).toBe(false)
  })
})
