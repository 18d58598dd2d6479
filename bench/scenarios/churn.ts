/**
 * Churn (issue 2 item 9, issue 4 item 5): 3 replicas, 1,000 live memberships, then add/remove
 * cycles (a new call on node i mod 3, the end of a random live call by its owner), updates
 * delivered synchronously between the replicas. At each checkpoint (0, 100k, 500k, 1M cycles;
 * --quick: 0, 20k, 50k) all replicas must hold exactly the trace's live set, and a late joiner
 * built from the encoded state too; then it reports encoded state bytes, heap of the 3
 * replicas, and the same for a fresh ProfileStore cluster where the live set is simply added.
 * Goals (issue 2 item 4): churned state <= 3x fresh, heap flat in the number of cycles.
 */
import type { BenchContext, Scenario } from '../lib/types.js'
import type { ReplicatedSet, SetImplementation } from '../lib/replicated-set.js'
import { createRng, dialogId, subSeed } from '../lib/prng.js'
import { fmtBytes, nowNs, settledHeap } from '../lib/stats.js'
import { profileStore } from '../implementations/profile-store.js'
import { flatYMap } from '../implementations/flat-ymap.js'

const NODES = 3
const LIVE = 1000
/** Housekeeping (`maintain`: tick, sweep, compaction) every this many cycles, as a 1 s timer at 1,000 calls/s would. */
const MAINTAIN_EVERY = 1000

const label = (n: number): string => n >= 1_000_000 && n % 1_000_000 === 0 ? `${n / 1_000_000}M` : n >= 1000 && n % 1000 === 0 ? `${n / 1000}k` : String(n)

interface LiveCall { readonly node: number, readonly dialog: string }

/** Every replica holds exactly the model's live set; so does a late joiner built from replica 0's state. */
const verifyConverged = (ctx: BenchContext, impl: SetImplementation, set: ReplicatedSet, live: readonly LiveCall[], at: string, seed: number): Uint8Array => {
  const want = new Set(live.map((c) => c.dialog))
  for (let r = 0; r < set.replicas; r++) {
    const size = set.size(r)
    ctx.verify(size === want.size, `${impl.name} replica ${r} counts ${size}, expected ${want.size} at ${at}`)
    const got = set.members(r)
    ctx.verify(got.length === want.size && got.every((d) => want.has(d)), `${impl.name} replica ${r} holds a different set at ${at}`)
  }
  const state = set.encodeState(0)
  const joined = impl.join(state, seed)
  try {
    const got = joined.members()
    ctx.verify(joined.size() === want.size && got.length === want.size && got.every((d) => want.has(d)),
      `${impl.name}: a late joiner from the encoded state counts ${joined.size()}, expected ${want.size} at ${at}`)
  } finally {
    joined.destroy()
  }
  return state
}

/** A fresh ProfileStore cluster where `live` is simply added by each call's owner: the reference size. */
const measureFresh = async (ctx: BenchContext, live: readonly LiveCall[], at: string, seed: number): Promise<{ state: number, heap: number }> => {
  const before = await settledHeap()
  const fresh = profileStore.create(NODES, subSeed(seed, `fresh@${at}`))
  try {
    for (const c of live) fresh.add(c.node, c.dialog)
    fresh.flush()
    fresh.maintain()
    const state = verifyConverged(ctx, profileStore, fresh, live, `fresh@${at}`, seed).byteLength
    const heap = await settledHeap() - before
    return { state, heap }
  } finally {
    fresh.destroy()
  }
}

interface Checkpoint { cycles: number, state: number, heap: number }
interface Fresh { state: number, heap: number }

