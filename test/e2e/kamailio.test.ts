/**
 * Real Kamailio proxies enforcing a cluster-wide limit through real daemons, driven by SIPp:
 * three hosts on loopback, each a daemon and a Kamailio running examples/kamailio/kamailio.cfg
 * against it, one SIPp UAS behind them, SIPp UACs spreading calls over the proxies.
 *
 * The whole scenario runs twice: in strict mode, where the test asserts that the limit is never
 * exceeded, and in eventual mode, where it asserts that the overshoot, if any, is reported by
 * the daemons (their sizes equal the calls the proxies really hold) and prints it.
 * Figures (calls, limit, most calls admitted at once, worker blocking time per http_client call)
 * go to the console and to test-output/e2e/kamailio-<mode>.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { KAMAILIO, SIPP, describeWith } from './support/components.js'
import { stopAll } from './support.js'
import { killDaemon, sizeOn, startCluster } from './support/daemons.js'
import type { DaemonHandle } from './support/daemons.js'
import { ProcessGroup, sleep, waitUntil } from './support/processes.js'
import { activeDialogs, kamailioLog, maxConcurrent, percentile, startKamailio, startUac, startUas } from './support/sip.js'
import type { Kamailio } from './support/sip.js'

const OUT = join(import.meta.dirname, '..', '..', 'test-output', 'e2e')
const LIMIT = 20
const LIVENESS_MS = 1000
const GRACE_MS = 1000
/** Strict: a lease of 1 s and a margin of 0.5 s, so a dead host's rights are reclaimed within about as long as liveness takes to drop its calls; a call without a spare right waits up to 1 s for the rights its node asked for. */
const LEASE_MS = 1000
const LEASE_MARGIN_MS = 500
const STRICT_ARGS = ['--admission-lease-ms', String(LEASE_MS), '--admission-lease-margin-ms', String(LEASE_MARGIN_MS), '--admission-wait-ms', '1000']

