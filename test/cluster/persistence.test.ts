import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPairSync } from 'node:crypto'
import * as Y from 'yjs'
import { afterAll, describe, expect, it } from 'vitest'
import { ClusterNode } from '../../src/index.js'
import type { ClusterEvent, ClusterNodeOptions } from '../../src/index.js'
import { FilePersistence } from '../../src/persistence/file-persistence.js'
import { faultyFileSystem } from '../support/faulty-fs.js'
import { readiness } from '../../src/server/routes.js'
import { encodeRecord, scanLog } from '../../src/persistence/update-log.js'
import { FAST, PROFILES, SECRET, memoryLog, nodeFactory, waitFor } from './support.js'

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
    // A crash in the middle of a record: the first 20 bytes of a 112-byte record.
    appendFileSync(join(dir, 'updates.log'), encodeRecord(new Uint8Array(100)).subarray(0, 20))
    const second = open(dir)
    expect(second.report.tornBytes).toBe(20)
    expect(second.report.corruptRecords).toBe(0)
    expect(second.report.logRecords).toBe(31)
    expect(second.report.snapshotBytes).toBeGreaterThan(0)
    expect(Y.encodeStateVector(second.doc)).toEqual(Y.encodeStateVectorFromUpdate(expected))
    expect(second.doc.getMap('m').has('k3')).toBe(false)
    expect(second.doc.getMap('m').size).toBe(79)
    second.p.close()
    expect(statSync(join(dir, 'updates.log')).size).toBe(readFileSync(join(dir, 'updates.log')).length)
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

  it('a ClusterNode whose disk fills up: error event, degraded, recovered, and every acknowledged membership after a restart', async () => {
    const dir = tempDir()
    const { fs: fileSystem, faulty: full } = faultyFileSystem('ENOSPC')
    const nodes = nodeFactory()
    try {
      const a = await nodes.start('a', [], { dataDir: dir, incarnation: 1, fileSystem, persistenceRetryMs: 20 })
      const events: ClusterEvent[] = []
      a.on('persistence-error', (e) => { events.push(e) })
      a.on('persistence-recovered', (e) => { events.push(e) })
      const expiresAt = Date.now() + 3_600_000
      let acknowledged = 0
      for (let b = 0; b < 28; b++) {
        full.on = b >= 10 && b < 16
        for (let i = 0; i < 100; i++) if (a.store.addRemote(`r-${b}-${i}`, 'total', null, expiresAt)) acknowledged++
        a.store.flushWrites()
        await new Promise((resolve) => { setTimeout(resolve, 5) })
        if (b === 12) {
          expect(a.cluster()).toMatchObject({ ready: true, readyState: 'degraded', persistence: { state: 'failing', lastError: expect.stringContaining('ENOSPC') } })
          expect(readiness(a)).toEqual({ ready: false, state: 'degraded' }) // the daemon's GET /readyz
        }
      }
      full.on = false
      await waitFor(() => a.cluster().persistence?.state === 'ok', 'writes recovered')
      expect(a.cluster().readyState).toBe('ready')
      expect(readiness(a)).toEqual({ ready: true, state: 'ready' })
      expect(events.map((e) => e.type)).toEqual(['persistence-error', 'persistence-recovered'])
      expect(events[0]).toMatchObject({ reason: 'write', error: { code: 'DP_ERR_PERSISTENCE' } })
      await nodes.closeAll()
      const a2 = await nodes.start('a', [], { dataDir: dir, incarnation: 2 })
      expect(acknowledged).toBe(2800)
      expect(a2.store.size('total')).toBe(acknowledged)
    } finally {
      await nodes.closeAll()
    }
  })

  it('a ClusterNode reports damaged log records as an error event with the count, and loads the rest', async () => {
    const dir = tempDir()
    const nodes = nodeFactory()
    try {
      const a = await nodes.start('a', [], { dataDir: dir, incarnation: 1 })
      for (let i = 0; i < 50; i++) {
        a.store.addRemote(`r-${i}`, 'total', null, Date.now() + 3_600_000)
        a.store.flushWrites()
        await new Promise((resolve) => { setImmediate(resolve) })
      }
      await nodes.closeAll()
      const logFile = join(dir, 'updates.log')
      const log = readFileSync(logFile)
      // Inside the last record (its update): a damaged record, not a torn write. An earlier record
      // would hold back this writer's later ones until a peer supplies it (Yjs applies a writer's updates in order).
      log[log.length - Math.ceil(scanLog(log, 1 << 20).records.at(-1)!.length / 2)]! ^= 0xff
      writeFileSync(logFile, log)
      const { log: sink } = memoryLog()
      const a2 = new ClusterNode({ nodeId: 'a', profiles: [...PROFILES], secret: SECRET, ...FAST, dataDir: dir, incarnation: 2, log: sink })
      const events: ClusterEvent[] = []
      a2.on('persistence-error', (e) => { events.push(e) })
      await a2.start()
      try {
        expect(events).toEqual([expect.objectContaining({ type: 'persistence-error', reason: 'corrupt', records: 1 })])
        expect(a2.cluster().persistence?.loaded).toMatchObject({ corruptRecords: 1, quarantine: `${logFile}.corrupt-1` })
        expect(a2.store.size('total')).toBe(49)
      } finally {
        await a2.close()
      }
    } finally {
      await nodes.closeAll()
    }
  })

  it('a node resumed behind a relay with per-node keys stays live on the far node (its signed heartbeat numbers keep growing)', async () => {
    const pair = (): { privateKey: string; publicKey: string } => {
      const k = generateKeyPairSync('ed25519')
      return { privateKey: k.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, publicKey: k.publicKey.export({ type: 'spki', format: 'pem' }) as string }
    }
    const keys = { a: pair(), b: pair(), c: pair() }
    const trustedNodes = { a: keys.a.publicKey, b: keys.b.publicKey, c: keys.c.publicKey }
    const opts = (id: 'a' | 'b' | 'c'): Partial<ClusterNodeOptions> =>
      ({ identity: { privateKey: keys[id].privateKey }, trustedNodes, heartbeatIntervalMs: 20, livenessTimeoutMs: 600, graceMs: 400 })
    const dir = tempDir()
    const nodes = nodeFactory()
    try {
      const a = await nodes.start('a', [], opts('a'))
      const b = await nodes.start('b', [a.url()!], opts('b'))
      const c = await nodes.start('c', [b.url()!], { ...opts('c'), dataDir: dir, resume: true })
      await c.ready
      c.store.add('c-call', 'total')
      await waitFor(() => a.store.size('total') === 1, 'a counts c through b')
      await new Promise((resolve) => { setTimeout(resolve, 2000) }) // about 100 heartbeats of c
      let dead = 0
      a.on('owner-dead', (e) => { if (e.node === 'c') dead++ })
      const incarnation = c.store.incarnation
      await c.close()
      const c2 = await nodes.start('c', [b.url()!], { ...opts('c'), dataDir: dir, resume: true })
      await c2.ready
      expect(c2.store.incarnation).toBe(incarnation)
      // a hears c2 only through b: the relayed heartbeats must be newer than c's last ones.
      await new Promise((resolve) => { setTimeout(resolve, 2500) })
      expect(dead).toBe(0)
      expect(a.store.size('total')).toBe(1)
    } finally {
      await nodes.closeAll()
    }
  })
})
