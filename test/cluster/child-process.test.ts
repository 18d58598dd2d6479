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

interface ChildReport { url: string; added: number; size: number; loaded: { tornBytes: number; logRecords: number; snapshotBytes: number } | null }

const script = join(import.meta.dirname, 'fixtures', 'child-node.ts')

/** Spawns a child node; resolves with its first stdout line (bounded by a timeout). */
const spawnNode = async (env: Record<string, string>): Promise<{ child: ChildProcess; report: ChildReport }> => {
  const child = spawn(process.execPath, ['--import', 'tsx', script], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  children.add(child)
  let stderr = ''
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString() })
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`child did not report in time; stderr: ${stderr}`)) }, 30_000)
    createInterface({ input: child.stdout! }).once('line', (l) => { clearTimeout(timer); resolve(l) })
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`child exited with ${code}; stderr: ${stderr}`)) })
  })
  return { child, report: JSON.parse(line) as ChildReport }
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
})
