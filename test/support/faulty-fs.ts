/**
 * A copy of `node:fs` whose writes fail on demand, for persistence fault tests: while
 * `faulty.on` is set, `writeSync`, `fsyncSync` and `ftruncateSync` throw an errno error of
 * `code` (ENOSPC, EIO), as a full or failing disk does.
 */
import * as fs from 'node:fs'
import type { FileSystem } from '../../src/index.js'

export const faultyFileSystem = (code = 'ENOSPC'): { fs: FileSystem; faulty: { on: boolean; hits: number } } => {
  const faulty = { on: false, hits: 0 }
  const failing = <F extends (...args: never[]) => unknown>(f: F): F => ((...args: never[]) => {
    if (faulty.on) {
      faulty.hits++
      throw Object.assign(new Error(`${code}: injected fault`), { code })
    }
    return f(...args)
  }) as F
  return { faulty, fs: { ...fs, writeSync: failing(fs.writeSync), fsyncSync: failing(fs.fsyncSync), ftruncateSync: failing(fs.ftruncateSync) } }
}
