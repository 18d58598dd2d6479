/**
 * Token bucket that bounds what one connection may make us do: WebSocket messages received,
 * and bytes of state produced in answer to its requests.
 */

/**
 * Allows `ratePerSecond` units per second on average, with bursts up to `burst`.
 * Time comes from the injected `now` (ms).
 */
export class RateLimiter {
  private tokens: number
  private last: number
  constructor (private readonly ratePerSecond: number, private readonly burst: number, private readonly now: () => number) {
    this.tokens = burst
    this.last = now()
  }

  private refill (): void {
    const t = this.now()
    if (t > this.last) {
      this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) * this.ratePerSecond) / 1000)
      this.last = t
    }
  }

  /** Takes one token; false when the bucket is empty (the caller closes the connection). */
  take (): boolean {
    this.refill()
    if (this.tokens < 1) return false
    this.tokens -= 1
    return true
  }

  /**
   * Charges `cost` units for work already done, even past empty: the bucket then owes them
   * and {@link msUntilAvailable} says how long until it is out of debt.
   */
  charge (cost: number): void {
    this.refill()
    this.tokens -= cost
  }

  /** Milliseconds until the bucket holds a token again (0 when it does now). */
  msUntilAvailable (): number {
    this.refill()
    return this.tokens >= 1 ? 0 : Math.ceil(((1 - this.tokens) * 1000) / this.ratePerSecond)
  }
}
