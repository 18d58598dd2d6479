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
