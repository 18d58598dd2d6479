/**
 * The data directory's lock: at most one holder at a time, ever, and a lock left by a process
 * that is provably gone is taken over.
 *
 * The lock is a sequence of generation files `LOCK.<n>`; the holder is the owner of the
 * highest one. Each is created whole and exclusively (written to a private temporary file,
 * fsynced, then hard-linked to its name: the link fails if the name exists), so a reader never
 * sees a half-written lock and two contenders can never create the same generation. To take
 * the lock, a process reads the highest generation `n`: if its owner is alive it refuses; if
 * the owner is gone (or released it) it creates `n + 1`, then checks that no higher generation
 * appeared (else it backs off). A taker-over never deletes or rewrites the lock it replaces, so
 * two processes that both judged the same lock stale cannot both win: only one creates `n + 1`.
 * The holder removes the generations below its own; on release it marks its own file released
 * (an atomic rename over it) and leaves it as the floor for the next generation.
 *
 * An owner is gone when its boot id differs from ours (the machine rebooted), its pid is not
 * running, or its pid runs a process with another start time (the pid was reused). Without
 * `/proc` (not Linux) start time and boot id are unknown and a running pid counts as alive.
 */
import { randomUUID } from 'node:crypto'
import * as nodeFs from 'node:fs'
import * as path from 'node:path'
import { DialogProfilesError, fail } from '../errors.js'
import { errnoOf } from './file-system.js'
import type { FileSystem } from './file-system.js'
import { syncDir } from './snapshot.js'

/** Who holds (or held) a lock: written into the lock file as JSON. */
export interface LockOwner {
  readonly pid: number
  /** Process start time (Linux: clock ticks since boot, `/proc/<pid>/stat` field 22), or null when unknown. */
  readonly start: string | null
  /** Boot id (`/proc/sys/kernel/random/boot_id`), or null when unknown. */
  readonly boot: string | null
  /** Random per acquisition. */
  readonly token: string
  /** Set once the holder released the lock. */
  readonly released?: boolean
}

/** How the lock learns who this process is and whether another owner is gone (injected in tests). */
export interface LockProbe {
  /** This process. */
  self (): Omit<LockOwner, 'token' | 'released'>
  /** Whether `owner` is provably gone. */
  isGone (owner: LockOwner): boolean
}

const readOr = (file: string): string | null => {
  try { return nodeFs.readFileSync(file, 'utf8') } catch { return null }
}

/** Start time of a running process (Linux), or null. */
const startOf = (pid: number): string | null => {
  const stat = readOr(`/proc/${pid}/stat`)
  if (stat === null) return null
  // The command name (field 2) may hold spaces and parentheses: fields count from the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return fields[19] ?? null
}

const pidRunning = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return errnoOf(err) === 'EPERM'
  }
}

/** The real probe: pid, start time and boot id from the operating system. */
export const processProbe: LockProbe = {
  self: () => ({ pid: process.pid, start: startOf(process.pid), boot: readOr('/proc/sys/kernel/random/boot_id')?.trim() ?? null }),
  isGone (owner) {
    const me = this.self()
    if (owner.boot !== null && me.boot !== null && owner.boot !== me.boot) return true
    if (!pidRunning(owner.pid)) return true
    if (owner.start === null) return false
    const start = startOf(owner.pid)
    return start !== null && start !== owner.start
  }
}

const GENERATION = /^LOCK\.(\d{1,15})$/
/** Attempts before giving up under contention (each lost attempt means another process moved). */
const MAX_ATTEMPTS = 64

const parseOwner = (text: string): LockOwner | undefined => {
  try {
    const o = JSON.parse(text) as Partial<LockOwner>
    if (typeof o.pid !== 'number' || !Number.isSafeInteger(o.pid) || o.pid <= 0 || typeof o.token !== 'string') return undefined
    return {
      pid: o.pid,
      start: typeof o.start === 'string' ? o.start : null,
      boot: typeof o.boot === 'string' ? o.boot : null,
      token: o.token,
      ...(o.released === true ? { released: true } : {})
    }
  } catch {
    return undefined
  }
}

/** The exclusive lock of one data directory. */
export class DirLock {
  private generation = 0
  private owner: LockOwner | undefined

  constructor (readonly dir: string, private readonly fs: FileSystem, private readonly probe: LockProbe = processProbe) {}

  /** Whether this object holds the lock. */
  get held (): boolean { return this.owner !== undefined }

  private file (generation: number): string { return path.join(this.dir, `LOCK.${generation}`) }

