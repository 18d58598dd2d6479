/**
 * Reconnect delays: exponential backoff with equal jitter (half the delay fixed, half drawn
 * from an injected random source), so a flapping peer is not redialled in lockstep by every node.
 */
import { DEFAULT_RECONNECT_INITIAL_MS, DEFAULT_RECONNECT_MAX_MS } from '../options.js'

export interface BackoffOptions {
  /** First delay, ms. @defaultValue 100 (`DEFAULT_RECONNECT_INITIAL_MS`) */
  readonly initialMs?: number
  /** Largest delay, ms. @defaultValue 5000 (`DEFAULT_RECONNECT_MAX_MS`) */
  readonly maxMs?: number
  /** Random source in [0, 1). @defaultValue Math.random */
  readonly random?: () => number
}

/**
 * Delay before attempt `attempt` (0-based): a uniform draw in
 * `[base/2, base]` with `base = min(maxMs, initialMs * 2^attempt)`.
 */
export const backoffDelay = (attempt: number, opts: BackoffOptions = {}): number => {
  const initial = opts.initialMs ?? DEFAULT_RECONNECT_INITIAL_MS
  const max = opts.maxMs ?? DEFAULT_RECONNECT_MAX_MS
  const random = opts.random ?? Math.random
  const base = Math.min(max, initial * 2 ** Math.min(attempt, 30))
  return Math.round(base / 2 + (base / 2) * random())
}
