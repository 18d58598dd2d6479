import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { nodeFactory, waitFor } from './support.js'

const children = new Set<ChildProcess>()
const dirs: string[] = []
const nodes = nodeFactory()
afterEach(async () => { await nodes.closeAll() })
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

interface ChildReport { url: string; added: number; size: number; incarnation: number; loaded: { tornBytes: number; logRecords: number; snapshotBytes: number } | null }

const script = join(import.meta.dirname, 'fixtures', 'child-node.ts')

interface Child {
  child: ChildProcess
  report: ChildReport
  /** Sends one command line (`size`, `end <dialog>`) and resolves with the answer line, parsed. */
  ask: (line: string) => Promise<Record<string, number>>
}

/** Spawns a child node; resolves with its first stdout line (bounded by a timeout). */
const spawnNode = async (env: Record<string, string>): Promise<Child> => {
  const child = spawn(process.execPath, ['--import', 'tsx', script], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] })
  children.add(child)
  let stderr = ''
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString() })
  const lines = createInterface({ input: child.stdout! })
  const next = (): Promise<string> => new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`child did not answer in time; stderr: ${stderr}`)) }, 30_000)
    const onExit = (code: number | null): void => { clearTimeout(timer); reject(new Error(`child exited with ${code}; stderr: ${stderr}`)) }
    child.once('exit', onExit)
    lines.once('line', (l) => { clearTimeout(timer); child.off('exit', onExit); resolve(l) })
  })
  const report = JSON.parse(await next()) as ChildReport
  const ask = async (line: string): Promise<Record<string, number>> => {
    const answer = next()
    child.stdin!.write(`${line}\n`)
    return JSON.parse(await answer) as Record<string, number>
  }
  return { child, report, ask }
}

const kill = async (child: ChildProcess): Promise<void> => {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => { child.once('exit', () => { resolve() }) })
  child.kill('SIGKILL')
  await exited
}

describe('a node in a child process', () => {
  it('killed with SIGKILL: survivors stop counting its memberships after timeout + grace and purge them', async () => {
    const a = await nodes.start('a', [])
    const b = await nodes.start('b', [a.url()!])
    const { child, report } = await spawnNode({ DP_NODE_ID: 'k', DP_PEERS: a.url()!, DP_COUNT: '30' })
    expect(report.added).toBe(30)
    await waitFor(() => a.store.size('caller') === 30 && b.store.size('caller') === 30, 'survivors count the child')
    let purged = 0
    b.on('owner-purged', (e) => { if (e.node === 'k') purged += e.deleted })
    await kill(child)
    await waitFor(() => a.store.size('caller') === 0 && b.store.size('caller') === 0, 'child no longer counted')
    await waitFor(() => purged > 0 || a.store.owners().filter((o) => o.node === 'k').every((o) => o.memberships === 0), 'child purged')
  })

  it('killed with SIGKILL and restarted at once: peers void the old incarnation as soon as the new one appears', async () => {
    const slow = { livenessTimeoutMs: 60_000, graceMs: 60_000 }
    const a = await nodes.start('a', [], slow)
    const first = await spawnNode({ DP_NODE_ID: 'r', DP_PEERS: a.url()!, DP_COUNT: '12', DP_INCARNATION: '100' })
    await waitFor(() => a.store.size('caller') === 12, 'a counts the first incarnation')
    await kill(first.child)
    // Long timeouts: without the new incarnation a would keep counting the dead one for a minute.
    expect(a.store.size('caller')).toBe(12)
    const second = await spawnNode({ DP_NODE_ID: 'r', DP_PEERS: a.url()!, DP_COUNT: '3', DP_INCARNATION: '200' })
    await waitFor(() => a.store.size('caller') === 3, 'old incarnation void, new one counted')
    expect(second.report.size).toBe(3)
    await kill(second.child)
  })

  it('killed with SIGKILL in the middle of writes to its data directory: it restarts from it without corruption', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dp-persist-'))
    dirs.push(dir)
    const first = await spawnNode({ DP_NODE_ID: 'p', DP_COUNT: '20', DP_CHURN: '1', DP_DATA_DIR: dir, DP_INCARNATION: '1' })
    expect(first.report.added).toBe(20)
    await new Promise((resolve) => { setTimeout(resolve, 300) })
    await kill(first.child)
    const second = await spawnNode({ DP_NODE_ID: 'p', DP_DATA_DIR: dir, DP_INCARNATION: '2' })
    const loaded = second.report.loaded!
    expect(loaded.snapshotBytes + loaded.logRecords).toBeGreaterThan(0)
    // The new incarnation voids the old one's memberships; the state itself loaded cleanly.
    expect(second.report.size).toBe(0)
    await kill(second.child)
  })

  for (const resume of [true, false]) {
    it(`killed with SIGKILL holding calls, restarted with the same dataDir ${resume ? 'and resume: its calls still count everywhere and end by a BYE on any node' : 'without resume: its calls are void'}`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'dp-resume-'))
      dirs.push(dir)
      const a = await nodes.start('a', [])
      const b = await nodes.start('b', [a.url()!])
      const env = { DP_NODE_ID: 'k', DP_PEERS: `${a.url()!},${b.url()!}`, DP_DATA_DIR: dir, ...(resume ? { DP_RESUME: '1' } : {}) }
      const first = await spawnNode({ ...env, DP_COUNT: '12' })
      await waitFor(() => a.store.size('caller') === 12 && b.store.size('caller') === 12, 'a and b count the calls of k')
      let purged = 0
      a.on('owner-purged', (e) => { if (e.node === 'k') purged++ })
      // A round trip through the child's event loop: its log has the adds (a SIGKILL in the same
      // turn as a write loses that turn's updates, see the README).
      await first.ask('size')
      await kill(first.child)
      // The survivors declare k dead and purge its records before it comes back (the hard case).
      await waitFor(() => a.store.size('caller') === 0 && purged > 0, 'k declared dead and purged')
      const second = await spawnNode({ ...env, DP_COUNT: '0' })
      if (!resume) {
        expect(second.report.incarnation).toBeGreaterThan(first.report.incarnation)
        await waitFor(() => a.cluster().peers.some((p) => p.node === 'k' && p.incarnation === second.report.incarnation), 'the new incarnation is known')
        await new Promise((resolve) => { setTimeout(resolve, 500) })
        expect([a.store.size('caller'), b.store.size('caller'), (await second.ask('size'))['size']]).toEqual([0, 0, 0])
        await kill(second.child)
        return
      }
      expect(second.report.incarnation).toBe(first.report.incarnation)
      await waitFor(() => a.store.size('caller') === 12 && b.store.size('caller') === 12, 'the resumed calls count on a and b again')
      expect((await second.ask('size'))['size']).toBe(12)
      // BYEs: one on each node, the resumed one included.
      a.store.removeDialog('k-0')
      b.store.removeDialog('k-1')
      expect((await second.ask('end k-2'))['ended']).toBe(1)
      await waitFor(() => a.store.size('caller') === 9 && b.store.size('caller') === 9, 'the ended calls leave every count')
      let size = -1
      for (let i = 0; i < 200 && size !== 9; i++) { size = (await second.ask('size'))['size']!; if (size !== 9) await new Promise((resolve) => { setTimeout(resolve, 20) }) }
      expect(size).toBe(9)
      // And they stay ended: nothing re-asserts them.
      await new Promise((resolve) => { setTimeout(resolve, 500) })
      expect([a.store.size('caller'), b.store.size('caller'), (await second.ask('size'))['size']]).toEqual([9, 9, 9])
      await kill(second.child)
    }, 60_000)
  }
})
