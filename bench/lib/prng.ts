/**
 * Seeded pseudo-random numbers for benchmark traces (mulberry32): the same seed gives the same
 * trace on every machine, so two runs differ only by timing noise.
 */

/** A seeded generator. */
export interface Rng {
  /** Uniform float in [0, 1). */
  next (): number
  /** Uniform integer in [0, n). */
  int (n: number): number
  /** The seed this generator started from. */
  readonly seed: number
}

/** mulberry32: 32-bit state, period 2^32, good enough for picking trace events. */
export const createRng = (seed: number): Rng => {
  let a = seed >>> 0
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  return { next, int: (n: number) => Math.floor(next() * n), seed }
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

/**
 * A SIP Call-ID-like dialog id of about 45 characters (the length DESIGN.md measured with),
 * unique per `i`.
 */
export const dialogId = (i: number, tag = 'a84b4c76e66710'): string =>
  `${i.toString(36).padStart(6, '0')}-${tag}@pc33.atlanta.example.com`
