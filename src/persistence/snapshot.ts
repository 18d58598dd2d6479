/**
 * Snapshot file: `[magic "DPS1"][length: u32 LE][crc32: u32 LE][state as one Yjs update]`,
 * written to a temporary file, fsynced, renamed over the old snapshot, and the directory
 * fsynced: a crash at any point leaves either the old or the new snapshot, never a mix.
 */
import * as path from 'node:path'
import { fail } from '../errors.js'
import { crc32 } from './crc32.js'
import type { FileSystem } from './file-system.js'

const MAGIC = Buffer.from('DPS1', 'ascii')
const HEADER = 12

/**
 * Writes `state` as the snapshot `file`. On failure (a full disk, say) the temporary file is
 * removed, to give the space back, and the old snapshot is untouched.
 */
export const writeSnapshot = (fs: FileSystem, file: string, state: Uint8Array): void => {
  const tmp = `${file}.tmp`
  const head = Buffer.alloc(HEADER)
  MAGIC.copy(head, 0)
  head.writeUInt32LE(state.length, 4)
  head.writeUInt32LE(crc32(state), 8)
  try {
    const fd = fs.openSync(tmp, 'w')
    try {
      fs.writeSync(fd, head)
      let off = 0
      while (off < state.length) off += fs.writeSync(fd, state, off, state.length - off)
      fs.fsyncSync(fd)
    } finally {
      fs.closeSync(fd)
    }
    fs.renameSync(tmp, file)
  } catch (err) {
    try { fs.rmSync(tmp, { force: true }) } catch { /* nothing more to give back */ }
    throw err
  }
  syncDir(fs, path.dirname(file))
}

/** Reads a snapshot; undefined when there is none. Throws `DP_ERR_PERSISTENCE` when it is corrupt. */
export const readSnapshot = (fs: FileSystem, file: string): Uint8Array | undefined => {
  if (!fs.existsSync(file)) return undefined
  const data = fs.readFileSync(file)
  if (data.length < HEADER || !data.subarray(0, 4).equals(MAGIC)) throw fail('DP_ERR_PERSISTENCE', `${file}: not a snapshot`)
  const len = data.readUInt32LE(4)
  if (len !== data.length - HEADER) throw fail('DP_ERR_PERSISTENCE', `${file}: length mismatch`)
  const state = data.subarray(HEADER)
  if (crc32(state) !== data.readUInt32LE(8)) throw fail('DP_ERR_PERSISTENCE', `${file}: checksum mismatch`)
  return new Uint8Array(state)
}

/** Fsyncs a directory, so a rename or a new file in it survives a power loss. */
export const syncDir = (fs: FileSystem, dir: string): void => {
  let fd: number | undefined
  try {
    fd = fs.openSync(dir, 'r')
    fs.fsyncSync(fd)
  } catch {
    // Some file systems refuse fsync on directories; the rename is still atomic.
  } finally {
    if (fd !== undefined) fs.closeSync(fd)
  }
}
