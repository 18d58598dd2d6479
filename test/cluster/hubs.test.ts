/**
 * The hub topology over real sockets: nodes joining through standard y-websocket hubs
 * (`@y/websocket-server` 0.1.1 in child processes, behind a token check), converging, surviving
 * a hub's death, timing out a killed node over awareness, refusing a bad token, and refusing a
 * hostile hub client's forged record through the store's checks.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { WebSocket } from 'ws'
import * as Y from 'yjs'
import * as encoding from 'lib0/encoding'
import { WebsocketProvider } from 'y-websocket'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { ClusterNode } from '../../src/index.js'
import type { ClusterNodeOptions } from '../../src/index.js'
import { PROFILES, memoryLog, waitFor } from './support.js'

const TOKEN = 'hub-test-token'
const TIMERS = {
  heartbeatIntervalMs: 100,
  livenessTimeoutMs: 1500,
  graceMs: 500,
  purgeDelayMs: 60_000,
  reconnectInitialMs: 20,
  reconnectMaxMs: 300,
  sweepIntervalMs: 200
} as const

const children = new Set<ChildProcess>()
const nodes: ClusterNode[] = []
const providers: WebsocketProvider[] = []
afterEach(async () => {
  for (const p of providers.splice(0)) p.destroy()
  await Promise.all(nodes.splice(0).map((n) => n.close()))
  await Promise.all([...children].map(kill))
})
afterAll(() => { for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL') })

const kill = async (child: ChildProcess): Promise<void> => {
  children.delete(child)
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => { child.once('exit', () => { resolve() }) })
  child.kill('SIGKILL')
  await exited
}

/** Starts a child process and resolves with its first stdout line, parsed (bounded by a timeout). */
const spawnChild = async <T>(script: string, env: Record<string, string>): Promise<{ child: ChildProcess, report: T }> => {
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'fixtures', script)], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] })
  children.add(child)
  let stderr = ''
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString() })
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`${script} did not answer in time; stderr: ${stderr}`)) }, 30_000)
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`${script} exited with ${code}; stderr: ${stderr}`)) })
    createInterface({ input: child.stdout! }).once('line', (l) => { clearTimeout(timer); resolve(l) })
  })
  return { child, report: JSON.parse(line) as T }
}

const spawnHub = async (): Promise<{ child: ChildProcess, url: string }> => {
  const { child, report } = await spawnChild<{ url: string }>('token-hub.ts', { DP_HUB_TOKEN: TOKEN })
  return { child, url: report.url }
}

const startNode = async (id: string, hubUrls: string[], extra: Partial<ClusterNodeOptions> = {}): Promise<ClusterNode & { lines: string[] }> => {
  const { lines, log } = memoryLog()
  const node = new ClusterNode({
    nodeId: id,
    profiles: [...PROFILES],
    hubs: hubUrls.map((url) => ({ url, token: TOKEN })),
    log,
    readiness: { policy: 'reject', timeoutMs: 20_000 },
    ...TIMERS,
    ...extra
  })
  nodes.push(node)
  await node.start()
  return Object.assign(node, { lines })
}

const sizes = (ns: ClusterNode[], value?: string): number[] => ns.map((n) => value === undefined ? n.store.size('caller') : n.store.size('caller', value))
const allEqual = (ns: ClusterNode[], expected: number, value?: string): boolean => sizes(ns, value).every((s) => s === expected)

