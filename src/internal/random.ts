/** Seeded pseudo-random numbers (mulberry32): the same seed gives the same sequence everywhere. */
export type Random = () => number

export const seededRandom = (seed: number): Random => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** An integer in [0, n). */
export const randomInt = (random: Random, n: number): number => Math.floor(random() * n)
