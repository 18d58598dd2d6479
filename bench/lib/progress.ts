/**
 * A progress bar on stderr for long loops. On a terminal it redraws one line; otherwise it
 * prints a line at every quarter, so CI logs stay short. Throttled: `tick` is cheap in hot loops.
 */

/** A running progress indicator. */
export interface Progress {
  /** Sets the amount of work done (0..total). Cheap: redraws at most every 100 ms. */
  update (done: number): void
  /** Clears the bar. */
  done (): void
}

const WIDTH = 28

/** Starts a progress bar labelled `label` for `total` units of work. */
export const startProgress = (label: string, total: number): Progress => {
  const tty = process.stderr.isTTY === true
  const t0 = performance.now()
  let lastDraw = 0
  let lastQuarter = 0
  const draw = (done: number): void => {
    const frac = total > 0 ? Math.min(1, done / total) : 1
    const elapsed = (performance.now() - t0) / 1000
    if (tty) {
      const filled = Math.round(frac * WIDTH)
      const eta = frac > 0.01 ? ` eta ${Math.max(0, elapsed / frac - elapsed).toFixed(0)}s` : ''
      process.stderr.write(`\r  ${label} [${'#'.repeat(filled)}${'.'.repeat(WIDTH - filled)}] ${(frac * 100).toFixed(0).padStart(3)}% ${elapsed.toFixed(1)}s${eta}   `)
    } else {
      const quarter = Math.floor(frac * 4)
      if (quarter > lastQuarter) {
        lastQuarter = quarter
        process.stderr.write(`  ${label}: ${quarter * 25}% (${elapsed.toFixed(1)}s)\n`)
      }
    }
  }
  return {
    update (done: number): void {
      const now = performance.now()
      if (now - lastDraw < 100) return
      lastDraw = now
      draw(done)
    },
    done (): void {
      if (tty) process.stderr.write(`\r${' '.repeat(WIDTH + label.length + 40)}\r`)
    }
  }
}
