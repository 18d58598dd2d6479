/**
 * Late join over the network (issue 11 items 3 and 7): three member processes hold `n` live
 * calls (each wrote a third), then a fresh process joins and must hold all of them. Ours: three
 * ClusterNodes in a full mesh over WebSockets on 127.0.0.1, the joiner dialling all three. The
 * baseline in the same run: three flat `Y.Map` clients of one `@y/websocket-server` 0.1.1 hub
 * (own process) holding the same calls, the joiner a `y-websocket` client of that hub.
 * Measured in the joiner process: time from starting its replica until it is ready and counts
 * all `n` calls, the CPU time the process spent over that span, its peak RSS (the whole process), the bytes it received, and the encoded size of
 * the state it ends up with, and the bytes it sent (ours: nothing of the state goes on, the
 * members hold it). Quick: 100k; full run: 100k and 500k.
 * Goals (issue 11) at 100k: ready in under 1 s, joiner peak RSS <= 1.3x the baseline's, bytes
 * into the joiner <= 1.2x its encoded state.
 */
import type { BenchContext, Scenario } from '../lib/types.js'
import type { ClusterImpl } from '../lib/cluster-protocol.js'
import { sizeLabel } from '../lib/fill.js'
import { subSeed } from '../lib/prng.js'
import { ProcessCluster } from '../lib/process-cluster.js'

const MEMBERS = 3
/** Bounds per 100k calls (a loaded 2-core machine applies 15k to 50k memberships a second). */
const FILL_TIMEOUT_MS_PER_100K = 120_000
const JOIN_TIMEOUT_MS_PER_100K = 60_000
const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

interface JoinFigures { readonly ms: number, readonly cpuMs: number, readonly rssMb: number, readonly bytesIn: number, readonly bytesOut: number, readonly stateBytes: number }

/** Fills a cluster of `impl` with `n` calls, joins a fresh process and returns its figures. */
const measure = async (ctx: BenchContext, impl: ClusterImpl, label: string, n: number): Promise<JoinFigures> => {
  const seed = subSeed(ctx.seed, `late-join-net/${n}`)
  const fillTimeoutMs = Math.ceil(n / 100_000) * FILL_TIMEOUT_MS_PER_100K
  const joinTimeoutMs = Math.ceil(n / 100_000) * JOIN_TIMEOUT_MS_PER_100K
  const c = await ProcessCluster.start(MEMBERS, seed, impl)
  try {
    const per = Math.ceil(n / MEMBERS)
    await Promise.all(c.nodes.map(async (x, j) => await x.call({ type: 'fill', count: Math.min(per, n - j * per), tag: `lj${j}` }, fillTimeoutMs)))
    // Every member holds every call before the joiner starts.
    const end = performance.now() + fillTimeoutMs
    let sizes: number[] = []
    for (let k = 0; k < 100_000 && performance.now() < end; k++) {
      ctx.checkBudget()
      const r = await Promise.all(c.nodes.map(async (x) => await x.call({ type: 'count' }, fillTimeoutMs)))
      sizes = r.map((m) => m.type === 'count' ? m.size : -1)
      if (sizes.every((s) => s === n)) break
      await sleep(100)
    }
    ctx.verify(sizes.every((s) => s === n), `${label}: members count ${sizes.join('/')}, expected ${n}`)
    const joiner = await c.spawnJoiner('joiner', ((seed + 104729) % 0x7ffffffe) + 1, impl)
    try {
      const r = await joiner.call({ type: 'join', expect: n, timeoutMs: joinTimeoutMs }, joinTimeoutMs + 30_000)
      ctx.verify(r.type === 'joined' && r.ok, `${label}: the joiner counts ${r.type === 'joined' ? r.size : '?'} after ${joinTimeoutMs} ms, expected ${n}`)
      return { ms: r.ms, cpuMs: r.cpuMs, rssMb: r.maxRssKb / 1024, bytesIn: r.bytesIn, bytesOut: r.bytesOut, stateBytes: r.stateBytes }
    } finally {
      await joiner.stop()
    }
  } finally {
    await c.close()
  }
}

/** The late-join-net scenario. */
export const lateJoinNet: Scenario = {
  name: 'late-join-net',
  description: 'a fresh node process joins 3 members holding 100k (full: also 500k) live calls over loopback WebSockets: time to ready, peak RSS, bytes in',
  budgetSeconds: { full: 1500, quick: 150 },
  run: async (ctx: BenchContext) => {
    const sizes = ctx.quick ? [100_000] : [100_000, 500_000]
    for (const n of sizes) {
      const at = `@${sizeLabel(n)} live`
      const ours = await measure(ctx, 'dialog-profiles', 'ClusterNode mesh', n)
      const base = await measure(ctx, 'ymap-hub', 'Y.Map + hub', n)
      for (const [name, f] of [['ClusterNode mesh', ours], ['Y.Map + hub', base]] as const) {
        ctx.report(name, `state bytes ${at}`, f.stateBytes, 'bytes')
        ctx.report(name, `bytes into joiner ${at}`, f.bytesIn, 'bytes')
        ctx.report(name, `joiner peak RSS ${at}`, f.rssMb, 'MB')
      }
      if (n === 100_000) ctx.goal('ClusterNode mesh', `ready ms ${at}`, ours.ms, 'ms', '<=', 1000, 'issue 11 item 3')
      else ctx.report('ClusterNode mesh', `ready ms ${at}`, ours.ms, 'ms')
      ctx.report('Y.Map + hub', `ready ms ${at}`, base.ms, 'ms')
      ctx.report('ClusterNode/Y.Map + hub', `ready time ${at}`, ours.ms / base.ms, 'x')
      ctx.report('ClusterNode mesh', `joiner CPU ms until ready ${at}`, ours.cpuMs, 'ms')
      ctx.report('Y.Map + hub', `joiner CPU ms until ready ${at}`, base.cpuMs, 'ms')
      ctx.report('ClusterNode/Y.Map + hub', `joiner CPU until ready ${at}`, ours.cpuMs / base.cpuMs, 'x')
      ctx.goal('ClusterNode/Y.Map + hub', `joiner peak RSS ${at}`, ours.rssMb / base.rssMb, 'x', '<=', 1.3, 'issue 11 item 3')
      ctx.goal('ClusterNode mesh', `bytes in / encoded state ${at}`, ours.bytesIn / ours.stateBytes, 'x', '<=', 1.2, 'issue 11 item 3')
      ctx.report('Y.Map + hub', `bytes in / encoded state ${at}`, base.bytesIn / base.stateBytes, 'x')
      // What the joiner sent on (relays, answers to the members' requests): the members hold it all already.
      ctx.report('ClusterNode mesh', `bytes out of joiner / encoded state ${at}`, ours.bytesOut / ours.stateBytes, 'x')
    }
  }
}
