import { createServer, request } from 'node:http'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import fc from 'fast-check'
import { afterEach, describe, expect, it } from 'vitest'
import { ClusterNode } from '../../src/cluster-node.js'
import { AdmissionTally, StatusFeed, topK } from '../../src/server/status-feed.js'
import type { StatusSnapshot } from '../../src/server/status-feed.js'
import { createStatusPage } from '../../src/server/status-page.js'
import { fcParams } from '../support/fc.js'

const closers: Array<() => Promise<void> | void> = []
afterEach(async () => { for (const c of closers.splice(0).reverse()) await c() })

const node = async (): Promise<ClusterNode> => {
  let now = 1_000_000
  const n = new ClusterNode({
    nodeId: 'a',
    secret: 'status-feed-secret',
    profiles: [{ name: 'total' }, { name: 'caller', withValue: true }],
    clock: () => now++
  })
  await n.start()
  closers.push(async () => { await n.close() })
  return n
}

const serve = async (feed: StatusFeed): Promise<string> => {
  const routes = createStatusPage(feed)
  const server: Server = createServer((req, res) => { if (!routes(req, res)) { res.writeHead(404); res.end() } })
  await new Promise<void>((resolve) => { server.listen(0, '127.0.0.1', resolve) })
  closers.push(async () => { feed.close(); await new Promise<void>((resolve) => { server.close(() => { resolve() }) }) })
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

/** Reads server-sent events from `url` until `count` snapshots arrived (bounded by a timeout). */
const readEvents = async (url: string, count: number): Promise<{ status: number; snapshots: StatusSnapshot[] }> =>
  await new Promise((resolve, reject) => {
    const snapshots: StatusSnapshot[] = []
    const timer = setTimeout(() => { req.destroy(); reject(new Error('no events')) }, 10_000)
    const req = request(url, (res) => {
      if (res.statusCode !== 200) { clearTimeout(timer); res.resume(); resolve({ status: res.statusCode ?? 0, snapshots }); return }
      let buf = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        buf += chunk
        let i
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const frame = buf.slice(0, i); buf = buf.slice(i + 2)
          const data = frame.split('\n').find((l) => l.startsWith('data: '))
          if (data !== undefined && frame.includes('event: snapshot')) snapshots.push(JSON.parse(data.slice(6)) as StatusSnapshot)
          if (snapshots.length >= count) { clearTimeout(timer); req.destroy(); resolve({ status: 200, snapshots }); return }
        }
      })
    })
    req.on('error', (err) => { if (snapshots.length < count) reject(err) })
    req.end()
  })

