/**
 * The daemon's other ways to join a cluster, through real processes driven over HTTP: two
 * daemons joining through a y-websocket hub (`--hub`, `--hub-token`) with the read-only
 * endpoint (`--observe`, `--observe-token`) read by a stock y-websocket provider, and two daemons
 * in a mesh with per-node keys (`--identity-file`, `--trusted-node ID=FILE`).
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { WebSocket } from 'ws'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import { afterAll, describe, expect, it } from 'vitest'
import { ProfileStore } from '../../src/index.js'
import { ROOT, SECRET, eventually, form, http, runCli, size, startDaemon, startServe, stopAll } from './support.js'

const HUB_TOKEN = 'e2e-hub-token-0123'
const OBSERVE_TOKEN = 'e2e-observe-token-0123'
const PROFILES = ['--profile', 'total', '--profile', 'caller:value']
const dir = mkdtempSync(join(tmpdir(), 'dp-e2e-topo-'))
let hub: ChildProcess | undefined
const providers: WebsocketProvider[] = []

afterAll(async () => {
  for (const p of providers.splice(0)) p.destroy()
  await stopAll()
  if (hub !== undefined && hub.exitCode === null) {
    const exited = new Promise<void>((resolve) => { hub!.once('exit', () => { resolve() }) })
    hub.kill('SIGKILL')
    await exited
  }
  rmSync(dir, { recursive: true, force: true })
})

/** The tests' token-checking @y/websocket-server hub in its own process; resolves with its url. */
const startHub = async (): Promise<string> => {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'test', 'cluster', 'fixtures', 'token-hub.ts')], {
    cwd: ROOT, env: { ...process.env, DP_HUB_TOKEN: HUB_TOKEN }, stdio: ['pipe', 'pipe', 'pipe']
  })
  hub = child
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error('the hub did not start')) }, 30_000)
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`the hub exited with ${String(code)}`)) })
    createInterface({ input: child.stdout! }).once('line', (l) => { clearTimeout(timer); resolve(l) })
  })
  return (JSON.parse(line) as { url: string }).url
}

const pem = (name: string, text: string): string => {
  const path = join(dir, name)
  writeFileSync(path, text)
  return path
}

describe('daemons through a y-websocket hub, observed read-only', () => {
  it('converge over HTTP through the hub; an observer with the token reads the document', async () => {
    const url = await startHub()
    const hubArgs = ['--hub', url, '--hub-token', HUB_TOKEN, ...PROFILES]
    const a = await startServe(['--node-id', 'ha', ...hubArgs, '--observe', '127.0.0.1:0', '--observe-token', OBSERVE_TOKEN])
    const b = await startServe(['--node-id', 'hb', ...hubArgs])
    expect(a.ws).toBeUndefined()
    for (const n of [a, b]) await eventually(async () => (await http('GET', `${n.http}/readyz`)).status === 200, 20_000, 'ready')

    expect((await form(`${a.http}/v1/acquire`, { dialog: 'd1', profile: 'caller', value: 'alice', limit: 5 })).status).toBe(200)
    expect((await form(`${b.http}/v1/acquire`, { dialog: 'd2', profile: 'total', limit: 5 })).status).toBe(200)
    await eventually(async () => await size(b.http, 'caller', 'alice') === 1 && await size(a.http, 'total') === 1, 20_000, 'each admission counts on the other daemon')
    expect((await form(`${b.http}/v1/dialogs/d1/end`, {})).status).toBe(204)
    await eventually(async () => await size(a.http, 'caller', 'alice') === 0, 20_000, 'an end on the other daemon removes it')

    const cluster = (await http('GET', `${a.http}/v1/cluster`)).json as { hubs: Array<{ url: string, connected: boolean }>, observe: { address: { port: number } } | null }
    expect(cluster.hubs.map((h) => [h.url, h.connected])).toEqual([[url, true]])
    expect(JSON.stringify(cluster)).not.toContain(HUB_TOKEN)

    const port = (a.started['observe'] as { port: number }).port
    const doc = new Y.Doc()
    const provider = new WebsocketProvider(`ws://127.0.0.1:${port}`, 'any', doc, { params: { token: OBSERVE_TOKEN }, WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket, disableBc: true })
    providers.push(provider)
    const view = (): ProfileStore => {
      const s = new ProfileStore({ nodeId: 'viewer', profiles: [{ name: 'total' }, { name: 'caller', withValue: true }] })
      s.applyUpdate(Y.encodeStateAsUpdate(doc))
      return s
    }
    await eventually(async () => await Promise.resolve(view().size('total') === 1 && view().size('caller', 'alice') === 0), 20_000, 'the observer holds the cluster\'s memberships')
    expect(JSON.stringify(a.logs)).not.toContain(HUB_TOKEN)
    expect(JSON.stringify(a.logs)).not.toContain(OBSERVE_TOKEN)
  }, 90_000)

  it('refuses hub settings that contradict each other, before starting', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--hub', 'ws://127.0.0.1:1'], /needs a hub token/],
      [['--hub', 'ws://127.0.0.1:1', '--hub-token', HUB_TOKEN, '--listen', '127.0.0.1:0'], /cannot be combined with --listen/],
      [['--hub', 'ws://127.0.0.1:1', '--hub-token', HUB_TOKEN, '--peer', 'ws://127.0.0.1:2'], /cannot be combined with --peer/],
      [['--hub', 'http://x:1', '--hub-token', HUB_TOKEN], /a hub must be ws:\/\/HOST:PORT/],
      [['--secret', SECRET, '--hub-token', HUB_TOKEN], /without --hub/],
      [['--secret', SECRET, '--observe', '127.0.0.1:0'], /--observe and --observe-token go together/],
      [['--hub', 'ws://127.0.0.1:1', '--hub-token', 'short'], /hubs\[0\]\.token/]
    ]
    for (const [args, message] of cases) {
      const r = await runCli(['serve', '--node-id', 'x', '--http', '127.0.0.1:0', ...args])
      expect(r.code, args.join(' ')).toBe(2)
      expect(r.stderr).toMatch(message)
    }
  }, 120_000)
})

