/**
 * Incarnation numbers that survive a clock stepped back: with a data directory, each run takes
 * max(wall clock, previous run's incarnation + 1) and records it (temp file, fsync, rename), so a
 * restart is always newer than the run before it. Without one, the wall clock alone decides.
 * A resumed run (`resumeIncarnation`) keeps the recorded incarnation instead: the same owner
 * coming back.
 */
import * as fs from 'node:fs'
import * as path from 'node:path'
import { fail } from '../errors.js'

const FILE = 'INCARNATION'

/** The incarnation recorded in `dir`, or -1. @throws DP_ERR_PERSISTENCE when it cannot be read. */
const recorded = (file: string): number => {
  let last = -1
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true })
    const v = Number(fs.readFileSync(file, 'utf8').trim())
    if (Number.isSafeInteger(v) && v >= 0) last = v
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw fail('DP_ERR_PERSISTENCE', `cannot read ${file}`, err)
  }
  return last
}

/** Picks and records this run's incarnation for `dir`. @throws DP_ERR_PERSISTENCE */
export const nextIncarnation = (dir: string, now: number): number => {
  const file = path.join(dir, FILE)
  const last = recorded(file)
  const incarnation = Math.max(Math.floor(now), last + 1)
  const tmp = `${file}.tmp`
  try {
    const fd = fs.openSync(tmp, 'w')
    try { fs.writeSync(fd, `${incarnation}\n`); fs.fsyncSync(fd) } finally { fs.closeSync(fd) }
    fs.renameSync(tmp, file)
  } catch (err) {
    throw fail('DP_ERR_PERSISTENCE', `cannot write ${file}`, err)
  }
  return incarnation
}

/**
 * The incarnation recorded in `dir` by the previous run, kept for this one; a new one (as
 * `nextIncarnation`) when none is recorded. @throws DP_ERR_PERSISTENCE
 */
export const resumeIncarnation = (dir: string, now: number): number => {
  const last = recorded(path.join(dir, FILE))
  return last >= 0 ? last : nextIncarnation(dir, now)
}
