/**
 * An in-memory cluster of ProfileStore replicas with controlled message delivery, for tests
 * (this project's and its users'): deliver one message or all, drop, duplicate, reorder,
 * partition and heal with a full state exchange, restart a node as a new incarnation, and count
 * bytes. Every update a replica writes becomes one message per other replica; delivery order is
 * chosen by a seeded random source, so a failing run replays from its seed.
 */
import { fail } from '../errors.js'
import { randomInt, seededRandom, type Random } from '../internal/random.js'
import { MAX_CLIENT_ID } from '../internal/records.js'
import { ProfileStore, type ProfileStoreOptions } from '../profile-store.js'
import { Admission, type AdmissionOptions } from '../admission/admission.js'
import type { Clock, ProfileDeclaration } from '../types.js'

/** One update in flight from one replica to another. */
export interface InFlightMessage {
  readonly from: number
  readonly to: number
  readonly update: Uint8Array
}

export interface InMemoryClusterOptions {
  /** Number of replicas (node ids `n0`, `n1`, ...) or their node ids. */
  readonly nodes: number | readonly string[]
  readonly profiles: readonly ProfileDeclaration[]
  /** Seed of the delivery order and of Yjs client ids. @defaultValue 1 */
  readonly seed?: number
  /** Shared clock of every replica. @defaultValue a manual clock starting at 1_000_000, see `advance()` */
  readonly clock?: Clock
  /** Extra options for every store. */
  readonly storeOptions?: Omit<ProfileStoreOptions, 'nodeId' | 'profiles' | 'clock' | 'clientId' | 'incarnation'>
  /**
   * Gives every replica the admission API (see `admission(i)`) with these options; `nodes`
   * defaults to every node id of the cluster. @defaultValue undefined (no admission API)
   */
  readonly admission?: AdmissionOptions
}

/** Byte and message counters of the cluster. */
export interface TrafficCounters {
  sentMessages: number
  sentBytes: number
  deliveredMessages: number
  deliveredBytes: number
  droppedMessages: number
  /** Bytes of full state exchanges (`syncAll`, `heal`, `restart`). */
  syncBytes: number
}

const ORIGIN = Symbol('in-memory-cluster')

export class InMemoryCluster {
  readonly stores: ProfileStore[] = []
  /** The admission API of each replica (with the `admission` option), recreated with it on `restart`. */
  readonly admissions: Array<Admission | undefined> = []
  readonly traffic: TrafficCounters = { sentMessages: 0, sentBytes: 0, deliveredMessages: 0, deliveredBytes: 0, droppedMessages: 0, syncBytes: 0 }
  private queue: InFlightMessage[] = []
  private readonly random: Random
  private readonly nodeIds: string[]
  private readonly unsubscribe: Array<() => void> = []
  /** Group number of each replica; messages between groups are dropped. */
  private group: number[]
  private now = 1_000_000
  private readonly clock: Clock
  private readonly incarnations: number[] = []
  /** announced[i][j]: the incarnation of replica j that replica i was told of. */
  private readonly announced: number[][] = []
  /** Replicas killed and not restarted: they hear nothing and nothing they write is delivered. */
  private readonly down: boolean[] = []
  /** Per replica: how far its clock is from the shared clock (see `stepClock`). */
  private readonly offsets: number[] = []

  constructor (private readonly options: InMemoryClusterOptions) {
    const ids = typeof options.nodes === 'number' ? Array.from({ length: options.nodes }, (_, i) => `n${i}`) : [...options.nodes]
    if (ids.length < 1) throw fail('DP_ERR_INVALID_ARGUMENT', 'a cluster needs at least one node')
    this.nodeIds = ids
    this.random = seededRandom(options.seed ?? 1)
    this.clock = options.clock ?? (() => this.now)
    this.group = ids.map(() => 0)
    ids.forEach((_, i) => {
      this.incarnations.push(1); this.down.push(false); this.offsets.push(0); this.announced.push(ids.map(() => 1))
      this.stores.push(this.makeStore(i)); this.unsubscribe.push(this.listen(i))
    })
    // once every replica exists, so that their first rows reach every replica
    ids.forEach((_, i) => { this.admissions.push(this.makeAdmission(i)) })
  }

  /** Number of replicas. */
  get size (): number { return this.stores.length }

  /** Messages in flight (after every replica wrote its pending local changes). */
  get pending (): number { this.flushWrites(); return this.queue.length }

  /** Makes every replica write its pending local changes now, turning them into messages. */
  flushWrites (): void { for (const s of this.stores) s.flushWrites() }

  /** The manual clock's current time (when no clock was given). */
  get time (): number { return this.now }