describe('hub topology', () => {
  it('3 nodes through 2 hubs converge, and keep converging through one hub when the other dies', async () => {
    const [a, b] = await Promise.all([spawnHub(), spawnHub()])
    const ns = await Promise.all(['n1', 'n2', 'n3'].map((id) => startNode(id, [a.url, b.url])))
    await Promise.all(ns.map((n) => n.ready))
    for (const [i, n] of ns.entries()) {
      for (let k = 0; k < 20; k++) n.store.add(`${n.store.nodeId}-${k}`, 'caller', `v${k % 2}`)
      for (let k = 0; k < 5 + i; k++) n.release(`${n.store.nodeId}-${k}`)
    }
    // 60 added, 5 + 6 + 7 released
    await waitFor(() => allEqual(ns, 42), `42 memberships everywhere (${sizes(ns).join(',')})`, 20_000)
    expect(sizes(ns, 'v0').every((s) => s === sizes(ns, 'v0')[0])).toBe(true)
    // A node ends another node's call: the removal reaches all.
    ns[1]!.release('n1-10')
    await waitFor(() => allEqual(ns, 41), `41 memberships everywhere (${sizes(ns).join(',')})`, 20_000)
    await waitFor(() => ns.every((n) => n.cluster().hubs.every((h) => h.synced)), `every node synced with both hubs (${JSON.stringify(ns.map((n) => n.cluster().hubs))})`, 20_000)
    expect(ns[0]!.traffic().bytesIn).toBeGreaterThan(0)

    await kill(a.child)
    await waitFor(() => ns.every((n) => !n.cluster().hubs[0]!.connected), 'every node sees hub a down', 20_000)
    for (let k = 0; k < 10; k++) ns[2]!.store.add(`late-${k}`, 'caller', 'v1')
    ns[0]!.release('n2-19')
    ns[1]!.release('n3-19')
    await waitFor(() => allEqual(ns, 49), `49 memberships everywhere through hub b alone (${sizes(ns).join(',')})`, 20_000)
    // nobody took a live node for dead meanwhile
    for (const n of ns) expect(n.peers().filter((p) => p.liveness !== 'live').map((p) => p.node)).toEqual([])
  }, 90_000)

  it('a killed node\'s memberships leave the others\' counts after the liveness timeout', async () => {
    const hub = await spawnHub()
    const ns = await Promise.all(['s1', 's2'].map((id) => startNode(id, [hub.url])))
    await Promise.all(ns.map((n) => n.ready))
    ns[0]!.store.add('own-1', 'caller', 'v0')
    ns[1]!.store.add('own-2', 'caller', 'v0')
    const { child } = await spawnChild<{ added: number }>('child-node.ts', { DP_NODE_ID: 'doomed', DP_HUBS: hub.url, DP_HUB_TOKEN: TOKEN, DP_COUNT: '30' })
    await waitFor(() => allEqual(ns, 32), `32 memberships on the survivors (${sizes(ns).join(',')})`, 20_000)
    await waitFor(() => ns.every((n) => n.peers().some((p) => p.node === 'doomed' && p.liveness === 'live')), 'doomed live everywhere', 20_000)
    const dead: string[] = []
    for (const n of ns) n.on('owner-dead', (e) => { dead.push(`${n.store.nodeId}:${e.node}`) })
    await kill(child)
    await waitFor(() => allEqual(ns, 2), `only the survivors' memberships counted (${sizes(ns).join(',')})`, 20_000)
    expect(dead.sort()).toEqual(['s1:doomed', 's2:doomed'])
    for (const n of ns) expect(n.peers().find((p) => p.node === (n === ns[0] ? 's2' : 's1'))?.liveness).toBe('live')
  }, 90_000)

  it('a node with a wrong token is refused by the hub: never synced, not ready, and nothing of it is counted', async () => {
    const hub = await spawnHub()
    const good = await startNode('g1', [hub.url])
    await good.ready
    good.store.add('g-1', 'caller', 'v0')
    const bad = await startNode('b1', [], { hubs: [{ url: hub.url, token: 'not-the-token' }], readiness: { policy: 'reject', timeoutMs: 3000, afterTimeout: 'allow' } })
    const notReady = bad.ready.then(() => null, (err: unknown) => err as { code: string, cause?: { code?: string } })
    bad.store.add('b-1', 'caller', 'v0')
    await waitFor(() => bad.cluster().hubs[0]!.refused, 'the hub refused the token', 20_000)
    // the readiness timeout passes: afterTimeout 'allow' does not apply while the hub refuses the token
    const err = await notReady
    expect(err?.code).toBe('DP_ERR_NOT_READY')
    expect(err?.cause?.code).toBe('DP_ERR_AUTH')
    expect(await bad.acquire('b-2', [{ profile: 'caller', value: 'v0', limit: 10 }])).toMatchObject({ admitted: false, reason: 'not-ready' })
    expect(bad.isReady).toBe(false)
    expect(bad.cluster().hubs[0]!.synced).toBe(false)
    expect(bad.store.size('caller')).toBe(1)
    expect(good.store.size('caller')).toBe(1)
    expect(good.peers().map((p) => p.node)).not.toContain('b1')
  }, 60_000)

  it('an awareness state is a heartbeat only for an incarnation whose partition is in the document', async () => {
    const hub = await spawnHub()
    const ns = await Promise.all(['w1', 'w2'].map((id) => startNode(id, [hub.url])))
    await Promise.all(ns.map((n) => n.ready))
    ns[0]!.store.add('w1-1', 'caller', 'v0')
    await waitFor(() => ns[1]!.peers().some((p) => p.node === 'w1' && p.liveness === 'live'), 'w1 live on w2')
    const w1 = ns[0]!.cluster()
    // A hub client with the token claims a newer incarnation of w1, and a node that never wrote.
    const doc = new Y.Doc()
    const liar = new WebsocketProvider(hub.url, 'dialog-profiles', doc, { params: { token: TOKEN }, WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket, disableBc: true })
    providers.push(liar)
    liar.awareness.setLocalState({ nodeId: 'w1', incarnation: w1.incarnation + 1, clientId: doc.clientID })
    await waitFor(() => liar.synced, 'the liar synced with the hub', 20_000)
    const other = new Y.Doc()
    const ghost = new WebsocketProvider(hub.url, 'dialog-profiles', other, { params: { token: TOKEN }, WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket, disableBc: true })
    providers.push(ghost)
    ghost.awareness.setLocalState({ nodeId: 'ghost', incarnation: 1, clientId: other.clientID })
    await waitFor(() => ghost.synced, 'the ghost synced with the hub', 20_000)
    // w2 received both states (its awareness holds them) and adopted neither
    await waitFor(() => ns[1]!.cluster().hubs[0]!.messagesIn > 0 && [...ns.map((n) => n.peers())].flat().length > 0, 'traffic')
    for (let i = 0; i < 5; i++) { ns[1]!.checkLiveness(); await new Promise((resolve) => { setTimeout(resolve, 100) }) }
    const seen = ns[1]!.peers().find((p) => p.node === 'w1')
    expect(seen?.incarnation).toBe(w1.incarnation)
    expect(seen?.liveness).toBe('live')
    expect(ns[1]!.peers().map((p) => p.node)).not.toContain('ghost')
    expect(ns[1]!.store.size('caller')).toBe(1)
  }, 60_000)

  it('a hostile hub client writing a forged record into a node\'s partition: every node refuses it, nothing is counted', async () => {
    const hub = await spawnHub()
    const ns = await Promise.all(['h1', 'h2'].map((id) => startNode(id, [hub.url])))
    await Promise.all(ns.map((n) => n.ready))
    ns[0]!.store.add('real-1', 'caller', 'v0')
    await waitFor(() => allEqual(ns, 1), 'the real membership everywhere')
    // A standard y-websocket client with the token writes a membership record into h1's
    // partition under its own Yjs client id.
    const doc = new Y.Doc()
    const hostile = new WebsocketProvider(hub.url, 'dialog-profiles', doc, { params: { token: TOKEN }, WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket, disableBc: true })
    providers.push(hostile)
    await waitFor(() => hostile.synced, 'the hostile client synced with the hub', 20_000)
    const h1 = ns[0]!.cluster()
    doc.getArray(`dp:h1:${h1.incarnation}:${h1.clientId}`).push([[0, 'forged-1', 'caller', 'v0', null]])
    await waitFor(() => ns.every((n) => n.cluster().hubs[0]!.refusedUpdates > 0), 'every node refused the forged update', 20_000)
    expect(sizes(ns)).toEqual([1, 1])
    expect(ns.every((n) => !n.store.has('forged-1', 'caller', 'v0'))).toBe(true)
    // nothing of the hostile writer entered any node's document
    for (const n of ns) expect(Y.decodeStateVector(n.store.stateVector()).has(doc.clientID)).toBe(false)
    // the nodes go on converging through the hub
    ns[1]!.store.add('real-2', 'caller', 'v1')
    await waitFor(() => allEqual(ns, 2), `real-2 everywhere (${sizes(ns).join(',')})`, 20_000)
    // The hub keeps the forged record and sends it in every state answer: a node joining now
    // still syncs, with everything but the hostile writer's part.
    const late = await startNode('h3', [hub.url])
    await late.ready
    expect(late.store.size('caller')).toBe(2)
    expect(late.cluster().hubs[0]!.refusedUpdates).toBeGreaterThan(0)
    expect(Y.decodeStateVector(late.store.stateVector()).has(doc.clientID)).toBe(false)
  }, 60_000)
})

