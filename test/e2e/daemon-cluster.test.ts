/**
 * Three real daemon processes on loopback, driven over HTTP only: convergence of admissions
 * and ends across nodes, a node killed (SIGKILL) whose calls leave the survivors' counts after
 * --liveness-timeout + --grace, and clean restarts with the same --data-dir: resumed by
 * default (its calls count again everywhere), voided with --resume false.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FAST, eventually, form, http, size, startDaemon, stopAll } from './support.js'
import type { DaemonProcess } from './support.js'

const PROFILES = ['--profile', 'total', '--profile', 'caller:value']
let a: DaemonProcess
let b: DaemonProcess
let c: DaemonProcess
let dirB: string

const sizes = async (nodes: DaemonProcess[], profile: string, value?: string): Promise<number[]> =>
  await Promise.all(nodes.map(async (n) => await size(n.http, profile, value)))

const allEqual = async (nodes: DaemonProcess[], profile: string, expected: number, value?: string): Promise<void> => {
  await eventually(async () => (await sizes(nodes, profile, value)).every((s) => s === expected), 10_000, `${profile} = ${expected} on every node`)
}

beforeAll(async () => {
  dirB = mkdtempSync(join(tmpdir(), 'dp-e2e-b-'))
  a = await startDaemon(['--node-id', 'a', ...PROFILES, ...FAST])
  b = await startDaemon(['--node-id', 'b', ...PROFILES, ...FAST, '--peer', a.ws, '--data-dir', dirB])
  c = await startDaemon(['--node-id', 'c', ...PROFILES, ...FAST, '--peer', a.ws, '--peer', b.ws])
  for (const n of [a, b, c]) await eventually(async () => (await http('GET', `${n.http}/readyz`)).status === 200, 10_000, 'ready')
})
afterAll(async () => {
  await stopAll()
  rmSync(dirB, { recursive: true, force: true })
})

describe('a cluster of three daemons', () => {
  it('converges: an admission on one node counts on every node, an end on another removes it', async () => {
    expect((await form(`${a.http}/v1/acquire`, { dialog: 'x1', profile: 'caller', value: 'alice', limit: 3 })).status).toBe(200)
    expect((await form(`${b.http}/v1/acquire`, { dialog: 'x2', profile: 'caller', value: 'alice', limit: 3 })).status).toBe(200)
    expect((await form(`${c.http}/v1/acquire`, { dialog: 'x3', profile: 'caller', value: 'alice', limit: 3 })).status).toBe(200)
    await allEqual([a, b, c], 'caller', 3, 'alice')
    // the cluster-wide limit holds once the views have converged
    const refused = await form(`${b.http}/v1/acquire`, { dialog: 'x4', profile: 'caller', value: 'alice', limit: 3 })
    expect(refused.status).toBe(429)
    expect(refused.json).toEqual({ admitted: false, size: 3, limit: 3 })
    // a BYE seen by another node ends the call everywhere
    expect((await http('DELETE', `${c.http}/v1/dialogs/x1`)).status).toBe(204)
    await allEqual([a, b, c], 'caller', 2, 'alice')
    const members = (await http('GET', `${a.http}/v1/profiles/caller/members?value=alice`)).json.members as Array<{ dialog: string, node: string }>
    expect(members.map((m) => `${m.dialog}@${m.node}`).sort()).toEqual(['x2@b', 'x3@c'])
    const cluster = (await http('GET', `${c.http}/v1/cluster`)).json
    expect(cluster.peers.filter((p: { connected: boolean }) => p.connected).length).toBe(2)
  })

  it('drops a killed node\'s calls from the survivors\' counts after the liveness timeout and grace', async () => {
    for (const id of ['k1', 'k2', 'k3']) expect((await form(`${c.http}/v1/dialogs/${id}/profiles`, { profile: 'total' })).status).toBe(204)
    expect((await form(`${a.http}/v1/dialogs/k4/profiles`, { profile: 'total' })).status).toBe(204)
    await allEqual([a, b, c], 'total', 4)
    c.signal('SIGKILL')
    await c.exited
    // c's three calls and its caller=alice call stop counting; a's call stays
    await allEqual([a, b], 'total', 1)
    await allEqual([a, b], 'caller', 1, 'alice')
    const view = (await http('GET', `${a.http}/v1/cluster`)).json
    const peerC = view.peers.find((p: { node: string | null }) => p.node === 'c')
    expect(peerC.liveness).toBe('dead')
    expect(a.logs.some((l) => l.event === 'owner-dead' && l['owner'] === 'c')).toBe(true)
  })

  it('restarts a daemon with the same --data-dir: it resumes its own calls, which count again everywhere', async () => {
    for (const id of ['r1', 'r2']) expect((await form(`${b.http}/v1/dialogs/${id}/profiles`, { profile: 'total' })).status).toBe(204)
    await allEqual([a, b], 'total', 3)
    const before = (await http('GET', `${b.http}/v1/cluster`)).json.incarnation as number
    b.signal('SIGTERM')
    expect(await b.exited).toBe(0)
    expect(b.logs.some((l) => l.event === 'stopped')).toBe(true)
    // while b is down, a stops counting b's calls once b is dead
    await allEqual([a], 'total', 1)
    b = await startDaemon(['--node-id', 'b', ...PROFILES, ...FAST, '--peer', a.ws, '--data-dir', dirB])
    expect(b.logs.some((l) => l.event === 'loaded')).toBe(true)
    expect(b.logs.find((l) => l.event === 'started')?.['resume']).toBe(true)
    await eventually(async () => (await http('GET', `${b.http}/readyz`)).status === 200, 10_000, 'b ready again')
    expect((await http('GET', `${b.http}/v1/cluster`)).json.incarnation).toBe(before)
    // b's calls are back on both nodes (the proxy still carries them); their BYEs work anywhere
    await allEqual([a, b], 'total', 3)
    const owners = (await http('GET', `${a.http}/v1/profiles/total/members`)).json.members.map((m: { dialog: string, node: string }) => `${m.dialog}@${m.node}`).sort()
    expect(owners).toEqual(['k4@a', 'r1@b', 'r2@b'])
    expect((await http('DELETE', `${a.http}/v1/dialogs/r1`)).status).toBe(204)
    await allEqual([a, b], 'total', 2)
    // new admissions on either side replicate to the other
    expect((await form(`${b.http}/v1/acquire`, { dialog: 'y1', profile: 'total', limit: 100 })).status).toBe(200)
    expect((await form(`${a.http}/v1/acquire`, { dialog: 'y2', profile: 'total', limit: 100 })).status).toBe(200)
    await allEqual([a, b], 'total', 4)
  })

  it('voids the previous run\'s calls on a restart with --resume false', async () => {
    await allEqual([a, b], 'total', 4)
    b.signal('SIGTERM')
    expect(await b.exited).toBe(0)
    b = await startDaemon(['--node-id', 'b', ...PROFILES, ...FAST, '--peer', a.ws, '--data-dir', dirB, '--resume', 'false'])
    await eventually(async () => (await http('GET', `${b.http}/readyz`)).status === 200, 10_000, 'b ready again')
    // r2 and y1 belonged to b's previous incarnation: void on both nodes
    await allEqual([a, b], 'total', 2)
  })
})