describe('StatusFeed', () => {
  it('shows sizes, the per-node breakdown, top values and admission rates, never the memberships', async () => {
    const n = await node()
    let admitted = 0; let refused = 0
    let now = 5_000_000
    const feed = new StatusFeed({ node: n, admissions: () => ({ admitted, refused }), topValues: 2, clock: () => (now += 1000) })
    for (let i = 0; i < 5; i++) n.store.add(`call-${i}`, 'total')
    n.store.add('c1', 'caller', 'alice'); n.store.add('c2', 'caller', 'alice'); n.store.add('c3', 'caller', 'bob'); n.store.add('c4', 'caller', 'carol'); n.store.add('c5', 'caller', 'carol'); n.store.add('c6', 'caller', 'carol')
    const first = feed.snapshot()
    admitted = 30; refused = 4
    const s = feed.snapshot()
    expect(first.admissions?.admittedPerSec).toBe(0)
    expect(s.nodes).toEqual([{ node: 'a', self: true, liveness: 'live', incarnation: n.store.incarnation, connected: true, synced: true, lastHeardMsAgo: 0 }])
    const total = s.profiles.find((p) => p.name === 'total')
    expect(total).toEqual({ name: 'total', withValue: false, size: 5, byNode: { a: 5 }, values: 0, top: [] })
    const caller = s.profiles.find((p) => p.name === 'caller')
    expect(caller).toEqual({ name: 'caller', withValue: true, size: 6, byNode: { a: 6 }, values: 3, top: [{ value: 'carol', size: 3 }, { value: 'alice', size: 2 }] })
    expect(s.admissions?.admitted).toBe(30)
    expect(s.admissions?.refused).toBe(4)
    expect(s.admissions?.admittedPerSec).toBeGreaterThan(0)
    expect(JSON.stringify(s)).not.toContain('call-1')
  })

  it('streams snapshots as server-sent events and serves the page', async () => {
    const n = await node()
    const feed = new StatusFeed({ node: n, intervalMs: 50 })
    const base = await serve(feed)
    const page = await fetch(`${base}/`)
    expect(page.status).toBe(200)
    expect(await page.text()).toContain('<script src="/status.js">')
    expect((await fetch(`${base}/status.js`)).headers.get('content-type')).toContain('javascript')
    const events = readEvents(`${base}/status/events`, 3)
    n.store.add('x', 'total')
    const { status, snapshots } = await events
    expect(status).toBe(200)
    expect(snapshots.at(-1)?.profiles.find((p) => p.name === 'total')?.size).toBe(1)
    expect(await (await fetch(`${base}/status.json`)).json()).toMatchObject({ nodeId: 'a' })
  })

  it('refuses event streams past maxSubscribers with 503', async () => {
    const n = await node()
    const feed = new StatusFeed({ node: n, intervalMs: 60_000, maxSubscribers: 1 })
    const base = await serve(feed)
    const hold = new AbortController()
    const first = await fetch(`${base}/status/events`, { signal: hold.signal })
    expect(first.status).toBe(200)
    const second = await readEvents(`${base}/status/events`, 1)
    expect(second.status).toBe(503)
    hold.abort()
  })

  it('stays an aggregate at 100k live calls and 10k values: the snapshot does not grow with them', async () => {
    const n = await node()
    const feed = new StatusFeed({ node: n })
    const small = JSON.stringify(feed.snapshot()).length
    for (let i = 0; i < 100_000; i++) {
      n.store.add(`call-${i}`, 'total')
      n.store.add(`call-${i}`, 'caller', `user-${i % 10_000}`)
    }
    n.store.add('extra', 'caller', 'user-42')
    const s = feed.snapshot()
    const caller = s.profiles.find((p) => p.name === 'caller')
    expect(s.profiles.find((p) => p.name === 'total')?.size).toBe(100_000)
    expect(caller?.values).toBe(10_000)
    expect(caller?.top).toHaveLength(10)
    expect(caller?.top[0]).toEqual({ value: 'user-42', size: 11 })
    // Ten top values and a few counters: about a kilobyte more than the empty cluster's snapshot.
    expect(JSON.stringify(s).length - small).toBeLessThan(1024)
  }, 60_000)

  it('refuses bad options with DP_ERR_INVALID_ARGUMENT', async () => {
    const n = await node()
    expect(() => new StatusFeed({ node: n, intervalMs: 0 })).toThrow(expect.objectContaining({ code: 'DP_ERR_INVALID_ARGUMENT' }))
    expect(() => new StatusFeed({ node: n, topValues: 1.5 })).toThrow(expect.objectContaining({ code: 'DP_ERR_INVALID_ARGUMENT' }))
  })
})

describe('AdmissionTally', () => {
  it('counts acquire answers: 200 admitted, 429 and 503 refused, bad input and other routes not at all', () => {
    const t = new AdmissionTally()
    for (const [route, status] of [['POST /v1/acquire', 200], ['POST /v1/acquire', 200], ['POST /v1/acquire', 429], ['POST /v1/acquire', 503],
      ['POST /v1/acquire', 400], ['POST /v1/acquire', 404], ['POST /v1/dialogs/:dialog/end', 204], ['GET /v1/profiles', 200]] as const) t.answered(route, status)
    expect({ admitted: t.admitted, refused: t.refused }).toEqual({ admitted: 2, refused: 2 })
  })
})

describe('topK', () => {
  it('equals sorting by size (desc) then value and taking k', () => {
    fc.assert(fc.property(
      fc.uniqueArray(fc.record({ value: fc.string({ maxLength: 4 }), size: fc.nat(20) }), { selector: (r) => r.value, maxLength: 60 }),
      fc.integer({ min: 1, max: 12 }),
      (items, k) => {
        const want = [...items].sort((a, b) => b.size - a.size || (a.value < b.value ? -1 : 1)).slice(0, k)
        expect(topK(items, k)).toEqual(want)
      }), fcParams(300))
  })
})
