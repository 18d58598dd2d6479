/**
 * The `dialog-profiles` command line as a user runs it: --help everywhere, every kind of bad
 * flag or configuration refused with a message and a non-zero exit before anything starts,
 * the precedence flags > DP_* environment > config file, SIGTERM's clean stop, the query
 * subcommands against a running daemon, and the bin file over the build.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { connect } from 'node:net'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { ROOT, SECRET, form, runCli, spawnCli, startDaemon, stopAll } from './support.js'

const dir = mkdtempSync(join(tmpdir(), 'dp-e2e-cli-'))
afterAll(async () => {
  await stopAll()
  rmSync(dir, { recursive: true, force: true })
})

const file = (name: string, text: string): string => {
  const p = join(dir, name)
  writeFileSync(p, text)
  return p
}

describe('help', () => {
  it.each([[[]], [['serve']], [['size']], [['members']], [['cluster']]])('--help on %j', async (cmd) => {
    const r = await runCli([...cmd, '--help'])
    expect(r.code).toBe(0)
    expect(r.stdout).toContain('Usage: dialog-profiles')
  })

  it('lists every required flag in serve --help', async () => {
    const r = await runCli(['serve', '--help'])
    for (const f of ['--node-id', '--listen', '--http', '--peer', '--secret', '--secret-file', '--profile', '--mode', '--liveness-timeout', '--data-dir', '--config', '--log-level', '--max-call-duration']) {
      expect(r.stdout).toContain(f)
    }
  })
})

describe('bad flags and configuration', () => {
  const ok = ['--secret', SECRET, '--listen', '127.0.0.1:0', '--http', '127.0.0.1:0']
  const cases: Array<[string, () => string[], Record<string, string>, RegExp]> = [
    ['unknown flag', () => ['serve', ...ok, '--bogus'], {}, /unknown option '--bogus'/],
    ['missing secret', () => ['serve', '--listen', '127.0.0.1:0', '--http', '127.0.0.1:0'], {}, /secret is required/],
    ['short secret', () => ['serve', '--secret', 'short', '--http', '127.0.0.1:0'], {}, /at least 8 characters/],
    ['secret and secret file', () => ['serve', ...ok, '--secret-file', file('s.txt', 'another-secret-123')], {}, /secret and secretFile both given/],
    ['missing secret file', () => ['serve', '--secret-file', join(dir, 'absent'), '--http', '127.0.0.1:0'], {}, /cannot read --secret-file/],
    ['bad --http', () => ['serve', ...ok, '--http', 'nohost'], {}, /HTTP address must be HOST:PORT/],
    ['bad --listen', () => ['serve', ...ok, '--listen', '127.0.0.1:99999'], {}, /listen address must be HOST:PORT/],
    ['non-loopback HTTP without a token', () => ['serve', ...ok, '--http', '0.0.0.0:0'], {}, /not a loopback address: configure an API token/],
    ['short API token', () => ['serve', ...ok, '--api-token', 'short'], {}, /API token must be at least 16/],
    ['bad profile', () => ['serve', ...ok, '--profile', 'caller:values'], {}, /a profile is NAME or NAME:value/],
    ['bad profile name', () => ['serve', ...ok, '--profile', 'a b'], {}, /profile name must match/],
    ['profile declared twice', () => ['serve', ...ok, '--profile', 'total', '--profile', 'total'], {}, /declared twice/],
    ['bad peer url', () => ['serve', ...ok, '--peer', 'http://x:1'], {}, /a peer must be ws:\/\/HOST:PORT/],
    ['non-numeric liveness timeout', () => ['serve', ...ok, '--liveness-timeout', 'fast'], {}, /--liveness-timeout must be an integer >= 1/],
    ['zero max call duration', () => ['serve', ...ok, '--max-call-duration', '0'], {}, /--max-call-duration must be an integer >= 1/],
    ['unknown mode', () => ['serve', ...ok, '--mode', 'fast'], {}, /--mode must be one of eventual, strict/],
    ['strict mode with peers but no admission nodes', () => ['serve', ...ok, '--mode', 'strict', '--peer', 'ws://127.0.0.1:1'], {}, /--mode strict with peers needs --admission-node/],
    ['strict mode with resume', () => ['serve', ...ok, '--mode', 'strict', '--data-dir', join(dir, 'd'), '--resume', 'true'], {}, /cannot be combined with --resume true/],
    ['admission nodes without this node', () => ['serve', ...ok, '--node-id', 'a', '--admission-node', 'b'], {}, /must include this node \(a\)/],
    ['resume without a data directory', () => ['serve', ...ok, '--resume', 'true'], {}, /resume needs a data directory/],
    ['bad log level', () => ['serve', ...ok, '--log-level', 'loud'], {}, /--log-level must be one of/],
    ['bad node id', () => ['serve', ...ok, '--node-id', 'a/b'], {}, /node id must match/],
    ['bad environment value', () => ['serve', ...ok], { DP_GRACE: '-1' }, /DP_GRACE must be an integer >= 0/],
    ['config file that does not parse', () => ['serve', ...ok, '--config', file('bad.yaml', 'profiles: [total\n')], {}, /does not parse/],
    ['config file with an unknown key', () => ['serve', ...ok, '--config', file('unknown.json', '{"nodeid":"x"}')], {}, /unknown setting "nodeid"/],
    ['config file with a bad value', () => ['serve', ...ok, '--config', file('badval.json', '{"livenessTimeout":"soon"}')], {}, /"livenessTimeout" in the config file must be an integer/],
    ['missing config file', () => ['serve', ...ok, '--config', join(dir, 'absent.yaml')], {}, /cannot read config file/],
    ['config file from DP_CONFIG', () => ['serve', ...ok], { DP_CONFIG: join(dir, 'absent2.yaml') }, /cannot read config file/],
    ['unknown subcommand', () => ['serv'], {}, /unknown command 'serv'/],
    ['bad --http on a query', () => ['size', 'total', '--http', 'x'], {}, /--http must be HOST:PORT/]
  ]
  it.each(cases)('%s', async (_name, args, env, message) => {
    const r = await runCli(args(), env)
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(message)
    expect(r.stdout).not.toContain('daemon started')
  })
})

describe('serve', () => {
  it('takes flags over DP_* environment over the config file, and stops cleanly on SIGTERM', async () => {
    const yaml = file('daemon.yaml', 'nodeId: from-file\nprofiles:\n  - total\n  - caller:value\nmaxCallDuration: 120\nlogLevel: info\n')
    const fromEnv = await startDaemon(['--config', yaml], { DP_NODE_ID: 'from-env', DP_MAX_CALL_DURATION: '60' })
    const started = fromEnv.logs.find((l) => l.event === 'started') as Record<string, unknown>
    expect(started['node']).toBe('from-env')
    expect(started['maxCallDurationMs']).toBe(60_000)
    expect(started['profiles']).toEqual([{ name: 'total', admission: 'eventual' }, { name: 'caller', withValue: true, admission: 'eventual' }])
    fromEnv.signal('SIGTERM')
    expect(await fromEnv.exited).toBe(0)
    expect(fromEnv.logs.some((l) => l.event === 'stopped')).toBe(true)

    const json = file('daemon.json', JSON.stringify({ nodeId: 'from-file', profiles: ['total'], secret: 'ignored-because-flag-wins' }))
    const fromFlag = await startDaemon(['--config', json, '--node-id', 'from-flag', '--max-call-duration', '30'], { DP_NODE_ID: 'from-env' })
    const s2 = fromFlag.logs.find((l) => l.event === 'started') as Record<string, unknown>
    expect(s2['node']).toBe('from-flag')
    expect(s2['maxCallDurationMs']).toBe(30_000)
    fromFlag.signal('SIGINT')
    expect(await fromFlag.exited).toBe(0)
  })

  it('stops cleanly on a signal sent the moment "daemon started" is read, also when the machine is busy', async () => {
    // Until a listener exists the kernel's default action for SIGTERM kills the process: the
    // handlers must be in before the started line goes out. Several daemons at once load the
    // machine, which widens any window between the two.
    const runs = Array.from({ length: 6 }, async () => {
      const p = spawnCli(['serve', '--secret', SECRET, '--listen', '127.0.0.1:0', '--http', '127.0.0.1:0', '--node-id', 'sig', '--profile', 'total'])
      const timer = setTimeout(() => { p.child.kill('SIGKILL') }, 30_000)
      await new Promise<void>((resolve) => {
        const check = (): void => {
          if (p.logs.some((l) => l.event === 'started')) { p.child.kill('SIGTERM'); resolve() } else if (p.child.exitCode === null) { setTimeout(check, 1) } else { resolve() }
        }
        check()
      })
      const code = await p.exited
      clearTimeout(timer)
      return { code, stopped: p.logs.some((l) => l.event === 'stopped'), stderr: p.stderr() }
    })
    for (const r of await Promise.all(runs)) expect(r, r.stderr).toMatchObject({ code: 0, stopped: true })
  })

  it('exits at once on a second signal while the first stop is still waiting', async () => {
    const d = await startDaemon(['--node-id', 'twice', '--profile', 'total'])
    // A request whose body never completes keeps the HTTP server from closing (for up to 2 s).
    const url = new URL(d.http)
    const sock = connect({ host: url.hostname, port: Number(url.port) })
    await new Promise<void>((resolve) => { sock.once('connect', () => { resolve() }) })
    sock.write('POST /v1/acquire HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\ndialog=')
    await new Promise((resolve) => setTimeout(resolve, 200))
    d.signal('SIGTERM')
    await d.waitLog((l) => l.event === 'signal')
    d.signal('SIGINT')
    expect(await d.exited).toBe(130)
    expect(d.logs.some((l) => l.event === 'stopped')).toBe(false)
    sock.destroy()
  })

  it('answers the size, members and cluster queries of a running daemon', async () => {
    const TOKEN = 'cli-token-0123456789'
    const d = await startDaemon(['--node-id', 'q', '--profile', 'total', '--api-token', TOKEN])
    const hp = d.http.replace('http://', '')
    await form(`${d.http}/v1/acquire`, { dialog: 'c1', profile: 'total', limit: 5 }).then(() => undefined)
    // the acquire above had no token: refused, so nothing counted yet
    let r = await runCli(['size', 'total', '--http', hp, '--api-token', TOKEN])
    expect({ code: r.code, out: r.stdout }).toEqual({ code: 0, out: '0' })
    r = await runCli(['size', 'total', '--http', hp])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('DP_ERR_UNAUTHORIZED')
    r = await runCli(['cluster', '--http', hp], { DP_API_TOKEN: TOKEN })
    expect(r.code).toBe(0)
    expect(JSON.parse(r.stdout).nodeId).toBe('q')
    r = await runCli(['members', 'total', '--http', hp, '--api-token-file', file('token.txt', `${TOKEN}\n`)])
    expect(r.code).toBe(0)
    expect(JSON.parse(r.stdout)).toMatchObject({ profile: 'total', size: 0, members: [] })
    r = await runCli(['size', 'nope', '--http', hp, '--api-token', TOKEN])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('DP_ERR_UNKNOWN_PROFILE')
    d.signal('SIGTERM')
    await d.exited
    r = await runCli(['size', 'total', '--http', hp])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('cannot reach the daemon')
  })
})

describe('bin/dialog-profiles.js over the build', () => {
  it('runs with plain node after the build', () => {
    // The build goes to a scratch copy of the package layout, so that no other test's build
    // (npm pack) writes dist/ under this one.
    const pkg = join(dir, 'pkg')
    mkdirSync(join(pkg, 'bin'), { recursive: true })
    writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: 'dialog-profiles', type: 'module' }))
    copyFileSync(join(ROOT, 'bin', 'dialog-profiles.js'), join(pkg, 'bin', 'dialog-profiles.js'))
    symlinkSync(join(ROOT, 'node_modules'), join(pkg, 'node_modules'))
    execFileSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', join(pkg, 'dist')], { cwd: ROOT, stdio: 'ignore', timeout: 180_000 })
    const bin = join(pkg, 'bin', 'dialog-profiles.js')
    const help = spawnSync(process.execPath, [bin, '--help'], { encoding: 'utf8', timeout: 20_000 })
    expect(help.status).toBe(0)
    expect(help.stdout).toContain('serve')
    const bad = spawnSync(process.execPath, [bin, 'serve', '--secret', SECRET, '--mode', 'nope'], { encoding: 'utf8', timeout: 20_000 })
    expect(bad.status).toBe(2)
    expect(bad.stderr).toContain('--mode must be one of')
    rmSync(join(pkg, 'dist'), { recursive: true, force: true })
    const missing = spawnSync(process.execPath, [bin, '--help'], { encoding: 'utf8', timeout: 20_000 })
    expect(missing.status).toBe(1)
    expect(missing.stderr).toContain('run `npm run build` first')
  }, 240_000)
})
