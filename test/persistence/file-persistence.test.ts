import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import * as fc from 'fast-check'
import * as Y from 'yjs'
import { afterEach, describe, expect, it } from 'vitest'
import { crc32 } from '../../src/persistence/crc32.js'
import { FilePersistence } from '../../src/persistence/file-persistence.js'
import type { PersistenceEvent } from '../../src/persistence/file-persistence.js'
import type { FileSystem } from '../../src/persistence/file-system.js'
import { faultyFileSystem } from '../support/faulty-fs.js'
import { ProfileStore } from '../../src/profile-store.js'
import { encodeRecord } from '../../src/persistence/update-log.js'
import { fcParams } from '../support/fc.js'

const dirs: string[] = []
afterEach(() => { for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true }) })
const tmp = (): string => { const d = fs.mkdtempSync(path.join(os.tmpdir(), 'dp-fp-')); dirs.push(d); return d }
const turn = (ms = 0): Promise<void> => new Promise((resolve) => { setTimeout(resolve, ms) })
const immediate = (): Promise<void> => new Promise((resolve) => { setImmediate(resolve) })

const openStore = (dir: string, incarnation: number, extra: { fileSystem?: FileSystem } = {}): { store: ProfileStore; p: FilePersistence; events: PersistenceEvent[] } => {
  const store = new ProfileStore({ nodeId: 'a', incarnation, profiles: [{ name: 'total' }] })
  const events: PersistenceEvent[] = []
  const p = new FilePersistence({ dir, snapshotIntervalMs: 600_000, retryIntervalMs: 20, ...extra }, (e) => { events.push(e) })
  p.open(store.doc, (u, origin) => { store.applyUpdate(u, origin) })
  return { store, p, events }
}
const ownedBy = (store: ProfileStore, incarnation: number): number =>
  store.owners().filter((o) => o.node === 'a' && o.incarnation === incarnation).reduce((n, o) => n + o.memberships, 0)

describe('FilePersistence: damage is never silent and never destroys intact data', () => {
  it('a flipped byte in the middle: one record lost and reported, the later ones loaded, the damaged log kept aside', async () => {
    const dir = tmp()
    const doc = new Y.Doc()
    const first = new FilePersistence({ dir, snapshotIntervalMs: 600_000 })
    first.open(doc, (u, o) => { Y.applyUpdate(doc, u, o) })
    // 500 records from 10 writers, as a node logs its peers' updates.
    const writers = Array.from({ length: 10 }, (_, i) => { const d = new Y.Doc(); d.clientID = 100 + i; return d })
    for (let i = 0; i < 500; i++) {
      const w = writers[i % 10]!
      const sv = Y.encodeStateVector(w)
      w.getMap('m').set(`k${i}`, i)
      Y.applyUpdate(doc, Y.encodeStateAsUpdate(w, sv), 'remote')
      await turn()
    }
    first.close()
    const logFile = path.join(dir, 'updates.log')
    const damaged = fs.readFileSync(logFile)
    damaged[Math.floor(damaged.length / 2)]! ^= 0x5a
    fs.writeFileSync(logFile, damaged)

    const doc2 = new Y.Doc()
    const events: PersistenceEvent[] = []
    const second = new FilePersistence({ dir, snapshotIntervalMs: 600_000 }, (e) => { events.push(e) })
    const report = second.open(doc2, (u, o) => { Y.applyUpdate(doc2, u, o) })
    expect(report).toMatchObject({ logRecords: 499, corruptRecords: 1, tornBytes: 0 })
    expect(events).toEqual([expect.objectContaining({ type: 'persistence-error', reason: 'corrupt', records: 1, quarantine: `${logFile}.corrupt-1` })])
    // Nothing intact was destroyed: the damaged log is kept byte for byte.
    expect(fs.readFileSync(`${logFile}.corrupt-1`).equals(damaged)).toBe(true)
    // Records of the other writers after the damage are there; the damaged writer's later ones wait for
    // the lost update (Yjs applies one writer's updates in order): a peer's state completes them.
    const visible = (): number => [...doc2.getMap('m').keys()].length
    expect(visible()).toBeGreaterThanOrEqual(499 - 50)
    for (const w of writers) Y.applyUpdate(doc2, Y.encodeStateAsUpdate(w), 'remote')
    expect(visible()).toBe(500)
    second.close()
    // The load was folded into a snapshot: the next start finds no damage.
    const doc3 = new Y.Doc()
    const events3: PersistenceEvent[] = []
    const third = new FilePersistence({ dir }, (e) => { events3.push(e) })
    expect(third.open(doc3, (u, o) => { Y.applyUpdate(doc3, u, o) })).toMatchObject({ corruptRecords: 0, badRecords: 0 })
    expect(events3).toEqual([])
    expect([...doc3.getMap('m').keys()].length).toBe(500)
    third.close()
  })
})

