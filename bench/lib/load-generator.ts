/**
 * Call traffic for cluster nodes: calls arriving at a rate and lasting a fixed time, each added
 * and later removed by the node that took it. Used inside the cluster node processes.
 */
import { createRng } from './prng.js'
import type { Rng } from './prng.js'
import { dialogId } from './prng.js'

/** The profile the cluster benchmarks use. */
export const PROFILE = 'total'

/**
 * Most time the generator spends issuing operations in one event-loop turn, ms: what is due
 * past it waits for the next turn, so that the generator itself never stalls the node it
 * drives (a node that falls behind issues fewer ops per second, as a proxy would).
 */
export const TURN_BUDGET_MS = 10
/** Operations issued between two looks at the clock. */
const OPS_PER_CLOCK_READ = 32

const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

/** Polls `cond` every 5 ms until it holds or `timeoutMs` passes; returns whether it held. */
export const waitUntil = async (cond: () => boolean, timeoutMs: number): Promise<boolean> => {
  const end = performance.now() + timeoutMs
  while (performance.now() < end) {
    if (cond()) return true
    await sleep(5)
  }
  return cond()
}

/**
 * Where the load goes: one replica's writes. `batch` wraps what one loop turn issues (the
 * implementation may turn it into one transaction); `afterOp` runs after every operation (one
 * transaction per operation when the implementation writes there).
 */
export interface Writer {
  add (dialog: string): void
  remove (dialog: string): void
  batch (fn: () => void): void
  afterOp (): void
}

/** Outcome of one load run. */
export interface LoadOutcome {
  /** Membership operations (adds + removes) issued per second during the measured window. */
  readonly opsPerSecond: number
  readonly ops: number
  readonly seconds: number
  /** Calls live at the end. */
  readonly live: ReadonlySet<string>
  /** CPU time of this process (user + system) during the measured window, ms. */
  readonly cpuMs: number
}

/**
 * Calls arriving at `callsPerSecond` spread over `nodes`, each lasting `holdMs`: about
 * 2 x callsPerSecond membership operations per second at steady state. Warms up for `holdMs`
 * (until calls start ending), then measures for `durationMs`, issuing what is due about every
 * millisecond, at most {@link TURN_BUDGET_MS} of work per turn (the rest in the next turns).
 * Calls still live at the end stay until `endAll()`.
 */
export class LoadGenerator {
  private readonly live = new Map<string, { node: number, endsAt: number }>()
  private readonly rng: Rng
  private next = 0
  private ops = 0
  constructor (private readonly nodes: readonly Writer[], seed: number, private readonly tag: string) {
    this.rng = createRng(seed)
  }

  async run (callsPerSecond: number, holdMs: number, durationMs: number, shouldStop: () => boolean = () => false): Promise<LoadOutcome> {
    const t0 = performance.now()
    let tMeasure = Number.NaN
    let opsAtStart = this.ops
    let cpuAtStart = process.cpuUsage()
    let issued = 0
    while (performance.now() - t0 < holdMs + durationMs && !shouldStop()) {
      const now = performance.now()
      if (Number.isNaN(tMeasure) && now - t0 >= holdMs) {
        tMeasure = now // steady state from here: as many calls end as start
        opsAtStart = this.ops
        cpuAtStart = process.cpuUsage()
      }
      const due = Math.floor(((now - t0) / 1000) * callsPerSecond)
      const turn = (): void => {
        let budget = OPS_PER_CLOCK_READ
        const spent = (): boolean => {
          if (--budget > 0) return false
          budget = OPS_PER_CLOCK_READ
          return performance.now() - now >= TURN_BUDGET_MS
        }
        for (const [d, c] of this.live) {
          if (c.endsAt > now || spent()) break // ended calls first; insertion order is start order, and hold times are equal
          const w = this.nodes[c.node]
          w?.remove(d)
          w?.afterOp()
          this.live.delete(d)
          this.ops++
        }
        for (; issued < due; issued++) {
          if (spent()) break
          const node = this.rng.int(this.nodes.length)
          const d = dialogId(this.next++, this.tag)
          const w = this.nodes[node]
          w?.add(d)
          w?.afterOp()
          this.live.set(d, { node, endsAt: now + holdMs })
          this.ops++
        }
      }
      if (this.nodes.length === 1) this.nodes[0]!.batch(turn)
      else turn()
      await new Promise((resolve) => setImmediate(resolve))
      // Sleep until the next operation is due (a call starts or ends), at least 1 ms: waking
      // every millisecond for nothing costs a 2-core VM about 90 ms of CPU per second per process.
      const wait = Math.max(1, Math.min(this.nextDue(t0, issued, callsPerSecond), t0 + holdMs + durationMs) - performance.now())
      if (performance.now() - now < 1 || wait > 1) await sleep(wait)
    }
    const seconds = (performance.now() - (Number.isNaN(tMeasure) ? t0 : tMeasure)) / 1000
    const ops = this.ops - opsAtStart
    const cpu = process.cpuUsage(cpuAtStart)
    return { opsPerSecond: ops / seconds, ops, seconds, live: new Set(this.live.keys()), cpuMs: (cpu.user + cpu.system) / 1000 }
  }

  /** When the next operation falls due: the next call's start, or the oldest live call's end. */
  private nextDue (t0: number, issued: number, callsPerSecond: number): number {
    const start = t0 + ((issued + 1) * 1000) / callsPerSecond
    for (const c of this.live.values()) return Math.min(start, c.endsAt)
    return start
  }

  /** Membership operations issued since construction. */
  get totalOps (): number { return this.ops }

  /** Ends every live call. */
  endAll (): void {
    for (const [d, c] of this.live) { this.nodes[c.node]?.remove(d); this.ops++ }
    this.live.clear()
  }
}
