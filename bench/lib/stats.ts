/**
 * Small statistics and measurement helpers: percentiles, a latency recorder, heap after GC.
 */

/** Nearest-rank percentile (p in [0, 100]) of the first `count` samples; sorts a copy. */
export const percentile = (samples: Float64Array | readonly number[], p: number, count = samples.length): number => {
  if (count === 0) return Number.NaN
  const sorted = Float64Array.from(samples.slice(0, count)).sort()
  const rank = Math.min(count - 1, Math.max(0, Math.ceil((p / 100) * count) - 1))
  return sorted[rank] ?? Number.NaN
}

/** Median of a few numbers. */
export const median = (xs: readonly number[]): number => percentile(xs, 50)

/** Preallocated latency samples in nanoseconds, so recording does not allocate. */
export class LatencyRecorder {
  private readonly samples: Float64Array
  private n = 0
  constructor (capacity: number) {
    this.samples = new Float64Array(capacity)
  }

  /** Records one sample (ns); samples past the capacity are dropped. */
  record (ns: number): void {
    if (this.n < this.samples.length) this.samples[this.n++] = ns
  }

  get count (): number { return this.n }

  /** Sum of all recorded samples, ns. */
  total (): number {
    let s = 0
    for (let i = 0; i < this.n; i++) s += this.samples[i] ?? 0
    return s
  }

  percentile (p: number): number { return percentile(this.samples, p, this.n) }
}

/** High-resolution now in nanoseconds, as a number (safe for runs shorter than ~100 days). */
export const nowNs = (): number => Number(process.hrtime.bigint())

const gcFn = (globalThis as { gc?: () => void }).gc

/** Whether the process runs with `--expose-gc` (heap figures are only reliable then). */
export const hasGc = gcFn !== undefined

/** Forces full garbage collections (when exposed) and returns `heapUsed` in bytes. */
export const heapAfterGc = (): number => {
  if (gcFn !== undefined) {
    gcFn()
    gcFn()
  }
  return process.memoryUsage().heapUsed
}

/**
 * Lets pending microtasks and immediates run (a store may hold a scheduled write-out, which
 * keeps it reachable until the current synchronous code yields), then {@link heapAfterGc}.
 */
export const settledHeap = async (): Promise<number> => {
  await new Promise((resolve) => setImmediate(resolve))
  return heapAfterGc()
}

/** Formats a byte count for humans. */
export const fmtBytes = (b: number): string => {
  const abs = Math.abs(b)
  if (abs >= 1048576) return `${(b / 1048576).toFixed(1)} MB`
  if (abs >= 1024) return `${(b / 1024).toFixed(1)} KB`
  return `${Math.round(b)} B`
}

/** Formats a number with at most 3 significant decimals, and thousands separators. */
export const fmtNum = (x: number): string => {
  if (!Number.isFinite(x)) return String(x)
  const abs = Math.abs(x)
  const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3
  return x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 })
}