describe('FilePersistence: random damage to the log (property)', () => {
  it('loads every intact record of a writer up to its first damaged one, keeps the damaged bytes, and reports', () => {
    fc.assert(fc.property(
      fc.array(fc.tuple(fc.nat(2), fc.string({ maxLength: 12 })), { minLength: 1, maxLength: 30 }),
      fc.array(fc.record({ at: fc.nat(), xor: fc.integer({ min: 1, max: 255 }) }), { maxLength: 4 }),
      fc.option(fc.nat(), { nil: undefined }),
      (writes, flips, cutAt) => {
        const writers = [1, 2, 3].map((id) => { const d = new Y.Doc(); d.clientID = id; return d })
        const records: Array<{ writer: number; key: string; value: string; span: [number, number] }> = []
        const chunks: Buffer[] = []
        let pos = 0
        writes.forEach(([w, value], i) => {
          const doc = writers[w]!
          const sv = Y.encodeStateVector(doc)
          doc.getMap('m').set(`k${i}`, value)
          const rec = encodeRecord(Y.encodeStateAsUpdate(doc, sv))
          records.push({ writer: w, key: `k${i}`, value, span: [pos, pos + rec.length] })
          chunks.push(rec)
          pos += rec.length
        })
        const log = Buffer.concat(chunks)
        const touched = new Set<number>()
        const touch = (at: number): void => { records.forEach((r, i) => { if (at >= r.span[0] && at < r.span[1]) touched.add(i) }) }
        for (const f of flips) { const at = f.at % log.length; log[at]! ^= f.xor; touch(at) }
        const end = cutAt === undefined ? log.length : cutAt % (log.length + 1)
        records.forEach((r, i) => { if (r.span[1] > end) touched.add(i) })
        const damaged = log.subarray(0, end)
        const dir = tmp()
        fs.writeFileSync(path.join(dir, 'updates.log'), damaged)
        const doc = new Y.Doc()
        const events: PersistenceEvent[] = []
        const p = new FilePersistence({ dir }, (e) => { events.push(e) })
        const report = p.open(doc, (u, o) => { Y.applyUpdate(doc, u, o) })
        p.close()
        // Each writer's records before its first damaged one apply (Yjs applies a writer's updates in order).
        const blocked = new Set<number>()
        records.forEach((r, i) => {
          if (touched.has(i)) blocked.add(r.writer)
          if (!blocked.has(r.writer)) expect(doc.getMap('m').get(r.key)).toBe(r.value)
        })
        if (report.corruptRecords > 0) {
          expect(fs.readFileSync(report.quarantine!).equals(damaged)).toBe(true)
          expect(events).toEqual([expect.objectContaining({ reason: 'corrupt', records: report.corruptRecords })])
        } else {
          expect(events).toEqual([])
          expect(damaged.subarray(0, damaged.length - report.tornBytes).equals(fs.readFileSync(path.join(dir, 'updates.log')))).toBe(true)
        }
        if (flips.length === 0) expect(report.corruptRecords).toBe(0)
        // What loaded is on disk now: the next start finds the same, with no damage.
        const again = new Y.Doc()
        const p2 = new FilePersistence({ dir })
        expect(p2.open(again, (u, o) => { Y.applyUpdate(again, u, o) })).toMatchObject({ corruptRecords: 0, tornBytes: 0 })
        p2.close()
        expect(again.getMap('m').toJSON()).toEqual(doc.getMap('m').toJSON())
        fs.rmSync(dir, { recursive: true, force: true })
      }
    ), fcParams(60))
  })
})

