import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as fc from 'fast-check'
import { fcParams } from '../support/fc.js'
import * as Y from 'yjs'
import { afterAll, describe, expect, it } from 'vitest'
import { FilePersistence } from '../../src/persistence/file-persistence.js'
import { encodeRecord, scanLog } from '../../src/persistence/update-log.js'
import { nodeFactory, waitFor } from './support.js'

const dirs: string[] = []
const tempDir = (): string => { const d = mkdtempSync(join(tmpdir(), 'dp-persist-')); dirs.push(d); return d }
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }) })

const open = (dir: string): { doc: Y.Doc; p: FilePersistence; report: ReturnType<FilePersistence['open']> } => {
  const doc = new Y.Doc()
  const p = new FilePersistence({ dir, fsyncIntervalMs: 20, snapshotIntervalMs: 60_000 })
  const report = p.open(doc, (u, origin) => { Y.applyUpdate(doc, u, origin) })
  return { doc, p, report }
}

const settle = (): Promise<void> => new Promise((resolve) => { setImmediate(resolve) })

describe('persistence: append log + snapshots', () => {
  it('reloads snapshot then log, and drops a torn tail', async () => {
    const dir = tempDir()
    const first = open(dir)
    const m = first.doc.getMap('m')
    for (let i = 0; i < 50; i++) m.set(`k${i}`, i)
    await settle()
    first.p.snapshot()
    for (let i = 50; i < 80; i++) m.set(`k${i}`, i)
    m.delete('k3')
    await settle()
    const expected = Y.encodeStateAsUpdate(first.doc)
    first.p.close()
    // A crash in the middle of a record: a header announcing more bytes than follow.
    appendFileSync(join(dir, 'updates.log'), Buffer.from([200, 0, 0, 0, 1, 2, 3, 4, 9, 9]))
    const second = open(dir)
    expect(second.report.tornBytes).toBe(10)
    expect(second.report.logRecords).toBe(31)
    expect(second.report.snapshotBytes).toBeGreaterThan(0)
    expect(Y.encodeStateVector(second.doc)).toEqual(Y.encodeStateVectorFromUpdate(expected))
    expect(second.doc.getMap('m').has('k3')).toBe(false)
    expect(second.doc.getMap('m').size).toBe(79)
    second.p.close()
    expect(statSync(join(dir, 'updates.log')).size).toBe(readFileSync(join(dir, 'updates.log')).length)
  })

  it('refuses a data directory held by a live process and takes over a stale lock', () => {
    const dir = tempDir()
    writeFileSync(join(dir, 'LOCK'), String(process.ppid))
    expect(() => open(dir)).toThrow(expect.objectContaining({ code: 'DP_ERR_PERSISTENCE' }))
    writeFileSync(join(dir, 'LOCK'), '999999999')
    const { p } = open(dir)
    p.close()
  })

  it('a log cut at any byte keeps exactly the whole records before the cut (property)', () => {
    fc.assert(fc.property(
      fc.array(fc.uint8Array({ minLength: 0, maxLength: 40 }), { minLength: 1, maxLength: 12 }),
      fc.nat(),
      (records, cutAt) => {
        const full = Buffer.concat(records.map((r) => encodeRecord(r)))
        const cut = cutAt % (full.length + 1)
        const scan = scanLog(full.subarray(0, cut), 1024)
        let whole = 0
        let pos = 0
        for (const r of records) { if (pos + 8 + r.length <= cut) { whole++; pos += 8 + r.length } else break }
        expect(scan.records.length).toBe(whole)
        expect(scan.validBytes).toBe(pos)
        scan.records.forEach((r, i) => { expect(Buffer.from(r).equals(Buffer.from(records[i]!))).toBe(true) })
      }
    ), fcParams(200))
  })

  it('a ClusterNode with dataDir reloads its document on restart, remote memberships still counting', async () => {
    const dir = tempDir()
    const nodes = nodeFactory()
    try {
      const a = await nodes.start('a', [], { dataDir: dir, incarnation: 1 })
      a.store.addRemote('r-1', 'total', null, Date.now() + 3_600_000)
      a.store.add('d-1', 'total')
      const bytes = a.cluster().document.stateBytes
      await nodes.closeAll()
      const a2 = await nodes.start('a', [], { dataDir: dir, incarnation: 2 })
      await waitFor(() => a2.cluster().document.stateBytes >= bytes, 'state reloaded')
      expect(a2.store.owners().some((o) => o.node === 'a' && o.incarnation === 1)).toBe(true)
      // The remote membership survives the restart; the old incarnation's dialog does not count.
      expect(a2.store.size('total')).toBe(1)
      expect(a2.store.members('total').map((m) => m.dialog)).toEqual(['r-1'])
    } finally {
      await nodes.closeAll()
    }
  })

  it('a whole cluster restarted from its data directories keeps its remote memberships', async () => {
    const nodes = nodeFactory()
    const d = [tempDir(), tempDir(), tempDir()]
    try {
      const a = await nodes.start('a', [], { dataDir: d[0]!, incarnation: 1 })
      const b = await nodes.start('b', [a.url()!], { dataDir: d[1]!, incarnation: 1 })
      const c = await nodes.start('c', [a.url()!, b.url()!], { dataDir: d[2]!, incarnation: 1 })
      await Promise.all([b.ready, c.ready])
      const expiresAt = Date.now() + 3_600_000
      a.store.addRemote('trunk-call-1', 'caller', 'trunk-1', expiresAt)
      b.store.addRemote('trunk-call-2', 'caller', 'trunk-1', expiresAt)
      c.store.add('local-call', 'caller', 'trunk-1')
      await waitFor(() => [a, b, c].every((n) => n.store.size('caller', 'trunk-1') === 3), 'all count 3')
      await nodes.closeAll()
      // Every node restarts; a comes back alone first, then the others.
      const a2 = await nodes.start('a', [], { dataDir: d[0]!, incarnation: 2 })
      // Alone, a2 first counts c's old dialog too (c could still be up), until liveness times c out.
      await waitFor(() => a2.store.size('caller', 'trunk-1') === 2, 'a2 alone drops the silent owner c')
      const b2 = await nodes.start('b', [a2.url()!], { dataDir: d[1]!, incarnation: 2 })
      const c2 = await nodes.start('c', [a2.url()!], { dataDir: d[2]!, incarnation: 2 })
      await Promise.all([b2.ready, c2.ready])
      await waitFor(() => [a2, b2, c2].every((n) => n.store.size('caller', 'trunk-1') === 2), 'remote memberships survive')
    } finally {
      await nodes.closeAll()
    }
  })
})
