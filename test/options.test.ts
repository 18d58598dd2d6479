import { generateKeyPairSync } from 'node:crypto'
import { inspect } from 'node:util'
import { describe, expect, it } from 'vitest'
import {
  ClusterNode, DEFAULT_AUTH_TIMEOUT_MS, DEFAULT_FSYNC_INTERVAL_MS, DEFAULT_GRACE_MS, DEFAULT_HEARTBEAT_INTERVAL_MS,
  DEFAULT_LIVENESS_TIMEOUT_MS, DEFAULT_MAX_BUFFERED_BYTES, DEFAULT_MAX_CLOCK_SKEW_MS, DEFAULT_MAX_LOCAL_MEMBERSHIPS, DEFAULT_WRITE_DELAY_MS, DEFAULT_PENDING_RELEASE_MS, DEFAULT_MAX_PENDING_RELEASES, DEFAULT_MAX_CLIENTS,
  DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_MAX_MESSAGES_PER_FRAME, DEFAULT_MAX_MESSAGES_PER_SECOND, DEFAULT_MAX_TRACKED_NODES,
  DEFAULT_PURGE_DELAY_MS, DEFAULT_READINESS_AFTER_TIMEOUT, DEFAULT_READINESS_PEERS, DEFAULT_READINESS_POLICY,
  DEFAULT_READINESS_TIMEOUT_MS, DEFAULT_READINESS_WAIT_MS, DEFAULT_RECONNECT_INITIAL_MS, DEFAULT_RECONNECT_MAX_MS,
  DEFAULT_SNAPSHOT_INTERVAL_MS, DEFAULT_SWEEP_INTERVAL_MS, DEFAULT_HUB_ROOM, DEFAULT_MAX_OBSERVERS,
  DEFAULT_OBSERVE_MAX_MESSAGE_BYTES, DEFAULT_OBSERVE_MAX_MESSAGES_PER_SECOND
} from '../src/index.js'
import type { ClusterNodeOptions } from '../src/index.js'
import * as api from '../src/index.js'
import { checkPeerUrl, resolveOptions } from '../src/options.js'
import * as optionsModule from '../src/options.js'
import { failureOf as outcome } from './support/errors.js'

const SECRET = 'options-test-secret-value'
const base: ClusterNodeOptions = { nodeId: 'a', secret: SECRET, log: () => {} }


const pemPair = (type: 'ed25519' | 'x25519'): { privateKey: string; publicKey: string } => {
  const { privateKey, publicKey } = type === 'ed25519' ? generateKeyPairSync('ed25519') : generateKeyPairSync('x25519')
  return { privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, publicKey: publicKey.export({ type: 'spki', format: 'pem' }) as string }
}
const mine = pemPair('ed25519')
const other = pemPair('ed25519')
const notEd = pemPair('x25519')

