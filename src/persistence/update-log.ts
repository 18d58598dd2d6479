/**
 * Append-only log of Yjs updates. Each record is
 * `[magic "DPL1"][length: u32 LE][crc32 of length and update: u32 LE][update]`.
 *
 * The magic marker lets a reader resynchronise after damage: a record that fails its checks is
 * skipped by scanning forward for the next offset where a whole valid record starts, so one bad
 * byte costs the record it is in, never the records after it. What follows the last valid record
 * is a torn tail (an incomplete last write: a record cut short, or zeros) or corruption.
 */
import { crc32 } from './crc32.js'
import type { FileSystem } from './file-system.js'

/** Bytes before the update in each record. */
export const HEADER_BYTES = 12
const MAGIC = Buffer.from('DPL1', 'ascii')

/** Encodes one record. */
export const encodeRecord = (update: Uint8Array): Buffer => {
  const b = Buffer.allocUnsafe(HEADER_BYTES + update.length)
  MAGIC.copy(b, 0)
  b.writeUInt32LE(update.length, 4)
  b.writeUInt32LE(crc32(update, crc32(b.subarray(4, 8))), 8)
  b.set(update, HEADER_BYTES)
  return b
}

/** What a scan of a log found. */
export interface LogScan {
  /** The valid records, in file order. */
  readonly records: Uint8Array[]
  /** End of the last valid record: where appending may continue when nothing was corrupt. */
  readonly validBytes: number
  /** Bytes after the last valid record that are an incomplete last write (a record cut short, or zeros). */
  readonly tornBytes: number
  /** Damaged spans skipped: before a valid record, or at the end when they are not a torn write. */
  readonly corruptRegions: number
  /** Bytes in those spans. */
  readonly corruptBytes: number
  /** Records lost in those spans (record markers found in them; at least one per span). */
  readonly corruptRecords: number
}

/** End offset of the valid record at `pos`, or -1. */
const recordAt = (data: Uint8Array, view: DataView, pos: number, maxRecordBytes: number): number => {
  if (data.length - pos < HEADER_BYTES) return -1
  for (let i = 0; i < 4; i++) if (data[pos + i] !== MAGIC[i]) return -1
  const len = view.getUint32(pos + 4, true)
  if (len > maxRecordBytes || len > data.length - pos - HEADER_BYTES) return -1
  const crc = crc32(data.subarray(pos + HEADER_BYTES, pos + HEADER_BYTES + len), crc32(data.subarray(pos + 4, pos + 8)))
  return crc === view.getUint32(pos + 8, true) ? pos + HEADER_BYTES + len : -1
}

/** Offset of the next valid record at or after `from`, or -1. */
const nextRecord = (buf: Buffer, view: DataView, from: number, maxRecordBytes: number): number => {
  for (let at = buf.indexOf(MAGIC, from); at !== -1; at = buf.indexOf(MAGIC, at + 1)) {
    if (recordAt(buf, view, at, maxRecordBytes) !== -1) return at
  }
  return -1
}

/** Record markers in `buf[from, to)`. */
const markersIn = (buf: Buffer, from: number, to: number): number => {
  let n = 0
  for (let at = buf.indexOf(MAGIC, from); at !== -1 && at < to; at = buf.indexOf(MAGIC, at + 1)) n++
  return n
}

/**
 * Whether `tail` is what an interrupted append leaves: a prefix of a record header, a header
 * whose record runs past the end of the file, or zeros (space allocated but never written).
 */
const isTorn = (tail: Buffer, maxRecordBytes: number): boolean => {
  if (tail.every((b) => b === 0)) return true
  const head = Math.min(tail.length, MAGIC.length)
  if (!tail.subarray(0, head).equals(MAGIC.subarray(0, head))) return false
  if (tail.length < 8) return true
  const len = tail.readUInt32LE(4)
  return len <= maxRecordBytes && HEADER_BYTES + len > tail.length && markersIn(tail, 1, tail.length) === 0
}

/**
 * Splits a log into its valid records, skipping damaged spans: every record whose bytes are
 * intact is returned, whatever happened to the bytes around it.
 */
