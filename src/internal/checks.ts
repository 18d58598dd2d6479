/**
 * Checks of numeric options and arguments: each returns the value or throws
 * `DP_ERR_INVALID_ARGUMENT` naming it, so bad input never changes state or is silently clamped.
 */
import { fail } from '../errors.js'

export const positive = (v: unknown, what: string): number => {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw fail('DP_ERR_INVALID_ARGUMENT', `${what} must be a positive number`)
  return v
}

export const positiveInt = (v: unknown, what: string): number => {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) throw fail('DP_ERR_INVALID_ARGUMENT', `${what} must be a positive integer`)
  return v
}

export const nonNegative = (v: unknown, what: string): number => {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw fail('DP_ERR_INVALID_ARGUMENT', `${what} must be a non-negative number`)
  return v
}

export const nonNegativeInt = (v: unknown, what: string): number => {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw fail('DP_ERR_INVALID_ARGUMENT', `${what} must be a non-negative integer`)
  return v
}

/** The first own key of `v` that is not in `known`, or undefined. */
export const unknownKey = (v: object, known: ReadonlySet<string>): string | undefined => {
  for (const k in v) if (Object.prototype.hasOwnProperty.call(v, k) && !known.has(k)) return k
  return undefined
}

/**
 * Refuses a key of the option object `v` (named `what`, '' at the top level) that is not in
 * `known` with `DP_ERR_INVALID_ARGUMENT`: a misspelt option (`ttl` for `ttlMs`) must not pass
 * silently as if it were absent.
 */
export const onlyKnownKeys = (v: object, known: ReadonlySet<string>, what: string): void => {
  const k = unknownKey(v, known)
  if (k !== undefined) throw fail('DP_ERR_INVALID_ARGUMENT', `unknown option ${what === '' ? '' : `${what}.`}${k}`)
}
