/**
 * Token bucket that bounds the rate of WebSocket messages one connection may send us.
 */

/**
 * Allows `ratePerSecond` messages per second on average, with bursts up to `burst`.
 * Time comes from the injected `now` (ms).
 */
export class RateLimiter {
  private tokens: number
  private last: number
  constructor (private readonly ratePerSecond: number, private readonly burst: number, private readonly now: () => number) {
    this.tokens = burst
    this.last = now()
  }

  /** Takes one token; false when the bucket is empty (the caller closes the connection). */
  take (): boolean {
    const t = this.now()
    if (t > this.last) {
      this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) * this.ratePerSecond) / 1000)
      this.last = t
    }
    if (this.tokens < 1) return false
    this.tokens -= 1
    return true
  }
}
