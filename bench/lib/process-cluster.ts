/**
 * A cluster of replicas, one per child process (bench/lib/cluster-worker.ts), on 127.0.0.1 and
 * ephemeral ports: ClusterNodes in a full mesh over WebSockets (node i dials nodes 0..i-1), or
 * the baseline, flat Y.Maps synced through one y-websocket hub (its own process,
 * bench/lib/hub-server.ts). The parent drives them over IPC: convergence probes and load steps.
 * Children are stopped by pid at the end, also on errors and when this process exits.
 */
import { fork } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { ClusterImpl, WorkerEvent, WorkerReply, WorkerRequest } from './cluster-protocol.js'
import { usesHub } from './cluster-protocol.js'
import { dialogId } from './prng.js'

const WORKER = join(dirname(fileURLToPath(import.meta.url)), 'cluster-worker.ts')
const HUB = join(dirname(fileURLToPath(import.meta.url)), 'hub-server.ts')

type Request = WorkerRequest extends infer R ? R extends { id: number } ? Omit<R, 'id'> : never : never

const children = new Set<ChildProcess>()
let hooked = false
const hookExit = (): void => {
  if (hooked) return
  hooked = true
  process.once('exit', () => {
    for (const c of children) if (c.pid !== undefined && c.exitCode === null) { try { process.kill(c.pid, 'SIGKILL') } catch { /* gone */ } }
  })
}

/** One node process. */
export class NodeProcess {
  private seq = 0
  private readonly waiting = new Map<number, { resolve: (r: WorkerReply) => void, reject: (e: Error) => void, timer: NodeJS.Timeout }>()
  private readonly seenHandlers = new Set<(dialog: string, at: number, node: NodeProcess) => void>()
  url = ''
  private readonly exited: Promise<void>
  constructor (readonly id: string, readonly child: ChildProcess) {
    this.exited = new Promise((resolve) => { child.once('exit', () => { children.delete(child); resolve() }) })
    child.on('message', (raw: unknown) => {
      const m = raw as WorkerReply | WorkerEvent
      if ('id' in m) {
        const w = this.waiting.get(m.id)
        if (w === undefined) return
        this.waiting.delete(m.id)
        clearTimeout(w.timer)
        if (m.type === 'error') w.reject(new Error(`node ${this.id}: ${m.message}`))
        else w.resolve(m)
      } else if (m.type === 'seen') {
        for (const h of this.seenHandlers) h(m.dialog, m.at, this)
      }
    })
    child.once('exit', (code) => {
      for (const w of this.waiting.values()) { clearTimeout(w.timer); w.reject(new Error(`node ${this.id} exited with ${String(code)}`)) }
      this.waiting.clear()
    })
  }

  get pid (): number { return this.child.pid ?? -1 }

  /** Sends a request and waits for its reply (at most `timeoutMs`). */
  async call (req: Request, timeoutMs: number): Promise<WorkerReply> {
    const id = ++this.seq
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => { this.waiting.delete(id); reject(new Error(`node ${this.id}: no answer to ${req.type} within ${timeoutMs} ms`)) }, timeoutMs)
      this.waiting.set(id, { resolve, reject, timer })
      this.child.send({ ...req, id })
    })
  }

  onSeen (h: (dialog: string, at: number, node: NodeProcess) => void): () => void {
    this.seenHandlers.add(h)
    return () => { this.seenHandlers.delete(h) }
  }

  /** Asks the node to close, then kills it by pid if it has not exited within 5 s. */
  async stop (): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return
    try { await this.call({ type: 'close' }, 3000) } catch { /* kill below */ }
    const timer = setTimeout(() => { try { process.kill(this.pid, 'SIGKILL') } catch { /* gone */ } }, 5000)
    await this.exited
    clearTimeout(timer)
  }
}

/** Extra node flags for node processes (not the hub), from DP_BENCH_NODE_FLAGS, space-separated. */
const nodeFlags = (id: string): string[] => {
  const flags = process.env['DP_BENCH_NODE_FLAGS']
  return flags === undefined || flags.trim() === '' || id === 'hub' ? [] : flags.trim().split(/\s+/)
}

