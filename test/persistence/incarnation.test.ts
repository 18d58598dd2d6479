import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { ClusterNode } from '../../src/index.js'
import { nextIncarnation, resumeIncarnation } from '../../src/persistence/incarnation.js'

const dirs: string[] = []
afterEach(() => { for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true }) })
const tmp = (): string => { const d = fs.mkdtempSync(path.join(os.tmpdir(), 'dp-inc-')); dirs.push(d); return d }

/** A node resuming from a fresh data directory: its options, the node and its incarnation. */
const firstLife = (): { dir: string, opts: { nodeId: string, secret: string, dataDir: string, resume: true, log: () => void }, first: ClusterNode, incarnation: number } => {
  const dir = tmp()
  const opts = { nodeId: 'a', secret: 'incarnation-test', dataDir: dir, resume: true as const, log: () => {} }
  const first = new ClusterNode(opts)
  return { dir, opts, first, incarnation: first.store.incarnation }
}

/** Every file of a directory with its bytes. */
const filesOf = (dir: string): Map<string, Buffer> => new Map(fs.readdirSync(dir).map((f) => [f, fs.readFileSync(path.join(dir, f))]))

describe('incarnations with a data directory', () => {
  it('grow across runs even when the clock steps back', () => {
    const dir = tmp()
    expect(nextIncarnation(dir, 5000)).toBe(5000)
    expect(nextIncarnation(dir, 1000)).toBe(5001) // clock stepped back
    expect(nextIncarnation(dir, 9000.7)).toBe(9000)
    fs.writeFileSync(path.join(dir, 'INCARNATION'), 'garbage')
    expect(nextIncarnation(dir, 10)).toBe(10) // an unreadable record is ignored
  })

  it('a resumed run keeps the recorded incarnation; with none recorded it starts a new one', () => {
    const dir = tmp()
    expect(resumeIncarnation(dir, 5000)).toBe(5000)
    expect(resumeIncarnation(dir, 9000)).toBe(5000)
    expect(nextIncarnation(dir, 1000)).toBe(5001)
    expect(resumeIncarnation(dir, 1)).toBe(5001)
  })

  it('a restarted ClusterNode is newer than its previous life whatever its clock says', async () => {
    const dir = tmp()
    let now = 2_000_000
    const opts = { nodeId: 'a', secret: 'incarnation-test', dataDir: dir, clock: () => now, log: () => {} }
    const first = new ClusterNode(opts)
    const firstIncarnation = first.store.incarnation
    await first.close()
    now = 1_000_000
    const second = new ClusterNode(opts)
    expect(second.store.incarnation).toBeGreaterThan(firstIncarnation)
    await second.close()
  })
})

describe('a data directory in use', () => {
  it('refuses a second node before it reads or writes anything there, so the holder resumes its own incarnation', async () => {
    const { dir, opts, first, incarnation } = firstLife()
    const before = filesOf(dir)
    for (const resume of [true, false]) {
      expect(() => new ClusterNode({ ...opts, resume })).toThrow(expect.objectContaining({ code: 'DP_ERR_PERSISTENCE', message: expect.stringContaining('in use') }))
    }
    expect(filesOf(dir)).toEqual(before)
    await first.close()
    const again = new ClusterNode(opts)
    expect(again.store.incarnation).toBe(incarnation)
    await again.close()
  })
})

describe('a node that fails to construct', () => {
  it('gives its data directory back and leaves INCARNATION alone when a declaration is bad', async () => {
    const { opts, first, incarnation } = firstLife()
    await first.close()
    for (const profiles of [[{ name: 'bad name!' }], [{ name: 'p', withValue: 'yes' }], [{ name: 'p' }, { name: 'p', withValue: true }]]) {
      expect(() => new ClusterNode({ ...opts, resume: false, profiles: profiles as never })).toThrow(expect.objectContaining({ code: 'DP_ERR_BAD_DECLARATION' }))
    }
    const again = new ClusterNode(opts) // not refused: nothing holds the directory
    expect(again.store.incarnation).toBe(incarnation)
    await again.close()
  })
})
