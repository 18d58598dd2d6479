/**
 * Strict vs eventual admission (issue 9 item 7), on replicas in one process joined by a
 * simulated network with a fixed one-way delay (virtual time, 1 ms steps): the same seeded
 * arrival trace (Poisson arrivals spread over the nodes, exponential call durations, each BYE on
 * a random node) is admitted by
 * - one central counter (the reference: admit when fewer than L calls run),
 * - eventual mode (each node checks its own view of the cluster-wide size),
 * - strict mode (each node spends rights it holds, asks its peers when short).
 * Figures: eventual-mode overshoot (most calls running at once − L) against nodes, arrival rate
 * and delay; strict utilization = calls strict admitted / calls the central counter admitted;
 * the time a node without rights waits for some (in round trips); and decisions/s of a strict
 * admission that holds rights against an eventual one (wall clock, same process).
 * Checks: strict never runs more than L calls; every replica ends with the same memberships.
 */
import type { BenchContext, Scenario } from '../lib/types.js'
import { createRng, dialogId, subSeed } from '../lib/prng.js'
import { nowNs } from '../lib/stats.js'
import { Admission, ProfileStore } from '../../src/index.js'

const PROFILES = [{ name: 'ev', withValue: true }, { name: 'st', withValue: true, admission: 'strict' as const }]
const LIMIT = 50
const VALUE = 'trunk-1'

interface Net {
  readonly stores: ProfileStore[]
  readonly adm: Admission[]
  now: number
  /** Delivers what is due at `now`. */
  step (): void
  destroy (): void
}

/** N replicas whose updates reach each other `delayMs` after they were written. */
const makeNet = (n: number, delayMs: number, seed: number): Net => {
  const nodes = Array.from({ length: n }, (_, i) => `n${i}`)
  const time = { now: 0 }
  const stores = nodes.map((nodeId, i) => new ProfileStore({ nodeId, profiles: PROFILES, incarnation: 1, clientId: 1000 + i + seed % 1000 * 16, clock: () => time.now }))
  const queue: Array<{ at: number, to: number, u: Uint8Array }> = []
  const FROM = Symbol('net')
  stores.forEach((s, i) => s.onUpdate((u, origin) => {
    if (origin === FROM) return
    for (let j = 0; j < n; j++) if (j !== i) queue.push({ at: time.now + delayMs, to: j, u })
  }))
  // leases (3 or more nodes) on the virtual clock, renewed as ClusterNode's timer does
  const adm = stores.map(s => new Admission(s, { nodes, clock: () => time.now }))
  const net: Net = {
    stores,
    adm,
    get now () { return time.now },
    set now (v: number) { time.now = v },
    step () {
      for (const a of adm) a.renewLeases()
      for (const s of stores) s.flushWrites()
      let k = 0
      while (k < queue.length && (queue[k] as { at: number }).at <= net.now) k++
      const due = queue.splice(0, k)
      for (const m of due) (stores[m.to] as ProfileStore).applyUpdate(m.u, FROM)
      for (const s of stores) s.flushWrites()
    },
    destroy () { for (const a of adm) a.destroy(); for (const s of stores) s.destroy() }
  }
  // the cluster starts connected: every node learns and seals the others
  for (let t = 0; t < 10 * delayMs + 10; t++) { net.now++; net.step() }
  return net
}

interface Trace { readonly arrivals: Array<{ at: number, node: number, dialog: string, ends: number, byeAt: number }> }

const makeTrace = (seed: number, nodes: number, ratePerS: number, meanMs: number, durationMs: number): Trace => {
  const rng = createRng(seed)
  const arrivals: Trace['arrivals'] = []
  let t = 0
  for (let i = 0; ; i++) {
    t += -Math.log(1 - rng.next()) * 1000 / ratePerS
    if (t >= durationMs) break
    arrivals.push({ at: Math.floor(t), node: rng.int(nodes), dialog: dialogId(i, 'sa'), ends: Math.floor(t + -Math.log(1 - rng.next()) * meanMs) + 1, byeAt: rng.int(nodes) })
  }
  return { arrivals }
}

type Arrival = Trace['arrivals'][number]