const spawnNode = async (id: string, peers: readonly string[], clientId: number, impl: ClusterImpl, deferred = false): Promise<NodeProcess> => {
  // DP_BENCH_JOINER_PROF=<dir>: a late joiner writes a V8 CPU profile there (`--cpu-prof`);
  // DP_BENCH_NODE_PROF=<dir>: every node process does (not the hub).
  // DP_BENCH_NODE_FLAGS='--trace-gc ...': extra node flags for every node process (not the hub).
  const joinerProf = process.env['DP_BENCH_JOINER_PROF']
  const nodeProf = process.env['DP_BENCH_NODE_PROF']
  const prof = deferred ? joinerProf : id === 'hub' ? undefined : nodeProf
  const child = fork(usesHub(impl) && id === 'hub' ? HUB : WORKER, [], {
    execArgv: ['--import', 'tsx', ...nodeFlags(id), ...(prof !== undefined && prof !== '' ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : [])],
    env: { ...process.env, DP_BENCH_IMPL: impl, DP_BENCH_NODE: id, DP_BENCH_PEERS: JSON.stringify(peers), DP_BENCH_CLIENT_ID: String(clientId), DP_BENCH_DEFER: deferred ? '1' : '0' },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc']
  })
  hookExit()
  children.add(child)
  const node = new NodeProcess(id, child)
  try {
    node.url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`node ${id} did not come up within 20 s`)) }, 20_000)
      child.on('message', (m: WorkerEvent) => { if (m.type === 'up') { clearTimeout(timer); resolve(m.url) } })
      child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`node ${id} exited with ${String(code)} while starting`)) })
    })
  } catch (err) {
    await node.stop()
    throw err
  }
  return node
}

/** A running multi-process cluster. */
export class ProcessCluster {
  private probeSeq = 0
  private constructor (readonly nodes: readonly NodeProcess[], private readonly hub: NodeProcess | undefined) {}

  /**
   * Starts `n` node processes (and the hub, for the baseline) and waits until each is
   * connected to all the others, or to the hub and synced (at most 20 s).
   */
  static async start (n: number, seed: number, impl: ClusterImpl = 'dialog-profiles'): Promise<ProcessCluster> {
    const nodes: NodeProcess[] = []
    const hub = usesHub(impl) ? await spawnNode('hub', [], 0, impl) : undefined
    const c = new ProcessCluster(nodes, hub)
    try {
      for (let i = 0; i < n; i++) {
        const peers = hub !== undefined ? [hub.url] : nodes.map((x) => x.url)
        nodes.push(await spawnNode(`p${i}`, peers, ((seed + i * 7919) % 0x7ffffffe) + 1, impl))
      }
      const want = hub !== undefined ? 1 : n - 1
      const meshed = await Promise.all(nodes.map(async (x) => await x.call({ type: 'wait-mesh', peers: want, timeoutMs: 20_000 }, 25_000)))
      const bad = meshed.filter((m) => m.type !== 'meshed' || !m.ok)
      if (bad.length > 0) throw new Error(`the ${n}-node cluster (${impl}) did not connect within 20 s`)
      return c
    } catch (err) {
      await c.close()
      throw err
    }
  }

  /**
   * Adds a probe membership on node `from` and measures, on the wall clock shared by the
   * processes, the time until every other node has it (ms; NaN after `timeoutMs`). Removes it after.
   */
  async probe (from: number, timeoutMs: number): Promise<number> {
    const origin = this.nodes[from]
    if (origin === undefined) throw new Error(`no node ${from}`)
    const dialog = dialogId(this.probeSeq++, 'probe')
    const others = this.nodes.filter((_, j) => j !== from)
    const seen = new Map<string, number>()
    let done: (() => void) | undefined
    const allSeen = new Promise<void>((resolve) => { done = resolve })
    const offs = others.map((x) => x.onSeen((d, at, node) => {
      if (d !== dialog) return
      seen.set(node.id, at)
      if (seen.size === others.length) done?.()
    }))
    try {
      await Promise.all(others.map(async (x) => await x.call({ type: 'watch', dialog }, timeoutMs)))
      const added = await origin.call({ type: 'add', dialog }, timeoutMs)
      if (added.type !== 'added') throw new Error('unexpected reply to add')
      let timer: NodeJS.Timeout | undefined
      const ok = await Promise.race([allSeen.then(() => true), new Promise<boolean>((resolve) => { timer = setTimeout(() => { resolve(false) }, timeoutMs) })])
      clearTimeout(timer)
      await origin.call({ type: 'remove', dialog }, timeoutMs)
      if (!ok) return Number.NaN
      return Math.max(...seen.values()) - added.at
    } finally {
      for (const off of offs) off()
    }
  }

  /**
   * Starts a late joiner process whose replica waits for a `join` request: it will dial every
   * node of the mesh, or the hub. The caller stops it.
   */
  async spawnJoiner (id: string, clientId: number, impl: ClusterImpl): Promise<NodeProcess> {
    const peers = this.hub !== undefined ? [this.hub.url] : this.nodes.map((x) => x.url)
    return await spawnNode(id, peers, clientId, impl, true)
  }

  /** Stops every node process (by IPC, then by pid), then the hub. */
  async close (): Promise<void> {
    await Promise.all(this.nodes.map(async (x) => { await x.stop() }))
    await this.hub?.stop()
  }
}