  /**
   * Moves the manual clock forward by `ms`, then lets every running replica's admission renew its
   * lease and vote (`Admission.tick`), as ClusterNode's timer does.
   */
  advance (ms: number): void {
    this.now += ms
    this.admissions.forEach((a, i) => { if (this.down[i] !== true) a?.renewLeases() })
  }

  /** Steps replica `i`'s clock by `ms` (either sign) relative to the shared clock: a clock step or drift. */
  stepClock (i: number, ms: number): void {
    this.store(i)
    this.offsets[i] = (this.offsets[i] ?? 0) + ms
  }

  /** Replica `i`'s clock. */
  clockOf (i: number): number { return this.clock() + (this.offsets[i] ?? 0) }

  store (i: number): ProfileStore {
    const s = this.stores[i]
    if (s === undefined) throw fail('DP_ERR_INVALID_ARGUMENT', `no replica ${i}`)
    return s
  }

  /** The admission API of replica `i`. */
  admission (i: number): Admission {
    const a = this.admissions[i]
    if (a === undefined) throw fail('DP_ERR_INVALID_ARGUMENT', `no replica ${i}, or no admission option`)
    return a
  }

  /** Delivers one message: the one at `index` of the queue, or a random one (this reorders). */
  deliverOne (index?: number): boolean {
    this.flushWrites()
    if (this.queue.length === 0) return false
    const i = index ?? randomInt(this.random, this.queue.length)
    const [m] = this.queue.splice(i, 1) as [InFlightMessage]
    if (!this.hears(m.from, m.to)) { this.traffic.droppedMessages++; return true }
    this.traffic.deliveredMessages++
    this.traffic.deliveredBytes += m.update.length
    this.store(m.to).applyUpdate(m.update, ORIGIN)
    return true
  }

  /**
   * Delivers messages in random order until none is left (messages written while delivering
   * are delivered too), at most `maxMessages`. @returns the number delivered.
   */
  deliverAll (maxMessages = 1_000_000): number {
    let n = 0
    while (n < maxMessages && this.deliverOne()) n++
    return n
  }

  /** Drops one random message in flight (a lost packet). */
  dropOne (): boolean {
    this.flushWrites()
    if (this.queue.length === 0) return false
    this.queue.splice(randomInt(this.random, this.queue.length), 1)
    this.traffic.droppedMessages++
    return true
  }

  /** Duplicates one random message in flight. */
  duplicateOne (): boolean {
    this.flushWrites()
    if (this.queue.length === 0) return false
    const m = this.queue[randomInt(this.random, this.queue.length)] as InFlightMessage
    this.queue.push(m)
    return true
  }

  /**
   * Splits the cluster: replicas in different groups stop hearing each other (messages between
   * them are dropped when delivered). Replicas not named form one more group.
   */
  partition (groups: ReadonlyArray<readonly number[]>): void {
    this.flushWrites()
    this.group = this.stores.map(() => groups.length)
    groups.forEach((g, gi) => { for (const i of g) this.group[i] = gi })
  }

  /**
   * Ends a partition, then does what a reconnect does between every pair of replicas: each
   * learns the other's current incarnation if it had not (a restart during the partition voids
   * the old incarnation there), and they exchange their missing state. Liveness verdicts
   * (`declareDead`, `setOwnerStatus`) are left as they are, but for one case: a replica told of
   * an incarnation for the first time takes it as live, as a first heartbeat does (a verdict it
   * was given before, about an incarnation it had not been told of, is replaced). Killed
   * replicas stay apart.
   */
  heal (): void {
    this.group = this.stores.map(() => 0)
    this.announce()
    this.syncAll()
  }

  /** Full state exchange between every pair of replicas that can hear each other. */
  syncAll (): void {
    for (let i = 0; i < this.size; i++) {
      for (let j = 0; j < this.size; j++) {
        if (i === j || !this.hears(i, j)) continue
        const diff = this.store(i).encodeState(this.store(j).stateVector())
        this.traffic.syncBytes += diff.length
        this.store(j).applyUpdate(diff, ORIGIN)
      }
    }
  }

