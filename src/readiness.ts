/**
 * Readiness: whether this node has completed its initial sync with the cluster (the seed's
 * "request-for-update"), and the admission policy that applies until it has.
 */
import { fail } from './errors.js'

/**
 * What `acquire` does before the initial sync completed:
 * `'reject'` refuses at once (`DP_ERR_NOT_READY`), `'allow'` admits against the local view,
 * `'wait'` waits up to `waitMs` for readiness, then refuses.
 */
export type ReadinessPolicy = 'reject' | 'allow' | 'wait'

/** Readiness options of a cluster node. */
export interface ReadinessOptions {
  /** Admission before the initial sync. @defaultValue 'reject' */
  readonly policy?: ReadinessPolicy
  /** How long the initial sync may take before `ready` rejects with `DP_ERR_NOT_READY`. @defaultValue 10000 */
  readonly timeoutMs?: number
  /** Under the `'wait'` policy, how long one `acquire` waits for readiness. @defaultValue 1000 */
  readonly waitMs?: number
  /**
   * Which configured peers the initial sync needs: `'any'` one of them (its state is the
   * cluster's, relayed), or `'all'` of them. A node with no peers is ready at once.
   * @defaultValue 'any'
   */
  readonly peers?: 'any' | 'all'
  /**
   * Admission once `timeoutMs` passed without the initial sync (no peer reachable, for example
   * the first node of a cluster): `'allow'` admits against the local view from then on (the
   * node reports `readyState: 'timed-out'`), `'reject'` keeps applying `policy` until a sync
   * completes. @defaultValue 'allow'
   */
  readonly afterTimeout?: 'allow' | 'reject'
}

/** One-shot readiness latch with a timeout. */
export class Readiness {
  /** Resolves once ready; rejects with `DP_ERR_NOT_READY` at the timeout (readiness may still come later). */
  readonly ready: Promise<void>
  private resolve!: () => void
  private reject!: (err: Error) => void
  private readonly waiters = new Set<(ok: boolean) => void>()
  private timer: NodeJS.Timeout | undefined
  private done = false
  isReady = false
  /** Set when the timeout passed before readiness. */
  timedOut = false

  constructor (readonly policy: ReadinessPolicy, readonly timeoutMs: number, readonly waitMs: number, readonly afterTimeout: 'allow' | 'reject' = 'allow') {
    this.ready = new Promise<void>((resolve, reject) => { this.resolve = resolve; this.reject = reject })
    // Nobody may be listening: never let the rejection become an unhandled one.
    this.ready.catch(() => {})
  }

  /** Starts the timeout; `onTimeout` is told the reason. */
  start (onTimeout: (reason: string) => void, reasonOnTimeout: () => string): void {
    if (this.isReady) return
    this.timer = setTimeout(() => {
      this.timer = undefined
      if (this.isReady) return
      const reason = reasonOnTimeout()
      this.timedOut = true
      this.settle()
      this.reject(fail('DP_ERR_NOT_READY', `initial sync not complete after ${this.timeoutMs} ms: ${reason}`))
      onTimeout(reason)
      // Under afterTimeout 'allow', waiting admissions may proceed now.
      if (this.afterTimeout === 'allow') {
        for (const w of this.waiters) w(true)
        this.waiters.clear()
      }
    }, this.timeoutMs)
  }

  /** Marks the node ready (idempotent). Returns true the first time. */
  markReady (): boolean {
    if (this.isReady) return false
    this.isReady = true
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    this.settle()
    this.resolve()
    for (const w of this.waiters) w(true)
    this.waiters.clear()
    return true
  }

  private settle (): void { this.done = true }

  /**
   * Applies the policy: resolves when admission may proceed, rejects with `DP_ERR_NOT_READY`
   * when it may not.
   */
  async admit (): Promise<void> {
    if (this.isReady || this.policy === 'allow') return
    if (this.timedOut && this.afterTimeout === 'allow') return
    if (this.policy === 'reject') throw fail('DP_ERR_NOT_READY', 'node has not completed its initial sync (readiness policy: reject)')
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(onReady)
        reject(fail('DP_ERR_NOT_READY', `node not ready within ${this.waitMs} ms (readiness policy: wait)`))
      }, this.waitMs)
      const onReady = (ok: boolean): void => {
        clearTimeout(timer)
        if (ok) resolve()
        else reject(fail('DP_ERR_NOT_READY', 'node closed while waiting for readiness'))
      }
      this.waiters.add(onReady)
    })
  }

  /** Stops timers; pending waits are refused. */
  close (): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    if (!this.done) { this.done = true; this.reject(fail('DP_ERR_NOT_READY', 'node closed before its initial sync completed')) }
    for (const w of this.waiters) w(false)
    this.waiters.clear()
  }
}
