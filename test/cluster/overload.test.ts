/**
 * Overload degrades, never stalls (issue 11 item 4), over real sockets with a hand-driven peer:
 * a burst of thousands of updates in one frame is applied in bounded chunks, one per
 * event-loop turn, in arrival order and each update whole; a node's heartbeats keep getting
 * through meanwhile; and a node sending thousands of updates at once splits them into bounded
 * frames. Work per turn is observed by counting the turns of a setImmediate probe, never by
 * timing anything.
 */
import * as Y from 'yjs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ClusterNode } from '../../src/index.js'
import { ProfileStore } from '../../src/profile-store.js'
import { MAX_MESSAGES_PER_TASK, MAX_SEND_FRAME_BYTES, MAX_SEND_FRAME_MESSAGES, MAX_UPDATE_BYTES_PER_TASK } from '../../src/transport/peer.js'
import { SYNC_UPDATE, decodeFrame, encodeSync } from '../../src/transport/wire.js'
import { rawClient } from './raw-client.js'
import { PROFILES, nodeFactory, stillServing, waitFor } from './support.js'

const nodes = nodeFactory()
let a: ClusterNode & { lines: string[] }
let b: ClusterNode & { lines: string[] }
/** The bursts, written before the nodes start: writing them takes this process a while. */
let burst: Uint8Array[] = []
let tiny: Uint8Array[] = []
let pair: Uint8Array[][] = []
const BURST_UPDATES = 2000
const BURST_MEMBERSHIPS = 12

beforeAll(async () => {
  burst = writerUpdates('burst', 12345, BURST_UPDATES, BURST_MEMBERSHIPS)
  tiny = writerUpdates('tiny', 23456, 10_000, 1)
  pair = [writerUpdates('left', 34567, 600, 12), writerUpdates('right', 45678, 600, 12)]
  // Heartbeats every 100 ms, suspect after 3 s of silence: far longer than any chunk of work,
  // far shorter than the multi-second stalls of applying a burst in one go (and slack for a
  // loaded test machine).
  const liveness = { heartbeatIntervalMs: 100, livenessTimeoutMs: 3000, graceMs: 2000 }
  a = await nodes.start('a', [], { authTimeoutMs: 5000, ...liveness })
  b = await nodes.start('b', [a.url()!], liveness)
  await b.ready
  await stillServing(b, a)
})
afterAll(async () => { await nodes.closeAll() })

/** Counts event-loop turns (one setImmediate per turn) until stopped. */
const turnProbe = (): { turn: () => number, stop: () => void } => {
  let turns = 0
  let running = true
  const tick = (): void => { turns++; if (running) setImmediate(tick) }
  setImmediate(tick)
  return { turn: () => turns, stop: () => { running = false } }
}

/** Updates written by a store of node `nodeId` (incarnation 1, Yjs client `clientId`), one per transaction of `perUpdate` memberships. */
const writerUpdates = (nodeId: string, clientId: number, count: number, perUpdate: number): Uint8Array[] => {
  const w = new ProfileStore({ nodeId, profiles: [...PROFILES], incarnation: 1, clientId })
  const out: Uint8Array[] = []
  w.doc.on('update', (u: Uint8Array) => { out.push(u) })
  for (let i = 0; i < count; i++) {
    for (let j = 0; j < perUpdate; j++) w.add(`${nodeId}-call-${i}-${j}@burst.example.org`, 'caller', `user-${j}`)
    w.flushWrites()
  }
  w.destroy()
  return out
}

/** Clock range [start, end) of `client`'s structs in an update, or null when it has none. */
const clockRange = (update: Uint8Array, client: number): [number, number] | null => {
  const structs = Y.decodeUpdate(update).structs.filter((s) => s.id.client === client)
  if (structs.length === 0) return null
  return [Math.min(...structs.map((s) => s.id.clock)), Math.max(...structs.map((s) => s.id.clock + s.length))]
}

/**
 * Clock up to which a holds `client`'s structs (what was applied, whatever the liveness of the
 * raw client, which sends no heartbeats and may be taken for dead once quiet).
 */
