/**
 * The `dialog-profiles` command line (commander): `serve` runs the sidecar daemon; `size`,
 * `members` and `cluster` query a running one over its HTTP API. A bad flag or configuration
 * prints what is wrong on stderr and exits with status 2 without starting anything.
 * bin/dialog-profiles.js runs {@link runCli} from the build; `node --import tsx src/cli/main.ts`
 * runs it from source.
 */
import { readFileSync } from 'node:fs'
import { pathToFileURL } from 'node:url'
import { Command, CommanderError, Option } from 'commander'
import { DialogProfilesError, fail } from '../errors.js'
import {
  DEFAULT_HTTP, SETTINGS, parseHostPort, resolveConfig, settingsFromEnv, settingsFromFile, settingsFromFlags
} from '../server/config.js'
import type { RawSettings } from '../server/config.js'
import { Daemon } from '../server/daemon.js'
import { createLogger } from '../server/logging.js'

/** Exit status of a bad flag or configuration. */
export const EXIT_CONFIG = 2
/** Exit status of a query that failed (daemon unreachable, error answer). */
export const EXIT_QUERY = 1

const collect = (v: string, prev: string[] | undefined): string[] => [...(prev ?? []), v]

const configFile = (opts: Record<string, unknown>, env: NodeJS.ProcessEnv): RawSettings => {
  const path = (opts['config'] as string | undefined) ?? (env['DP_CONFIG'] !== '' ? env['DP_CONFIG'] : undefined)
  return path === undefined ? {} : settingsFromFile(path)
}

const serve = async (opts: Record<string, unknown>, io: CliIo): Promise<number> => {
  const config = resolveConfig({ flags: settingsFromFlags(opts), env: settingsFromEnv(io.env), file: configFile(opts, io.env) })
  const log = createLogger(config.logLevel, config.nodeId)
  // The handlers go in before the daemon starts: until a listener exists the kernel's default
  // action for SIGTERM and SIGINT kills the process at once, and a supervisor may signal as soon
  // as it reads "daemon started". A signal during the start stops the daemon once it started.
  let signals = 0
  let stop: (() => void) | undefined
  let stopRequested = false
  const onSignal = (signal: NodeJS.Signals): void => {
    signals++
    if (signals > 1) {
      log.warn({ event: 'signal', signal }, 'second signal: exiting at once')
      process.exit(130)
    }
    log.info({ event: 'signal', signal }, 'stopping')
    const force = setTimeout(() => { log.error({ event: 'stop-timeout' }, 'stop took over 15 s: exiting'); process.exit(1) }, 15_000)
    force.unref()
    if (stop !== undefined) stop()
    else stopRequested = true
  }
  process.on('SIGTERM', onSignal)
  process.on('SIGINT', onSignal)
  let daemon: Daemon
  try {
    daemon = await Daemon.start(config, log)
  } catch (err) {
    process.off('SIGTERM', onSignal)
    process.off('SIGINT', onSignal)
    throw err
  }
  return await new Promise<number>((resolve) => {
    stop = () => {
      daemon.stop().then(() => { resolve(0) }, (err: unknown) => {
        log.error({ event: 'stop-failed', err }, 'stop failed')
        resolve(1)
      })
    }
    if (stopRequested) stop()
  })
}

/** Where the CLI reads and writes; tests pass their own. */
export interface CliIo {
  readonly env: NodeJS.ProcessEnv
  readonly out: (s: string) => void
  readonly err: (s: string) => void
}

interface QueryTarget { readonly base: string; readonly token: string | undefined }

const queryTarget = (opts: Record<string, unknown>, env: NodeJS.ProcessEnv): QueryTarget => {
  const file = configFile(opts, env)
  const http = (opts['http'] as string | undefined) ?? (env['DP_HTTP'] !== '' ? env['DP_HTTP'] : undefined) ?? (file['http'] as string | undefined) ?? DEFAULT_HTTP
  const hp = parseHostPort(http, '--http')
  // The token by the same precedence as serve: flags, then environment, then the file; inline or from a file at each level.
  const levels: Array<[unknown, unknown]> = [
    [opts['apiToken'], opts['apiTokenFile']],
    [env['DP_API_TOKEN'] !== '' ? env['DP_API_TOKEN'] : undefined, env['DP_API_TOKEN_FILE'] !== '' ? env['DP_API_TOKEN_FILE'] : undefined],
    [file['apiToken'], file['apiTokenFile']]
  ]
  let token: string | undefined
  for (const [inline, path] of levels) {
    if (typeof inline === 'string') { token = inline; break }
    if (typeof path === 'string') {
      try { token = readFileSync(path, 'utf8').trim() } catch (err) {
        throw fail('DP_ERR_CONFIG', `cannot read the API token file ${path}: ${err instanceof Error ? err.message : String(err)}`)
      }
      break
    }
  }
  const host = hp.host.includes(':') ? `[${hp.host}]` : hp.host
  // A daemon listening on every address is reached on loopback.
  const reach = host === '0.0.0.0' ? '127.0.0.1' : host === '[::]' ? '[::1]' : host
  return { base: `http://${reach}:${hp.port}`, token }
}

