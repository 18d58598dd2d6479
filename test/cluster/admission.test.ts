import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import type { ClusterNode } from '../../src/index.js'
import { nodeFactory, PROFILES, waitFor } from './support.js'

const children = new Set<ChildProcess>()
const nodes = nodeFactory()
afterEach(async () => { await nodes.closeAll() })
afterAll(() => { for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL') })

const script = join(import.meta.dirname, 'fixtures', 'child-node.ts')
const STRICT = [...PROFILES, { name: 'trunk', withValue: true, admission: 'strict' as const }]
const T1 = (limit: number): Array<{ profile: string, value: string, limit: number }> => [{ profile: 'trunk', value: 'T1', limit }]

const spawnNode = async (env: Record<string, string>): Promise<{ child: ChildProcess, report: { url: string, strict: number } }> => {
  const child = spawn(process.execPath, ['--import', 'tsx', script], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  children.add(child)
  let stderr = ''
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString() })
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`child did not report in time; stderr: ${stderr}`)) }, 30_000)
    createInterface({ input: child.stdout! }).once('line', (l) => { clearTimeout(timer); resolve(l) })
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`child exited with ${code}; stderr: ${stderr}`)) })
  })
  return { child, report: JSON.parse(line) as { url: string, strict: number } }
}

const kill = async (child: ChildProcess): Promise<void> => {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => { child.once('exit', () => { resolve() }) })
  child.kill('SIGKILL')
  await exited
}

/** Admits new calls on `node` until `total` calls of T1 run on the survivors or 3 s pass; @returns how many it admitted. */
const admitUntil = async (node: ClusterNode, prefix: string, limit: number, done: () => boolean): Promise<number> => {
  let n = 0
  // bounded in attempts and time (a restarted child takes seconds to start on a loaded machine)
  const deadline = Date.now() + 20_000
  for (let i = 0; i < 2000 && !done() && Date.now() < deadline; i++) {
    if ((await node.acquire(`${prefix}-${n}`, T1(limit))).admitted) n++
    else await new Promise((resolve) => { setTimeout(resolve, 10) })
  }
  return n
}

describe('admission over real sockets', () => {
  it('acquires several keys on one node and releases on another; refuses with not-ready before the sync', async () => {
    const a = await nodes.start('a', [])
    const b = await nodes.start('b', [a.url()!])
    await b.ready
    const keys = [{ profile: 'total', limit: 1 }, { profile: 'caller', value: 'alice', limit: 5 }]
    expect((await a.acquire('d1', keys)).admitted).toBe(true)
    await waitFor(() => b.store.size('total') === 1, 'b sees d1')
    expect(await b.acquire('d2', keys)).toMatchObject({ admitted: false, reason: 'limit' })
    expect(b.release('d1')).toBe(2)
    expect(b.release('d1')).toBe(0)
    await waitFor(() => a.store.size('total') === 0 && a.store.size('caller', 'alice') === 0, 'a sees the release')
    expect((await a.acquire('d2', keys)).admitted).toBe(true)
    const lonely = await nodes.start('lonely', ['ws://127.0.0.1:1'], { readiness: { policy: 'reject', timeoutMs: 60_000 } })
    expect(await lonely.acquire('d1', keys)).toMatchObject({ admitted: false, reason: 'not-ready' })
    expect(lonely.store.size('total')).toBe(0)
  })

  it('strict: a node holding rights is SIGKILLed; survivors never exceed the limit, and get everything back when it restarts', async () => {
    const ids = 'a,b,k'
    const admission = { nodes: ids.split(',') }
    const a = await nodes.start('a', [], { profiles: STRICT, admission })
    const b = await nodes.start('b', [a.url()!], { profiles: STRICT, admission })
    await b.ready
    const LIMIT = 9
    const { child, report } = await spawnNode({ DP_NODE_ID: 'k', DP_PEERS: `${a.url()!},${b.url()!}`, DP_ADMISSION_NODES: ids, DP_STRICT: '4', DP_RESERVE: '0', DP_STRICT_LIMIT: String(LIMIT) })
    expect(report.strict).toBe(4) // its share (3) and rights it asked its peers for
    await waitFor(() => a.store.size('trunk', 'T1') === 4, 'a sees the child\'s calls')
    await kill(child)
    // the survivors can use only the rights they hold; the child's are stranded while it is away
    const held = (n: ClusterNode): number => n.admission.strict.snapshot().find(k => k.value === 'T1')?.held ?? 0
    const left = held(a) + held(b)
    expect(left).toBeGreaterThan(0)
    expect(left).toBeLessThanOrEqual(LIMIT - 4)
    const survivors = (): number => a.store.localSize('trunk', 'T1') + b.store.localSize('trunk', 'T1')
    let admitted = await admitUntil(a, 'a', LIMIT, () => survivors() >= left)
    admitted += await admitUntil(b, 'b', LIMIT, () => survivors() >= left)
    expect(survivors()).toBe(left)
    // past that, a right can only be one still on its way between the survivors when `left` was
    // read: whatever is admitted, the child's 4 stranded calls plus the survivors' stay <= LIMIT
    for (const [n, id] of [[a, 'a-over'], [b, 'b-over']] as const) {
      const r = await n.acquire(id, T1(LIMIT))
      if (r.admitted) admitted++
      else expect(r.reason).toBe('no-rights')
      expect(survivors() + 4).toBeLessThanOrEqual(LIMIT)
    }
    // k restarts (new incarnation): its old calls are void; once a and b sealed it, its share is
    // whole again and it hands spare rights to the survivors that ask
    const again = await spawnNode({ DP_NODE_ID: 'k', DP_PEERS: `${a.url()!},${b.url()!}`, DP_ADMISSION_NODES: ids })
    admitted += await admitUntil(a, 'a2', LIMIT, () => survivors() >= LIMIT)
    // a busy node keeps one spare right for itself: b may hold the last one (say a right that
    // reached it after its refused 'b-over'), so b admits too
    admitted += await admitUntil(b, 'b2', LIMIT, () => survivors() >= LIMIT)
    expect(survivors()).toBe(LIMIT)
    expect(admitted).toBe(LIMIT)
    expect(await a.acquire('a-over2', T1(LIMIT))).toMatchObject({ admitted: false, reason: 'no-rights' })
    await kill(again.child)
  }, 60_000)
})
