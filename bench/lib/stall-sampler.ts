/**
 * Event-loop stalls of this process, told apart from CPU starvation: a 10 ms interval timer
 * notes the largest gap between its ticks and the CPU time this process used during that gap
 * (`process.cpuUsage`). A stall with as much CPU as wall time is work of this process (a long
 * task); one with little CPU is the operating system running other processes (a loaded
 * machine), which no code of the node can prevent. The largest busy stall, the most CPU time
 * used between two ticks (at most their gap), bounds the longest run of this process's own work
 * that kept its timers from running.
 */
const TICK_MS = 10

export class StallSampler {
  private last = performance.now()
  private lastCpu = cpuMs()
  private max = 0
  private maxCpu = 0
  private maxBusy = 0
  private readonly timer: NodeJS.Timeout

  constructor () {
    this.timer = setInterval(() => { this.tick() }, TICK_MS)
    this.timer.unref()
  }

  private tick (): void {
    const now = performance.now()
    const cpu = cpuMs()
    const gap = now - this.last - TICK_MS
    const busy = Math.max(0, Math.min(gap, cpu - this.lastCpu - TICK_MS))
    if (gap > this.max) { this.max = gap; this.maxCpu = busy }
    if (busy > this.maxBusy) this.maxBusy = busy
    this.last = now
    this.lastCpu = cpu
  }

  /** Since the last reset, ms: the largest stall, the CPU time this process used during it, and the largest busy stall. */
  read (): { stallMaxMs: number, stallCpuMs: number, busyStallMaxMs: number } {
    this.tick()
    return { stallMaxMs: this.max, stallCpuMs: this.maxCpu, busyStallMaxMs: this.maxBusy }
  }

  reset (): void {
    this.tick()
    this.max = 0
    this.maxCpu = 0
    this.maxBusy = 0
  }

  stop (): void { clearInterval(this.timer) }
}

const cpuMs = (): number => {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1000
}
