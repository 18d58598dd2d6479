/**
 * Two real daemons in --mode strict over HTTP: admissions on both never exceed the cluster-wide
 * limit (each admits against the rights it holds), and ends anywhere give the capacity back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FAST, eventually, form, http, size, startDaemon, stopAll } from './support.js'
import type { DaemonProcess } from './support.js'

const STRICT = ['--mode', 'strict', '--profile', 'total', '--admission-node', 'a', '--admission-node', 'b', ...FAST]
let a: DaemonProcess
let b: DaemonProcess

beforeAll(async () => {
  a = await startDaemon(['--node-id', 'a', ...STRICT])
  b = await startDaemon(['--node-id', 'b', ...STRICT, '--peer', a.ws])
  for (const n of [a, b]) await eventually(async () => (await http('GET', `${n.http}/readyz`)).status === 200, 10_000, 'ready')
})
afterAll(stopAll)

describe('strict mode across two daemons', () => {
  it('never admits more than the limit cluster-wide, and ends give the capacity back', async () => {
    const admitted: Array<{ id: string, node: DaemonProcess }> = []
    for (let i = 0; i < 12; i++) {
      const node = i % 2 === 0 ? a : b
      const r = await form(`${node.http}/v1/acquire`, { dialog: `c${i}`, profile: 'total', limit: 4 })
      expect([200, 429]).toContain(r.status)
      if (r.status === 200) admitted.push({ id: `c${i}`, node })
    }
    expect(admitted.length).toBeGreaterThan(0)
    expect(admitted.length).toBeLessThanOrEqual(4)
    await eventually(async () => (await size(a.http, 'total')) === admitted.length && (await size(b.http, 'total')) === admitted.length, 10_000, 'both see every admitted call')
    // BYEs on the other node than the one that admitted
    for (const c of admitted) expect((await http('POST', `${(c.node === a ? b : a).http}/v1/dialogs/${c.id}/end`, 'reason=bye')).status).toBe(204)
    await eventually(async () => (await size(a.http, 'total')) === 0 && (await size(b.http, 'total')) === 0, 10_000, 'every call ended')
    // the capacity is back: new calls are admitted again (rights move to where they are asked for)
    await eventually(async () => (await form(`${a.http}/v1/acquire`, { dialog: `again-${Date.now()}`, profile: 'total', limit: 4 })).status === 200, 10_000, 'admitted again')
  })
})

describe('strict mode with --admission-wait-ms', () => {
  it('a call without a spare right waits for the rights its node asked for instead of being refused at once', async () => {
    const WAIT = ['--mode', 'strict', '--profile', 'total', '--admission-node', 'c', '--admission-node', 'd', '--admission-wait-ms', '3000', ...FAST]
    const c = await startDaemon(['--node-id', 'c', ...WAIT])
    const d = await startDaemon(['--node-id', 'd', ...WAIT, '--peer', c.ws])
    for (const n of [c, d]) await eventually(async () => (await http('GET', `${n.http}/readyz`)).status === 200, 10_000, 'ready')
    // limit 4 split over c and d: c holds 2 rights; four calls arrive at c at once
    const answers = await Promise.all([0, 1, 2, 3].map(async (i) => (await form(`${c.http}/v1/acquire`, { dialog: `w${i}`, profile: 'total', limit: 4 })).status))
    // c admits past its own 2 rights with what d granted, never past the limit
    const admitted = answers.filter((s) => s === 200).length
    expect(admitted).toBeGreaterThanOrEqual(3)
    expect(answers.every((s) => s === 200 || s === 429)).toBe(true)
    // one more: admitted only while the cluster is below the limit
    const fifth = (await form(`${c.http}/v1/acquire`, { dialog: 'w4', profile: 'total', limit: 4 })).status
    const total = admitted + (fifth === 200 ? 1 : 0)
    expect(total).toBeLessThanOrEqual(4)
    if (admitted === 4) expect(fifth).toBe(429)
    await eventually(async () => (await size(d.http, 'total')) === total, 10_000, 'd sees the admitted calls')
  })
})
