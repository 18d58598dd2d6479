/**
 * Admission (issue 4 item 1): one node decides check-size-then-add for a stream of new calls
 * against a limit, through the store's public API (`tryAcquire`, eventual mode), while calls
 * end at random (untimed). Latency is the answer the caller waits for, and the same plus the
 * store's write into its document (`flushWrites`, done at the end of the task); throughput is
 * bursts of decisions together with their write. The same trace runs against Redis doing the check-and-add in one
 * Lua script over loopback. Latency per decision (median, p99) and decisions per second.
 * Checks: the store's count equals the trace's live set, never exceeded the limit, and a peer
 * fed with the store's updates holds the same set; the same for the Redis set.
 * Goals: >= 10x lower latency than Redis; >= 200,000 decisions/s on one core.
 */
import type { BenchContext, Scenario } from '../lib/types.js'
import { createRng, dialogId, subSeed } from '../lib/prng.js'
import type { Rng } from '../lib/prng.js'
import { LatencyRecorder, nowNs } from '../lib/stats.js'
import { PROFILE, createStore, flushWrites } from '../implementations/profile-store.js'
import { RedisAdmission, connectRedis } from '../implementations/redis.js'

const LIMIT = 1000
/** After each decision, a random live call ends with this probability: the store hovers at the limit, some 5% refused. */
const END_P = 0.95
/** Decisions per timed chunk in the throughput pass. */
const CHUNK = 1000

interface Figures { p50: number, p99: number, perSecond: number }

/** Ends a random live call of `live` (swap-remove); returns it. */
/** The dialog ids of calls `from` to `to` (exclusive), made before a timed chunk. */
const chunkIds = (from: number, to: number): string[] => {
  const ids: string[] = []
  for (let k = from; k < to; k++) ids.push(dialogId(k, 'adm'))
  return ids
}

const pickEnd = (rng: Rng, live: string[]): string | undefined => {
  if (live.length === 0) return undefined
  const j = rng.int(live.length)
  const d = live[j]
  const lastD = live[live.length - 1]
  if (lastD !== undefined) live[j] = lastD
  live.pop()
  return d
}

const sameSet = (a: readonly string[], b: readonly string[]): boolean => {
  if (a.length !== b.length) return false
  const s = new Set(a)
  return b.every((x) => s.has(x))
}

interface StoreFigures extends Figures { p50Write: number, p99Write: number }

