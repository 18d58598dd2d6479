/**
 * A hand-written SVG chart of a run: one horizontal bar per ratio result (unit `x`), grouped by
 * scenario, on a log scale with a line at 1x. Bars held against a goal are green when the goal
 * is met and red when not, with the goal drawn as a dashed tick. No chart dependency.
 */
import type { RunReport } from './results.js'
import type { GoalCheck, Result } from './types.js'
import { fmtNum } from './stats.js'

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')

const WIDTH = 960
const LABEL_W = 400
const BAR_W = 440
const ROW_H = 22
const TOP = 70

/** Renders the ratio results of `report` as an SVG document. */
export const renderSvg = (report: RunReport): string => {
  const ratios = report.results.filter((r) => r.unit === 'x' && Number.isFinite(r.value) && r.value > 0)
  const goalOf = (r: Result): GoalCheck | undefined => report.goals.find((g) =>
    g.scenario === r.scenario && g.implementation === r.implementation && g.metric === r.metric)
  const values = ratios.flatMap((r) => [r.value, goalOf(r)?.target ?? r.value])
  const lo = Math.floor(Math.log10(Math.min(0.1, ...values)))
  const hi = Math.ceil(Math.log10(Math.max(10, ...values)))
  const x = (v: number): number => LABEL_W + ((Math.log10(v) - lo) / (hi - lo)) * BAR_W
  const parts: string[] = []
  let y = TOP
  const scenarios = [...new Set(ratios.map((r) => r.scenario))]
  for (const sc of scenarios) {
    parts.push(`<text x="10" y="${y + 14}" class="h">${esc(sc)}</text>`)
    y += ROW_H
    for (const r of ratios.filter((q) => q.scenario === sc)) {
      const g = goalOf(r)
      const cls = g === undefined ? 'bar' : g.pass ? 'bar pass' : 'bar miss'
      const x0 = x(Math.min(1, r.value))
      const x1 = x(Math.max(1, r.value))
      parts.push(`<text x="${LABEL_W - 8}" y="${y + 14}" class="l">${esc(`${r.implementation} · ${r.metric}`)}</text>`)
      parts.push(`<rect x="${x0.toFixed(1)}" y="${y + 3}" width="${Math.max(1, x1 - x0).toFixed(1)}" height="${ROW_H - 6}" class="${cls}"/>`)
      parts.push(`<text x="${(x1 + 4).toFixed(1)}" y="${y + 14}" class="v">${esc(`${fmtNum(r.value)}x${g === undefined ? '' : ` (goal ${g.op} ${fmtNum(g.target)}x)`}`)}</text>`)
      if (g !== undefined) {
        const gx = x(g.target)
        parts.push(`<line x1="${gx.toFixed(1)}" y1="${y + 1}" x2="${gx.toFixed(1)}" y2="${y + ROW_H - 1}" class="goal"/>`)
      }
      y += ROW_H
    }
    y += 6
  }
  if (ratios.length === 0) {
    parts.push(`<text x="10" y="${y + 14}" class="l0">no ratio results in this run</text>`)
    y += ROW_H
  }
  const axis: string[] = []
  for (let p = lo; p <= hi; p++) {
    const v = 10 ** p
    const ax = x(v)
    axis.push(`<line x1="${ax.toFixed(1)}" y1="${TOP - 6}" x2="${ax.toFixed(1)}" y2="${y}" class="${p === 0 ? 'one' : 'grid'}"/>`)
    axis.push(`<text x="${ax.toFixed(1)}" y="${TOP - 10}" class="ax">${esc(fmtNum(v))}x</text>`)
  }
  const m = report.meta
  const failed = report.goals.filter((g) => !g.pass).length
  const title = `dialog-profiles bench: ratios (log scale)${m.quick ? ' --quick' : ''}, seed ${m.seed}`
  const sub = `${m.date} · commit ${m.commit} · node ${m.node} · ${m.cpus}x ${m.cpu} · load avg ${m.loadAverage.start}→${m.loadAverage.end} · goals met ${report.goals.length - failed}/${report.goals.length}`
  const height = y + 20
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="12">`,
    '<style>.h{font-weight:bold;font-size:13px}.l{text-anchor:end}.l0{fill:#666}.v{fill:#222}.ax{text-anchor:middle;fill:#666;font-size:10px}',
    '.bar{fill:#7a9cc6}.pass{fill:#5aa469}.miss{fill:#d9534f}.grid{stroke:#ddd}.one{stroke:#333;stroke-width:1.5}.goal{stroke:#000;stroke-dasharray:3 2;stroke-width:2}</style>',
    `<rect width="${WIDTH}" height="${height}" fill="#fff"/>`,
    `<text x="10" y="20" class="h">${esc(title)}</text>`,
    `<text x="10" y="38" class="l0">${esc(sub)}</text>`,
    ...axis,
    ...parts,
    '</svg>',
    ''
  ].join('\n')
}
