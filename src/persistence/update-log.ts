/**
 * Append-only log of Yjs updates. Each record is `[length: u32 LE][crc32: u32 LE][update]`.
 * Reading stops at the first record that is incomplete, oversize or fails its CRC (a torn
 * tail left by a crash in the middle of a write) and the file is truncated there.
 */
import * as fs from 'node:fs'
import { crc32 } from './crc32.js'

export const HEADER_BYTES = 8

/** Encodes one record. */
export const encodeRecord = (update: Uint8Array): Buffer => {
  const b = Buffer.allocUnsafe(HEADER_BYTES + update.length)
  b.writeUInt32LE(update.length, 0)
  b.writeUInt32LE(crc32(update), 4)
  b.set(update, HEADER_BYTES)
  return b
}

export interface LogScan {
  readonly records: Uint8Array[]
  /** Length of the valid prefix. */
  readonly validBytes: number
  /** Bytes after the valid prefix (a torn or corrupt tail). */
  readonly tornBytes: number
}

/** Splits a log into records; everything from the first bad record on is the torn tail. */
export const scanLog = (data: Uint8Array, maxRecordBytes: number): LogScan => {
  const records: Uint8Array[] = []
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength)
  let pos = 0
  while (data.length - pos >= HEADER_BYTES) {
    const len = view.getUint32(pos, true)
    const crc = view.getUint32(pos + 4, true)
    if (len > maxRecordBytes || len > data.length - pos - HEADER_BYTES) break
    const payload = data.subarray(pos + HEADER_BYTES, pos + HEADER_BYTES + len)
    if (crc32(payload) !== crc) break
    records.push(payload)
    pos += HEADER_BYTES + len
  }
  return { records, validBytes: pos, tornBytes: data.length - pos }
}

/** An open log file that appends in batches and fsyncs on demand. */
export class UpdateLog {
  private fd: number
  private pending: Buffer[] = []
  private pendingBytes = 0
  private dirty = false
  /** Bytes in the file (after the valid prefix). */
  size: number

  constructor (readonly path: string, validBytes: number) {
    this.fd = fs.openSync(path, fs.existsSync(path) ? 'r+' : 'w+')
    fs.ftruncateSync(this.fd, validBytes)
    fs.fsyncSync(this.fd)
    this.size = validBytes
  }

  append (update: Uint8Array): void {
    const r = encodeRecord(update)
    this.pending.push(r)
    this.pendingBytes += r.length
  }

  get hasPending (): boolean { return this.pending.length > 0 }

  /** Writes buffered records to the file (the OS page cache: they survive a process kill). */
  flush (): void {
    if (this.pending.length === 0) return
    const buf = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes)
    this.pending = []
    this.pendingBytes = 0
    let off = 0
    while (off < buf.length) off += fs.writeSync(this.fd, buf, off, buf.length - off, this.size + off)
    this.size += buf.length
    this.dirty = true
  }

  /** Forces written records to disk (they survive a power loss). */
  sync (): void {
    this.flush()
    if (!this.dirty) return
    fs.fsyncSync(this.fd)
    this.dirty = false
  }

  /** Empties the log (after a snapshot that covers it). Buffered records are dropped too. */
  reset (): void {
    this.pending = []
    this.pendingBytes = 0
    fs.ftruncateSync(this.fd, 0)
    fs.fsyncSync(this.fd)
    this.size = 0
    this.dirty = false
  }

  close (): void {
    this.sync()
    fs.closeSync(this.fd)
    this.fd = -1
  }
}
