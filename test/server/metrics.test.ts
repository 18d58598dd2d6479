/**
 * The daemon's metrics and `GET /v1/cluster` view over one node: a scrape and `node.cluster()`
 * never encode the document (they ran `Y.encodeStateAsUpdate` once per call, most of a second
 * at 100k memberships), and the per-request counters reach the exposition.
 */
import * as Y from 'yjs'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { ClusterNode } from '../../src/cluster-node.js'
import { DaemonMetrics } from '../../src/server/metrics.js'
import { ProfileStore } from '../../src/profile-store.js'

const closers: Array<() => Promise<void>> = []
afterEach(async () => {
  vi.restoreAllMocks()
  for (const c of closers.splice(0).reverse()) await c()
})

const node = async (): Promise<ClusterNode> => {
  const n = new ClusterNode({ nodeId: 'a', secret: 'metrics-test-secret', profiles: [{ name: 'total' }, { name: 'caller', withValue: true }] })
  await n.start()
  closers.push(async () => { await n.close() })
  for (let i = 0; i < 300; i++) {
    n.store.add(`call-${i}@example.com`, 'total')
    n.store.add(`call-${i}@example.com`, 'caller', `user${i % 12}`)
  }
  for (let i = 0; i < 300; i += 3) n.release(`call-${i}@example.com`)
  n.store.flushWrites()
  return n
}

/** Counts the structs written by any encoding of a document while `fn` runs. */
const structsEncodedDuring = async (fn: () => unknown): Promise<number> => {
  const items = vi.spyOn(Y.Item.prototype, 'write')
  const gcs = vi.spyOn(Y.GC.prototype, 'write')
  await fn()
  const n = items.mock.calls.length + gcs.mock.calls.length
  items.mockRestore()
  gcs.mockRestore()
  return n
}

describe('DaemonMetrics and ClusterNode.cluster()', () => {
  it('answer without encoding the document, with a document size close to the encoded one', async () => {
    const n = await node()
    const metrics = new DaemonMetrics(n)
    // the spy sees an encoding: this test can fail
    expect(await structsEncodedDuring(() => Y.encodeStateAsUpdate(n.store.doc))).toBeGreaterThan(0)
    let view: ReturnType<ClusterNode['cluster']> | undefined
    let text = ''
    expect(await structsEncodedDuring(async () => {
      view = n.cluster()
      text = (await metrics.render()).body
    })).toBe(0)
    const real = Y.encodeStateAsUpdate(n.store.doc).length
    expect(Math.abs(view!.document.stateBytes - real)).toBeLessThanOrEqual(real * 0.1)
    expect(view!.document.memberships).toBe(400)
    expect(text).toContain(`dialog_profiles_document_bytes ${view!.document.stateBytes}`)
    expect(text).toContain('dialog_profiles_peers_up 0')
  })

  it('reports the per-request counters, plain integers on the hot path, in the exposition', async () => {
    const metrics = new DaemonMetrics(await node())
    for (let i = 0; i < 3; i++) metrics.acquire('total', true, undefined)
    metrics.acquire('caller', false, 'limit')
    metrics.request('POST /v1/acquire', 200)
    metrics.request('POST /v1/acquire', 200)
    metrics.request('unmatched', 404)
    const text = (await metrics.render()).body
    expect(text).toContain('dialog_profiles_acquires_total{profile="total",result="admitted",reason="none"} 3')
    expect(text).toContain('dialog_profiles_acquires_total{profile="caller",result="refused",reason="limit"} 1')
    expect(text).toContain('dialog_profiles_http_requests_total{route="POST /v1/acquire",code="200"} 2')
    expect(text).toContain('dialog_profiles_http_requests_total{route="unmatched",code="404"} 1')
  })

  it('reports the releases remembered for calls whose records have not arrived', async () => {
    const n = await node()
    const metrics = new DaemonMetrics(n)
    expect((await metrics.render()).body).toContain('dialog_profiles_pending_releases 0')
    expect(n.release('never-seen@example.com')).toBe(0)
    const text = (await metrics.render()).body
    expect(text).toContain('dialog_profiles_pending_releases 1')
    expect(text).toContain('dialog_profiles_late_releases_total 0')
    expect(text).toContain('dialog_profiles_pending_releases_dropped_total 0')
  })

  it('reports what peers sent that waits for structs not here yet', async () => {
    const n = await node()
    const metrics = new DaemonMetrics(n)
    expect((await metrics.render()).body).toContain('dialog_profiles_unapplied_struct_bytes 0')
    // A writer's second update without its first: it waits.
    const w = new ProfileStore({ nodeId: 'w', profiles: [{ name: 'total' }], clientId: 4242, incarnation: 1 })
    const ups: Uint8Array[] = []
    w.onUpdate((u) => { ups.push(u) })
    w.add('c1', 'total'); w.flushWrites()
    w.remove('c1', 'total'); w.add('c2', 'total'); w.flushWrites()
    n.store.applyUpdate(ups[1]!)
    const text = (await metrics.render()).body
    expect(text).toMatch(/dialog_profiles_unapplied_struct_bytes [1-9]\d*/)
    expect(text).toContain('dialog_profiles_unapplied_delete_ranges 1')
    expect(text).toContain('dialog_profiles_unapplied_dropped_struct_bytes_total 0')
    expect(text).toContain('dialog_profiles_unapplied_dropped_delete_ranges_total 0')
    expect(text).toMatch(/dialog_profiles_document_clients [1-9]\d*/)
    n.store.applyUpdate(ups[0]!)
    const after = (await metrics.render()).body
    expect(after).toContain('dialog_profiles_unapplied_struct_bytes 0')
    expect(after).toContain('dialog_profiles_unapplied_delete_ranges 0')
    w.destroy()
  })
})
