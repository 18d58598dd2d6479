/**
 * The package as a stranger gets it: `npm pack`, installed into a scratch ESM project that
 * type-checks with strict `tsc` (skipLibCheck off), then runs an import of both entry points.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'

const root = join(import.meta.dirname, '..', '..')
const scratch = mkdtempSync(join(tmpdir(), 'dp-consumer-'))
afterAll(() => rmSync(scratch, { recursive: true, force: true }))

const run = (cmd: string, args: string[], cwd: string): string =>
  execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 280_000 })

describe('packed package in a strict consumer', () => {
  it('installs, type-checks without skipLibCheck, and runs both entry points', () => {
    const out = run('npm', ['pack', '--silent', '--pack-destination', scratch], root).trim().split('\n')
    const tarball = join(scratch, out[out.length - 1] as string)
    const listing = run('tar', ['-tzf', tarball], scratch)
    expect(listing).toContain('package/LICENSE')
    expect(listing).toContain('package/dist/src/index.d.ts')
    expect(listing).toContain('package/bin/dialog-profiles.js')
    expect(listing).toContain('package/dist/src/cli/main.js')
    expect(listing).not.toContain('package/test/')

    writeFileSync(join(scratch, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }))
    writeFileSync(join(scratch, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, skipLibCheck: false, exactOptionalPropertyTypes: true, noEmit: false, outDir: 'out' },
      include: ['consumer.ts']
    }))
    writeFileSync(join(scratch, 'consumer.ts'), [
      "import { ProfileStore, DialogProfilesError, type ErrorCode } from 'dialog-profiles'",
      "import { InMemoryCluster } from 'dialog-profiles/testing'",
      "const store = new ProfileStore({ nodeId: 'a', profiles: [{ name: 'total' }] })",
      "store.add('call-1', 'total')",
      "const c = new InMemoryCluster({ nodes: 2, profiles: [{ name: 'total' }], seed: 1 })",
      "c.store(0).add('x', 'total'); c.deliverAll()",
      'let code: ErrorCode | undefined',
      "try { store.size('nope') } catch (e) { if (e instanceof DialogProfilesError) code = e.code }",
      "console.log(JSON.stringify({ size: store.size('total'), replicated: c.store(1).size('total'), code }))"
    ].join('\n'))
    run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--ignore-scripts', tarball], scratch)
    run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], scratch)
    const result = JSON.parse(run(process.execPath, [join('out', 'consumer.js')], scratch)) as unknown
    expect(result).toEqual({ size: 1, replicated: 1, code: 'DP_ERR_UNKNOWN_PROFILE' })

    // source maps resolve without the sources: they carry their content
    const dist = join(scratch, 'node_modules', 'dialog-profiles', 'dist', 'src')
    const map = JSON.parse(readFileSync(join(dist, readdirSync(dist).find(f => f.endsWith('.js.map')) as string), 'utf8')) as { sourcesContent?: unknown[] }
    expect(map.sourcesContent?.length).toBeGreaterThan(0)
  }, 300_000)
})
