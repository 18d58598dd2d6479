/**
 * CPU time of another process by its pid, from `/proc/<pid>/stat` (Linux: utime and stime, in
 * clock ticks of 1/100 s, the USER_HZ of every Linux build). Read it before and after a
 * measured stretch and divide by the work done: the http-acquire scenario reports CPU per
 * acquire+end pair of the daemon, the floor server and redis-server this way. Elsewhere (no
 * `/proc`) it answers null and the scenario leaves the CPU rows out.
 */
import { readFileSync } from 'node:fs'

const TICK_US = 10_000

/** User plus system CPU time a process has used so far, µs; null without `/proc`. */
export const processCpuUs = (pid: number): number | null => {
  let stat: string
  try { stat = readFileSync(`/proc/${pid}/stat`, 'latin1') } catch { return null }
  // Fields after the command name (in parentheses, which may hold spaces): state is field 3, utime 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  const utime = Number(fields[11])
  const stime = Number(fields[12])
  return Number.isFinite(utime) && Number.isFinite(stime) ? (utime + stime) * TICK_US : null
}

/** Sums a process's CPU time over several measured stretches. */
export class CpuMeter {
  private total = 0
  private started: number | null = null
  private ok = true
  constructor (private readonly pid: number) {}

  /** Marks the start of a stretch. */
  start (): void {
    this.started = processCpuUs(this.pid)
    if (this.started === null) this.ok = false
  }

  /** Ends the stretch begun by {@link start}. */
  stop (): void {
    const now = processCpuUs(this.pid)
    if (now === null || this.started === null) { this.ok = false; return }
    this.total += now - this.started
    this.started = null
  }

  /** CPU time over every stretch, µs; null when `/proc` could not be read. */
  get us (): number | null { return this.ok ? this.total : null }
}