const runStore = (ctx: BenchContext, nLatency: number, nThroughput: number): StoreFigures => {
  const seed = subSeed(ctx.seed, 'admission')
  const rng = createRng(seed)
  const store = createStore(0, seed)
  const peer = createStore(1, seed)
  peer.setOwnerStatus(store.nodeId, store.incarnation, 'live')
  const FROM = Symbol('peer link')
  // The transport's share of the work: every local update is handed over (queued) at once;
  // the peer applies them between timed sections.
  let pending: Uint8Array[] = []
  let bytes = 0
  const off = store.onUpdate((u, origin) => { if (origin === store) { pending.push(u); bytes += u.byteLength } })
  const deliver = (): void => {
    flushWrites(store)
    for (const u of pending) peer.applyUpdate(u, FROM)
    pending = []
  }
  const endOne = (live: string[]): void => {
    const e = pickEnd(rng, live)
    if (e !== undefined) store.remove(e, PROFILE)
  }
  const bar = ctx.progress('ProfileStore', nLatency + nThroughput)
  try {
    const live: string[] = []
    // The answer the caller waits for (tryAcquire), and the same plus the document write the
    // store does at the end of the task (flushWrites): one INVITE per event-loop task.
    const lat = new LatencyRecorder(nLatency)
    const latWrite = new LatencyRecorder(nLatency)
    let maxSize = 0
    let refused = 0
    let i = 0
    for (; i < nLatency; i++) {
      const d = dialogId(i, 'adm')
      const t0 = nowNs()
      const r = store.tryAcquire(d, PROFILE, undefined, LIMIT)
      const t1 = nowNs()
      flushWrites(store)
      const t2 = nowNs()
      lat.record(t1 - t0)
      latWrite.record(t2 - t0)
      if (r.admitted) live.push(d)
      else refused++
      if (r.size > maxSize) maxSize = r.size
      if (rng.next() < END_P) { endOne(live); flushWrites(store) }
      if ((i & 1023) === 1023) { deliver(); bar.update(i); ctx.checkBudget() }
    }
    // Throughput: bursts of CHUNK decisions and their document write, timed as a whole (no
    // per-call timer); calls end between bursts, untimed.
    let decideNs = 0
    const end = i + nThroughput
    while (i < end) {
      const firstOfChunk = i
      const chunkEnd = Math.min(end, i + CHUNK)
      const ids = chunkIds(i, chunkEnd)
      const t = nowNs()
      for (const d of ids) {
        const r = store.tryAcquire(d, PROFILE, undefined, LIMIT)
        if (r.admitted) live.push(d)
        else refused++
        if (r.size > maxSize) maxSize = r.size
      }
      flushWrites(store)
      decideNs += nowNs() - t
      i = chunkEnd
      for (let k = firstOfChunk; k < chunkEnd && live.length > LIMIT - CHUNK * END_P; k++) endOne(live)
      deliver()
      bar.update(i)
      ctx.checkBudget()
    }
    deliver()
    ctx.verify(maxSize <= LIMIT, `store admitted up to ${maxSize} > limit ${LIMIT}`)
    ctx.verify(store.size(PROFILE) === live.length, `store counts ${store.size(PROFILE)}, trace has ${live.length} live`)
    ctx.verify(sameSet(store.members(PROFILE).map((m) => m.dialog), live), 'store holds a different set than the trace')
    ctx.verify(peer.size(PROFILE) === live.length && sameSet(peer.members(PROFILE).map((m) => m.dialog), live), 'the peer did not converge to the same set')
    ctx.verify(refused > 0 && refused < (nLatency + nThroughput) / 2, `trace degenerate: ${refused} refused`)
    const f: StoreFigures = {
      p50: lat.percentile(50),
      p99: lat.percentile(99),
      p50Write: latWrite.percentile(50),
      p99Write: latWrite.percentile(99),
      perSecond: nThroughput / (decideNs / 1e9)
    }
    ctx.report('ProfileStore', 'latency p50', f.p50, 'ns')
    ctx.report('ProfileStore', 'latency p99', f.p99, 'ns')
    ctx.report('ProfileStore', 'latency p50 incl. write-out', f.p50Write, 'ns')
    ctx.report('ProfileStore', 'latency p99 incl. write-out', f.p99Write, 'ns')
    ctx.report('ProfileStore', 'decisions/s, one per task', 1e9 / (latWrite.total() / latWrite.count), 'ops/s')
    ctx.report('ProfileStore', 'update bytes per decision', bytes / (nLatency + nThroughput), 'bytes')
    ctx.report('ProfileStore', 'refused', refused / (nLatency + nThroughput) * 100, '%')
    ctx.goal('ProfileStore', `decisions/s, bursts of ${CHUNK}`, f.perSecond, 'ops/s', '>=', 200_000, 'issue 4 item 1')
    return f
  } finally {
    bar.done()
    off()
    store.destroy()
    peer.destroy()
  }
}

