/**
 * Optional persistence of the replicated document in a data directory: an append-only log of
 * every Yjs update plus a periodic snapshot.
 *
 * Why not LevelDB: `classic-level` is a native module (built at install time on every host); the
 * document is one Yjs state, so a log + snapshot is all the structure needed.
 *
 * Loss window: updates are written to the log (the OS page cache) at the end of the event-loop
 * turn that produced them, so a SIGKILL loses at most the updates of that one turn; they are
 * fsynced every `fsyncIntervalMs`, so a power loss or kernel crash loses at most that much.
 *
 * Damage is never silent: a log record that fails its checks is skipped (the records after it
 * still load), the damaged log is kept aside as `updates.log.corrupt-<n>`, and a
 * `persistence-error` event says how many records were lost. A write or fsync that fails
 * (ENOSPC, EIO) raises a `persistence-error` event and stops appending (a log with a hole would
 * not replay the records after it); every `retryIntervalMs` the persistence then tries to write
 * a snapshot of the whole document, which covers everything written during the failure, and
 * reports `persistence-recovered` once it succeeds.
 *
 * Files: `snapshot.bin` (written to `snapshot.bin.tmp`, fsynced, renamed), `updates.log`
 * (records framed for resynchronisation, see update-log.ts), `LOCK.<n>` (see dir-lock.ts).
 */
import * as path from 'node:path'
import * as Y from 'yjs'
import { fail } from '../errors.js'
import { DEFAULT_FSYNC_INTERVAL_MS, DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_PERSISTENCE_RETRY_MS, DEFAULT_SNAPSHOT_INTERVAL_MS, DEFAULT_SNAPSHOT_LOG_BYTES } from '../options.js'
import type { DialogProfilesError } from '../errors.js'
import { DirLock } from './dir-lock.js'
import type { LockProbe } from './dir-lock.js'
import { errnoOf, nodeFileSystem } from './file-system.js'
import type { FileSystem } from './file-system.js'
import { readSnapshot, writeSnapshot } from './snapshot.js'
import { scanLegacyLog, scanLog, UpdateLog } from './update-log.js'

export interface PersistenceOptions {
  /** Directory of the files; created if missing. */
  readonly dir: string
  /** How often written updates are fsynced, ms. @defaultValue 1000 */
  readonly fsyncIntervalMs?: number
  /** How often a snapshot replaces the log (when the log is not empty), ms. @defaultValue 60000 */
  readonly snapshotIntervalMs?: number
  /** Log size that triggers a snapshot at once, bytes. @defaultValue 16777216 (16 MiB) */
  readonly snapshotLogBytes?: number
  /** Largest log record accepted on replay, bytes. @defaultValue 67108864 (64 MiB) */
  readonly maxRecordBytes?: number
  /** After a failed write, how often a full snapshot is tried until one succeeds, ms. @defaultValue 1000 */
  readonly retryIntervalMs?: number
  /** Time source for `failingSince`, ms. @defaultValue Date.now */
  readonly clock?: () => number
  /** File operations (tests inject faults). @defaultValue node:fs */
  readonly fileSystem?: FileSystem
  /** Liveness of lock owners (tests inject it). @defaultValue pid, process start time and boot id from the OS */
  readonly lockProbe?: LockProbe
}

/** What was found on disk at start. */
export interface LoadReport {
  readonly snapshotBytes: number
  /** Valid log records replayed. */
  readonly logRecords: number
  /** Bytes of torn tail (an incomplete last write) dropped from the log. */
  readonly tornBytes: number
  /** Log records that passed their checksum but did not apply (skipped). */
  readonly badRecords: number
  /** Log records lost to damage before the end of the log (or at its end, when not a torn write). */
  readonly corruptRecords: number
  /** Bytes of those damaged spans. */
  readonly corruptBytes: number
  /** Where the damaged log was kept aside, or null. */
  readonly quarantine: string | null
}

/** Events of the persistence, a discriminated union on `type` (and `reason`). */
export type PersistenceEvent =
  /** The log held damaged records: `records` were lost, the rest loaded; the log was kept aside as `quarantine`. */
  | { readonly type: 'persistence-error'; readonly reason: 'corrupt'; readonly records: number; readonly bytes: number; readonly quarantine: string | null; readonly message: string }
  /** A write, fsync or snapshot failed: writes stopped until a full snapshot succeeds (`persistence-recovered`). */
  | { readonly type: 'persistence-error'; readonly reason: 'write'; readonly error: DialogProfilesError; readonly message: string }
  /** A full snapshot succeeded after failed writes: everything acknowledged is on disk again. */
  | { readonly type: 'persistence-recovered'; readonly failedForMs: number; readonly failedAttempts: number }

