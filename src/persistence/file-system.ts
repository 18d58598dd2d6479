/**
 * The file operations persistence uses, as one injectable object: tests pass a copy of
 * `node:fs` whose writes fail (ENOSPC, EIO) to check that no acknowledged write is lost.
 */
import * as fs from 'node:fs'

/** The synchronous `node:fs` calls of the persistence. @defaultValue `node:fs` */
export type FileSystem = Pick<typeof fs,
  'openSync' | 'closeSync' | 'writeSync' | 'fsyncSync' | 'ftruncateSync' | 'readFileSync' | 'writeFileSync' |
  'renameSync' | 'linkSync' | 'unlinkSync' | 'readdirSync' | 'mkdirSync' | 'existsSync' | 'rmSync' | 'copyFileSync'>

/** The real file system. */
export const nodeFileSystem: FileSystem = fs

/** The errno code of a file-system error, or undefined. */
export const errnoOf = (err: unknown): string | undefined =>
  typeof err === 'object' && err !== null && 'code' in err && typeof (err as { code: unknown }).code === 'string'
    ? (err as { code: string }).code
    : undefined