const query = async (target: QueryTarget, path: string, text: boolean, io: CliIo): Promise<number> => {
  const headers: Record<string, string> = { accept: text ? 'text/plain' : 'application/json' }
  if (target.token !== undefined) headers['authorization'] = `Bearer ${target.token}`
  let res: Response
  try {
    res = await fetch(`${target.base}${path}`, { headers, signal: AbortSignal.timeout(10_000) })
  } catch (err) {
    const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : ''
    io.err(`dialog-profiles: cannot reach the daemon at ${target.base}${cause}`)
    return EXIT_QUERY
  }
  const body = await res.text()
  if (!res.ok) {
    io.err(`dialog-profiles: ${res.status} ${body.trim()}`)
    return EXIT_QUERY
  }
  if (text) io.out(body.replace(/\n$/, ''))
  else io.out(JSON.stringify(JSON.parse(body), null, 2))
  return 0
}

const withValue = (profile: string, value: string | undefined, what: string): string =>
  `/v1/profiles/${encodeURIComponent(profile)}/${what}${value !== undefined ? `?value=${encodeURIComponent(value)}` : ''}`

const addQueryOptions = (cmd: Command): Command => cmd
  .option('--http <host:port>', `HTTP address of the daemon (env DP_HTTP; default ${DEFAULT_HTTP})`)
  .option('--api-token <token>', 'bearer token of the daemon\'s API (env DP_API_TOKEN)')
  .option('--api-token-file <file>', 'read the token from this file (env DP_API_TOKEN_FILE)')
  .option('--config <file>', 'read http and apiToken from this JSON or YAML file (env DP_CONFIG)')
  .option('--json', 'print JSON')
  .option('--text', 'print plain text')

/** Builds the program; `exit` receives the status of the command that ran. */
export const buildProgram = (io: CliIo, exit: (code: number) => void): Command => {
  const program = new Command('dialog-profiles')
    .description('Cluster-wide SIP dialog profiles: the sidecar daemon and its queries')
    .showHelpAfterError('(add --help for usage)')
    .configureOutput({ writeOut: (s) => { io.out(s.replace(/\n$/, '')) }, writeErr: (s) => { io.err(s.replace(/\n$/, '')) } })
    .exitOverride()

  const serveCmd = program.command('serve')
    .description('run the sidecar daemon: a cluster node with the HTTP API (flags > DP_* environment > --config file)')
  for (const s of SETTINGS) {
    const desc = `${s.description} (env ${s.env[0] as string}${s.defaultText !== undefined ? `; default ${s.defaultText}` : ''})`
    const opt = new Option(s.flag, desc)
    if (s.kind === 'list') opt.argParser(collect)
    serveCmd.addOption(opt)
  }
  serveCmd.option('--config <file>', 'read settings from this JSON or YAML file (env DP_CONFIG)')
    .action(async (opts: Record<string, unknown>) => { exit(await serve(opts, io)) })

  addQueryOptions(program.command('size')
    .description('cluster-wide size of a profile (value) as the daemon sees it')
    .argument('<profile>').argument('[value]'))
    .action(async (profile: string, value: string | undefined, opts: Record<string, unknown>) => {
      exit(await query(queryTarget(opts, io.env), withValue(profile, value, 'size'), opts['json'] !== true, io))
    })
  addQueryOptions(program.command('members')
    .description('memberships of a profile (value), with owner and expiry')
    .argument('<profile>').argument('[value]'))
    .action(async (profile: string, value: string | undefined, opts: Record<string, unknown>) => {
      exit(await query(queryTarget(opts, io.env), withValue(profile, value, 'members'), opts['text'] === true, io))
    })
  addQueryOptions(program.command('cluster')
    .description('this node, its peers, liveness, sync state and document size'))
    .action(async (opts: Record<string, unknown>) => {
      exit(await query(queryTarget(opts, io.env), '/v1/cluster', opts['text'] === true, io))
    })
  return program
}

/** Runs the CLI on `argv` (without node and script); resolves with the exit status. */
export const runCli = async (argv: readonly string[], io: CliIo = {
  env: process.env,
  out: (s) => { process.stdout.write(s + '\n') },
  err: (s) => { process.stderr.write(s + '\n') }
}): Promise<number> => {
  let code = 0
  const program = buildProgram(io, (c) => { code = c })
  try {
    await program.parseAsync([...argv], { from: 'user' })
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : EXIT_CONFIG
    if (err instanceof DialogProfilesError && (err.code === 'DP_ERR_CONFIG' || err.code === 'DP_ERR_INVALID_ARGUMENT' || err.code === 'DP_ERR_BAD_DECLARATION')) {
      io.err(`dialog-profiles: ${err.message}`)
      return EXIT_CONFIG
    }
    io.err(`dialog-profiles: ${err instanceof Error ? err.message : String(err)}`)
    return 1
  }
  return code
}

/** Runs the CLI and exits with its status (the bin's entry point). */
export const main = (): void => {
  runCli(process.argv.slice(2)).then((code) => { process.exit(code) }, (err: unknown) => {
    process.stderr.write(`dialog-profiles: ${err instanceof Error ? err.message : String(err)}\n`)
    process.exit(1)
  })
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) main()