/** State of the persistence, as `ClusterNode.cluster()` shows it. */
export interface PersistenceStatus {
  readonly dir: string
  /** `'failing'` from a failed write until a full snapshot succeeds. */
  readonly state: 'ok' | 'failing'
  /** Clock time of the first failure of the current episode, ms, or null. */
  readonly failingSince: number | null
  readonly lastError: string | null
  /** Failed writes, fsyncs and snapshots since start. */
  readonly writeFailures: number
  /** Bytes currently in the log. */
  readonly logBytes: number
  /** What was loaded at start, or null before `open`. */
  readonly loaded: LoadReport | null
}

const describeError = (err: unknown): string => {
  const code = errnoOf(err)
  const msg = err instanceof Error ? err.message : String(err)
  return code !== undefined && !msg.includes(code) ? `${code}: ${msg}` : msg
}

export class FilePersistence {
  private log: UpdateLog | undefined
  private doc: Y.Doc | undefined
  private offUpdate: (() => void) | undefined
  private flushScheduled = false
  private timers: NodeJS.Timeout[] = []
  private retryTimer: NodeJS.Timeout | undefined
  private readonly lock: DirLock
  private readonly fs: FileSystem
  private readonly clock: () => number
  private closed = false
  private failure: { since: number; error: string; attempts: number } | undefined
  private writeFailures = 0
  private loaded: LoadReport | null = null
  /** Where to move the log at the next snapshot (it held damaged records). */
  private quarantineAt: string | undefined
  /** Whether the log found at open is of version 0.1 (replaced by a snapshot at once). */
  private legacyLog = false
  /** End of the last valid log record found at open. */
  private validBytes = 0
  readonly fsyncIntervalMs: number
  readonly snapshotIntervalMs: number
  readonly snapshotLogBytes: number
  readonly maxRecordBytes: number
  readonly retryIntervalMs: number

  constructor (
    readonly opts: PersistenceOptions,
    private readonly onEvent: (event: PersistenceEvent) => void = () => {},
    private readonly warn: (msg: string) => void = () => {}
  ) {
    this.fsyncIntervalMs = opts.fsyncIntervalMs ?? DEFAULT_FSYNC_INTERVAL_MS
    this.snapshotIntervalMs = opts.snapshotIntervalMs ?? DEFAULT_SNAPSHOT_INTERVAL_MS
    this.snapshotLogBytes = opts.snapshotLogBytes ?? DEFAULT_SNAPSHOT_LOG_BYTES
    this.maxRecordBytes = opts.maxRecordBytes ?? DEFAULT_MAX_MESSAGE_BYTES
    this.retryIntervalMs = opts.retryIntervalMs ?? DEFAULT_PERSISTENCE_RETRY_MS
    this.fs = opts.fileSystem ?? nodeFileSystem
    this.clock = opts.clock ?? Date.now
    this.lock = new DirLock(opts.dir, this.fs, opts.lockProbe)
  }

  /**
   * Creates the directory and takes its lock, before anything reads or writes in it (the node's
   * incarnation file included); `open` takes it if this was not called. Idempotent.
   * @throws DialogProfilesError `DP_ERR_PERSISTENCE` when a live process holds the directory or it cannot be created or written.
   */
  lockDir (): void {
    try {
      this.fs.mkdirSync(this.opts.dir, { recursive: true })
    } catch (err) {
      throw fail('DP_ERR_PERSISTENCE', `cannot create ${this.opts.dir}`, err)
    }
    this.lock.acquire()
  }

  private get snapshotFile (): string { return path.join(this.opts.dir, 'snapshot.bin') }
  private get logFile (): string { return path.join(this.opts.dir, 'updates.log') }