describe('daemons with per-node keys', () => {
  const keyPair = (id: string): { priv: string, pub: string } => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519')
    return {
      priv: pem(`${id}.key`, privateKey.export({ type: 'pkcs8', format: 'pem' }) as string),
      pub: pem(`${id}.pub`, publicKey.export({ type: 'spki', format: 'pem' }) as string)
    }
  }

  it('converge with signed updates; a wrong identity or an unreadable key file is refused before starting', async () => {
    const ka = keyPair('ka')
    const kb = keyPair('kb')
    const trusted = ['--trusted-node', `ka=${ka.pub}`, '--trusted-node', `kb=${kb.pub}`]
    const a = await startDaemon(['--node-id', 'ka', ...PROFILES, '--identity-file', ka.priv, ...trusted])
    const b = await startDaemon(['--node-id', 'kb', ...PROFILES, '--identity-file', kb.priv, ...trusted, '--peer', a.ws])
    for (const n of [a, b]) await eventually(async () => (await http('GET', `${n.http}/readyz`)).status === 200, 20_000, 'ready')
    expect((await form(`${a.http}/v1/acquire`, { dialog: 'k1', profile: 'total', limit: 5 })).status).toBe(200)
    expect((await form(`${b.http}/v1/acquire`, { dialog: 'k2', profile: 'total', limit: 5 })).status).toBe(200)
    await eventually(async () => await size(a.http, 'total') === 2 && await size(b.http, 'total') === 2, 20_000, 'both admissions count on both daemons')
    expect(JSON.stringify(a.logs)).not.toContain('PRIVATE KEY')

    const refused: Array<[string[], RegExp]> = [
      [['--identity-file', kb.priv, ...trusted], /trustedNodes\.ka must be the public key of identity\.privateKey/],
      [['--identity-file', join(dir, 'absent.key'), ...trusted], /cannot read the identity file/],
      [['--identity-file', ka.priv], /need both --identity-file and --trusted-node/],
      [['--identity-file', ka.priv, '--trusted-node', 'ka'], /a trusted node is ID=FILE/]
    ]
    for (const [args, message] of refused) {
      const r = await runCli(['serve', '--node-id', 'ka', '--secret', SECRET, '--listen', '127.0.0.1:0', '--http', '127.0.0.1:0', ...args])
      expect(r.code, args.join(' ')).toBe(2)
      expect(r.stderr).toMatch(message)
    }
  }, 120_000)
})