// Every option with values it must refuse, and the word the error must name.
const bad: Array<[string, Record<string, unknown>, string]> = [
  ['nodeId empty', { nodeId: '' }, 'nodeId'],
  ['nodeId with a space', { nodeId: 'a b' }, 'nodeId'],
  ['nodeId not a string', { nodeId: 7 }, 'nodeId'],
  ['secret short', { secret: 'short' }, 'secret'],
  ['secret not a string', { secret: 12345678 }, 'secret'],
  ['profiles not an array', { profiles: 'total' }, 'profiles'],
  ['listen not an object', { listen: 7400 }, 'listen'],
  ['listen.host empty', { listen: { host: '', port: 1 } }, 'listen.host'],
  ['listen.port 70000', { listen: { host: '127.0.0.1', port: 70_000 } }, 'listen.port'],
  ['listen.port -1', { listen: { host: '127.0.0.1', port: -1 } }, 'listen.port'],
  ['listen.port 1.5', { listen: { host: '127.0.0.1', port: 1.5 } }, 'listen.port'],
  ['peers not an array', { peers: 'ws://a:1' }, 'peers'],
  ['peer without scheme', { peers: ['127.0.0.1:7400'] }, 'peers[0]'],
  ['peer not a url', { peers: ['not a url'] }, 'peers[0]'],
  ['peer http', { peers: ['http://127.0.0.1:7400'] }, 'peers[0]'],
  ['peer without port', { peers: ['ws://127.0.0.1'] }, 'peers[0]'],
  ['peer port 0', { peers: ['ws://127.0.0.1:0'] }, 'peers[0]'],
  ['peer port 70000', { peers: ['ws://127.0.0.1:70000'] }, 'peers[0]'],
  ['peer with user info', { peers: ['ws://u:p@127.0.0.1:7400'] }, 'peers[0]'],
  ['peer with query', { peers: ['ws://127.0.0.1:7400/?x=1'] }, 'peers[0]'],
  ['peer listed twice', { peers: ['ws://h:7400', 'ws://H:7400'] }, 'peers[1]'],
  ['tls without key', { tls: { cert: 'x' } }, 'tls.key'],
  ['tls.rejectUnauthorized not boolean', { tls: { cert: 'x', key: 'y', rejectUnauthorized: 'no' } }, 'tls.rejectUnauthorized'],
  ['tls.ca a number', { tls: { cert: 'x', key: 'y', ca: 5 } }, 'tls.ca'],
  ['clock not a function', { clock: 5 }, 'clock'],
  ['random not a function', { random: 0.5 }, 'random'],
  ['log not a function', { log: 'console' }, 'log'],
  ['incarnation negative', { incarnation: -1 }, 'incarnation'],
  ['incarnation from the future', { clock: () => 1000, incarnation: 1000 + DEFAULT_MAX_CLOCK_SKEW_MS + 1 }, 'incarnation'],
  ['clientId above 32 bits', { clientId: 2 ** 32 }, 'clientId'],
  ['maxLocalMemberships 0', { maxLocalMemberships: 0 }, 'maxLocalMemberships'],
  ['writeDelayMs negative', { writeDelayMs: -1 }, 'writeDelayMs'],
  ['pendingReleaseMs negative', { pendingReleaseMs: -1 }, 'pendingReleaseMs'],
  ['pendingReleaseMs beyond a timer', { pendingReleaseMs: 2 ** 31 }, 'pendingReleaseMs'],
  ['maxPendingReleases fractional', { maxPendingReleases: 1.5 }, 'maxPendingReleases'],
  ['writeDelayMs above 1000', { writeDelayMs: 1001 }, 'writeDelayMs'],
  ['heartbeatIntervalMs 0', { heartbeatIntervalMs: 0 }, 'heartbeatIntervalMs'],
  ['heartbeatIntervalMs >= livenessTimeoutMs', { heartbeatIntervalMs: 6000, livenessTimeoutMs: 5000 }, 'heartbeatIntervalMs'],
  ['heartbeatIntervalMs above half the timeout', { heartbeatIntervalMs: 3000, livenessTimeoutMs: 5000 }, 'livenessTimeoutMs / 2'],
  ['livenessTimeoutMs NaN', { livenessTimeoutMs: Number.NaN }, 'livenessTimeoutMs'],
  ['livenessTimeoutMs beyond a timer', { livenessTimeoutMs: 2 ** 31 }, 'livenessTimeoutMs'],
  ['graceMs negative', { graceMs: -1 }, 'graceMs'],
  ['purgeDelayMs Infinity', { purgeDelayMs: Number.POSITIVE_INFINITY }, 'purgeDelayMs'],
  ['maxTrackedNodes 0', { maxTrackedNodes: 0 }, 'maxTrackedNodes'],
  ['maxClients 0', { maxClients: 0 }, 'maxClients'],
  ['maxClients not an integer', { maxClients: 1.5 }, 'maxClients'],
  ['maxTrackedNodes below the peers', { maxTrackedNodes: 1, peers: ['ws://b:1', 'ws://c:1'] }, 'maxTrackedNodes'],
  ['maxClockSkewMs negative', { maxClockSkewMs: -1 }, 'maxClockSkewMs'],
  ['maxClockSkewMs beyond a timer', { maxClockSkewMs: 2 ** 31 }, 'maxClockSkewMs'],
  ['maxMessageBytes tiny', { maxMessageBytes: 100 }, 'maxMessageBytes'],
  ['maxMessageBytes fractional', { maxMessageBytes: 4096.5 }, 'maxMessageBytes'],
  ['maxMessagesPerSecond 0', { maxMessagesPerSecond: 0 }, 'maxMessagesPerSecond'],
  ['maxMessagesPerFrame -3', { maxMessagesPerFrame: -3 }, 'maxMessagesPerFrame'],
  ['maxBufferedBytes below maxMessageBytes', { maxMessageBytes: 65_536, maxBufferedBytes: 65_535 }, 'maxBufferedBytes'],
  ['authTimeoutMs 0', { authTimeoutMs: 0 }, 'authTimeoutMs'],
  ['reconnectInitialMs above reconnectMaxMs', { reconnectInitialMs: 6000, reconnectMaxMs: 5000 }, 'reconnectInitialMs'],
  ['reconnectMaxMs a string', { reconnectMaxMs: '5000' }, 'reconnectMaxMs'],
  ['sweepIntervalMs 0', { sweepIntervalMs: 0 }, 'sweepIntervalMs'],
  ['readiness not an object', { readiness: 'reject' }, 'readiness'],
  ['readiness.policy unknown', { readiness: { policy: 'maybe' } }, 'readiness.policy'],
  ['readiness.peers most', { readiness: { peers: 'most' } }, 'readiness.peers'],
  ['readiness.timeoutMs 0', { readiness: { timeoutMs: 0 } }, 'readiness.timeoutMs'],
  ['readiness.waitMs negative', { readiness: { waitMs: -1 } }, 'readiness.waitMs'],
  ['readiness.afterTimeout unknown', { readiness: { afterTimeout: 'sometimes' } }, 'readiness.afterTimeout'],
  ['readiness unknown key', { readiness: { timeout: 5 } }, 'readiness.timeout'],
  ['dataDir empty', { dataDir: '' }, 'dataDir'],
  ['fsyncIntervalMs negative', { fsyncIntervalMs: -1 }, 'fsyncIntervalMs'],
  ['snapshotIntervalMs 0', { snapshotIntervalMs: 0 }, 'snapshotIntervalMs'],
  ['an unknown option (a typo)', { heartbeatIntervallMs: 500 }, 'heartbeatIntervallMs'],
  ['identity without trustedNodes', { identity: { privateKey: mine.privateKey } }, 'trustedNodes'],
  ['trustedNodes without identity', { trustedNodes: { a: mine.publicKey } }, 'identity'],
  ['identity.privateKey not PEM', { identity: { privateKey: 7 }, trustedNodes: { a: mine.publicKey } }, 'identity.privateKey'],
  ['identity.privateKey unreadable', { identity: { privateKey: 'garbage' }, trustedNodes: { a: mine.publicKey } }, 'identity.privateKey'],
  ['identity.privateKey not Ed25519', { identity: { privateKey: notEd.privateKey }, trustedNodes: { a: notEd.publicKey } }, 'Ed25519'],
  ['trustedNodes an array', { identity: { privateKey: mine.privateKey }, trustedNodes: [mine.publicKey] }, 'trustedNodes'],
  ['trustedNodes with a bad node id', { identity: { privateKey: mine.privateKey }, trustedNodes: { a: mine.publicKey, 'b c': other.publicKey } }, 'trustedNodes'],
  ['trustedNodes with an unreadable key', { identity: { privateKey: mine.privateKey }, trustedNodes: { a: mine.publicKey, b: 'garbage' } }, 'trustedNodes.b'],
  ['trustedNodes without this node', { identity: { privateKey: mine.privateKey }, trustedNodes: { b: other.publicKey } }, 'trustedNodes.a'],
  ['trustedNodes with another key for this node', { identity: { privateKey: mine.privateKey }, trustedNodes: { a: other.publicKey } }, 'trustedNodes.a'],
  ['hubs empty', { hubs: [] }, 'hubs'],
  ['hubs not an array', { hubs: 'ws://hub:1234' }, 'hubs'],
  ['hubs[0].url without a port', { hubs: [{ url: 'ws://hub', token: 'hub-token-1' }] }, 'hubs[0].url'],
  ['hubs[0].url http', { hubs: [{ url: 'http://hub:1234', token: 'hub-token-1' }] }, 'hubs[0].url'],
  ['hubs[0].token short', { hubs: [{ url: 'ws://hub:1234', token: 'short' }] }, 'hubs[0].token'],
  ['hubs[0].token missing', { hubs: [{ url: 'ws://hub:1234' }] }, 'hubs[0].token'],
  ['hubs[0].room with a slash', { hubs: [{ url: 'ws://hub:1234', room: 'a/b', token: 'hub-token-1' }] }, 'hubs[0].room'],
  ['hubs[0] with an unknown key', { hubs: [{ url: 'ws://hub:1234', token: 'hub-token-1', secret: 'x' }] }, 'hubs[0].secret'],
  ['hubs[1] repeating hubs[0]', { hubs: [{ url: 'ws://hub:1234', token: 'hub-token-1' }, { url: 'ws://HUB:1234', token: 'hub-token-2' }] }, 'hubs[1] repeats hubs[0]'],
  ['hubs with peers', { hubs: [{ url: 'ws://hub:1234', token: 'hub-token-1' }], peers: ['ws://b:7400'] }, 'peers'],
  ['hubs with listen', { hubs: [{ url: 'ws://hub:1234', token: 'hub-token-1' }], listen: { host: '127.0.0.1', port: 0 } }, 'listen'],
  ['hubs with per-node keys', { hubs: [{ url: 'ws://hub:1234', token: 'hub-token-1' }], identity: { privateKey: mine.privateKey }, trustedNodes: { a: mine.publicKey } }, 'per-node keys'],
  ['hubs with a strict profile and no node list', { hubs: [{ url: 'ws://hub:1234', token: 'hub-token-1' }], profiles: [{ name: 't', admission: 'strict' }] }, 'admission.nodes'],
  ['observe without listen', { observe: { token: 'observer-token' } }, 'observe.listen'],
  ['observe.token short', { observe: { listen: { host: '127.0.0.1', port: 0 }, token: 'short' } }, 'observe.token'],
  ['observe.maxObservers 0', { observe: { listen: { host: '127.0.0.1', port: 0 }, token: 'observer-token', maxObservers: 0 } }, 'observe.maxObservers'],
  ['observe.maxMessageBytes 100', { observe: { listen: { host: '127.0.0.1', port: 0 }, token: 'observer-token', maxMessageBytes: 100 } }, 'observe.maxMessageBytes'],
  ['observe with an unknown key', { observe: { listen: { host: '127.0.0.1', port: 0 }, token: 'observer-token', path: '/yjs' } }, 'observe.path'],
  // An unknown key (a typo) inside a nested option object is refused like one at the top level.
  ['listen with an unknown key', { listen: { host: '127.0.0.1', hots: 'x', port: 0 } }, 'unknown option listen.hots'],
  ['tls with an unknown key', { tls: { cert: 'x', key: 'y', rejectUnauthorised: false } }, 'unknown option tls.rejectUnauthorised'],
  ['identity with an unknown key', { identity: { privateKey: mine.privateKey, extra: 1 }, trustedNodes: { a: mine.publicKey } }, 'unknown option identity.extra'],
  ['admission with an unknown key', { admission: { leasMs: 5 } }, 'unknown option admission.leasMs'],
  ['observe.listen with an unknown key', { observe: { listen: { host: '127.0.0.1', port: 0, hots: 'x' }, token: 'observer-token' } }, 'unknown option observe.listen.hots'],
  ['profiles[1] with an unknown key', { profiles: [{ name: 'total' }, { name: 'trunk', admision: 'strict' }] }, 'unknown option profiles[1].admision'],
  ['maxTrackedNodes below the trusted nodes', { maxTrackedNodes: 1, identity: { privateKey: mine.privateKey }, trustedNodes: { a: mine.publicKey, b: other.publicKey, c: other.publicKey } }, 'maxTrackedNodes']
]

