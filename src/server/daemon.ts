/**
 * The sidecar daemon: one ClusterNode, its HTTP API (routes.ts), metrics and logs, started
 * from a resolved {@link DaemonConfig} and stopped cleanly (HTTP closed, local writes flushed
 * to the peers and the data directory, peers closed).
 */
import { ClusterNode } from '../cluster-node.js'
import type { ClusterNodeOptions } from '../cluster-node.js'
import { createAdmission } from './admission.js'
import type { Admission } from './admission.js'
import type { DaemonConfig, Secret } from './config.js'
import { HttpApi } from './http-api.js'
import { createLogger, logNodeEvents, nodeLogger } from './logging.js'
import type { PinoLogger } from './logging.js'
import { DaemonMetrics } from './metrics.js'
import { registerRoutes } from './routes.js'
import { AdmissionTally, StatusFeed } from './status-feed.js'
import { mountStatusPage } from './status-page.js'

/** The ClusterNode options a daemon configuration gives (unset ones: the node's defaults). */
export const nodeOptionsOf = (config: DaemonConfig, log: PinoLogger): ClusterNodeOptions => ({
  nodeId: config.nodeId,
  profiles: config.profiles,
  ...(config.listen !== null ? { listen: config.listen } : {}),
  ...(config.hubs.length === 0 ? { peers: config.peers } : {}),
  ...(config.secret !== null ? { secret: config.secret.reveal() } : {}),
  ...(config.hubs.length > 0 && config.hubToken !== null
    ? { hubs: config.hubs.map((url) => ({ url, room: config.hubRoom, token: (config.hubToken as Secret).reveal() })) }
    : {}),
  ...(config.observe !== null ? { observe: { listen: config.observe.listen, token: config.observe.token.reveal() } } : {}),
  ...(config.keys !== null ? { identity: { privateKey: config.keys.privateKey.reveal() }, trustedNodes: config.keys.trustedNodes } : {}),
  ...(config.livenessTimeoutMs !== undefined ? { livenessTimeoutMs: config.livenessTimeoutMs } : {}),
  ...(config.graceMs !== undefined ? { graceMs: config.graceMs } : {}),
  ...(config.heartbeatIntervalMs !== undefined ? { heartbeatIntervalMs: config.heartbeatIntervalMs } : {}),
  ...(config.purgeDelayMs !== undefined ? { purgeDelayMs: config.purgeDelayMs } : {}),
  writeDelayMs: config.writeDelayMs,
  ...(config.pendingReleaseMs !== undefined ? { pendingReleaseMs: config.pendingReleaseMs } : {}),
  ...(config.maxPendingReleases !== undefined ? { maxPendingReleases: config.maxPendingReleases } : {}),
  ...(config.readiness !== undefined ? { readiness: { policy: config.readiness } } : {}),
  ...(config.dataDir !== null ? { dataDir: config.dataDir } : {}),
  ...(config.resume ? { resume: true } : {}),
  admission: {
    ...(config.admissionNodes.length > 0 ? { nodes: config.admissionNodes } : {}),
    ...(config.admissionWaitMs !== undefined ? { waitMs: config.admissionWaitMs } : {}),
    ...(config.admissionLeaseMs !== undefined ? { leaseMs: config.admissionLeaseMs } : {}),
    ...(config.admissionLeaseMarginMs !== undefined ? { leaseMarginMs: config.admissionLeaseMarginMs } : {})
  },
  log: nodeLogger(log)
})

/** How a daemon is built, beyond its configuration. */
export interface DaemonOptions {
  /** Answer plain hot requests on the HTTP fast path (see `HttpApiOptions.fastPath`). @defaultValue config.httpFastPath */
  readonly httpFastPath?: boolean
}

/** A running daemon. */
export class Daemon {
  private stopping: Promise<void> | undefined
  private readonly offEvents: () => void

  private constructor (
    readonly config: DaemonConfig,
    readonly node: ClusterNode,
    readonly admission: Admission,
    readonly http: HttpApi,
    readonly metrics: DaemonMetrics,
    readonly log: PinoLogger,
    readonly status: StatusFeed
  ) {
    this.offEvents = logNodeEvents(node, log)
  }

  /**
   * Builds and starts a daemon: the node first (it loads `dataDir` and listens), then the HTTP
   * API. On any failure everything started is stopped again and the error is thrown.
   * @throws DialogProfilesError `DP_ERR_CONFIG`, `DP_ERR_INVALID_ARGUMENT`, `DP_ERR_TRANSPORT`, `DP_ERR_PERSISTENCE`
   */
  static async start (config: DaemonConfig, log: PinoLogger = createLogger(config.logLevel, config.nodeId), options: DaemonOptions = {}): Promise<Daemon> {
    const node = new ClusterNode(nodeOptionsOf(config, log))
    let admission: Admission
    try {
      admission = createAdmission(node, { mode: config.mode, maxCallDurationMs: config.maxCallDurationMs })
    } catch (err) {
      await node.close()
      throw err
    }
    const metrics = new DaemonMetrics(node, { topValues: config.metricsTopValues })
    const tally = new AdmissionTally()
    const status = new StatusFeed({ node, admissions: () => tally })
    const http = new HttpApi({
      maxBodyBytes: config.maxBodyBytes,
      apiToken: config.apiToken,
      onAnswer: (route, code) => { metrics.request(route, code); tally.answered(route, code) },
      onInternalError: (err, req) => { log.error({ event: 'request-failed', err, method: req.method, url: req.url }, 'request failed') },
      fastPath: options.httpFastPath ?? config.httpFastPath
    })
    registerRoutes(http.router, { node, admission, metrics })
    mountStatusPage(http.router, status)
    const daemon = new Daemon(config, node, admission, http, metrics, log, status)
    try {
      await node.start()
      await http.listen(config.http.host, config.http.port)
    } catch (err) {
      await daemon.stop()
      throw err
    }
    log.info({ event: 'started', http: daemon.httpUrl(), ws: node.url(), peers: config.peers, hubs: config.hubs, observe: node.observerAddress(), profiles: config.profiles, mode: config.mode, dataDir: config.dataDir, resume: config.resume, maxCallDurationMs: config.maxCallDurationMs }, 'daemon started')
    return daemon
  }

  /** Base url of the HTTP API, e.g. `http://127.0.0.1:7480`. */
  httpUrl (): string | undefined {
    const a = this.http.address()
    if (a === undefined) return undefined
    return `http://${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`
  }

  /** Stops the HTTP API, then the node (flushes writes and persistence, closes peers). Idempotent. */
  async stop (): Promise<void> {
    this.stopping ??= (async () => {
      this.status.close()
      await this.http.close()
      await this.node.close()
      this.offEvents()
      this.log.info({ event: 'stopped' }, 'daemon stopped')
    })()
    await this.stopping
  }
}