describe('FilePersistence: logs of version 0.1', () => {
  it('are loaded whole (no marker framing), then replaced by a snapshot and kept aside', () => {
    const dir = tmp()
    const writer = new Y.Doc()
    const records: Buffer[] = []
    writer.on('update', (u: Uint8Array) => {
      const head = Buffer.alloc(8)
      head.writeUInt32LE(u.length, 0)
      head.writeUInt32LE(crc32(u), 4)
      records.push(head, Buffer.from(u))
    })
    for (let i = 0; i < 20; i++) writer.getMap('m').set(`k${i}`, i)
    fs.writeFileSync(path.join(dir, 'updates.log'), Buffer.concat(records))
    const doc = new Y.Doc()
    const events: PersistenceEvent[] = []
    const p = new FilePersistence({ dir }, (e) => { events.push(e) })
    expect(p.open(doc, (u, o) => { Y.applyUpdate(doc, u, o) })).toMatchObject({ logRecords: 20, corruptRecords: 0 })
    expect(events).toEqual([])
    expect(doc.getMap('m').size).toBe(20)
    expect(fs.readFileSync(path.join(dir, 'updates.log.v0.1-1')).equals(Buffer.concat(records))).toBe(true)
    p.close()
  })
})

describe('FilePersistence: a failed write is reported and loses nothing acknowledged', () => {
  for (const code of ['ENOSPC', 'EIO']) {
    it(`${code} during 6 of 28 batches: one error event, recovery, and every membership after a restart`, async () => {
      const dir = tmp()
      const { fs: faultFs, faulty } = faultyFileSystem(code)
      const { store, p, events } = openStore(dir, 1, { fileSystem: faultFs })
      let acknowledged = 0
      for (let b = 0; b < 28; b++) {
        faulty.on = b >= 10 && b < 16
        for (let i = 0; i < 100; i++) if (store.add(`d-${b}-${i}`, 'total')) acknowledged++
        store.flushWrites()
        await immediate() // the persistence's flush of this batch, under this batch's fault setting
        await turn(5)
        if (b === 12) expect(p.status()).toMatchObject({ state: 'failing', lastError: expect.stringContaining(code) })
      }
      faulty.on = false
      for (let i = 0; i < 100 && p.status().state === 'failing'; i++) await turn(10)
      expect(faulty.hits).toBeGreaterThan(0)
      expect(p.status().state).toBe('ok')
      expect(events.map((e) => e.type === 'persistence-error' ? `${e.type}:${e.reason}` : e.type)).toEqual(['persistence-error:write', 'persistence-recovered'])
      p.close()
      store.destroy()
      const again = openStore(dir, 2)
      expect(ownedBy(again.store, 1)).toBe(acknowledged)
      expect(acknowledged).toBe(2800)
      again.p.close()
    })
  }

  it('a process that dies while writes fail keeps everything written before the failure', async () => {
    const dir = tmp()
    const { fs: faultFs, faulty } = faultyFileSystem('ENOSPC')
    const { store, p } = openStore(dir, 1, { fileSystem: faultFs })
    for (let i = 0; i < 300; i++) store.add(`before-${i}`, 'total')
    store.flushWrites()
    await immediate() // after the persistence's own flush, queued first
    expect(p.status().logBytes).toBeGreaterThan(0)
    faulty.on = true
    for (let i = 0; i < 300; i++) store.add(`during-${i}`, 'total')
    store.flushWrites()
    await immediate() // after the persistence's flush (a timer could run first on a loaded machine)
    expect(p.status().state).toBe('failing')
    // No close: the process is killed. Its lock is left behind, held by a live pid (this one),
    // so the restart takes the directory under a probe that says the old owner is gone.
    const again = new ProfileStore({ nodeId: 'a', incarnation: 2, profiles: [{ name: 'total' }] })
    const p2 = new FilePersistence({ dir, lockProbe: { self: () => ({ pid: process.pid, start: 'next', boot: null }), isGone: () => true } })
    p2.open(again.doc, (u, origin) => { again.applyUpdate(u, origin) })
    expect(ownedBy(again, 1)).toBe(300)
    p2.close()
    faulty.on = false
    p.close()
    store.destroy()
  })

  it('snapshot() after failures is a recovery attempt that throws DP_ERR_PERSISTENCE while the disk refuses', async () => {
    const dir = tmp()
    const { fs: faultFs, faulty } = faultyFileSystem('ENOSPC')
    const { store, p } = openStore(dir, 1, { fileSystem: faultFs })
    faulty.on = true
    expect(() => { p.snapshot() }).toThrow(expect.objectContaining({ code: 'DP_ERR_PERSISTENCE' }))
    expect(fs.existsSync(path.join(dir, 'snapshot.bin.tmp'))).toBe(false)
    faulty.on = false
    p.snapshot()
    expect(p.status()).toMatchObject({ state: 'ok', writeFailures: 1 })
    p.close()
    store.destroy()
  })
})
