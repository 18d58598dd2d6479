/**
 * Output of a run: the printed table, bench/results/latest.json and bench/results/latest.svg.
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { dirname, join } from 'node:path'
import type { GoalCheck, Result } from './types.js'
import { fmtNum } from './stats.js'
import { renderSvg } from './svg.js'

/** Facts about the run that make its figures comparable. */
export interface RunMeta {
  readonly date: string
  readonly commit: string
  readonly node: string
  readonly cpu: string
  readonly cpus: number
  readonly seed: number
  readonly quick: boolean
  readonly scenarios: readonly string[]
  readonly command: string
  readonly durationSeconds: number
  /** Versions of what was measured against: yjs, lib0, ioredis, redis-server. */
  readonly versions: Readonly<Record<string, string>>
  /** 1-minute load average at the start and the end of the run: above the core count, other work competed for the CPU. */
  readonly loadAverage: { readonly start: number, readonly end: number }
}

/** The JSON written to bench/results/latest.json. */
export interface RunReport {
  readonly meta: RunMeta
  readonly results: readonly Result[]
  readonly goals: readonly GoalCheck[]
  readonly notices: readonly string[]
  readonly failures: readonly { readonly scenario: string, readonly error: string }[]
}

/** Short commit of the work tree (with `+dirty` when bench/ or src/ has changes), or `unknown`. */
export const gitCommit = (cwd: string): string => {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim()
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src', 'bench'], { cwd, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim()
    return dirty === '' ? head : `${head}+dirty`
  } catch {
    return 'unknown'
  }
}

/** Machine description for the meta block. */
export const cpuModel = (): { cpu: string, cpus: number } => {
  const list = cpus()
  return { cpu: list[0]?.model.trim() ?? 'unknown', cpus: list.length }
}

const writeAtomic = (path: string, text: string): void => {
  mkdirSync(dirname(path), { recursive: true })
  const tmp = `${path}.${process.pid}.tmp`
  writeFileSync(tmp, text)
  renameSync(tmp, path)
}

/** Installed versions of the packages the bench measures, and of redis-server when given. */
export const versions = (root: string, redisServer: string | null): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const name of ['yjs', 'lib0', 'ioredis', 'ws']) {
    try {
      const pkg = JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')) as { version?: string }
      out[name] = pkg.version ?? 'unknown'
    } catch {
      out[name] = 'missing'
    }
  }
  if (redisServer !== null) {
    try {
      const v = execFileSync(redisServer, ['--version'], { stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }).toString()
      out['redis-server'] = /v=(\S+)/.exec(v)?.[1] ?? v.trim()
    } catch {
      out['redis-server'] = 'unknown'
    }
  }
  return out
}

/** The 1-minute load average. */
export const load1 = (): number => Math.round((loadavg()[0] ?? 0) * 100) / 100

/** Writes latest.json and latest.svg into `dir`; returns their paths. */
export const writeReport = (dir: string, report: RunReport): { json: string, svg: string } => {
  const json = join(dir, 'latest.json')
  const svg = join(dir, 'latest.svg')
  writeAtomic(json, JSON.stringify(report, null, 2) + '\n')
  writeAtomic(svg, renderSvg(report))
  return { json, svg }
}

const pad = (s: string, n: number): string => s.length >= n ? s : s + ' '.repeat(n - s.length)
const padL = (s: string, n: number): string => s.length >= n ? s : ' '.repeat(n - s.length) + s

/** The results as a plain-text table, grouped by scenario, then the goals. */
export const formatTable = (report: RunReport): string => {
  const m = report.meta
  const lines: string[] = [
    `${m.command} · ${m.date} · commit ${m.commit} · node ${m.node} · ${m.cpus}x ${m.cpu}`,
    `versions ${Object.entries(m.versions).map(([k, v]) => `${k} ${v}`).join(', ')} · seed ${m.seed} · load avg ${m.loadAverage.start} -> ${m.loadAverage.end}`
  ]
  const scenarios = [...new Set(report.results.map((r) => r.scenario))]
  for (const sc of scenarios) {
    const rows = report.results.filter((r) => r.scenario === sc)
    const wImpl = Math.max(14, ...rows.map((r) => r.implementation.length))
    const wMetric = Math.max(6, ...rows.map((r) => r.metric.length))
    lines.push('', `== ${sc} ==`)
    lines.push(`${pad('implementation', wImpl)}  ${pad('metric', wMetric)}  ${padL('value', 14)}  unit`)
    for (const r of rows) {
      lines.push(`${pad(r.implementation, wImpl)}  ${pad(r.metric, wMetric)}  ${padL(fmtNum(r.value), 14)}  ${r.unit}`)
    }
  }
  if (report.goals.length > 0) {
    lines.push('', '== goals ==')
    for (const g of report.goals) {
      lines.push(`${g.pass ? 'PASS' : 'MISS'}  ${g.scenario} / ${g.implementation} / ${g.metric}: ${fmtNum(g.value)} ${g.unit} (goal ${g.op} ${fmtNum(g.target)} ${g.unit}; ${g.source})`)
    }
  }
  for (const n of report.notices) lines.push(`notice: ${n}`)
  for (const f of report.failures) lines.push(`FAILED: ${f.scenario}: ${f.error}`)
  return lines.join('\n')
}
