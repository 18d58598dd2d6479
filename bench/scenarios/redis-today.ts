/**
 * Redis today (issue 4 item 6): cluster call counting as SIP stacks run it now (jambonz,
 * FreeSWITCH mod_hiredis, OpenSIPS `/s`): an INCR/DECR counter and a SADD/SREM set per
 * profile. Measures call start+end throughput, then what a client that dies mid-call leaves
 * behind (it INCRs K calls and disconnects without DECR) and what a double BYE does, next to
 * our store: the owner of K calls is declared dead by the liveness layer and the other
 * replicas stop counting its calls at once (then purge them from the document).
 */
import type { BenchContext, Scenario } from '../lib/types.js'
import { dialogId, subSeed } from '../lib/prng.js'
import { nowNs } from '../lib/stats.js'
import { JambonzCounters, connectRedis } from '../implementations/redis.js'
import { PROFILE, StoreSet, createStore } from '../implementations/profile-store.js'

/** Calls the dying client holds when it dies. */
const K = 30
const CONCURRENCY = 100

const redisRows = async (ctx: BenchContext, calls: number): Promise<void> => {
  const server = await ctx.redis()
  if (server === null) return
  const a = await connectRedis(server)
  const b = await connectRedis(server)
  try {
    const prof = new JambonzCounters(a, `bench-${ctx.seed}`)
    await prof.reset()
    // throughput: waves of CONCURRENCY calls in flight, each started then ended
    const t0 = nowNs()
    for (let i = 0; i < calls; i += CONCURRENCY) {
      const ids: string[] = []
      for (let k = i; k < Math.min(calls, i + CONCURRENCY); k++) ids.push(dialogId(k, 'jam'))
      await Promise.all(ids.map(async (d) => { await prof.start(d) }))
      await Promise.all(ids.map(async (d) => { await prof.end(d) }))
      ctx.checkBudget()
    }
    const seconds = (nowNs() - t0) / 1e9
    ctx.verify(await prof.count() === 0 && await prof.setSize() === 0, 'jambonz counters did not return to 0 after all calls ended')
    ctx.report('Redis INCR/DECR+set', `calls (start+end)/s, ${CONCURRENCY} in flight`, calls / seconds, 'calls/s')

    // a client dies mid-call: K calls started, no DECR ever
    const dying = await connectRedis(server)
    const dyingProf = new JambonzCounters(dying, prof.profile)
    for (let i = 0; i < K; i++) await dyingProf.start(dialogId(i, 'dead'))
    dying.disconnect()
    const observer = new JambonzCounters(b, prof.profile)
    const leakedCount = await observer.count()
    const leakedSet = await observer.setSize()
    ctx.verify(leakedCount === K && leakedSet === K, `expected the dead client's ${K} calls to stay counted, got ${leakedCount}/${leakedSet}`)
    ctx.report('Redis INCR/DECR+set', `counted after a client died holding ${K} calls`, leakedCount, 'calls')
    ctx.report('Redis INCR/DECR+set', `set members after a client died holding ${K} calls`, leakedSet, 'calls')
    await prof.reset()
    // a double BYE: one call ended twice
    await prof.start('double-bye')
    await prof.end('double-bye')
    await prof.end('double-bye')
    const afterDouble = await prof.count()
    ctx.verify(afterDouble === -1, `expected the counter at -1 after a double BYE, got ${afterDouble}`)
    ctx.report('Redis INCR/DECR+set', 'counter after a double BYE of 1 call', afterDouble, 'calls')
    await prof.reset()
  } finally {
    a.disconnect()
    b.disconnect()
  }
}

const storeRows = (ctx: BenchContext, calls: number): void => {
  const seed = subSeed(ctx.seed, 'redis-today')
  // throughput of the same call pattern on one replica's public API (no network: that is the point)
  const one = createStore(0, seed)
  try {
    const t0 = nowNs()
    for (let i = 0; i < calls; i += CONCURRENCY) {
      const end = Math.min(calls, i + CONCURRENCY)
      for (let k = i; k < end; k++) one.add(dialogId(k, 'jam'), PROFILE)
      for (let k = i; k < end; k++) one.remove(dialogId(k, 'jam'), PROFILE)
      ctx.checkBudget()
    }
    const seconds = (nowNs() - t0) / 1e9
    ctx.verify(one.size(PROFILE) === 0 && one.recount().ok, 'store did not return to 0 after all calls ended')
    ctx.report('ProfileStore', 'calls (start+end)/s, one replica', calls / seconds, 'calls/s')
  } finally {
    one.destroy()
  }

  // node n1 holds K calls and dies; n0 and n2 are told by the liveness layer
  const set = new StoreSet(3, seed)
  try {
    const [s0, s1, s2] = set.stores
    if (s0 === undefined || s1 === undefined || s2 === undefined) throw new Error('expected 3 stores')
    for (let i = 0; i < K; i++) set.add(1, dialogId(i, 'dead'))
    set.add(0, 'survivor-call')
    set.flush()
    ctx.verify(s0.size(PROFILE) === K + 1 && s2.size(PROFILE) === K + 1, 'replicas did not see the calls before the death')
    set.disconnect(1)
    const t0 = nowNs()
    s0.setOwnerStatus(s1.nodeId, s1.incarnation, 'dead')
    s2.setOwnerStatus(s1.nodeId, s1.incarnation, 'dead')
    const after = s0.size(PROFILE)
    const dropNs = (nowNs() - t0) / 2
    ctx.verify(after === 1 && s2.size(PROFILE) === 1, `survivors still count ${after} after the owner died`)
    ctx.report('ProfileStore', `counted after a node died holding ${K} calls`, after - 1, 'calls')
    ctx.report('ProfileStore', 'time to stop counting once declared dead', dropNs / 1000, 'us')
    const purged = s0.purgeOwner(s1.nodeId, s1.incarnation)
    set.flush()
    ctx.verify(purged === K, `purge deleted ${purged}, expected ${K}`)
    ctx.verify(s0.recount().ok && s2.recount().ok && s0.stats().memberships === 1 && s2.stats().memberships === 1, 'purge did not converge on the survivors')
    ctx.report('ProfileStore', `memberships left in the document after purge of ${K}`, s0.stats().memberships - 1, 'memberships')
    // a double remove (double BYE) of the survivor call
    set.remove(0, 'survivor-call')
    set.remove(0, 'survivor-call')
    set.remove(2, 'survivor-call')
    set.flush()
    const after2 = s0.size(PROFILE)
    ctx.verify(after2 === 0 && s2.size(PROFILE) === 0, `size after a double BYE is ${after2}, expected 0`)
    ctx.report('ProfileStore', 'size after a double BYE of 1 call', after2, 'calls')
  } finally {
    set.destroy()
  }
}

/** The redis-today scenario. */
export const redisToday: Scenario = {
  name: 'redis-today',
  description: 'jambonz-style Redis INCR/DECR + set per profile: throughput, leaks after a client dies, vs our owner-death handling',
  budgetSeconds: { full: 300, quick: 30 },
  run: async (ctx) => {
    const calls = ctx.quick ? 10_000 : 100_000
    await redisRows(ctx, calls)
    storeRows(ctx, calls)
  }
}