describe('resolveOptions', () => {
  it.each(bad)('refuses %s with DP_ERR_INVALID_ARGUMENT naming the option, at construction', (_what, patch, named) => {
    const opts = { ...base, ...patch } as unknown as ClusterNodeOptions
    const r = outcome(() => resolveOptions(opts))
    expect(r?.code).toBe('DP_ERR_INVALID_ARGUMENT')
    expect(r?.message).toContain(named)
    expect(outcome(() => new ClusterNode(opts))?.code).toBe('DP_ERR_INVALID_ARGUMENT')
  })

  it('resolves every default from the named constants', () => {
    const r = resolveOptions(base)
    expect(r).toMatchObject({
      profiles: [], peers: [], listen: undefined, tls: undefined, incarnation: undefined, clientId: undefined, dataDir: undefined, keys: undefined,
      maxLocalMemberships: DEFAULT_MAX_LOCAL_MEMBERSHIPS,
      writeDelayMs: DEFAULT_WRITE_DELAY_MS,
      pendingReleaseMs: DEFAULT_PENDING_RELEASE_MS,
      maxPendingReleases: DEFAULT_MAX_PENDING_RELEASES,
      heartbeatIntervalMs: DEFAULT_HEARTBEAT_INTERVAL_MS,
      livenessTimeoutMs: DEFAULT_LIVENESS_TIMEOUT_MS,
      graceMs: DEFAULT_GRACE_MS,
      purgeDelayMs: DEFAULT_PURGE_DELAY_MS,
      maxTrackedNodes: DEFAULT_MAX_TRACKED_NODES,
      maxClockSkewMs: DEFAULT_MAX_CLOCK_SKEW_MS,
      maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES,
      maxMessagesPerSecond: DEFAULT_MAX_MESSAGES_PER_SECOND,
      maxMessagesPerFrame: DEFAULT_MAX_MESSAGES_PER_FRAME,
      maxBufferedBytes: DEFAULT_MAX_BUFFERED_BYTES,
      authTimeoutMs: DEFAULT_AUTH_TIMEOUT_MS,
      reconnectInitialMs: DEFAULT_RECONNECT_INITIAL_MS,
      reconnectMaxMs: DEFAULT_RECONNECT_MAX_MS,
      sweepIntervalMs: DEFAULT_SWEEP_INTERVAL_MS,
      readiness: {
        policy: DEFAULT_READINESS_POLICY,
        timeoutMs: DEFAULT_READINESS_TIMEOUT_MS,
        waitMs: DEFAULT_READINESS_WAIT_MS,
        peers: DEFAULT_READINESS_PEERS,
        afterTimeout: DEFAULT_READINESS_AFTER_TIMEOUT
      },
      fsyncIntervalMs: DEFAULT_FSYNC_INTERVAL_MS,
      snapshotIntervalMs: DEFAULT_SNAPSHOT_INTERVAL_MS
    })
    expect(r.clock).toBe(Date.now)
    expect(r.random).toBe(Math.random)
    // The documented defaults, in numbers (the README's options table says the same).
    expect([DEFAULT_HEARTBEAT_INTERVAL_MS, DEFAULT_LIVENESS_TIMEOUT_MS, DEFAULT_GRACE_MS, DEFAULT_PURGE_DELAY_MS]).toEqual([1000, 5000, 5000, 60_000])
    expect([DEFAULT_MAX_TRACKED_NODES, DEFAULT_MAX_CLOCK_SKEW_MS]).toEqual([1000, 60_000])
    expect([DEFAULT_PENDING_RELEASE_MS, DEFAULT_MAX_PENDING_RELEASES, DEFAULT_MAX_CLIENTS]).toEqual([5000, 10_000, 20_000])
  })

  it('accepts the edges of every range', () => {
    const ok = resolveOptions({
      ...base,
      listen: { host: '::1', port: 65_535 },
      peers: ['ws://[::1]:1', 'wss://proxy-b.example:65535', 'ws://10.0.0.2:7400/cluster'],
      heartbeatIntervalMs: 2500,
      livenessTimeoutMs: 5000,
      graceMs: 0,
      purgeDelayMs: 0,
      maxMessageBytes: 1024,
      maxBufferedBytes: 1024,
      reconnectInitialMs: 5000,
      reconnectMaxMs: 5000,
      clientId: 0xffffffff,
      incarnation: 0,
      maxClockSkewMs: 0,
      writeDelayMs: 1000,
      tls: { cert: 'c', key: 'k', ca: ['a', Buffer.from('b')], rejectUnauthorized: false }
    })
    expect(ok.peers).toHaveLength(3)
    expect(resolveOptions({ ...base, listen: { host: '127.0.0.1', port: 0 } }).listen).toEqual({ host: '127.0.0.1', port: 0 })
  })

  it('hubs: resolved with the default room, the secret optional; observe with its defaults', () => {
    const r = resolveOptions({ nodeId: 'a', hubs: [{ url: 'ws://hub-1:1234', token: 'hub-token-1' }, { url: 'wss://hub-2:443/yjs', room: 'r.1', token: 'hub-token-2' }], log: () => {} })
    expect(r.hubs).toEqual([{ url: 'ws://hub-1:1234', room: DEFAULT_HUB_ROOM, token: 'hub-token-1' }, { url: 'wss://hub-2:443/yjs', room: 'r.1', token: 'hub-token-2' }])
    expect(r.peers).toEqual([])
    expect(resolveOptions(base).hubs).toEqual([])
    expect(resolveOptions({ ...base, observe: { listen: { host: '127.0.0.1', port: 0 }, token: 'observer-token' } }).observe).toEqual({
      listen: { host: '127.0.0.1', port: 0 }, token: 'observer-token', maxObservers: DEFAULT_MAX_OBSERVERS, maxMessageBytes: DEFAULT_OBSERVE_MAX_MESSAGE_BYTES, maxMessagesPerSecond: DEFAULT_OBSERVE_MAX_MESSAGES_PER_SECOND
    })
    expect([DEFAULT_HUB_ROOM, DEFAULT_MAX_OBSERVERS, DEFAULT_OBSERVE_MAX_MESSAGE_BYTES, DEFAULT_OBSERVE_MAX_MESSAGES_PER_SECOND]).toEqual(['dialog-profiles', 16, 1024 * 1024, 20])
    // a mesh node still needs its secret
    expect(outcome(() => resolveOptions({ nodeId: 'a', log: () => {} }))?.message).toContain('secret')
    // a hub node cannot add mesh peers later
    const node = new ClusterNode({ nodeId: 'a', hubs: [{ url: 'ws://127.0.0.1:9', token: 'hub-token-1' }], log: () => {} })
    expect(outcome(() => { node.addPeer('ws://127.0.0.1:7400') })?.code).toBe('DP_ERR_INVALID_ARGUMENT')
    expect(inspect(node, { depth: 8, showHidden: true, getters: false })).not.toContain('hub-token-1')
    const observed = new ClusterNode({ ...base, observe: { listen: { host: '127.0.0.1', port: 0 }, token: 'observer-token-1' } })
    expect(inspect(observed, { depth: 8, showHidden: true, getters: false })).not.toContain('observer-token-1')
  })

  it('checkPeerUrl accepts ws and wss with a host and an explicit port, including the scheme default port', () => {
    expect(checkPeerUrl('ws://proxy-b:80')).toBe('ws://proxy-b:80')
    expect(checkPeerUrl('wss://proxy-b:443')).toBe('wss://proxy-b:443')
    expect(outcome(() => checkPeerUrl('ws://:7400'))?.code).toBe('DP_ERR_INVALID_ARGUMENT')
    expect(outcome(() => checkPeerUrl(undefined))?.code).toBe('DP_ERR_INVALID_ARGUMENT')
  })
})