/** A replay's outcome: admitted calls, most calls running at once, and the admissions that waited (count, summed wait in ms). */
interface Replayed { readonly admitted: number, readonly peak: number, readonly waited: number, readonly waitedMs: number }

/**
 * Replays the trace ms by ms: `decide` admits or refuses an arrival; a refused one is tried again
 * every ms until `waitMs` after its arrival. `end` releases a call at its end, or, when its BYE
 * arrives at another node than the INVITE, no earlier than the call's record reaches that node
 * (`delayMs` after the admission): a proxy knows a dialog only once its INVITE passed or its
 * record arrived. The central counter is replayed with the same `delayMs`, so both see the same
 * release at the same time. @returns admitted calls and most calls running at once.
 */
const replay = (ctx: BenchContext, trace: Trace, waitMs: number, delayMs: number, decide: (a: Arrival) => boolean, end: (a: Arrival) => void, step: (t: number) => void): Replayed => {
  const endAt = new Map<number, Arrival[]>()
  let waiting: Arrival[] = []
  let running = 0
  let peak = 0
  let admitted = 0
  let waited = 0
  let waitedMs = 0
  let next = 0
  const last = (trace.arrivals[trace.arrivals.length - 1]?.ends ?? 0) + waitMs + delayMs + 1
  for (let t = 0; t <= last; t++) {
    for (const a of endAt.get(t) ?? []) { end(a); running-- }
    endAt.delete(t)
    while (next < trace.arrivals.length && (trace.arrivals[next] as Arrival).at <= t) waiting.push(trace.arrivals[next++] as Arrival)
    const still: Arrival[] = []
    for (const a of waiting) {
      if (decide(a)) {
        admitted++
        if (t > a.at) { waited++; waitedMs += t - a.at }
        running++
        if (running > peak) peak = running
        // the record written at t is delivered during step(t + delayMs): known from t + delayMs + 1
        const at = Math.max(a.ends, t + 1, a.byeAt !== a.node ? t + delayMs + 1 : 0)
        const list = endAt.get(at) ?? []
        list.push(a)
        endAt.set(at, list)
      } else if (t < a.at + waitMs) still.push(a)
    }
    waiting = still
    step(t)
    if ((t & 1023) === 0) ctx.checkBudget()
  }
  return { admitted, peak, waited, waitedMs }
}

/** The central counter on the trace (one counter, no network). */
const central = (ctx: BenchContext, trace: Trace, waitMs: number, delayMs: number): Replayed => {
  let count = 0
  return replay(ctx, trace, waitMs, delayMs, () => { if (count >= LIMIT) return false; count++; return true }, () => { count-- }, () => {})
}

/** Runs the trace through the cluster in one mode: admitted calls and most calls running at once. */
const runMode = (ctx: BenchContext, trace: Trace, n: number, delayMs: number, profile: 'ev' | 'st', seed: number, waitMs: number): Replayed => {
  const net = makeNet(n, delayMs, seed)
  try {
    const start = net.now
    const keys = [{ profile, value: VALUE, limit: LIMIT }]
    let lost = 0
    const r = replay(ctx, trace, waitMs, delayMs,
      a => (net.adm[a.node] as Admission).acquire(a.dialog, keys).admitted,
      a => { if ((net.adm[a.byeAt] as Admission).release(a.dialog) !== 1) lost++ },
      t => { net.now = start + t + 1; net.step() })
    ctx.verify(lost === 0, `${profile}: ${lost} BYEs found no call`)
    for (let t = 0; t < 4 * delayMs + 4; t++) { net.now++; net.step() }
    const first = JSON.stringify(net.stores[0]?.dump())
    ctx.verify(net.stores.every(s => JSON.stringify(s.dump()) === first), `${profile}: replicas did not converge`)
    if (profile === 'st') ctx.verify(r.peak <= LIMIT, `strict ran ${r.peak} calls > limit ${LIMIT}`)
    return r
  } finally { net.destroy() }
}

/** Virtual ms a node without rights waits for some when a peer has spare ones. */
const fetchLatency = (delayMs: number): number => {
  const net = makeNet(3, delayMs, 7)
  try {
    // node 0 spends its share; nodes 1 and 2 stay idle with spare rights
    let i = 0
    while (net.adm[0]?.acquire(`f${i}`, [{ profile: 'st', value: VALUE, limit: 30 }]).admitted === true) i++
    const t0 = net.now
    for (let t = 0; t < 100 * delayMs; t++) {
      net.now++
      net.step()
      if ((net.adm[0]?.strict.available('st', VALUE) ?? 0) >= 1) return net.now - t0
    }
    return Infinity
  } finally { net.destroy() }
}