  private generations (): number[] {
    const out: number[] = []
    for (const name of this.fs.readdirSync(this.dir)) {
      const m = GENERATION.exec(name)
      if (m !== null) out.push(Number(m[1]))
    }
    return out
  }

  /** Writes `owner` to a private temporary file, fsynced; returns its path. */
  private writeTemp (owner: LockOwner): string {
    const tmp = path.join(this.dir, `LOCK.tmp-${owner.token}`)
    const fd = this.fs.openSync(tmp, 'wx')
    try {
      this.fs.writeSync(fd, JSON.stringify(owner))
      this.fs.fsyncSync(fd)
    } catch (err) {
      this.fs.closeSync(fd)
      this.fs.rmSync(tmp, { force: true })
      throw err
    }
    this.fs.closeSync(fd)
    return tmp
  }

  /**
   * Takes the lock.
   * @throws DialogProfilesError `DP_ERR_PERSISTENCE` when a live process holds it, its lock file is unreadable, or the directory cannot be written.
   */
  acquire (): void {
    if (this.owner !== undefined) return
    const owner: LockOwner = { ...this.probe.self(), token: randomUUID() }
    try {
      this.acquireAs(owner)
    } catch (err) {
      throw err instanceof DialogProfilesError ? err : fail('DP_ERR_PERSISTENCE', `cannot lock ${this.dir}`, err)
    }
  }

  private acquireAs (owner: LockOwner): void {
    this.refuseLegacyHolder()
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const top = Math.max(0, ...this.generations())
      if (top > 0) {
        let text: string
        try {
          text = this.fs.readFileSync(this.file(top), 'utf8')
        } catch (err) {
          if (errnoOf(err) === 'ENOENT') continue // removed by a newer holder: look again
          throw err
        }
        const holder = parseOwner(text)
        if (holder === undefined) throw fail('DP_ERR_PERSISTENCE', `${this.file(top)} is not a lock this library wrote: remove it if no process uses ${this.dir}`)
        if (holder.released !== true && !this.probe.isGone(holder)) {
          throw fail('DP_ERR_PERSISTENCE', `${this.dir} is in use by process ${holder.pid}`)
        }
      }
      const mine = top + 1
      const tmp = this.writeTemp(owner)
      try {
        this.fs.linkSync(tmp, this.file(mine))
      } catch (err) {
        if (errnoOf(err) === 'EEXIST') continue // another process took this generation first
        throw err
      } finally {
        this.fs.rmSync(tmp, { force: true })
      }
      if (Math.max(...this.generations()) !== mine) {
        // A process that read an older generation than ours took a newer one: it is the holder.
        this.fs.rmSync(this.file(mine), { force: true })
        continue
      }
      syncDir(this.fs, this.dir)
      this.generation = mine
      this.owner = owner
      this.cleanUp()
      return
    }
    throw fail('DP_ERR_PERSISTENCE', `cannot lock ${this.dir}: other processes keep taking it`)
  }

  /** A running process named in the lock file of earlier versions (`LOCK`, a pid) holds the directory. */
  private refuseLegacyHolder (): void {
    let text: string
    try {
      text = this.fs.readFileSync(path.join(this.dir, 'LOCK'), 'utf8')
    } catch {
      return
    }
    const pid = Number(text.trim())
    if (Number.isSafeInteger(pid) && pid > 0 && pid !== process.pid && !this.probe.isGone({ pid, start: null, boot: null, token: '' })) {
      throw fail('DP_ERR_PERSISTENCE', `${this.dir} is in use by process ${pid} (LOCK of an earlier version)`)
    }
  }

  /** Removes the generations below ours and the lock file of earlier versions (`LOCK`, a pid). */
  private cleanUp (): void {
    try {
      for (const g of this.generations()) if (g < this.generation) this.fs.rmSync(this.file(g), { force: true })
      this.fs.rmSync(path.join(this.dir, 'LOCK'), { force: true })
    } catch {
      // Leftovers are harmless: the highest generation decides.
    }
  }

  /** Releases the lock (idempotent): marks our generation released, atomically. */
  release (): void {
    const owner = this.owner
    if (owner === undefined) return
    this.owner = undefined
    try {
      const tmp = this.writeTemp({ ...owner, token: `${owner.token}-released`, released: true })
      this.fs.renameSync(tmp, this.file(this.generation))
    } catch {
      // No space for the marker (a full disk): remove the lock instead, so that this process
      // can take the directory again; the next holder then starts a lower generation.
      try { this.fs.rmSync(this.file(this.generation), { force: true }) } catch { /* stale once we exit */ }
    }
  }
}