for (const mode of ['strict', 'eventual'] as const) describeWith(`Kamailio + SIPp through the daemons (3 hosts, ${mode} mode)`, [KAMAILIO, SIPP], () => {
  const group = new ProcessGroup()
  let daemons: DaemonHandle[] = []
  let proxies: Kamailio[] = []
  const figures: Record<string, unknown> = {}

  const sizes = async (ds: readonly DaemonHandle[] = daemons): Promise<number[]> => await Promise.all(ds.map(async (d) => await sizeOn(d, 'total')))
  const dialogs = async (ks: readonly Kamailio[] = proxies): Promise<number> => (await Promise.all(ks.map(activeDialogs))).reduce((a, b) => a + b, 0)
  const allAre = async (n: number, ds?: readonly DaemonHandle[]): Promise<boolean> => (await sizes(ds)).every((s) => s === n)

  beforeAll(async () => {
    daemons = await startCluster({ size: 3, profiles: ['total'], mode, livenessTimeoutMs: LIVENESS_MS, graceMs: GRACE_MS, ...(mode === 'strict' ? { args: STRICT_ARGS } : {}) })
    const uas = await startUas(group)
    proxies = await Promise.all(daemons.map(async (d, i) => await startKamailio(group, `kamailio-${i + 1}`, { daemonHttp: d.http, nextHop: `sip:127.0.0.1:${uas.port}`, limit: LIMIT })))
    figures['mode'] = mode
    figures['limit'] = LIMIT
  }, 120_000)

  afterAll(async () => {
    await group.stopAll()
    await stopAll()
    const logs = proxies.map(kamailioLog)
    const acquireUs = logs.flatMap((l) => l.acquireUs)
    const endUs = logs.flatMap((l) => l.endUs)
    const us = (xs: number[]): Record<string, number> => ({ calls: xs.length, p50: percentile(xs, 50), p90: percentile(xs, 90), p99: percentile(xs, 99), max: Math.max(...xs) })
    figures['workerBlockedUs'] = { acquire: us(acquireUs), end: us(endUs) }
    mkdirSync(OUT, { recursive: true })
    writeFileSync(join(OUT, `kamailio-${mode}.json`), JSON.stringify({ date: new Date().toISOString(), ...figures }, null, 2) + '\n')
    console.log(`Kamailio e2e figures (${join(OUT, `kamailio-${mode}.json`)}):\n${JSON.stringify(figures, null, 2)}`)
  })

  it(`calls past the cluster-wide limit get 503; ${'the daemons report every admitted call'}; counts return to 0`, async () => {
    const perProxy = 25
    const runs = await Promise.all(proxies.map(async (k, i) => await startUac(group, `uac-limit-${i + 1}`, { proxyPort: k.sipPort, calls: perProxy, rate: 50, holdMs: 6000 })))
    // Every call answered (admitted or refused) while the admitted ones are still held.
    await waitUntil(() => runs.every((r) => { const c = r.calls(); return c.admitted.length + c.refused.length === perProxy }), 'every call to be answered', 20_000)
    const held = runs.reduce((n, r) => n + r.calls().admitted.length, 0)
    await waitUntil(async () => await allAre(held), `every daemon to count the ${held} admitted calls`, 5000)
    expect(await dialogs()).toBe(held)
    const results = await Promise.all(runs.map(async (r) => await r.done()))
    expect(results.map((r) => r.code)).toEqual([0, 0, 0])
    const admitted = results.reduce((n, r) => n + r.admitted.length, 0)
    const refused = results.reduce((n, r) => n + r.refused.length, 0)
    expect(admitted + refused).toBe(3 * perProxy)
    expect(refused).toBeGreaterThan(0)
    const logs = proxies.map(kamailioLog)
    // Every 503 the UACs saw was a refusal by a daemon, and the other way round.
    expect(logs.reduce((n, l) => n + l.refusals.length, 0)).toBe(refused)
    const peak = maxConcurrent(logs.flatMap((l) => l.admits), logs.flatMap((l) => l.ends))
    figures['limitRun'] = { offered: 3 * perProxy, proxies: 3, ratePerProxy: 50, holdMs: 6000, admitted, refused, maxConcurrentAdmitted: peak, heldWhenAllAnswered: held, overshoot: Math.max(0, peak - LIMIT) }
    expect(peak).toBeGreaterThanOrEqual(LIMIT)
    if (mode === 'strict') expect(peak).toBeLessThanOrEqual(LIMIT)
    else console.log(`eventual mode: most calls admitted at once ${peak} for a limit of ${LIMIT} (overshoot ${Math.max(0, peak - LIMIT)}, reported by every daemon's size)`)
    await waitUntil(async () => await allAre(0), 'every daemon to count 0 once all calls ended', 10_000)
    expect(await dialogs()).toBe(0)
  }, 90_000)

  it('retransmitted INVITEs and double BYEs do not skew the counts', async () => {
    const long = await Promise.all(proxies.map(async (k, i) => await startUac(group, `uac-long-${i + 1}`, { proxyPort: k.sipPort, calls: 3, rate: 20, holdMs: 600_000 })))
    await waitUntil(async () => await allAre(9), 'the 9 long calls to count everywhere', 15_000)
    const [k1, k2] = proxies as [Kamailio, Kamailio]
    const before = kamailioLog(k1).admits.length
    const retrans = await startUac(group, 'uac-retransmit', { proxyPort: k1.sipPort, scenario: 'uac-retransmit.xml', calls: 5, rate: 10, holdMs: 1500 })
    const doubleBye = await startUac(group, 'uac-double-bye', { proxyPort: k2.sipPort, scenario: 'uac-double-bye.xml', calls: 5, rate: 10, holdMs: 1500 })
    const [r, d] = [await retrans.done(), await doubleBye.done()]
    expect([r.code, d.code]).toEqual([0, 0])
    if (mode === 'eventual') expect([r.admitted.length, d.admitted.length]).toEqual([5, 5])
    else {
      // strict: a proxy admits against its node's rights (the limit's share, plus what peers
      // granted meanwhile); a call that finds none is refused at once, never counted
      expect([r.admitted.length + r.refused.length, d.admitted.length + d.refused.length]).toEqual([5, 5])
      expect(r.admitted.length).toBeGreaterThan(0)
    }
    // Ten INVITEs on the wire, one acquire per admitted call: tm absorbed the retransmissions.
    // (Only this UAC's calls: the log line of a long call's acquire can land after `before`.)
    const ours = new Set(r.admitted)
    const acquired = kamailioLog(k1).admits.slice(before).map((a) => a.callId).filter((id) => ours.has(id))
    expect(new Set(acquired).size).toBe(r.admitted.length)
    expect(acquired).toHaveLength(r.admitted.length)
    // The second BYEs took nothing away from the other calls: the 9 long calls still count 9.
    await waitUntil(async () => await allAre(9), 'the counts to settle at the 9 long calls', 10_000)
    await sleep(500)
    expect(await sizes()).toEqual([9, 9, 9])
    expect(await dialogs()).toBe(9)
    figures['retransmitAndDoubleBye'] = { retransmittedInviteCalls: 5, doubleByeCalls: 5, heldMeanwhile: 9, sizesAfter: await sizes() }
    hostCalls = long
  }, 90_000)

  let hostCalls: Array<Awaited<ReturnType<typeof startUac>>> = []

  it('killing one host (daemon and Kamailio) removes its calls from the survivors, which then admit up to the limit (eventual), or (strict) up to it once they reclaimed its rights, never above', async () => {
    expect(hostCalls).toHaveLength(3)
    const [d1, d2, d3] = daemons as [DaemonHandle, DaemonHandle, DaemonHandle]
    const [k1, k2, k3] = proxies as [Kamailio, Kamailio, Kamailio]
    const survivors = [d1, d2]
    expect(await sizes()).toEqual([9, 9, 9])
    const killedAt = Date.now()
    await Promise.all([killDaemon(d3), k3.proc.killGroup(), (hostCalls[2] as Awaited<ReturnType<typeof startUac>>).proc.kill()])
    await waitUntil(async () => await allAre(6, survivors), 'the survivors to drop the dead host\'s 3 calls', 20_000)
    const droppedAfterMs = Date.now() - killedAt
    // strict: the survivors reclaim the dead host's rights lease + margin after its last grant
    // (by now, or a little later on a loaded machine: a call short of rights waits for them)
    if (mode === 'strict') await sleep(Math.max(0, LEASE_MS + LEASE_MARGIN_MS + 500 - droppedAfterMs))
    // Admissions one proxy after the other.
    const first = await startUac(group, 'uac-after-1', { proxyPort: k1.sipPort, calls: 8, rate: 10, holdMs: 600_000 })
    await waitUntil(() => first.calls().admitted.length + first.calls().refused.length === 8, 'the first proxy\'s 8 calls', 20_000)
    const second = await startUac(group, 'uac-after-2', { proxyPort: k2.sipPort, calls: 8, rate: 10, holdMs: 600_000 })
    await waitUntil(() => second.calls().admitted.length + second.calls().refused.length === 8, 'the second proxy\'s 8 calls', 20_000)
    const admittedAfterwards = first.calls().admitted.length + second.calls().admitted.length
    const refusedAfterwards = first.calls().refused.length + second.calls().refused.length
    await waitUntil(async () => await allAre(6 + admittedAfterwards, survivors), `the survivors to count ${6 + admittedAfterwards}`, 5000)
    expect(await dialogs([k1, k2])).toBe(6 + admittedAfterwards)
    if (mode === 'eventual') {
      // The dead host's capacity is free again: exactly up to the limit.
      expect(first.calls().admitted).toHaveLength(8)
      expect(second.calls().admitted).toHaveLength(6)
      expect(second.calls().refused).toHaveLength(2)
      expect(6 + admittedAfterwards).toBe(LIMIT)
    } else {
      // Strict: once the survivors reclaimed the dead incarnation's rights (its 3 calls' and its
      // spare ones), they admit past what they held alone (LIMIT - 3), never past the limit
      expect(6 + admittedAfterwards).toBeLessThanOrEqual(LIMIT)
      expect(6 + admittedAfterwards).toBeGreaterThan(LIMIT - 3)
      expect(refusedAfterwards).toBe(16 - admittedAfterwards)
    }
    figures['hostKilled'] = { mode, callsOnKilledHost: 3, livenessTimeoutMs: LIVENESS_MS, graceMs: GRACE_MS, droppedFromSurvivorsAfterMs: droppedAfterMs, admittedAfterwards, refusedAfterwards, survivorsSize: await sizes(survivors), unusedAfterwards: LIMIT - 6 - admittedAfterwards, ...(mode === 'strict' ? { leaseMs: LEASE_MS, leaseMarginMs: LEASE_MARGIN_MS } : {}) }
  }, 90_000)
})