export const scanLog = (data: Uint8Array, maxRecordBytes: number): LogScan => {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength)
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength)
  const records: Uint8Array[] = []
  let pos = 0
  let validBytes = 0
  let corruptRegions = 0
  let corruptBytes = 0
  let corruptRecords = 0
  let tornBytes = 0
  while (pos < buf.length) {
    const end = recordAt(buf, view, pos, maxRecordBytes)
    if (end !== -1) {
      records.push(buf.subarray(pos + HEADER_BYTES, end))
      pos = validBytes = end
      continue
    }
    const next = nextRecord(buf, view, pos + 1, maxRecordBytes)
    const to = next === -1 ? buf.length : next
    if (next === -1 && isTorn(buf.subarray(pos), maxRecordBytes)) {
      tornBytes = buf.length - pos
    } else {
      corruptRegions++
      corruptBytes += to - pos
      corruptRecords += Math.max(1, markersIn(buf, pos, to))
    }
    pos = to
  }
  return { records, validBytes, tornBytes, corruptRegions, corruptBytes, corruptRecords }
}

/**
 * Reads a log of version 0.1 (`[length: u32 LE][crc32 of update: u32 LE][update]`, no marker):
 * its records when the whole file parses that way up to a torn tail, else undefined.
 */
export const scanLegacyLog = (data: Uint8Array, maxRecordBytes: number): LogScan | undefined => {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength)
  const records: Uint8Array[] = []
  let pos = 0
  while (data.length - pos >= 8) {
    const len = view.getUint32(pos, true)
    if (len > maxRecordBytes || len > data.length - pos - 8) break
    const payload = data.subarray(pos + 8, pos + 8 + len)
    if (crc32(payload) !== view.getUint32(pos + 4, true)) return undefined
    records.push(payload)
    pos += 8 + len
  }
  if (records.length === 0) return undefined
  return { records, validBytes: pos, tornBytes: data.length - pos, corruptRegions: 0, corruptBytes: 0, corruptRecords: 0 }
}

/**
 * An open log file that appends in batches and fsyncs on demand. A failed write or fsync
 * throws; the caller must then stop appending (the file may end in a partial record) and
 * replace the log with a snapshot (`reset`).
 */
export class UpdateLog {
  private fd: number
  private pending: Buffer[] = []
  private pendingBytes = 0
  private dirty = false
  /** Bytes in the file. */
  size: number

  /** Opens `path` keeping its first `validBytes` bytes (a torn tail after them is cut). */
  constructor (readonly path: string, validBytes: number, private readonly fs: FileSystem) {
    this.fd = fs.openSync(path, fs.existsSync(path) ? 'r+' : 'w+')
    try {
      fs.ftruncateSync(this.fd, validBytes)
      fs.fsyncSync(this.fd)
    } catch (err) {
      fs.closeSync(this.fd)
      throw err
    }
    this.size = validBytes
  }

  append (update: Uint8Array): void {
    const r = encodeRecord(update)
    this.pending.push(r)
    this.pendingBytes += r.length
  }

  /** Forgets buffered records that were not written (the caller covers them with a snapshot). */
  discardPending (): void {
    this.pending = []
    this.pendingBytes = 0
  }

  /** Writes buffered records to the file (the OS page cache: they survive a process kill). */
  flush (): void {
    if (this.pending.length === 0) return
    const buf = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes)
    this.discardPending()
    let off = 0
    this.dirty = true
    while (off < buf.length) off += this.fs.writeSync(this.fd, buf, off, buf.length - off, this.size + off)
    this.size += buf.length
  }

  /** Forces written records to disk (they survive a power loss). */
  sync (): void {
    this.flush()
    if (!this.dirty) return
    this.fs.fsyncSync(this.fd)
    this.dirty = false
  }

  /** Empties the log (after a snapshot that covers it). Buffered records are dropped too. */
  reset (): void {
    this.discardPending()
    this.fs.ftruncateSync(this.fd, 0)
    this.fs.fsyncSync(this.fd)
    this.size = 0
    this.dirty = false
  }

  /** Closes the file; `sync` first to keep buffered records. */
  close (): void {
    if (this.fd === -1) return
    const fd = this.fd
    this.fd = -1
    this.fs.closeSync(fd)
  }
}