describe('the package entry', () => {
  it('exports every DEFAULT_* constant of src/options.ts, with the same value', () => {
    const defaults = Object.entries(optionsModule).filter(([k]) => k.startsWith('DEFAULT_'))
    expect(defaults.length).toBeGreaterThanOrEqual(36)
    const exported = api as Record<string, unknown>
    for (const [k, v] of defaults) {
      expect(k in exported, `${k} is exported from src/index.ts`).toBe(true)
      expect(exported[k], k).toBe(v)
    }
  })
})

describe('the secret stays private', () => {
  it('is no property of the node, and neither inspect nor any reachable object prints it', () => {
    const node = new ClusterNode({ ...base, peers: ['ws://127.0.0.1:9'] })
    expect(Object.keys(node)).not.toContain('options')
    expect((node as unknown as Record<string, unknown>)['options']).toBeUndefined()
    expect(inspect(node, { depth: 8, showHidden: true, getters: false })).not.toContain(SECRET)
    // Walk every enumerable own property reachable from the node (the transport, its host, ...).
    const seen = new Set<unknown>()
    const walk = (v: unknown, depth: number): void => {
      if (depth > 6 || v === null || typeof v !== 'object' || seen.has(v)) return
      seen.add(v)
      for (const k of Object.keys(v)) {
        const x = (v as Record<string, unknown>)[k]
        expect(x === SECRET || (x instanceof Uint8Array && Buffer.from(x).toString() === SECRET), `property ${k}`).toBe(false)
        if (k !== 'doc' && k !== 'store') walk(x, depth + 1)
      }
    }
    walk(node, 0)
  })

  it('errors about the secret do not print it', () => {
    const r = outcome(() => new ClusterNode({ ...base, secret: 'short12' }))
    expect(r?.message).not.toContain('short12')
  })
})

