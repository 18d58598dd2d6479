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

  it('a release on another node before the call\'s record reached it is remembered, and releases the call when the record arrives', async () => {
    const a = await nodes.start('a', [], { writeDelayMs: 200 }) // a's record leaves at least one event-loop turn later
    const b = await nodes.start('b', [a.url()!])
    await b.ready
    const keys = [{ profile: 'total', limit: 5 }, { profile: 'caller', value: 'alice', limit: 5 }]
    expect((await a.acquire('e1', keys)).admitted).toBe(true)
    expect(b.release('e1')).toBe(0) // the BYE beat the record: b knew nothing then
    expect(b.store.stats().pendingReleases).toBe(1)
    await waitFor(() => b.store.stats().pendingReleasesApplied === 2, 'b releases e1 when its record arrives')
    await waitFor(() => a.store.size('total') === 0 && a.store.size('caller', 'alice') === 0 && !a.store.holds('e1', 'total', null), 'a reads the removal notice')
    expect(b.store.size('total')).toBe(0)
    expect(b.release('e1')).toBe(0)
    expect(a.release('e1')).toBe(0)
  })

  it('strict: a node holding rights is SIGKILLed; the survivors never exceed the limit, and admit up to it after lease + margin', async () => {
    const ids = 'a,b,k'
    const LEASE = { leaseMs: 1500, leaseMarginMs: 1000 }
    const admission = { nodes: ids.split(','), ...LEASE }
    const a = await nodes.start('a', [], { profiles: STRICT, admission })
    const b = await nodes.start('b', [a.url()!], { profiles: STRICT, admission })
    await b.ready
    const LIMIT = 9
    const lease = { DP_LEASE_MS: String(LEASE.leaseMs), DP_LEASE_MARGIN_MS: String(LEASE.leaseMarginMs) }
    const { child, report } = await spawnNode({ DP_NODE_ID: 'k', DP_PEERS: `${a.url()!},${b.url()!}`, DP_ADMISSION_NODES: ids, DP_STRICT: '4', DP_RESERVE: '0', DP_STRICT_LIMIT: String(LIMIT), ...lease })
    expect(report.strict).toBe(4) // its share (3) and rights it asked its peers for
    await waitFor(() => a.store.size('trunk', 'T1') === 4, 'a sees the child\'s calls')
    await kill(child)
    const survivors = (): number => a.store.localSize('trunk', 'T1') + b.store.localSize('trunk', 'T1')
    const reclaimed = (n: ClusterNode): boolean => n.admission.strict.view.latestOf('k')?.reclaimed === true
    // until a survivor has seen k reclaimed, k's 4 calls hold their rights: the survivors stay within the rest
    const check = (): void => {
      expect(survivors()).toBeLessThanOrEqual(LIMIT)
      if (!reclaimed(a) && !reclaimed(b)) expect(survivors() + 4).toBeLessThanOrEqual(LIMIT)
    }
    let admitted = 0
    for (const [n, id] of [[a, 'a'], [b, 'b']] as const) {
      for (let i = 0; i < 20; i++) {
        const r = await n.acquire(`${id}-early-${i}`, T1(LIMIT))
        check()
        if (!r.admitted) { expect(['no-rights', 'no-quorum']).toContain(r.reason); break }
        admitted++
      }
    }
    // lease + margin after k fell silent, a majority (a and b) reclaims it: its rights return to them
    await waitFor(() => reclaimed(a) && reclaimed(b), 'a and b reclaim k', 20_000)
    // both admit (a holds k's share as its heir; b keeps what it held of it, and its own spare)
    const deadline = Date.now() + 20_000
    for (let i = 0; survivors() < LIMIT && Date.now() < deadline && i < 2000; i++) {
      let any = false
      for (const [n, id] of [[a, 'a2'], [b, 'b2']] as const) {
        const r = await n.acquire(`${id}-${i}`, T1(LIMIT))
        check()
        if (r.admitted) { admitted++; any = true }
      }
      if (!any) await new Promise((resolve) => { setTimeout(resolve, 10) })
    }
    expect(survivors()).toBe(LIMIT)
    expect(admitted).toBe(LIMIT)
    for (const [n, id] of [[a, 'a-over'], [b, 'b-over']] as const) {
      expect(await n.acquire(id, T1(LIMIT))).toMatchObject({ admitted: false, reason: 'no-rights' })
    }
    // k restarts (new incarnation): it gets no right its predecessor had, the survivors keep theirs
    const again = await spawnNode({ DP_NODE_ID: 'k', DP_PEERS: `${a.url()!},${b.url()!}`, DP_ADMISSION_NODES: ids, DP_STRICT: '1', DP_RESERVE: '0', DP_STRICT_LIMIT: String(LIMIT), ...lease })
    expect(again.report.strict).toBe(0)
    expect(survivors()).toBe(LIMIT)
    await kill(again.child)
  }, 90_000)
  it('strict: a node logs a warning, once per voter, when a peer votes against its lease, and names the voters', async () => {
    const admission = { nodes: ['a', 'b', 'c'], leaseMs: 400, leaseMarginMs: 200 }
    let skew = 0 // c's clock jumps ahead: to c, a and b fell silent long ago
    const a = await nodes.start('a', [], { profiles: STRICT, admission })
    const b = await nodes.start('b', [a.url()!], { profiles: STRICT, admission })
    const c = await nodes.start('c', [a.url()!, b.url()!], { profiles: STRICT, admission, clock: () => Date.now() + skew })
    await Promise.all([b.ready, c.ready])
    await waitFor(() => a.admission.strict.leaseValid() && a.admission.strict.sealed, 'a holds a lease')
    expect(a.admission.strict.votedAgainstBy).toEqual([])
    const voted = (): boolean => a.lines.some((l) => l.includes('node c voted against this node\'s strict lease'))
    // each jump makes c's next check vote, unless a lease request of a was granted in between
    for (let i = 0; i < 250 && !voted(); i++) {
      skew += 10_000
      await new Promise((resolve) => { setTimeout(resolve, 20) })
    }
    expect(voted()).toBe(true)
    expect(a.admission.strict.votedAgainstBy).toContain('c')
    expect(a.admission.strict.reclaimed).toBe(false) // one vote of three: not a majority
    await new Promise((resolve) => { setTimeout(resolve, 300) })
    expect(a.lines.filter((l) => l.includes('node c voted against')).length).toBe(1)
    expect(a.lines.find((l) => l.includes('node c voted against'))?.startsWith('warn')).toBe(true)
  }, 30_000)
})
