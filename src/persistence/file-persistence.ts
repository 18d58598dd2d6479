/**
 * Optional persistence of the replicated document in a data directory: an append-only log of
 * every Yjs update plus a periodic snapshot.
 *
 * Why not LevelDB: `classic-level` is a native module and npm install scripts cannot run here;
 * the document is one Yjs state, so a log + snapshot is all the structure needed.
 *
 * Loss window: updates are written to the log (the OS page cache) at the end of the event-loop
 * turn that produced them, so a SIGKILL loses at most the updates of that one turn; they are
 * fsynced every `fsyncIntervalMs`, so a power loss or kernel crash loses at most that much.
 * Peers hold the same state and send it back at the next sync, so a node that restarts into a
 * live cluster loses nothing.
 *
 * Files: `snapshot.bin` (written to `snapshot.bin.tmp`, fsynced, renamed), `updates.log`
 * (length + CRC32 framed records, a torn tail is truncated at start), `LOCK` (pid of the owner).
 */
import * as fs from 'node:fs'
import * as path from 'node:path'
import * as Y from 'yjs'
import { fail } from '../errors.js'
import { DEFAULT_FSYNC_INTERVAL_MS, DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_SNAPSHOT_INTERVAL_MS, DEFAULT_SNAPSHOT_LOG_BYTES } from '../options.js'
import { readSnapshot, syncDir, writeSnapshot } from './snapshot.js'
import { scanLog, UpdateLog } from './update-log.js'

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
}

/** What was found on disk at start. */
export interface LoadReport {
  readonly snapshotBytes: number
  readonly logRecords: number
  /** Bytes of torn tail dropped from the log. */
  readonly tornBytes: number
  /** Log records whose content did not apply (skipped). */
  readonly badRecords: number
}

export class FilePersistence {
  private log: UpdateLog | undefined
  private doc: Y.Doc | undefined
  private offUpdate: (() => void) | undefined
  private flushScheduled = false
  private fsyncTimer: NodeJS.Timeout | undefined
  private snapshotTimer: NodeJS.Timeout | undefined
  private readonly lockFile: string
  private closed = false
  readonly fsyncIntervalMs: number
  readonly snapshotIntervalMs: number
  readonly snapshotLogBytes: number
  readonly maxRecordBytes: number

  constructor (readonly opts: PersistenceOptions, private readonly warn: (msg: string) => void = () => {}) {
    this.fsyncIntervalMs = opts.fsyncIntervalMs ?? DEFAULT_FSYNC_INTERVAL_MS
    this.snapshotIntervalMs = opts.snapshotIntervalMs ?? DEFAULT_SNAPSHOT_INTERVAL_MS
    this.snapshotLogBytes = opts.snapshotLogBytes ?? DEFAULT_SNAPSHOT_LOG_BYTES
    this.maxRecordBytes = opts.maxRecordBytes ?? DEFAULT_MAX_MESSAGE_BYTES
    this.lockFile = path.join(opts.dir, 'LOCK')
  }

  private get snapshotFile (): string { return path.join(this.opts.dir, 'snapshot.bin') }
  private get logFile (): string { return path.join(this.opts.dir, 'updates.log') }

