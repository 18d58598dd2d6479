/**
 * Per-node keys (issue 8 item 2): the cost of signing every update a node writes and checking
 * every one it receives. Three ClusterNodes in one process, a full mesh over WebSockets on
 * 127.0.0.1, without and with per-node keys, alternating in the same run (several rounds,
 * medians). In each round every node makes and ends calls (a fixed number of ops, a fixed number
 * per event-loop turn) in both write modes: batched (one store transaction per turn) and per-op
 * (one transaction, so one update, per op; the keyed node still signs once per turn). Measured
 * from the first write until every node holds exactly the live calls: process CPU time per op
 * (all three nodes, sender and receivers), wall-clock ops/s, and bytes received per op per
 * node; the figures to quote are the keyed/plain ratios.
 */
import { generateKeyPairSync } from 'node:crypto'
import { ClusterNode } from '../../src/cluster-node.js'
import type { BenchContext, Scenario } from '../lib/types.js'
import { median } from '../lib/stats.js'

type Mode = 'batched' | 'per-op'
const IDS = ['k0', 'k1', 'k2'] as const
const LIVE = 200
const CONVERGE_TIMEOUT_MS = 30_000

const keyPair = (): { privateKey: string, publicKey: string } => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519')
  return { privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, publicKey: publicKey.export({ type: 'spki', format: 'pem' }) as string }
}

const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }
const turn = async (): Promise<void> => { await new Promise((resolve) => setImmediate(resolve)) }

const startMesh = async (keyed: boolean): Promise<ClusterNode[]> => {
  const keys = Object.fromEntries(IDS.map((id) => [id, keyPair()]))
  const trustedNodes = Object.fromEntries(IDS.map((id) => [id, keys[id]!.publicKey]))
  const nodes: ClusterNode[] = []
  for (const id of IDS) {
    const n = new ClusterNode({
      nodeId: id,
      profiles: [{ name: 'total' }],
      listen: { host: '127.0.0.1', port: 0 },
      peers: nodes.map((x) => x.url()!),
      secret: 'bench-node-keys-secret',
      readiness: { policy: 'reject', timeoutMs: 20_000 },
      livenessTimeoutMs: 60_000,
      log: () => {},
      ...(keyed ? { identity: { privateKey: keys[id]!.privateKey }, trustedNodes } : {})
    })
    nodes.push(n)
    await n.start()
  }
  await Promise.all(nodes.map(async (n) => { await n.ready }))
  return nodes
}

interface Run { cpuUsPerOp: number, opsPerSecond: number, bytesPerOp: number }

/** Every node makes `ops` call ops (adds, and ends once `LIVE` are up), `perTurn` per event-loop turn. */
const run = async (ctx: BenchContext, keyed: boolean, mode: Mode, ops: number, perTurn: number, round: number): Promise<Run> => {
  const nodes = await startMesh(keyed)
  try {
    const bytesBefore = nodes.reduce((s, n) => s + n.traffic().bytesIn, 0)
    const cpu0 = process.cpuUsage()
    const t0 = performance.now()
    let issued = 0
    for (let i = 0; issued < ops * nodes.length; i++) {
      if (i % 100 === 0) ctx.checkBudget()
      for (const [j, n] of nodes.entries()) {
        for (let k = 0; k < perTurn; k++) {
          const c = i * perTurn + k
          n.store.add(`r${round}-${j}-${c}`, 'total')
          issued++
          if (c >= LIVE) { n.store.remove(`r${round}-${j}-${c - LIVE}`, 'total'); issued++ }
          if (mode === 'per-op') n.store.flushWrites()
        }
      }
      await turn()
    }
    const calls = Math.ceil(ops / (2 * perTurn)) * perTurn
    const last = (j: number): string => `r${round}-${j}-${calls - 1}`
    const want = nodes.length * Math.min(LIVE, calls)
    const end = performance.now() + CONVERGE_TIMEOUT_MS
    const done = (): boolean => nodes.every((n) => n.store.size('total') === want && IDS.every((_, j) => n.store.has(last(j), 'total')))
    for (let i = 0; i < CONVERGE_TIMEOUT_MS && !done() && performance.now() < end; i++) await sleep(1)
    const seconds = (performance.now() - t0) / 1000
    const cpu = process.cpuUsage(cpu0)
    ctx.verify(done(), `${keyed ? 'keyed' : 'plain'} ${mode}: the nodes count ${nodes.map((n) => n.store.size('total')).join('/')}, expected ${want}`)
    for (const n of nodes) ctx.verify(n.store.recount().ok && n.cluster().document.invalidRecords === 0, `${n.store.nodeId}: recount failed or records refused`)
    const bytes = nodes.reduce((s, n) => s + n.traffic().bytesIn, 0) - bytesBefore
    return { cpuUsPerOp: (cpu.user + cpu.system) / issued, opsPerSecond: issued / seconds, bytesPerOp: bytes / issued / nodes.length }
  } finally {
    await Promise.all(nodes.map(async (n) => { await n.close() }))
  }
}

export const nodeKeys: Scenario = {
  name: 'node-keys',
  description: 'per-node keys (every update signed and checked) vs none: 3 ClusterNodes in one process, full mesh on loopback, batched and per-op writes; CPU per op, ops/s, bytes per op, keyed/plain',
  budgetSeconds: { full: 600, quick: 180 },
  run: async (ctx: BenchContext) => {
    const ops = ctx.quick ? 6000 : 30_000
    const rounds = ctx.quick ? 3 : 5
    for (const mode of ['batched', 'per-op'] as const) {
      const got: Record<'plain' | 'keyed', Run[]> = { plain: [], keyed: [] }
      for (let r = 0; r < rounds; r++) {
        // Alternate which goes first, so that neither always runs on a warmer (or busier) machine.
        for (const keyed of r % 2 === 0 ? [false, true] : [true, false]) got[keyed ? 'keyed' : 'plain'].push(await run(ctx, keyed, mode, ops, 20, r))
      }
      const m = (k: 'plain' | 'keyed', f: keyof Run): number => median(got[k].map((x) => x[f]))
      for (const k of ['plain', 'keyed'] as const) {
        const label = `ClusterNode mesh ${k === 'keyed' ? 'with' : 'without'} per-node keys, ${mode}, 3 nodes`
        ctx.report(label, 'CPU per op (3 nodes, one process)', m(k, 'cpuUsPerOp'), 'us')
        ctx.report(label, 'ops/s until every node converged', m(k, 'opsPerSecond'), 'ops/s')
        ctx.report(label, 'bytes received per op per node', m(k, 'bytesPerOp'), 'bytes/op')
      }
      const label = `keyed/plain, ${mode}`
      ctx.report(label, 'CPU per op ratio', m('keyed', 'cpuUsPerOp') / m('plain', 'cpuUsPerOp'), 'x')
      ctx.report(label, 'ops/s ratio', m('keyed', 'opsPerSecond') / m('plain', 'opsPerSecond'), 'x')
      ctx.report(label, 'bytes received per op per node ratio', m('keyed', 'bytesPerOp') / m('plain', 'bytesPerOp'), 'x')
    }
  }
}