const appliedUpTo = (client: number): number => Y.getState(a.store.doc.store, client)

describe('a burst of updates in one frame', () => {
  it('is applied in chunks of bounded bytes, one chunk per event-loop turn, in arrival order, each update whole, and nobody is taken for silent', async () => {
    const updates = burst
    const total = updates.reduce((n, u) => n + u.length, 0)
    expect(total).toBeGreaterThan(16 * MAX_UPDATE_BYTES_PER_TASK) // far more than one task may apply
    const starts = new Set(updates.map((u) => clockRange(u, 12345)![0]))
    const ends = new Set(updates.map((u) => clockRange(u, 12345)![1]))

    const suspicions: string[] = []
    const offs = [
      a.on('owner-suspect', (e) => { suspicions.push(`suspect ${e.node} after ${e.silentMs} ms`) }),
      a.on('owner-dead', (e) => { suspicions.push(`dead ${e.node}`) }),
      a.on('peer-down', (e) => { suspicions.push(`down ${e.node}: ${e.reason}`) }),
      b.on('owner-suspect', (e) => { suspicions.push(`b: suspect ${e.node} after ${e.silentMs} ms`) }),
      b.on('peer-down', (e) => { suspicions.push(`b: down ${e.node}: ${e.reason}`) })
    ]
    const c = await rawClient(a.url()!, 'cluster-test-secret', 'burst')
    // Per event-loop turn of a: bytes of the transactions applied from the burst, and their clock ranges in order.
    const probe = turnProbe()
    const perTurn = new Map<number, number>()
    const applied: Array<[number, number]> = []
    const onUpdate = (u: Uint8Array): void => {
      const r = clockRange(u, 12345)
      if (r === null) return
      applied.push(r)
      perTurn.set(probe.turn(), (perTurn.get(probe.turn()) ?? 0) + u.length)
    }
    a.store.doc.on('update', onUpdate)
    try {
      c.send(Buffer.concat(updates.map((u) => encodeSync(SYNC_UPDATE, u))))
      await waitFor(() => appliedUpTo(12345) >= Math.max(...ends), 'the burst applied', 60_000)
    } finally {
      a.store.doc.off('update', onUpdate)
      probe.stop()
    }
    // Bounded work per turn: one chunk of at most MAX_UPDATE_BYTES_PER_TASK (the transaction's
    // update re-encodes what arrived, give or take a few bytes per update).
    const largest = Math.max(...perTurn.values())
    expect(largest).toBeLessThanOrEqual(MAX_UPDATE_BYTES_PER_TASK * 1.1)
    expect(perTurn.size).toBeGreaterThanOrEqual(Math.floor(total / (MAX_UPDATE_BYTES_PER_TASK * 1.1)))
    // Arrival order, contiguous, and every transaction made of whole updates.
    for (const [i, [s, e]] of applied.entries()) {
      expect(starts.has(s)).toBe(true)
      expect(ends.has(e)).toBe(true)
      if (i > 0) expect(s).toBe(applied[i - 1]![1])
    }
    expect(applied[0]![0]).toBe(0)
    expect(applied.at(-1)![1]).toBe(Math.max(...ends))
    // The burst's sender stayed connected, and a and b kept hearing each other.
    expect(c.isClosed()).toBe(false)
    expect(a.store.recount().ok).toBe(true)
    await stillServing(b, a)
    await stillServing(a, b)
    // The raw client sends no heartbeats: only its data says it is alive, and it goes quiet after the burst.
    expect(suspicions.filter((x) => !x.includes('burst'))).toEqual([])
    for (const off of offs) off()
    c.ws.terminate()
  })

  it('of 10,000 tiny updates is applied at most MAX_MESSAGES_PER_TASK per turn', async () => {
    const updates = tiny
    const c = await rawClient(a.url()!, 'cluster-test-secret', 'tiny')
    const probe = turnProbe()
    const perTurn = new Map<number, number>()
    let transactions = 0
    const starts = updates.map((u) => clockRange(u, 23456)![0])
    const onUpdate = (u: Uint8Array): void => {
      const r = clockRange(u, 23456)
      if (r === null) return
      transactions++
      // Updates of the burst this transaction applied: those starting in its clock range.
      const count = starts.filter((s) => s >= r[0] && s < r[1]).length
      perTurn.set(probe.turn(), (perTurn.get(probe.turn()) ?? 0) + count)
    }
    a.store.doc.on('update', onUpdate)
    try {
      c.send(Buffer.concat(updates.map((u) => encodeSync(SYNC_UPDATE, u))))
      await waitFor(() => appliedUpTo(23456) >= clockRange(updates.at(-1)!, 23456)![1], 'the burst applied', 60_000)
    } finally {
      a.store.doc.off('update', onUpdate)
      probe.stop()
    }
    expect(transactions).toBeGreaterThanOrEqual(10_000 / MAX_MESSAGES_PER_TASK)
    expect(Math.max(...perTurn.values())).toBeLessThanOrEqual(MAX_MESSAGES_PER_TASK)
    expect(c.isClosed()).toBe(false)
    c.ws.terminate()
  })
})

