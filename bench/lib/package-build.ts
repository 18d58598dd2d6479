/**
 * The package as operators run it: `tsc -p tsconfig.build.json` into a scratch copy of the
 * package layout (package.json, bin/dialog-profiles.js, dist/, node_modules linked), so that a
 * scenario runs `node bin/dialog-profiles.js` over the compiled JavaScript, not the sources
 * through a loader, and writes nothing under the repository. Removed by `remove()`.
 */
import { execFile } from 'node:child_process'
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

/** A compiled copy of the package. */
export interface PackageBuild {
  /** Path of its `bin/dialog-profiles.js`. */
  readonly bin: string
  remove (): void
}

/** Compiles the package into a scratch folder (about 10 s on 2 cores). */
export const buildPackage = async (): Promise<PackageBuild> => {
  const dir = mkdtempSync(join(tmpdir(), 'dp-bench-build-'))
  try {
    mkdirSync(join(dir, 'bin'))
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'dialog-profiles', type: 'module' }))
    copyFileSync(join(ROOT, 'bin', 'dialog-profiles.js'), join(dir, 'bin', 'dialog-profiles.js'))
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'))
    await new Promise<void>((resolve, reject) => {
      execFile(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', join(dir, 'dist')],
        { cwd: ROOT, timeout: 180_000 }, (err, stdout) => { if (err !== null) reject(new Error(`tsc failed: ${err.message}\n${stdout}`)); else resolve() })
    })
  } catch (err) {
    rmSync(dir, { recursive: true, force: true })
    throw err
  }
  return { bin: join(dir, 'bin', 'dialog-profiles.js'), remove: () => { rmSync(dir, { recursive: true, force: true }) } }
}