describe('hub topology: updates applied together', () => {
  it('a burst of updates from a hub is applied in few transactions, and a refused update among them drops only itself', async () => {
    const hub = await spawnHub()
    const ns = await Promise.all(['b1', 'b2'].map((id) => startNode(id, [hub.url])))
    await Promise.all(ns.map((n) => n.ready))
    const b1 = ns[0]!.cluster()
    const connect = async (): Promise<Y.Doc> => {
      const doc = new Y.Doc()
      const p = new WebsocketProvider(hub.url, 'dialog-profiles', doc, { params: { token: TOKEN }, WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket, disableBc: true })
      providers.push(p)
      await waitFor(() => p.synced, 'a hub client synced', 20_000)
      return doc
    }
    // A hub client writes valid records into a partition of its own, one transaction (so one hub
    // message) per record. Records are embed items (a Y.Text embed is one), as ClusterNode
    // writes them.
    const writer = await connect()
    const own = writer.getText(`dp:ghost:${Date.now() - 1000}:${writer.clientID}`)
    const clockOf = (sv: Uint8Array, client: number): number | undefined => Y.decodeStateVector(sv).get(client)
    const everywhere = async (what: string): Promise<void> => {
      const clock = clockOf(Y.encodeStateVector(writer), writer.clientID)
      await waitFor(() => ns.every((n) => clockOf(n.store.stateVector(), writer.clientID) === clock), what, 20_000)
    }
    const remoteTransactions = ns.map((n) => { let count = 0; n.store.onUpdate((_u, origin) => { if (origin !== n.store) count++ }); return () => count })
    // 1. A burst: the writes go out while this process's event loop is held, so the hub's 400
    // forwarded messages wait in each node's socket and arrive together.
    const WRITES = 400
    for (let i = 0; i < WRITES; i++) own.insertEmbed(i, [0, `ghost-${i}`, 'caller', 'v0', null])
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1000)
    await everywhere('the burst at both nodes')
    for (const count of remoteTransactions) expect(count()).toBeLessThan(WRITES / 10)
    // 2. Hostile hub clients forge records into b1's partition between valid writes; each forged
    // update is its own writer (a fresh client id, chained to nothing it owns), so each is refused.
    const hostile = await connect()
    const forged = hostile.getText(`dp:b1:${b1.incarnation}:${b1.clientId}`)
    const forgers: number[] = []
    const hostileId = hostile.clientID
    const FORGED = 4
    for (let i = 0; i < 100; i++) {
      own.insertEmbed(WRITES + i, [0, `ghost-${WRITES + i}`, 'caller', 'v0', null])
      if (i % 25 === 12) {
        hostile.clientID = 1 + Math.floor(Math.random() * 0xfffffff0)
        forgers.push(hostile.clientID)
        forged.insertEmbed(0, [0, `forged-${i}`, 'caller', 'v0', null])
      }
    }
    hostile.clientID = hostileId // its provider's awareness state is under the first one
    await everywhere('every valid record at both nodes')
    await waitFor(() => ns.every((n) => n.cluster().hubs[0]!.refusedUpdates >= FORGED), 'every forged update refused', 20_000)
    for (const n of ns) {
      expect(n.cluster().hubs[0]!.refusedUpdates).toBe(FORGED)
      const sv = Y.decodeStateVector(n.store.stateVector())
      expect(forgers.some((c) => sv.has(c))).toBe(false)
      expect(n.store.has('forged-12', 'caller', 'v0')).toBe(false)
    }
  }, 60_000)

  it('deletions of structs that never come, kept by a hub: a joiner drops them past the bound and asks the hub again at most once a minute', async () => {
    const hub = await spawnHub()
    // A hostile hub client sends 1,000,001 deletions of a client nobody has. The hub's Yjs keeps
    // them pending, forwards nothing, and puts them into every state answer.
    const doc = new Y.Doc()
    const hostile = new WebsocketProvider(hub.url, 'dialog-profiles', doc, { params: { token: TOKEN }, WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket, disableBc: true })
    providers.push(hostile)
    await waitFor(() => hostile.synced, 'the hostile client synced with the hub', 20_000)
    const deletes = (from: number, n: number): Uint8Array => {
      const e = encoding.createEncoder()
      encoding.writeVarUint(e, 0) // y-protocols sync message
      encoding.writeVarUint(e, 2) // update
      const u = encoding.createEncoder()
      encoding.writeVarUint(u, 0) // no structs
      encoding.writeVarUint(u, 1)
      encoding.writeVarUint(u, 777_777)
      encoding.writeVarUint(u, n)
      for (let i = 0; i < n; i++) { encoding.writeVarUint(u, 2 * (from + i)); encoding.writeVarUint(u, 1) }
      encoding.writeVarUint8Array(e, encoding.toUint8Array(u))
      return encoding.toUint8Array(e)
    }
    for (let k = 0; k < 5; k++) (hostile.ws as unknown as WebSocket).send(deletes(k * 200_000, 200_000))
    ;(hostile.ws as unknown as WebSocket).send(deletes(1_000_000, 1))
    // The hub answers a state request only after those messages: they are on the same connection.
    const probe = new WebsocketProvider(hub.url, 'dialog-profiles', new Y.Doc(), { params: { token: TOKEN }, WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket, disableBc: true })
    providers.push(probe)
    await waitFor(() => probe.synced && probe.doc.store.pendingDs !== null, 'the hub holds the deletions', 30_000)
    const n = await startNode('j1', [hub.url])
    await n.ready
    // The joiner's state answer brought them: dropped past the bound, a warning, a state request
    // at the next tick, whose answer brings them again: dropped again.
    await waitFor(() => n.store.stats().unappliedDroppedRanges >= 2_000_002, 'two drops', 30_000)
    expect(n.lines.some((l) => l.includes('delete ranges from peers that waited for structs not here yet'))).toBe(true)
    expect(n.store.doc.store.pendingDs).toBe(null)
    // 15 heartbeat ticks later: no third request (at most one a minute).
    await new Promise((resolve) => { setTimeout(resolve, 1500) })
    expect(n.store.stats().unappliedDroppedRanges).toBe(2_000_002)
    n.store.add('after', 'caller', 'v0')
    expect(n.store.size('caller')).toBe(1)
  }, 90_000)
})