  /**
   * Takes the directory's lock, loads the snapshot then replays the log into `apply`, skipping
   * damaged records (reported as a `persistence-error` event, the damaged log kept aside) and
   * dropping a torn tail. Then logs every update of `doc` except those applied with `origin === this`.
   * @throws DialogProfilesError `DP_ERR_PERSISTENCE` when the directory is locked by a live process, unreadable, or its snapshot is corrupt.
   */
  open (doc: Y.Doc, apply: (update: Uint8Array, origin: unknown) => void): LoadReport {
    this.lockDir()
    let report: LoadReport
    try {
      report = this.load(apply)
      this.doc = doc
      if (this.quarantineAt !== undefined) {
        // Keep every byte of the damaged log: open it without cutting anything, and move it
        // aside once a snapshot holds what it loaded.
        this.log = new UpdateLog(this.logFile, this.fs.readFileSync(this.logFile).length, this.fs)
        this.compactOrFail()
      }
      this.log ??= new UpdateLog(this.logFile, this.validBytes, this.fs)
    } catch (err) {
      this.log?.close()
      this.log = undefined
      this.lock.release()
      throw err instanceof Error && 'code' in err && String((err as { code: unknown }).code).startsWith('DP_ERR')
        ? err
        : fail('DP_ERR_PERSISTENCE', `cannot read ${this.opts.dir}`, err)
    }
    this.loaded = report
    if (report.tornBytes > 0) this.warn(`${this.logFile}: dropped a torn tail of ${report.tornBytes} bytes`)
    const lost = report.corruptRecords + report.badRecords
    if (lost > 0) {
      const message = `${this.logFile}: ${lost} damaged record(s) skipped (${report.corruptBytes} bytes), the records after them loaded; damaged log kept as ${report.quarantine ?? '(not yet moved)'}`
      this.warn(message)
      this.onEvent({ type: 'persistence-error', reason: 'corrupt', records: lost, bytes: report.corruptBytes, quarantine: report.quarantine, message })
    }
    const onUpdate = (update: Uint8Array, origin: unknown): void => {
      if (origin === this || this.closed || this.failure !== undefined) return
      this.log!.append(update)
      if (!this.flushScheduled) {
        this.flushScheduled = true
        setImmediate(() => { this.flushScheduled = false; this.flush() })
      }
    }
    doc.on('update', onUpdate)
    this.offUpdate = () => { doc.off('update', onUpdate) }
    this.timers.push(setInterval(() => { this.attempt('fsync', () => { this.log?.sync() }) }, this.fsyncIntervalMs))
    this.timers.push(setInterval(() => { if ((this.log?.size ?? 0) > 0) this.attempt('snapshot', () => { this.compact() }) }, this.snapshotIntervalMs))
    return report
  }

  /** Reads the snapshot and the log into `apply`; decides what to do with a damaged log. */
  private load (apply: (update: Uint8Array, origin: unknown) => void): LoadReport {
    let snapshotBytes = 0
    const snap = readSnapshot(this.fs, this.snapshotFile)
    if (snap !== undefined) { apply(snap, this); snapshotBytes = snap.length }
    if (!this.fs.existsSync(this.logFile)) {
      return { snapshotBytes, logRecords: 0, tornBytes: 0, badRecords: 0, corruptRecords: 0, corruptBytes: 0, quarantine: null }
    }
    const data = this.fs.readFileSync(this.logFile)
    let scan = scanLog(data, this.maxRecordBytes)
    const legacy = scan.records.length === 0 && scan.corruptRegions > 0 ? scanLegacyLog(data, this.maxRecordBytes) : undefined
    if (legacy !== undefined) {
      // A log of version 0.1: load it, then a snapshot replaces it (the file is moved aside, not cut).
      scan = legacy
      this.legacyLog = true
    }
    this.validBytes = scan.validBytes
    let badRecords = 0
    for (const r of scan.records) {
      try { apply(r, this) } catch { badRecords++ }
    }
    if (scan.corruptRegions > 0 || badRecords > 0 || this.legacyLog) this.quarantineAt = this.freeQuarantineName(this.legacyLog ? 'v0.1' : 'corrupt')
    return {
      snapshotBytes,
      logRecords: scan.records.length - badRecords,
      tornBytes: scan.tornBytes,
      badRecords,
      corruptRecords: scan.corruptRecords,
      corruptBytes: scan.corruptBytes,
      quarantine: this.legacyLog ? null : this.quarantineAt ?? null
    }
  }

  private freeQuarantineName (kind: string): string {
    for (let n = 1; ; n++) {
      const name = `${this.logFile}.${kind}-${n}`
      if (!this.fs.existsSync(name)) return name
    }
  }

