/**
 * The daemon's log lines (README "Logs"): every line carries `time`, `level`, `node`, `msg` and
 * an `event`, the node's own lines (`ClusterNode`'s `log` option) included, as `event: 'log'`;
 * the usual secret keys are redacted.
 */
import { Writable } from 'node:stream'
import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import { nodeLogger } from '../../src/server/logging.js'

const capture = (): { lines: Array<Record<string, unknown>>, log: pino.Logger } => {
  const lines: Array<Record<string, unknown>> = []
  const sink = new Writable({ write (chunk: Buffer, _enc, done) { for (const l of chunk.toString().split('\n')) if (l !== '') lines.push(JSON.parse(l) as Record<string, unknown>); done() } })
  const log = pino({ level: 'debug', base: { node: 'n1' }, timestamp: pino.stdTimeFunctions.isoTime }, sink)
  return { lines, log }
}

describe('daemon logs', () => {
  it("the node's own lines carry event 'log' with time, level, node and msg", async () => {
    const { lines, log } = capture()
    const nodeLog = nodeLogger(log)
    nodeLog('warn', 'write to /data/updates.log failed (ENOSPC)')
    nodeLog('info', 'writes work again')
    nodeLog('debug', 'detail')
    await new Promise((resolve) => { setImmediate(resolve) })
    expect(lines).toHaveLength(3)
    for (const l of lines) expect(l).toMatchObject({ time: expect.any(String), level: expect.any(Number), node: 'n1', msg: expect.any(String), event: 'log' })
    expect(lines.map((l) => l['level'])).toEqual([40, 30, 20])
  })
})