  /**
   * Restarts replica `i` as a new incarnation with an empty document (its messages in flight are
   * lost), announces the new incarnation to the replicas it can hear and theirs to it (as the
   * liveness layer's first heartbeats do; this voids the old incarnation there) and exchanges state with them.
   * With `keepState`, the new store first loads the old one's document, as a node with a data
   * directory does (the old incarnation's memberships and rows, fenced by the new one).
   * @returns the new store.
   */
  restart (i: number, options: { readonly keepState?: boolean } = {}): ProfileStore {
    this.unsubscribe[i]?.()
    this.admissions[i]?.destroy()
    const kept = options.keepState === true ? this.store(i).encodeState() : undefined
    this.store(i).destroy()
    this.queue = this.queue.filter(m => m.from !== i && m.to !== i)
    this.incarnations[i] = (this.incarnations[i] ?? 1) + 1
    this.down[i] = false
    this.stores[i] = this.makeStore(i)
    const admission = this.makeAdmission(i, false)
    if (kept !== undefined) this.store(i).applyUpdate(kept, ORIGIN)
    this.unsubscribe[i] = this.listen(i)
    this.admissions[i] = admission
    if (this.options.admission?.start !== false) admission?.start()
    // a new process knows no incarnation but its own
    this.announced[i] = this.stores.map((_, j) => j === i ? this.incarnations[i] as number : 0)
    this.announce()
    for (let j = 0; j < this.size; j++) {
      if (j === i || !this.hears(i, j)) continue
      const diff = this.store(j).encodeState(this.store(i).stateVector())
      this.traffic.syncBytes += diff.length
      this.store(i).applyUpdate(diff, ORIGIN)
      const back = this.store(i).encodeState(this.store(j).stateVector())
      this.traffic.syncBytes += back.length
      this.store(j).applyUpdate(back, ORIGIN)
    }
    return this.store(i)
  }

  /**
   * Kills replica `i` (a crash, or a process that hangs): its messages in flight are lost, it
   * hears nothing and nothing it writes is delivered until `restart(i)`, and every other replica
   * declares its incarnation dead, as the liveness layer does after `livenessTimeoutMs` +
   * `graceMs` of silence. Its store stays readable.
   */
  kill (i: number): void {
    this.store(i)
    this.flushWrites()
    this.down[i] = true
    this.queue = this.queue.filter(m => m.from !== i && m.to !== i)
    this.declareDead(i)
  }

  /** Replicas `by` (default: every other one) declare replica `i`'s current incarnation dead, as the liveness layer does. */
  declareDead (i: number, by?: readonly number[]): void {
    const s = this.store(i)
    for (const j of by ?? this.stores.map((_, k) => k)) if (j !== i) this.store(j).setOwnerStatus(s.nodeId, s.incarnation, 'dead')
  }

  /** Replicas `by` (default: every other one) declare replica `i`'s current incarnation live again. */
  declareLive (i: number, by?: readonly number[]): void {
    const s = this.store(i)
    for (const j of by ?? this.stores.map((_, k) => k)) if (j !== i) this.store(j).setOwnerStatus(s.nodeId, s.incarnation, 'live')
  }

  /** Whether every replica holds the same memberships (with the same adds). */
  converged (): boolean {
    const first = JSON.stringify(this.store(0).dump())
    return this.stores.every(s => JSON.stringify(s.dump()) === first)
  }

  /** Destroys every replica and drops what is in flight. */
  destroy (): void {
    for (const u of this.unsubscribe) u()
    for (const a of this.admissions) a?.destroy()
    for (const s of this.stores) s.destroy()
    this.queue = []
  }

  /** Whether messages from `from` reach `to`: same group, neither killed. */
  private hears (from: number, to: number): boolean {
    return this.group[from] === this.group[to] && this.down[from] !== true && this.down[to] !== true
  }

  /** Tells every replica the current incarnation of each replica it hears and was not told of yet (as heartbeats do). */
  private announce (): void {
    for (let i = 0; i < this.size; i++) {
      for (let j = 0; j < this.size; j++) {
        const row = this.announced[i] as number[]
        const inc = this.incarnations[j] as number
        if (i === j || !this.hears(i, j) || row[j] === inc) continue
        this.store(i).setOwnerStatus(this.store(j).nodeId, inc, 'live')
        row[j] = inc
      }
    }
  }

  private makeStore (i: number): ProfileStore {
    return new ProfileStore({
      ...this.options.storeOptions,
      nodeId: this.nodeIds[i] as string,
      profiles: this.options.profiles,
      clock: () => this.clockOf(i),
      incarnation: this.incarnations[i] as number,
      clientId: 1 + randomInt(this.random, MAX_CLIENT_ID - 1)
    })
  }

  private makeAdmission (i: number, start?: boolean): Admission | undefined {
    if (this.options.admission === undefined) return undefined
    return new Admission(this.store(i), { nodes: this.nodeIds, clock: () => this.clockOf(i), ...this.options.admission, ...(start === false ? { start } : {}) })
  }

  private listen (i: number): () => void {
    const store = this.store(i)
    return store.onUpdate((update, origin) => {
      if (origin === ORIGIN) return
      for (let j = 0; j < this.stores.length; j++) {
        if (j === i) continue
        this.queue.push({ from: i, to: j, update })
        this.traffic.sentMessages++
        this.traffic.sentBytes += update.length
      }
    })
  }
}
