/**
 * Benchmark runner: `npm run bench [-- [--quick] [--seed N] [--list] [scenario ...]]`.
 *
 * Runs each selected scenario (bench/scenarios/) with its implementations on a seeded trace,
 * in one process so baselines and ratios share the machine state, then prints a table and
 * writes bench/results/latest.json and bench/results/latest.svg. Exit code 1 when a scenario
 * failed (a convergence check, a crash); missed goals are reported, not fatal.
 */
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { scenarios } from './scenarios/index.js'
import { cpuModel, formatTable, gitCommit, load1, versions, writeReport } from './lib/results.js'
import type { RunReport } from './lib/results.js'
import { findRedisServer, startRedisServer } from './lib/redis-server.js'
import type { RedisServer } from './lib/redis-server.js'
import { startProgress } from './lib/progress.js'
import { hasGc } from './lib/stats.js'
import { BudgetExceededError, ConvergenceError } from './lib/types.js'
import type { BenchContext, GoalCheck, Result } from './lib/types.js'

const HERE = dirname(fileURLToPath(import.meta.url))
const ROOT = join(HERE, '..')

interface Options { quick: boolean, seed: number, names: string[], list: boolean }

const usage = `usage: npm run bench -- [--quick] [--seed N] [--list] [scenario ...]
  --quick    every scenario at small sizes (under 3 minutes on 2 cores)
  --seed N   seed of the traces (default 42)
  --list     list the scenarios and exit
scenarios: ${scenarios.map((s) => s.name).join(', ')}`

const parseArgs = (argv: readonly string[]): Options => {
  const opts: Options = { quick: false, seed: 42, names: [], list: false }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? ''
    if (a === '--quick') opts.quick = true
    else if (a === '--list') opts.list = true
    else if (a === '--help' || a === '-h') { console.log(usage); process.exit(0) }
    else if (a === '--seed' || a.startsWith('--seed=')) {
      const v = a.includes('=') ? a.slice(7) : argv[++i]
      const n = Number(v)
      if (v === undefined || !Number.isSafeInteger(n) || n < 0) throw new Error(`--seed needs a non-negative integer, got ${String(v)}`)
      opts.seed = n
    } else if (a.startsWith('-')) throw new Error(`unknown option ${a}\n${usage}`)
    else opts.names.push(a)
  }
  return opts
}

const main = async (): Promise<number> => {
  const opts = parseArgs(process.argv.slice(2))
  const { cpu, cpus } = cpuModel()
  if (opts.list) {
    for (const s of scenarios) console.log(`${s.name.padEnd(14)} ${s.description}`)
    return 0
  }
  const unknown = opts.names.filter((n) => !scenarios.some((s) => s.name === n))
  if (unknown.length > 0) throw new Error(`unknown scenario ${unknown.join(', ')}\n${usage}`)
  const selected = opts.names.length === 0 ? scenarios : scenarios.filter((s) => opts.names.includes(s.name))

  const results: Result[] = []
  const goals: GoalCheck[] = []
  const notices: string[] = []
  const failures: { scenario: string, error: string }[] = []
  const notice = (msg: string): void => { notices.push(msg); console.error(`notice: ${msg}`) }
  if (!hasGc) notice('run without --expose-gc: heap figures include garbage (use npm run bench)')

  let redis: RedisServer | null | undefined
  const getRedis = async (): Promise<RedisServer | null> => {
    if (redis !== undefined) return redis
    const bin = findRedisServer()
    if (bin === null) {
      notice('redis-server not found (apt-get install redis-server): Redis baseline rows skipped')
      redis = null
    } else {
      redis = await startRedisServer(bin)
      console.error(`started ${bin} on 127.0.0.1:${redis.port} (pid ${redis.pid})`)
    }
    return redis
  }

  const t0 = performance.now()
  const loadStart = load1()
  if (loadStart > cpus) notice(`load average ${loadStart} on ${cpus} cores at the start: timings will be noisy`)
  try {
    for (const sc of selected) {
      const budgetMs = (opts.quick ? sc.budgetSeconds.quick : sc.budgetSeconds.full) * 1000
      const start = performance.now()
      const spent = (): boolean => performance.now() - start > budgetMs
      const ctx: BenchContext = {
        quick: opts.quick,
        seed: opts.seed,
        report: (implementation, metric, value, unit) => {
          results.push({ scenario: sc.name, implementation, metric, value, unit })
        },
        goal: (implementation, metric, value, unit, op, target, source) => {
          results.push({ scenario: sc.name, implementation, metric, value, unit })
          const pass = op === '>=' ? value >= target : value <= target
          goals.push({ scenario: sc.name, implementation, metric, value, unit, op, target, pass, source })
        },
        notice: (m) => { notice(`${sc.name}: ${m}`) },
        progress: (label, total) => startProgress(`${sc.name} ${label}`, total),
        verify: (ok, message) => { if (!ok) throw new ConvergenceError(`${sc.name}: ${message}`) },
        checkBudget: () => {
          if (spent()) throw new BudgetExceededError(`${sc.name}: time budget of ${budgetMs / 1000} s spent`)
        },
        budgetSpent: spent,
        redis: getRedis
      }
      console.error(`\n# ${sc.name}: ${sc.description}${opts.quick ? ' (quick)' : ''}`)
      try {
        await sc.run(ctx)
        console.error(`# ${sc.name} done in ${((performance.now() - start) / 1000).toFixed(1)} s`)
      } catch (err) {
        const msg = err instanceof Error ? `${err.name}: ${err.message}` : String(err)
        failures.push({ scenario: sc.name, error: msg })
        console.error(`# ${sc.name} FAILED: ${msg}`)
        if (!(err instanceof ConvergenceError) && !(err instanceof BudgetExceededError) && err instanceof Error && err.stack !== undefined) {
          console.error(err.stack)
        }
      }
    }
  } finally {
    if (redis !== undefined && redis !== null) {
      await redis.stop()
      console.error(`stopped redis-server (pid ${redis.pid})`)
    }
  }

  const report: RunReport = {
    meta: {
      date: new Date().toISOString(),
      commit: gitCommit(ROOT),
      node: process.version,
      cpu,
      cpus,
      seed: opts.seed,
      quick: opts.quick,
      scenarios: selected.map((s) => s.name),
      command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
      durationSeconds: Math.round((performance.now() - t0) / 100) / 10,
      versions: versions(ROOT, findRedisServer()),
      loadAverage: { start: loadStart, end: load1() }
    },
    results,
    goals,
    notices,
    failures
  }
  console.log(formatTable(report))
  const paths = writeReport(join(HERE, 'results'), report)
  console.log(`\nwrote ${paths.json} and ${paths.svg} (${report.meta.durationSeconds} s)`)
  return failures.length > 0 ? 1 : 0
}

main().then((code) => { process.exitCode = code }, (err: unknown) => {
  console.error(err instanceof Error ? err.message : String(err))
  process.exitCode = 2
})