const runRedis = async (ctx: BenchContext, nLatency: number, nThroughput: number): Promise<Figures | null> => {
  const server = await ctx.redis()
  if (server === null) return null
  const seed = subSeed(ctx.seed, 'admission')
  const rng = createRng(seed)
  const client = await connectRedis(server)
  const bar = ctx.progress('Redis Lua', nLatency + nThroughput)
  try {
    const redis = new RedisAdmission(client, `dp:bench:admission:${ctx.seed}`)
    await redis.init()
    const live: string[] = []
    const lat = new LatencyRecorder(nLatency)
    let maxSize = 0
    let i = 0
    for (; i < nLatency; i++) {
      const d = dialogId(i, 'adm')
      const t = nowNs()
      const r = await redis.acquire(d, LIMIT)
      lat.record(nowNs() - t)
      if (r.admitted) live.push(d)
      if (r.size > maxSize) maxSize = r.size
      if (rng.next() < END_P) {
        const e = pickEnd(rng, live)
        if (e !== undefined) await redis.end(e)
      }
      if ((i & 255) === 255) { bar.update(i); ctx.checkBudget() }
    }
    // Throughput: a chunk of decisions in flight at once on one connection (ioredis pipelines).
    let decideNs = 0
    const end = i + nThroughput
    while (i < end) {
      const firstOfChunk = i
      const chunkEnd = Math.min(end, i + CHUNK)
      const ids = chunkIds(i, chunkEnd)
      const t = nowNs()
      const rs = await Promise.all(ids.map(async (d) => await redis.acquire(d, LIMIT)))
      decideNs += nowNs() - t
      rs.forEach((r, k) => {
        const d = ids[k]
        if (r.admitted && d !== undefined) live.push(d)
        if (r.size > maxSize) maxSize = r.size
      })
      i = chunkEnd
      const ends: Promise<void>[] = []
      for (let k = firstOfChunk; k < chunkEnd && live.length > LIMIT - CHUNK * END_P; k++) {
        const e = pickEnd(rng, live)
        if (e !== undefined) ends.push(redis.end(e))
      }
      await Promise.all(ends)
      bar.update(i)
      ctx.checkBudget()
    }
    ctx.verify(maxSize <= LIMIT, `Redis admitted up to ${maxSize} > limit ${LIMIT}`)
    ctx.verify(await redis.size() === live.length, 'Redis set size differs from the trace')
    ctx.verify(sameSet(await redis.members(), live), 'Redis holds a different set than the trace')
    const f: Figures = { p50: lat.percentile(50), p99: lat.percentile(99), perSecond: nThroughput / (decideNs / 1e9) }
    ctx.report('Redis Lua', 'latency p50', f.p50, 'ns')
    ctx.report('Redis Lua', 'latency p99', f.p99, 'ns')
    ctx.report('Redis Lua', `decisions/s (${CHUNK} in flight)`, f.perSecond, 'ops/s')
    ctx.report('Redis Lua', 'decisions/s (1 in flight)', 1e9 / (lat.total() / lat.count), 'ops/s')
    return f
  } finally {
    bar.done()
    client.disconnect()
  }
}

/** The admission scenario. */
export const admission: Scenario = {
  name: 'admission',
  description: 'check-and-add decisions on one node: ProfileStore.tryAcquire vs a Redis Lua script on loopback',
  budgetSeconds: { full: 600, quick: 40 },
  run: async (ctx) => {
    const store = runStore(ctx, ctx.quick ? 100_000 : 500_000, ctx.quick ? 200_000 : 1_000_000)
    const redis = await runRedis(ctx, ctx.quick ? 5_000 : 50_000, ctx.quick ? 20_000 : 200_000)
    if (redis === null) return
    ctx.goal('Redis/ProfileStore', 'latency p50', redis.p50 / store.p50, 'x', '>=', 10, 'issue 4 item 1')
    ctx.report('Redis/ProfileStore', 'latency p99', redis.p99 / store.p99, 'x')
    ctx.report('Redis/ProfileStore', 'latency p50 incl. write-out', redis.p50 / store.p50Write, 'x')
    ctx.report('Redis/ProfileStore', 'latency p99 incl. write-out', redis.p99 / store.p99Write, 'x')
    ctx.report('ProfileStore/Redis', 'decisions/s', store.perSecond / redis.perSecond, 'x')
  }
}
