/**
 * Reconnect delays: exponential backoff with full jitter, from an injected random source.
 */

export interface BackoffOptions {
  /** First delay, ms. @defaultValue 100 */
  readonly initialMs?: number
  /** Largest delay, ms. @defaultValue 5000 */
  readonly maxMs?: number
  /** Random source in [0, 1). @defaultValue Math.random */
  readonly random?: () => number
}

/**
 * Delay before attempt `attempt` (0-based): a uniform draw in
 * `[base/2, base]` with `base = min(maxMs, initialMs * 2^attempt)`.
 */
export const backoffDelay = (attempt: number, opts: BackoffOptions = {}): number => {
  const initial = opts.initialMs ?? 100
  const max = opts.maxMs ?? 5000
  const random = opts.random ?? Math.random
  const base = Math.min(max, initial * 2 ** Math.min(attempt, 30))
  return Math.round(base / 2 + (base / 2) * random())
}
