/**
 * Structured JSON logs of the daemon (pino, one line per event on stdout): the node's
 * lifecycle events (peer up/down, rejected connections with their reason, owner suspect, dead,
 * live, purged, readiness, persistence load) and its internal log lines. No request is logged
 * at info level. Secrets never reach a log line: the config's secrets print as `[redacted]` and
 * the usual secret keys are redacted as well.
 */
import { pino } from 'pino'
import type { Logger as PinoLogger } from 'pino'
import type { ClusterNode } from '../cluster-node.js'
import type { Logger } from '../transport/transport.js'
import type { DaemonLogLevel } from './config.js'

export type { PinoLogger }

/** A pino logger writing JSON lines to stdout synchronously (nothing is lost on exit). */
export const createLogger = (level: DaemonLogLevel, nodeId: string): PinoLogger => pino({
  level,
  base: { node: nodeId },
  timestamp: pino.stdTimeFunctions.isoTime,
  redact: { paths: ['secret', 'apiToken', '*.secret', '*.apiToken', 'authorization', '*.authorization'], censor: '[redacted]' }
}, pino.destination({ dest: 1, sync: true }))

/** The ClusterNode `log` option over pino: the node's own lines, with `event: 'log'`. */
export const nodeLogger = (log: PinoLogger): Logger => (level, msg) => { log[level]({ event: 'log' }, msg) }

/** Logs the node's lifecycle events; returns the function that stops logging them. */
export const logNodeEvents = (node: ClusterNode, log: PinoLogger): () => void => {
  const offs = [
    node.on('listening', (e) => { log.info({ event: e.type, host: e.host, port: e.port }, 'cluster transport listening') }),
    node.on('peer-up', (e) => { log.info({ event: e.type, peer: e.node, incarnation: e.incarnation, direction: e.direction, url: e.url }, 'peer up') }),
    node.on('peer-down', (e) => { log.info({ event: e.type, peer: e.node, reason: e.reason, code: e.code }, 'peer down') }),
    node.on('rejected', (e) => { log.warn({ event: e.type, remote: e.remote, reason: e.reason, code: e.code }, 'connection rejected') }),
    node.on('synced', (e) => { log.debug({ event: e.type, peer: e.node }, 'state exchange done') }),
    node.on('not-synced', (e) => { log.info({ event: e.type, peer: e.node, reason: e.reason }, 'lost sync with peer') }),
    node.on('ready', () => { log.info({ event: 'ready' }, 'initial sync done: ready') }),
    node.on('not-ready', (e) => { log.warn({ event: e.type, reason: e.reason }, 'initial sync not done in time') }),
    node.on('owner-suspect', (e) => { log.info({ event: e.type, owner: e.node, incarnation: e.incarnation, silentMs: e.silentMs }, 'node suspect') }),
    node.on('owner-dead', (e) => { log.warn({ event: e.type, owner: e.node, incarnation: e.incarnation, silentMs: e.silentMs }, 'node dead: its calls stop counting') }),
    node.on('owner-live', (e) => { log.info({ event: e.type, owner: e.node, incarnation: e.incarnation }, 'node live') }),
    node.on('owner-purged', (e) => { log.info({ event: e.type, owner: e.node, incarnation: e.incarnation, deleted: e.deleted }, 'dead node\'s memberships purged') }),
    node.on('loaded', (e) => { log.info({ event: e.type, report: e.report }, 'persisted state loaded') })
  ]
  return () => { for (const off of offs) off() }
}
