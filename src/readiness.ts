/**
 * Readiness: whether this node has completed its initial sync with the cluster, and the
 * admission policy that applies until it has.
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
   * Admission once `timeoutMs` passed without the initial sync, for the first node of a
   * cluster: `'allow'` admits against the local view (the node reports
   * `readyState: 'timed-out'`) while no configured peer has answered, that is while every
   * configured peer is refused or unreachable. A configured peer that answered but failed the
   * handshake (authentication, TLS or protocol: a cluster exists that this node cannot join)
   * suspends it while no configured peer is synced: admission follows `policy` until that peer
   * is reached or a sync completes.
   * `'reject'` keeps applying `policy` until a sync completes. @defaultValue 'allow'
   */
  readonly afterTimeout?: 'allow' | 'reject'
}

/** Why the initial sync has not completed: a sentence, and the underlying error if any (`DP_ERR_AUTH`, ...). */
export interface NotReadyReason {
  readonly reason: string
  readonly cause?: Error
}

/** One-shot readiness latch with a timeout. */
export class Readiness {
  /** Resolves once ready; rejects with `DP_ERR_NOT_READY` at the timeout (readiness may still come later). */
  readonly ready: Promise<void>
  private resolve!: () => void
  private reject!: (err: Error) => void
  private readonly waiters = new Set<(ok: boolean) => void>()
  private timer: NodeJS.Timeout | undefined
  private explain: (() => NotReadyReason) | undefined
  private done = false
  isReady = false
  /** Set when the timeout passed before readiness. */
  timedOut = false

  /**
   * @param mayProceedAfterTimeout under `afterTimeout: 'allow'`, whether admission may proceed
   * now that the timeout passed (asked at every admission)
   */
  constructor (
    readonly policy: ReadinessPolicy,
    readonly timeoutMs: number,
    readonly waitMs: number,
    readonly afterTimeout: 'allow' | 'reject' = 'allow',
    private readonly mayProceedAfterTimeout: () => boolean = () => true
  ) {
    this.ready = new Promise<void>((resolve, reject) => { this.resolve = resolve; this.reject = reject })
    // Nobody may be listening: never let the rejection become an unhandled one.
    this.ready.catch(() => {})
  }

  /**
   * Starts the timeout; `onTimeout` is told the reason. `reasonOnTimeout` names why the sync did
   * not complete, with the underlying error (for example `DP_ERR_AUTH`) as `cause`.
   */
  start (onTimeout: (reason: string) => void, reasonOnTimeout: () => NotReadyReason): void {
    if (this.isReady) return
    this.explain = reasonOnTimeout
    this.timer = setTimeout(() => {
      this.timer = undefined
      if (this.isReady) return
      const { reason, cause } = reasonOnTimeout()
      this.timedOut = true
      this.done = true
      this.reject(fail('DP_ERR_NOT_READY', `initial sync not complete after ${this.timeoutMs} ms: ${reason}`, cause))
      onTimeout(reason)
      // Under afterTimeout 'allow', waiting admissions may proceed now.
      if (this.proceedsAfterTimeout()) {
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
    this.done = true
    this.resolve()
    for (const w of this.waiters) w(true)
    this.waiters.clear()
    return true
  }

  /** A `DP_ERR_NOT_READY` naming why the sync has not completed, with its cause. */
  private notReady (what: string): Error {
    const why = this.explain?.()
    return fail('DP_ERR_NOT_READY', why === undefined ? what : `${what}: ${why.reason}`, why?.cause)
  }

  private proceedsAfterTimeout (): boolean {
    return this.timedOut && this.afterTimeout === 'allow' && this.mayProceedAfterTimeout()
  }

  /**
   * Applies the policy: resolves when admission may proceed, rejects with `DP_ERR_NOT_READY`
   * when it may not.
   */
  async admit (): Promise<void> {
    if (this.isReady || this.policy === 'allow') return
    if (this.proceedsAfterTimeout()) return
    if (this.policy === 'reject') throw this.notReady('node has not completed its initial sync (readiness policy: reject)')
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(onReady)
        reject(this.notReady(`node not ready within ${this.waitMs} ms (readiness policy: wait)`))
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