  /** Runs a write step; a failure starts a failure episode (event, no more appends, retries). */
  private attempt (what: string, fn: () => void): boolean {
    if (this.closed || this.log === undefined || this.failure !== undefined) return false
    try {
      fn()
      return true
    } catch (err) {
      this.failed(what, err)
      return false
    }
  }

  private flush (): void {
    this.attempt('write', () => {
      this.log!.flush()
      if (this.log!.size >= this.snapshotLogBytes) this.compact()
    })
  }

  private failed (what: string, err: unknown): void {
    this.writeFailures++
    if (this.failure !== undefined) { this.failure.attempts++; return }
    const message = `${what} to ${this.opts.dir} failed (${describeError(err)}): writes stop until a full snapshot succeeds, retried every ${this.retryIntervalMs} ms`
    this.failure = { since: this.clock(), error: describeError(err), attempts: 1 }
    this.log?.discardPending()
    this.warn(message)
    this.onEvent({ type: 'persistence-error', reason: 'write', error: fail('DP_ERR_PERSISTENCE', message, err), message })
    this.retryTimer = setInterval(() => { this.recover() }, this.retryIntervalMs)
  }

  /** Tries a full snapshot; ends the failure episode when it succeeds. */
  private recover (): boolean {
    const failure = this.failure
    if (failure === undefined) return true
    try {
      this.compact()
    } catch (err) {
      this.writeFailures++
      failure.attempts++
      failure.error = describeError(err)
      return false
    }
    this.failure = undefined
    if (this.retryTimer !== undefined) clearInterval(this.retryTimer)
    this.retryTimer = undefined
    this.warn(`${this.opts.dir}: writes work again, a full snapshot is on disk`)
    this.onEvent({ type: 'persistence-recovered', failedForMs: Math.max(0, this.clock() - failure.since), failedAttempts: failure.attempts })
    return true
  }

  private compactOrFail (): void {
    try { this.compact() } catch (err) { this.failed('snapshot', err) }
  }

  /**
   * Writes a snapshot of the whole document, then empties the log (or, when it held damaged
   * records, moves it aside and starts a new one). A crash between the two replays updates
   * already in the snapshot: harmless.
   */
  private compact (): void {
    if (this.doc === undefined || this.log === undefined) return
    if (this.failure === undefined) this.log.flush()
    writeSnapshot(this.fs, this.snapshotFile, Y.encodeStateAsUpdate(this.doc))
    if (this.quarantineAt === undefined) {
      this.log.reset()
      return
    }
    this.log.close()
    this.fs.renameSync(this.logFile, this.quarantineAt)
    this.quarantineAt = undefined
    this.log = new UpdateLog(this.logFile, 0, this.fs)
  }

  /**
   * Writes a snapshot of the whole document now, then empties the log. After failed writes this
   * is a recovery attempt.
   * @throws DialogProfilesError `DP_ERR_PERSISTENCE` when it cannot be written (a failure episode starts, see the class doc).
   */
  snapshot (): void {
    if (this.closed || this.log === undefined) return
    const ok = this.failure !== undefined ? this.recover() : this.attempt('snapshot', () => { this.compact() })
    if (!ok) throw fail('DP_ERR_PERSISTENCE', `snapshot of ${this.opts.dir} failed: ${this.failure?.error ?? 'unknown error'}`)
  }

  /** Current state: failing or not, since when, last error, what was loaded. */
  status (): PersistenceStatus {
    return {
      dir: this.opts.dir,
      state: this.failure === undefined ? 'ok' : 'failing',
      failingSince: this.failure?.since ?? null,
      lastError: this.failure?.error ?? null,
      writeFailures: this.writeFailures,
      logBytes: this.log?.size ?? 0,
      loaded: this.loaded
    }
  }

  /** Flushes and fsyncs (after failed writes: one last full snapshot attempt), then releases the directory. Idempotent. */
  close (): void {
    if (this.closed) return
    if (this.log !== undefined) {
      if (this.failure !== undefined) this.recover()
      else this.attempt('fsync', () => { this.log!.sync() })
      if (this.failure !== undefined) this.warn(`${this.opts.dir}: closed while writes fail; the last ${this.failure.error} episode is not on disk`)
    }
    this.closed = true
    this.offUpdate?.()
    for (const t of this.timers) clearInterval(t)
    if (this.retryTimer !== undefined) clearInterval(this.retryTimer)
    try { this.log?.close() } catch (err) { this.warn(`closing ${this.logFile}: ${describeError(err)}`) }
    this.lock.release()
  }
}