/** Runs the trace on `impl`. Every implementation gets the same trace (same seed), so the same live set at each checkpoint. */
const runOne = async (ctx: BenchContext, impl: SetImplementation, checkpoints: readonly number[], fresh: Map<number, Fresh>): Promise<Checkpoint[]> => {
  const seed = subSeed(ctx.seed, 'churn')
  const rng = createRng(seed)
  const heap0 = await settledHeap()
  const set = impl.create(NODES, seed)
  const out: Checkpoint[] = []
  const last = checkpoints[checkpoints.length - 1] ?? 0
  const bar = ctx.progress(impl.name, last)
  try {
    const live: LiveCall[] = []
    let next = 0
    for (; next < LIVE; next++) {
      const node = next % NODES
      const dialog = dialogId(next)
      set.add(node, dialog)
      live.push({ node, dialog })
      set.flush()
    }
    let cycles = 0
    for (const cp of checkpoints) {
      const t0 = nowNs()
      const from = cycles
      while (cycles < cp) {
        const node = next % NODES
        const dialog = dialogId(next++)
        set.add(node, dialog)
        const j = rng.int(live.length)
        const ended = live[j]
        if (ended === undefined) throw new Error('empty live set')
        live[j] = { node, dialog }
        set.remove(ended.node, ended.dialog)
        set.flush()
        cycles++
        if (cycles % MAINTAIN_EVERY === 0) {
          set.maintain()
          bar.update(cycles)
          ctx.checkBudget()
        }
      }
      const seconds = (nowNs() - t0) / 1e9
      set.maintain()
      const at = `${label(cp)} cycles`
      const state = verifyConverged(ctx, impl, set, live, at, seed).byteLength
      const heap = await settledHeap() - heap0
      const stats = set.stats(0)
      let ref = fresh.get(cp)
      if (ref === undefined) {
        ref = await measureFresh(ctx, live, at, ctx.seed)
        fresh.set(cp, ref)
        ctx.report('fresh ProfileStore', `state @${label(cp)}`, ref.state, 'bytes')
        ctx.report('fresh ProfileStore', `heap (3 replicas) @${label(cp)}`, ref.heap, 'bytes')
      }
      out.push({ cycles: cp, state, heap })
      ctx.report(impl.name, `state @${label(cp)}`, state, 'bytes')
      ctx.report(impl.name, `heap (3 replicas) @${label(cp)}`, heap, 'bytes')
      if (stats['structs'] !== undefined) ctx.report(impl.name, `structs @${label(cp)}`, stats['structs'], 'structs')
      if (cp > from) ctx.report(impl.name, `cycles/s ${label(from)}..${label(cp)}`, (cp - from) / seconds, 'cycles/s')
      ctx.report(`${impl.name}/fresh`, `state @${label(cp)}`, state / ref.state, 'x')
      ctx.report(`${impl.name}/fresh`, `heap @${label(cp)}`, heap / ref.heap, 'x')
      bar.done()
      console.error(`  ${impl.name} @${label(cp)}: state ${fmtBytes(state)} (fresh ${fmtBytes(ref.state)}), heap ${fmtBytes(heap)} (fresh ${fmtBytes(ref.heap)})`)
    }
  } finally {
    bar.done()
    set.destroy()
  }
  return out
}

/** The churn scenario. */
export const churn: Scenario = {
  name: 'churn',
  description: 'state and heap after 0..1M add/remove cycles, 1k live, 3 replicas, vs a fresh store and a flat Y.Map',
  budgetSeconds: { full: 2400, quick: 75 },
  run: async (ctx) => {
    const checkpoints = ctx.quick ? [0, 20_000, 50_000] : [0, 100_000, 500_000, 1_000_000]
    const lastLabel = label(checkpoints[checkpoints.length - 1] ?? 0)
    const fresh = new Map<number, Fresh>()
    for (const impl of [profileStore, flatYMap]) {
      const cps = await runOne(ctx, impl, checkpoints, fresh)
      const first = cps[0]
      const lastCp = cps[cps.length - 1]
      const lastFresh = fresh.get(lastCp?.cycles ?? -1)
      if (first === undefined || lastCp === undefined || lastFresh === undefined) continue
      const ratio = lastCp.state / lastFresh.state
      // "Heap does not grow with the number of cycles": compare the last checkpoint with the
      // first one after 0 (the first churn warms up maps and caches once), and report the
      // growth from 0 too.
      const warm = cps[1] ?? first
      const source = ctx.quick ? `issue 2 item 4 (goal is at 1M; quick run stops at ${lastLabel})` : 'issue 2 item 4'
      const flatMetric = `heap ${label(warm.cycles)}..${lastLabel}`
      if (impl === profileStore) {
        ctx.goal(`${impl.name}/fresh`, `state @${lastLabel} (goal)`, ratio, 'x', '<=', 3, source)
        ctx.goal(impl.name, flatMetric, lastCp.heap / warm.heap, 'x', '<=', 1.25, `${source}: heap flat in cycles, read as <= 1.25x from the first checkpoint after 0 to the last`)
      } else {
        ctx.report(impl.name, flatMetric, lastCp.heap / warm.heap, 'x')
      }
      ctx.report(impl.name, `heap 0..${lastLabel}`, lastCp.heap / first.heap, 'x')
      ctx.report(impl.name, `heap growth per cycle ${label(warm.cycles)}..${lastLabel}`, lastCp.cycles > warm.cycles ? (lastCp.heap - warm.heap) / (lastCp.cycles - warm.cycles) : 0, 'bytes/cycle')
      ctx.report(impl.name, `state growth per cycle 0..${lastLabel}`, lastCp.cycles > 0 ? (lastCp.state - first.state) / lastCp.cycles : 0, 'bytes/cycle')
    }
  }
}
