/**
 * Configuration resolution on its own: precedence flags > environment > config file, defaults,
 * every refusal with DP_ERR_CONFIG, and secrets that never print.
 */
import { inspect } from 'node:util'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { DialogProfilesError } from '../../src/errors.js'
import { failureOf } from '../support/errors.js'
import {
  DEFAULT_MAX_CALL_DURATION_S, Secret, isLoopback, parseHostPort, resolveConfig, settingsFromEnv, settingsFromFile
} from '../../src/server/config.js'
import type { RawSettings } from '../../src/server/config.js'
import { nodeOptionsOf } from '../../src/server/daemon.js'
import { pino } from 'pino'

const dir = mkdtempSync(join(tmpdir(), 'dp-config-'))
afterAll(() => { rmSync(dir, { recursive: true, force: true }) })
for (const [name, text] of [['hub-token', 'hub-token-from-file\n'], ['a.key', 'PRIVATE-A'], ['a.pub', 'PUBLIC-A'], ['b.pub', 'PUBLIC-B']]) writeFileSync(join(dir, name as string), text as string)
const secret = { secret: 'secret-0123456789' }

const refused = (sources: { flags?: RawSettings, env?: RawSettings, file?: RawSettings }, message: RegExp): void => {
  const f = failureOf(() => resolveConfig(sources))
  expect(f?.code).toBe('DP_ERR_CONFIG')
  expect(f?.message).toMatch(message)
}