/** Decisions/s of Admission.acquire on one replica of a 3-node cluster, holding rights (strict) or not (eventual). */
const decisionsPerSecond = (profile: 'ev' | 'st', n: number): number => {
  const net = makeNet(3, 1, 9)
  try {
    const a = net.adm[0] as Admission
    const keys = [{ profile, value: VALUE, limit: 3 * n }]
    a.acquire('warm', keys)
    const t = nowNs()
    for (let i = 0; i < n; i++) a.acquire(dialogId(i, 'dps'), keys)
    net.stores[0]?.flushWrites()
    return n / ((nowNs() - t) / 1e9)
  } finally { net.destroy() }
}

export const strictAdmission: Scenario = {
  name: 'strict-admission',
  description: 'eventual overshoot, strict utilization vs a central counter, rights fetch latency, strict vs eventual decisions/s',
  budgetSeconds: { full: 600, quick: 120 },
  run: async (ctx) => {
    const seconds = ctx.quick ? 4 : 20
    const meanMs = 1000
    for (const n of [3, 5]) {
      for (const delayMs of [1, 10]) {
        // steady load: offered load = the limit (λ · mean duration = L); and twice that
        for (const load of [1, 2]) {
          const rate = load * LIMIT * 1000 / meanMs
          const seed = subSeed(ctx.seed, `strict-${n}-${delayMs}-${load}`)
          const trace = makeTrace(seed, n, rate, meanMs, seconds * 1000)
          const tag = `${n} nodes, ${rate}/s, ${delayMs} ms`
          const ev = runMode(ctx, trace, n, delayMs, 'ev', seed, 0)
          ctx.report('eventual', `overshoot (${tag})`, Math.max(0, ev.peak - LIMIT), 'calls')
          // strict answering at once, and strict letting a refused call wait 2 round trips
          // for rights (the central counter gets the same wait for a free slot)
          for (const waitMs of [0, 4 * delayMs]) {
            const ref = central(ctx, trace, waitMs, delayMs)
            const st = runMode(ctx, trace, n, delayMs, 'st', seed, waitMs)
            const what = `utilization (${tag}, wait ${waitMs} ms)`
            if (load === 1 && waitMs > 0) ctx.goal('strict/central', what, st.admitted / ref.admitted * 100, '%', '>=', 95, 'issue 9 item 7')
            else ctx.report('strict/central', what, st.admitted / ref.admitted * 100, '%')
            if (load === 1 && waitMs > 0) {
              // the added latency on the trace: a strict call waits for rights, a central one for a free slot
              ctx.report('strict', `admissions that waited (${tag})`, st.waited / st.admitted * 100, '%')
              ctx.report('central', `admissions that waited (${tag})`, ref.waited / ref.admitted * 100, '%')
              ctx.report('strict', `mean wait of those (${tag})`, st.waitedMs / Math.max(1, st.waited), 'ms')
              ctx.report('central', `mean wait of those (${tag})`, ref.waitedMs / Math.max(1, ref.waited), 'ms')
            }
          }
        }
      }
    }
    for (const delayMs of [1, 10]) {
      const ms = fetchLatency(delayMs)
      ctx.report('strict', `rights fetch wait (${delayMs} ms one-way)`, ms, 'ms')
      ctx.report('strict', `rights fetch wait (${delayMs} ms one-way)`, ms / (2 * delayMs), 'RTT')
    }
    const nOps = ctx.quick ? 20_000 : 100_000
    const ev = decisionsPerSecond('ev', nOps)
    const st = decisionsPerSecond('st', nOps)
    ctx.report('eventual', 'decisions/s (Admission.acquire)', ev, 'ops/s')
    ctx.report('strict', 'decisions/s holding rights', st, 'ops/s')
    ctx.goal('strict/eventual', 'decisions/s', st / ev, 'x', '>=', 0.5, 'issue 9 item 7')
  }
}
