/**
 * Seeded pseudo-random numbers for benchmark traces: the same seed gives the same trace on every
 * machine, so two runs differ only by timing noise.
 */
import { randomInt, seededRandom } from '../../src/internal/random.js'

/** A seeded generator. */
export interface Rng {
  /** Uniform float in [0, 1). */
  next (): number
  /** Uniform integer in [0, n). */
  int (n: number): number
  /** The seed this generator started from. */
  readonly seed: number
}

/** A generator over the library's seeded PRNG (`seededRandom`, mulberry32). */
export const createRng = (seed: number): Rng => {
  const next = seededRandom(seed)
  return { next, int: (n: number) => randomInt(next, n), seed }
}

/** Derives an independent sub-seed for a named part of a run (scenario x implementation). */
export const subSeed = (seed: number, label: string): number => {
  let h = (seed ^ 0x811c9dc5) >>> 0
  for (let i = 0; i < label.length; i++) {
    h ^= label.charCodeAt(i)
    h = Math.imul(h, 0x01000193) >>> 0
  }
  return h
}

/** A SIP Call-ID-like dialog id of about 45 characters, unique per `i`. */
export const dialogId = (i: number, tag = 'a84b4c76e66710'): string =>
  `${i.toString(36).padStart(6, '0')}-${tag}@pc33.atlanta.example.com`