describe('resolveConfig', () => {
  it('fills the documented defaults', () => {
    const c = resolveConfig({ flags: { ...secret, nodeId: 'a' } })
    expect(c.listen).toEqual({ host: '127.0.0.1', port: 7400 })
    expect(c.http).toEqual({ host: '127.0.0.1', port: 7480 })
    expect(c.mode).toBe('eventual')
    expect(c.maxCallDurationMs).toBe(DEFAULT_MAX_CALL_DURATION_S * 1000)
    expect(c.maxBodyBytes).toBe(16_384)
    expect(c.metricsTopValues).toBe(10)
    expect(c.logLevel).toBe('info')
    expect(c.apiToken).toBeNull()
    expect(c.dataDir).toBeNull()
    expect(c.livenessTimeoutMs).toBeUndefined()
    expect(c.httpFastPath).toBe(true)
  })

  it('turns the HTTP fast path off by flag or environment, and refuses a value not a boolean', () => {
    expect(resolveConfig({ flags: { ...secret, nodeId: 'a', httpFastPath: 'false' } }).httpFastPath).toBe(false)
    expect(resolveConfig({ flags: { ...secret, nodeId: 'a' }, env: { httpFastPath: 'false' } }).httpFastPath).toBe(false)
    refused({ flags: { ...secret, nodeId: 'a' }, env: { httpFastPath: 'never' } }, /DP_HTTP_FAST_PATH must be true or false/)
  })

  it('takes flags over environment over the config file, setting by setting', () => {
    const c = resolveConfig({
      flags: { nodeId: 'flag', profiles: ['total'] },
      env: settingsFromEnv({ DP_NODE_ID: 'env', DP_GRACE: '100', DP_PEERS: 'ws://a:1, ws://b:2', DP_SECRET: 'env-secret-123' }),
      file: { nodeId: 'file', grace: 200, livenessTimeout: 300, secret: 'file-secret-123', profiles: ['caller:value'] }
    })
    expect(c.nodeId).toBe('flag')
    expect(c.graceMs).toBe(100)
    expect(c.livenessTimeoutMs).toBe(300)
    expect(c.peers).toEqual(['ws://a:1', 'ws://b:2'])
    expect(c.secret?.reveal()).toBe('env-secret-123')
    expect(c.profiles).toEqual([{ name: 'total', admission: 'eventual' }])
  })

  it('takes a secret file at a higher level over an inline secret at a lower one', () => {
    const f = join(dir, 'secret')
    writeFileSync(f, '  from-the-file-123\n')
    expect(resolveConfig({ flags: { nodeId: 'a', secretFile: f }, env: { secret: 'env-secret-123' } }).secret?.reveal()).toBe('from-the-file-123')
  })

  it.each<[string, { flags?: RawSettings, env?: RawSettings, file?: RawSettings }, RegExp]>([
    ['no secret', { flags: { nodeId: 'a' } }, /secret is required/],
    ['inline and file secret at one level', { flags: { ...secret, secretFile: '/x', nodeId: 'a' } }, /both given/],
    ['non-loopback HTTP without token', { flags: { ...secret, nodeId: 'a', http: '10.0.0.1:80' } }, /not a loopback address/],
    ['bad node id', { flags: { ...secret, nodeId: 'a b' } }, /node id must match/],
    ['bad profile suffix', { flags: { ...secret, nodeId: 'a', profiles: ['x:y'] } }, /NAME or NAME:value/],
    ['duplicate profile', { flags: { ...secret, nodeId: 'a', profiles: ['x', 'x'] } }, /declared twice/],
    ['bad integer from the file', { flags: { ...secret, nodeId: 'a' }, file: { grace: -1 } }, /"grace" in the config file must be an integer >= 0/],
    ['fractional integer', { flags: { ...secret, nodeId: 'a', maxCallDuration: '1.5' } }, /--max-call-duration must be an integer >= 1/],
    ['list that is not a list', { flags: { ...secret, nodeId: 'a' }, file: { peers: 7 } }, /must be a list/],
    ['unknown mode', { flags: { ...secret, nodeId: 'a' }, env: { mode: 'fast' } }, /DP_MODE must be one of eventual, strict/],
    ['non-string value', { flags: { ...secret, nodeId: 'a' }, file: { dataDir: 5 } }, /must be a non-empty string/],
    ['write delay above 1000 ms', { flags: { ...secret, nodeId: 'a', writeDelay: '1001' } }, /--write-delay must be at most 1000/]
  ])('refuses %s', (_name, sources, message) => { refused(sources, message) })

  it('batches writes for 1 ms by default; --write-delay 0 writes at the end of each turn', () => {
    expect(resolveConfig({ flags: { ...secret, nodeId: 'a' } }).writeDelayMs).toBe(1)
    expect(resolveConfig({ flags: { ...secret, nodeId: 'a', writeDelay: '0' } }).writeDelayMs).toBe(0)
    expect(resolveConfig({ flags: { ...secret, nodeId: 'a' }, env: { writeDelay: '1000' } }).writeDelayMs).toBe(1000)
  })

  it('passes --pending-release to the node as pendingReleaseMs (0 turns it off), and refuses a bad one', () => {
    expect(resolveConfig({ flags: { ...secret, nodeId: 'a' } }).pendingReleaseMs).toBeUndefined()
    expect(nodeOptionsOf(resolveConfig({ flags: { ...secret, nodeId: 'a' } }), pino({ level: 'silent' }))).not.toHaveProperty('pendingReleaseMs')
    const c = resolveConfig({ flags: { ...secret, nodeId: 'a' }, env: { pendingRelease: '2000' } })
    expect(nodeOptionsOf(c, pino({ level: 'silent' })).pendingReleaseMs).toBe(2000)
    expect(resolveConfig({ flags: { ...secret, nodeId: 'a', pendingRelease: '0' }, file: { pendingRelease: 9000 } }).pendingReleaseMs).toBe(0)
    refused({ flags: { ...secret, nodeId: 'a', pendingRelease: '-5' } }, /--pending-release must be an integer >= 0/)
    refused({ flags: { ...secret, nodeId: 'a', pendingRelease: String(2 ** 31) } }, /--pending-release must be at most/)
  })

  it('passes --max-pending-releases to the node as maxPendingReleases, and refuses a bad one', () => {
    expect(nodeOptionsOf(resolveConfig({ flags: { ...secret, nodeId: 'a' } }), pino({ level: 'silent' }))).not.toHaveProperty('maxPendingReleases')
    expect(nodeOptionsOf(resolveConfig({ flags: { ...secret, nodeId: 'a', maxPendingReleases: '500' } }), pino({ level: 'silent' })).maxPendingReleases).toBe(500)
    expect(resolveConfig({ flags: { ...secret, nodeId: 'a' }, env: { maxPendingReleases: '0' } }).maxPendingReleases).toBe(0)
    expect(resolveConfig({ flags: { ...secret, nodeId: 'a' }, file: { maxPendingReleases: 20000 } }).maxPendingReleases).toBe(20000)
    refused({ flags: { ...secret, nodeId: 'a', maxPendingReleases: '-1' } }, /--max-pending-releases must be an integer >= 0/)
    refused({ flags: { ...secret, nodeId: 'a', maxPendingReleases: 'many' } }, /--max-pending-releases must be an integer >= 0/)
  })

  it('resumes by default with a data directory, never without one', () => {
    expect(resolveConfig({ flags: { ...secret, nodeId: 'a', dataDir: '/tmp/x' } }).resume).toBe(true)
    expect(resolveConfig({ flags: { ...secret, nodeId: 'a' } }).resume).toBe(false)
    expect(resolveConfig({ flags: { ...secret, nodeId: 'a', dataDir: '/tmp/x', resume: 'false' } }).resume).toBe(false)
    expect(resolveConfig({ flags: { ...secret, nodeId: 'a', dataDir: '/tmp/x' }, file: { resume: false } }).resume).toBe(false)
    refused({ flags: { ...secret, nodeId: 'a', resume: 'true' } }, /resume needs a data directory/)
    refused({ flags: { ...secret, nodeId: 'a', dataDir: '/tmp/x' }, env: { resume: 'maybe' } }, /DP_RESUME must be true or false/)
  })

  it('declares every profile in --mode unless it names its own admission, and does not resume in strict mode', () => {
    const c = resolveConfig({ flags: { ...secret, nodeId: 'a', mode: 'strict', dataDir: '/tmp/x', profiles: ['total'] }, file: { profiles: ['x'] } })
    expect(c.profiles).toEqual([{ name: 'total', admission: 'strict' }])
    expect(c.resume).toBe(false)
    const f = resolveConfig({ flags: { ...secret, nodeId: 'a', mode: 'strict' }, file: { profiles: [{ name: 'trunk', withValue: true, admission: 'eventual' }] } })
    expect(f.profiles).toEqual([{ name: 'trunk', withValue: true, admission: 'eventual' }])
    refused({ flags: { ...secret, nodeId: 'a', mode: 'strict', peers: ['ws://b:1'] } }, /needs --admission-node/)
    expect(resolveConfig({ flags: { ...secret, nodeId: 'a', mode: 'strict', peers: ['ws://b:1'], admissionNodes: ['a', 'b'] } }).admissionNodes).toEqual(['a', 'b'])
  })

  it('passes --admission-wait-ms to the node as admission.waitMs, and refuses a bad one', () => {
    const c = resolveConfig({ flags: { ...secret, nodeId: 'a', mode: 'strict', admissionWaitMs: '250' } })
    expect(c.admissionWaitMs).toBe(250)
    expect(nodeOptionsOf(c, pino({ level: 'silent' })).admission).toEqual({ waitMs: 250 })
    expect(resolveConfig({ flags: { ...secret, nodeId: 'a' } }).admissionWaitMs).toBeUndefined()
    refused({ flags: { ...secret, nodeId: 'a', admissionWaitMs: '-1' } }, /admission-wait-ms/)
    refused({ flags: { ...secret, nodeId: 'a', admissionWaitMs: 'soon' } }, /admission-wait-ms/)
  })

  it('passes --admission-lease-ms and --admission-lease-margin-ms to the node, and refuses bad ones', () => {
    const c = resolveConfig({ flags: { ...secret, nodeId: 'a', mode: 'strict', admissionLeaseMs: '1000', admissionLeaseMarginMs: '500' } })
    expect(nodeOptionsOf(c, pino({ level: 'silent' })).admission).toEqual({ leaseMs: 1000, leaseMarginMs: 500 })
    expect(nodeOptionsOf(resolveConfig({ flags: { ...secret, nodeId: 'a', admissionLeaseMs: '0' } }), pino({ level: 'silent' })).admission).toEqual({ leaseMs: 0 })
    refused({ flags: { ...secret, nodeId: 'a', admissionLeaseMs: '-1' } }, /admission-lease-ms/)
    refused({ flags: { ...secret, nodeId: 'a', admissionLeaseMarginMs: 'x' } }, /admission-lease-margin-ms/)
  })

  it('joins through hubs without a cluster port or secret, and passes hubs and observe to the node', () => {
    const c = resolveConfig({ flags: { nodeId: 'a', hubs: ['ws://h1:1234', 'wss://h2:443/yjs'], hubTokenFile: join(dir, 'hub-token'), observe: '127.0.0.1:0' }, env: { observeToken: 'observer-token-1' } })
    expect(c.listen).toBeNull()
    expect(c.secret).toBeNull()
    expect(c.hubRoom).toBe('dialog-profiles')
    expect(String(c.hubToken)).toBe('[redacted]')
    const o = nodeOptionsOf(c, pino({ level: 'silent' }))
    expect(o.hubs).toEqual([{ url: 'ws://h1:1234', room: 'dialog-profiles', token: 'hub-token-from-file' }, { url: 'wss://h2:443/yjs', room: 'dialog-profiles', token: 'hub-token-from-file' }])
    expect(o.observe).toEqual({ listen: { host: '127.0.0.1', port: 0 }, token: 'observer-token-1' })
    expect(o.listen).toBeUndefined()
    expect(o.peers).toBeUndefined()
    expect(o.secret).toBeUndefined()
    expect(JSON.stringify(c)).not.toContain('hub-token-from-file')
    expect(JSON.stringify(c)).not.toContain('observer-token-1')
    expect(nodeOptionsOf(resolveConfig({ flags: { nodeId: 'a', hubs: ['ws://h:1'], hubToken: 'hub-token-x', hubRoom: 'r1' } }), pino({ level: 'silent' })).hubs).toEqual([{ url: 'ws://h:1', room: 'r1', token: 'hub-token-x' }])
  })

  it.each<[string, { flags?: RawSettings, env?: RawSettings, file?: RawSettings }, RegExp]>([
    ['hubs without a token', { flags: { nodeId: 'a', hubs: ['ws://h:1'] } }, /needs a hub token/],
    ['hubs with listen', { flags: { nodeId: 'a', hubs: ['ws://h:1'], hubToken: 'hub-token-x' }, file: { listen: '127.0.0.1:7400' } }, /cannot be combined with --listen/],
    ['hubs with peers', { flags: { nodeId: 'a', hubs: ['ws://h:1'], hubToken: 'hub-token-x', peers: ['ws://b:1'] } }, /cannot be combined with --peer/],
    ['hubs with keys', { flags: { nodeId: 'a', hubs: ['ws://h:1'], hubToken: 'hub-token-x', identityFile: '/x' } }, /per-node keys/],
    ['a hub that is not ws', { flags: { nodeId: 'a', hubs: ['http://h:1'], hubToken: 'hub-token-x' } }, /a hub must be ws:\/\/HOST:PORT/],
    ['a hub room without hubs', { flags: { ...secret, nodeId: 'a', hubRoom: 'r' } }, /without --hub/],
    ['observe without a token', { flags: { ...secret, nodeId: 'a', observe: '127.0.0.1:0' } }, /go together/],
    ['an observe token without observe', { flags: { ...secret, nodeId: 'a', observeToken: 'observer-token-1' } }, /go together/],
    ['a bad observe address', { flags: { ...secret, nodeId: 'a', observe: 'x', observeToken: 'observer-token-1' } }, /observe address must be HOST:PORT/],
    ['an identity without trusted nodes', { flags: { ...secret, nodeId: 'a', identityFile: '/x' } }, /need both/],
    ['a trusted node without =', { flags: { ...secret, nodeId: 'a', identityFile: '/x', trustedNodes: ['a'] } }, /ID=FILE/],
    ['a bad trusted node id', { flags: { ...secret, nodeId: 'a', identityFile: '/x', trustedNodes: ['a b=/y'] } }, /trusted node id/],
    ['an unreadable key file', { flags: { ...secret, nodeId: 'a', identityFile: '/x', trustedNodes: ['a=/nonexistent/key.pub'] } }, /cannot read the public key file of a/]
  ])('refuses %s', (_name, sources, message) => { refused(sources, message) })

  it('reads per-node keys from files and passes them to the node', () => {
    const c = resolveConfig({ flags: { ...secret, nodeId: 'a', identityFile: join(dir, 'a.key'), trustedNodes: [`a=${join(dir, 'a.pub')}`, `b=${join(dir, 'b.pub')}`] } })
    const o = nodeOptionsOf(c, pino({ level: 'silent' }))
    expect(o.identity).toEqual({ privateKey: 'PRIVATE-A' })
    expect(o.trustedNodes).toEqual({ a: 'PUBLIC-A', b: 'PUBLIC-B' })
    expect(JSON.stringify(c)).not.toContain('PRIVATE-A')
  })

  it('allows a non-loopback HTTP address with a token', () => {
    const c = resolveConfig({ flags: { ...secret, nodeId: 'a', http: '0.0.0.0:8080', apiToken: 'token-0123456789ab' } })
    expect(c.http).toEqual({ host: '0.0.0.0', port: 8080 })
    expect(c.apiToken?.reveal()).toBe('token-0123456789ab')
  })
})

