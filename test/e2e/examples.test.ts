/** The Node.js example (examples/node/sip-app.ts) runs and does what its comments say. */
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { expect, it } from 'vitest'

const ROOT = join(import.meta.dirname, '..', '..')

it('examples/node/sip-app.ts admits up to the per-caller and total limits across two in-process nodes', () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'examples', 'node', 'sip-app.ts')], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 })
  expect(r.stderr).toBe('')
  expect(r.status).toBe(0)
  expect(r.stdout.trim().split('\n')).toEqual([
    'INVITE call-1 from alice on app-a: 200',
    'INVITE call-2 from alice on app-b: 200',
    'INVITE call-3 from alice on app-a: 503',
    'INVITE call-4 from bob on app-b: 200',
    'INVITE call-5 from carol on app-a: 200',
    'INVITE call-6 from dave on app-b: 200',
    'INVITE call-7 from erin on app-a: 503',
    'total 5 on app-a, 5 on app-b; alice 2',
    'after BYE call-1 on app-b: total 4 on app-a, alice 1',
    'INVITE call-8 from alice on app-a: 200'
  ])
}, 60_000)
