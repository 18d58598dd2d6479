import { spawn, spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { createInterface } from 'node:readline'
import { afterEach, describe, expect, it } from 'vitest'
import { DirLock, processProbe } from '../../src/persistence/dir-lock.js'
import { faultyFileSystem } from '../support/faulty-fs.js'

const dirs: string[] = []
afterEach(() => { for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true }) })
const tmp = (): string => { const d = fs.mkdtempSync(path.join(os.tmpdir(), 'dp-lock-')); dirs.push(d); return d }
const lockFiles = (dir: string): string[] => fs.readdirSync(dir).filter((f) => f.startsWith('LOCK')).sort()
const writeLock = (dir: string, name: string, content: unknown): void => {
  fs.writeFileSync(path.join(dir, name), typeof content === 'string' ? content : JSON.stringify(content))
}
/** Start time of a running process from /proc (Linux), field 22 of its stat line. */
const startOf = (pid: number): string => {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]!
}
const onLinux = fs.existsSync('/proc/self/stat')
const inUse = expect.objectContaining({ code: 'DP_ERR_PERSISTENCE', message: expect.stringContaining('in use') })

describe('data directory lock', () => {
  it('lets no second holder in, in this process or another, and passes on once released', () => {
    const dir = tmp()
    const a = new DirLock(dir, fs)
    a.acquire()
    expect(() => { new DirLock(dir, fs).acquire() }).toThrow(inUse)
    a.release()
    const b = new DirLock(dir, fs)
    b.acquire()
    expect(b.held).toBe(true)
    expect(lockFiles(dir)).toEqual(['LOCK.2'])
    b.release()
  })

  it('released on a full disk (no room for the release marker), the directory can be taken again', () => {
    const dir = tmp()
    const { fs: fileSystem, faulty: full } = faultyFileSystem('ENOSPC')
    const a = new DirLock(dir, fileSystem)
    a.acquire()
    full.on = true
    a.release()
    expect(lockFiles(dir)).toEqual([])
    const b = new DirLock(dir, fs)
    b.acquire()
    b.release()
  })

  it.runIf(onLinux)('a pid reused by an unrelated live process does not block; the process itself does', () => {
    const dir = tmp()
    const boot = processProbe.self().boot
    // The lock names a live pid (our parent) with another start time: its owner is gone.
    writeLock(dir, 'LOCK.1', { pid: process.ppid, start: `${startOf(process.ppid)}1`, boot, token: 'old' })
    const a = new DirLock(dir, fs)
    a.acquire()
    expect(lockFiles(dir)).toEqual(['LOCK.2'])
    a.release()
    // The same pid with its real start time is the live owner.
    writeLock(dir, 'LOCK.3', { pid: process.ppid, start: startOf(process.ppid), boot, token: 'live' })
    expect(() => { new DirLock(dir, fs).acquire() }).toThrow(inUse)
    // A lock from before a reboot is stale even when its pid runs now.
    writeLock(dir, 'LOCK.4', { pid: process.ppid, start: startOf(process.ppid), boot: 'another-boot', token: 'rebooted' })
    const b = new DirLock(dir, fs)
    b.acquire()
    b.release()
  })

  it('takes over the lock of a process that exited, and refuses a lock file it cannot read', () => {
    const dir = tmp()
    const exited = spawnSync(process.execPath, ['-e', 'process.exit(0)'])
    writeLock(dir, 'LOCK.7', { pid: exited.pid, start: null, boot: null, token: 'gone' })
    const a = new DirLock(dir, fs)
    a.acquire()
    expect(lockFiles(dir)).toEqual(['LOCK.8'])
    a.release()
    writeLock(dir, 'LOCK.9', '')
    expect(() => { new DirLock(dir, fs).acquire() }).toThrow(expect.objectContaining({ code: 'DP_ERR_PERSISTENCE', message: expect.stringContaining('not a lock') }))
  })

  it('respects the pid-only LOCK file of earlier versions while its process runs', () => {
    const dir = tmp()
    writeLock(dir, 'LOCK', String(process.ppid))
    expect(() => { new DirLock(dir, fs).acquire() }).toThrow(inUse)
    const exited = spawnSync(process.execPath, ['-e', 'process.exit(0)'])
    writeLock(dir, 'LOCK', String(exited.pid))
    const a = new DirLock(dir, fs)
    a.acquire()
    expect(lockFiles(dir)).toEqual(['LOCK.1'])
    a.release()
  })

  it('racing processes taking over stale locks never hold it two at a time (4 processes x 75 rounds)', async () => {
    const dir = tmp()
    const shared = tmp()
    const script = path.join(import.meta.dirname, 'fixtures', 'lock-racer.ts')
    const racers = Array.from({ length: 4 }, (_, i) => {
      const child = spawn(process.execPath, ['--import', 'tsx', script, dir, shared, `r${i}`, '75'], { stdio: ['ignore', 'pipe', 'pipe'] })
      let stderr = ''
      child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
      return new Promise<{ acquired: number; overlaps: number; refused: number }>((resolve, reject) => {
        const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`racer ${i} timed out: ${stderr}`)) }, 60_000)
        createInterface({ input: child.stdout }).once('line', (l) => { clearTimeout(timer); resolve(JSON.parse(l) as { acquired: number; overlaps: number; refused: number }) })
        child.once('exit', (code) => { if (code !== 0) { clearTimeout(timer); reject(new Error(`racer ${i} exited with ${code}: ${stderr}`)) } })
      })
    })
    const results = await Promise.all(racers)
    const total = results.reduce((t, r) => ({ acquired: t.acquired + r.acquired, overlaps: t.overlaps + r.overlaps, refused: t.refused + r.refused }), { acquired: 0, overlaps: 0, refused: 0 })
    expect(total.overlaps).toBe(0)
    // The race was real: many acquisitions, many refusals, and a third of the holders left stale locks.
    expect(total.acquired).toBeGreaterThanOrEqual(10)
    expect(total.refused).toBeGreaterThan(0)
  }, 90_000)
})