describe('config files', () => {
  it('reads YAML and JSON, refuses unknown keys and non-objects', () => {
    const y = join(dir, 'a.yaml'); writeFileSync(y, 'nodeId: y\nprofiles: [total, caller:value]\n')
    expect(settingsFromFile(y)).toEqual({ nodeId: 'y', profiles: ['total', 'caller:value'] })
    const j = join(dir, 'a.json'); writeFileSync(j, '{"nodeId":"j"}')
    expect(settingsFromFile(j)).toEqual({ nodeId: 'j' })
    const u = join(dir, 'u.json'); writeFileSync(u, '{"node":"j"}')
    expect(() => settingsFromFile(u)).toThrow(/unknown setting "node"/)
    const l = join(dir, 'l.yaml'); writeFileSync(l, '- a\n- b\n')
    expect(() => settingsFromFile(l)).toThrow(/must hold an object/)
  })
})

describe('helpers', () => {
  it('parses host:port, IPv6 in brackets, and refuses the rest', () => {
    expect(parseHostPort('[::1]:80', 'x')).toEqual({ host: '::1', port: 80 })
    expect(parseHostPort('localhost:0', 'x')).toEqual({ host: 'localhost', port: 0 })
    for (const bad of ['host', ':80', 'a:b', 'a:70000', '::1:80']) expect(() => parseHostPort(bad, 'x')).toThrow(DialogProfilesError)
  })

  it('knows loopback addresses', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', '::1', 'localhost', '::ffff:127.0.0.1']) expect(isLoopback(h)).toBe(true)
    for (const h of ['0.0.0.0', '10.0.0.1', '::', 'example.com', '128.0.0.1']) expect(isLoopback(h)).toBe(false)
  })

  it('never prints a secret', () => {
    const s = new Secret('hunter2-hunter2')
    expect(String(s)).toBe('[redacted]')
    expect(JSON.stringify({ s })).toBe('{"s":"[redacted]"}')
    expect(inspect({ s })).not.toContain('hunter2')
    expect(s.reveal()).toBe('hunter2-hunter2')
  })
})