describe('bursts from two peers at once', () => {
  it('are worked off one chunk per event-loop turn in all, not one per peer', async () => {
    const clients = [await rawClient(a.url()!, 'cluster-test-secret', 'left'), await rawClient(a.url()!, 'cluster-test-secret', 'right')]
    const ids = [34567, 45678]
    const probe = turnProbe()
    const perTurn = new Map<number, number>()
    const onUpdate = (u: Uint8Array): void => {
      if (ids.every((id) => clockRange(u, id) === null)) return
      perTurn.set(probe.turn(), (perTurn.get(probe.turn()) ?? 0) + u.length)
    }
    a.store.doc.on('update', onUpdate)
    try {
      for (const [i, c] of clients.entries()) c.send(Buffer.concat(pair[i]!.map((u) => encodeSync(SYNC_UPDATE, u))))
      await waitFor(() => ids.every((id, i) => appliedUpTo(id) >= clockRange(pair[i]!.at(-1)!, id)![1]), 'both bursts applied', 60_000)
    } finally {
      a.store.doc.off('update', onUpdate)
      probe.stop()
    }
    expect(Math.max(...perTurn.values())).toBeLessThanOrEqual(MAX_UPDATE_BYTES_PER_TASK * 1.1)
    expect(clients.every((c) => !c.isClosed())).toBe(true)
    expect(a.store.recount().ok).toBe(true)
    for (const c of clients) c.ws.terminate()
  })
})

describe('a node sending many updates at once', () => {
  it('splits them into frames of at most MAX_SEND_FRAME_MESSAGES messages and MAX_SEND_FRAME_BYTES bytes, in order', async () => {
    const c = await rawClient(a.url()!, 'cluster-test-secret', 'listener')
    await stillServing(b, a)
    const frames: Array<{ messages: number, bytes: number }> = []
    const ids: string[] = []
    c.ws.on('message', (data: Buffer) => {
      const ms = decodeFrame(data, 100_000)
      const updates = ms.filter((m) => m.type === 'sync-update')
      if (updates.length > 0) frames.push({ messages: ms.length, bytes: data.length })
    })
    // 3,000 transactions in one task: 3,000 update messages queued for every peer at once.
    for (let i = 0; i < 3000; i++) {
      const id = `sent-${i}`
      ids.push(id)
      a.store.add(id, 'total')
      a.store.flushWrites()
    }
    await waitFor(() => frames.reduce((n, f) => n + f.messages, 0) >= 3000, 'every update received')
    await waitFor(() => ids.every((id) => b.store.has(id, 'total')), 'b has them all')
    expect(frames.length).toBeGreaterThanOrEqual(3)
    expect(Math.max(...frames.map((f) => f.messages))).toBeLessThanOrEqual(MAX_SEND_FRAME_MESSAGES)
    expect(Math.max(...frames.map((f) => f.bytes))).toBeLessThanOrEqual(MAX_SEND_FRAME_BYTES)
    c.ws.terminate()
  })
})