  /**
   * Takes the directory's lock, loads the snapshot then replays the log into `apply`, truncating
   * a torn tail. Then logs every update of `doc` except those applied with `origin === this`.
   * @throws DialogProfilesError `DP_ERR_PERSISTENCE` when the directory is locked by a live process or unreadable.
   */
  open (doc: Y.Doc, apply: (update: Uint8Array, origin: unknown) => void): LoadReport {
    try {
      fs.mkdirSync(this.opts.dir, { recursive: true })
    } catch (err) {
      throw fail('DP_ERR_PERSISTENCE', `cannot create ${this.opts.dir}`, err)
    }
    this.lock()
    let snapshotBytes = 0
    let records: Uint8Array[] = []
    let tornBytes = 0
    let validBytes = 0
    let badRecords = 0
    try {
      const snap = readSnapshot(this.snapshotFile)
      if (snap !== undefined) { apply(snap, this); snapshotBytes = snap.length }
      if (fs.existsSync(this.logFile)) {
        const scan = scanLog(fs.readFileSync(this.logFile), this.maxRecordBytes)
        records = scan.records
        tornBytes = scan.tornBytes
        validBytes = scan.validBytes
      }
    } catch (err) {
      this.unlock()
      throw err instanceof Error && 'code' in err && String((err as { code: unknown }).code).startsWith('DP_ERR')
        ? err
        : fail('DP_ERR_PERSISTENCE', `cannot read ${this.opts.dir}`, err)
    }
    for (const r of records) {
      try { apply(r, this) } catch { badRecords++ }
    }
    if (tornBytes > 0) this.warn(`${this.logFile}: dropped a torn tail of ${tornBytes} bytes`)
    this.log = new UpdateLog(this.logFile, validBytes)
    this.doc = doc
    const onUpdate = (update: Uint8Array, origin: unknown): void => {
      if (origin === this || this.closed) return
      this.log!.append(update)
      if (!this.flushScheduled) {
        this.flushScheduled = true
        setImmediate(() => { this.flushScheduled = false; this.flush() })
      }
    }
    doc.on('update', onUpdate)
    this.offUpdate = () => { doc.off('update', onUpdate) }
    this.fsyncTimer = setInterval(() => { this.guard(() => { this.log?.sync() }) }, this.fsyncIntervalMs)
    this.snapshotTimer = setInterval(() => { if ((this.log?.size ?? 0) > 0) this.guard(() => { this.snapshot() }) }, this.snapshotIntervalMs)
    return { snapshotBytes, logRecords: records.length, tornBytes, badRecords }
  }

  private guard (fn: () => void): void {
    try { fn() } catch (err) { this.warn(`persistence: ${err instanceof Error ? err.message : String(err)}`) }
  }

  private flush (): void {
    if (this.closed || this.log === undefined) return
    this.guard(() => {
      this.log!.flush()
      if (this.log!.size >= this.snapshotLogBytes) this.snapshot()
    })
  }

  /** Writes a snapshot of the whole document, then empties the log. */
  snapshot (): void {
    if (this.doc === undefined || this.log === undefined) return
    this.log.flush()
    const state = Y.encodeStateAsUpdate(this.doc)
    writeSnapshot(this.snapshotFile, state)
    // A crash between the rename and this reset replays updates already in the snapshot: harmless.
    this.log.reset()
  }

  /** Bytes currently in the log. */
  get logBytes (): number { return this.log?.size ?? 0 }

  private lock (): void {
    const mine = String(process.pid)
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        fs.writeFileSync(this.lockFile, mine, { flag: 'wx' })
        syncDir(this.opts.dir)
        return
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw fail('DP_ERR_PERSISTENCE', `cannot lock ${this.opts.dir}`, err)
      }
      const holder = Number(fs.readFileSync(this.lockFile, 'utf8').trim())
      if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && isAlive(holder)) {
        throw fail('DP_ERR_PERSISTENCE', `${this.opts.dir} is in use by process ${holder}`)
      }
      // Stale lock of a killed process (or of this process, reopened): take it over.
      fs.rmSync(this.lockFile, { force: true })
    }
    throw fail('DP_ERR_PERSISTENCE', `cannot lock ${this.opts.dir}`)
  }

  private unlock (): void {
    fs.rmSync(this.lockFile, { force: true })
  }

  /** Flushes, fsyncs and releases the directory. Idempotent. */
  close (): void {
    if (this.closed) return
    this.closed = true
    this.offUpdate?.()
    if (this.fsyncTimer !== undefined) clearInterval(this.fsyncTimer)
    if (this.snapshotTimer !== undefined) clearInterval(this.snapshotTimer)
    this.guard(() => { this.log?.close() })
    this.unlock()
  }
}

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}