describe('admission options', () => {
  const strict = [{ name: 'trunk', withValue: true, admission: 'strict' as const }]
  it('default to this node alone, reserve 2, no wait, a lease of 2000 ms with a margin of 1000 ms', () => {
    expect(resolveOptions(base).admission).toEqual({ nodes: ['a'], reserve: 2, waitMs: 0, leaseMs: 2000, leaseMarginMs: 1000 })
    expect(resolveOptions({ ...base, admission: { leaseMs: 0, leaseMarginMs: 0 } }).admission).toMatchObject({ leaseMs: 0, leaseMarginMs: 0 })
    expect(resolveOptions(base).admission).toEqual({
      nodes: ['a'], reserve: api.DEFAULT_ADMISSION_RESERVE, waitMs: api.DEFAULT_ADMISSION_WAIT_MS,
      leaseMs: api.DEFAULT_ADMISSION_LEASE_MS, leaseMarginMs: api.DEFAULT_ADMISSION_LEASE_MARGIN_MS
    })
    expect(resolveOptions(base).persistenceRetryMs).toBe(api.DEFAULT_PERSISTENCE_RETRY_MS)
  })

  it('refuse a strict profile with peers but no node list, a list without this node or with a node twice, resume, bad numbers', () => {
    const bad: Array<[Partial<ClusterNodeOptions>, string]> = [
      [{ profiles: strict, peers: ['ws://127.0.0.1:7400'] }, 'admission.nodes'],
      [{ admission: { nodes: ['b', 'c'] } }, 'include this node'],
      [{ admission: { nodes: ['a', 'b', 'a'] } }, 'twice'],
      [{ admission: { nodes: ['a', 'b c'] } }, 'node ids'],
      [{ admission: { nodes: [] } }, 'node ids'],
      [{ admission: { reserve: -1 } }, 'admission.reserve'],
      [{ admission: { reserve: 1.5 } }, 'admission.reserve'],
      [{ admission: { waitMs: -5 } }, 'admission.waitMs'],
      [{ admission: { leaseMs: -1 } }, 'admission.leaseMs'],
      [{ admission: { leaseMs: Number.NaN } }, 'admission.leaseMs'],
      [{ admission: { leaseMarginMs: -1 } }, 'admission.leaseMarginMs'],
      [{ profiles: strict, dataDir: '/tmp/dp-never-created', resume: true }, 'resume']
    ]
    for (const [extra, what] of bad) {
      const r = outcome(() => resolveOptions({ ...base, ...extra }))
      expect(r?.code, JSON.stringify(extra)).toBe('DP_ERR_INVALID_ARGUMENT')
      expect(r?.message).toContain(what)
    }
    expect(resolveOptions({ ...base, profiles: strict, peers: ['ws://127.0.0.1:7400'], admission: { nodes: ['b', 'a'], waitMs: 50, leaseMs: 500, leaseMarginMs: 250 } }).admission).toEqual({ nodes: ['b', 'a'], reserve: 2, waitMs: 50, leaseMs: 500, leaseMarginMs: 250 })
  })
})
