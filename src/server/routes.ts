/**
 * The route table of the daemon's HTTP API (the contract: the README's "HTTP API" under "Sidecar
 * daemon"). Every input is checked before anything changes: bad input answers 400, an
 * undeclared profile 404, both with `{"error":{"code","message"}}`. Membership changes go
 * through the {@link Admission} module. The write routes and the size query are lean
 * (`Router.addLean`): the daemon's fast path (fast-http.ts) answers their plain requests with
 * the same handlers, so a proxy that asks for sizes between its acquires keeps its connection
 * on the fast path.
 */
import type { ClusterNode } from '../cluster-node.js'
import { DialogProfilesError, fail } from '../errors.js'
import type { Member } from '../types.js'
import type { Admission } from './admission.js'
import { reply, replyEmpty, replyJson, replyText } from './http-api.js'
import type { DaemonMetrics } from './metrics.js'
import type { ApiResponse, Fields, LeanRequest, Router } from './router.js'

/** What the routes work on. */
export interface RouteDeps {
  readonly node: ClusterNode
  readonly admission: Admission
  readonly metrics: DaemonMetrics
}

const MAX_ID = 256

/** A required string field (path parameter or body field). */
const required = (fields: Fields, name: string): string => {
  const v = fields[name]
  if (v === undefined || v === '') throw fail('DP_ERR_INVALID_ARGUMENT', `missing field "${name}"`)
  if (v.length > MAX_ID) throw fail('DP_ERR_INVALID_ARGUMENT', `field "${name}" is longer than ${MAX_ID} characters`)
  return v
}

const integerField = (fields: Fields, name: string, min: number, optional: boolean): number | undefined => {
  const v = fields[name]
  if (v === undefined || v === '') {
    if (optional) return undefined
    throw fail('DP_ERR_INVALID_ARGUMENT', `missing field "${name}"`)
  }
  const n = /^\d{1,15}$/.test(v.trim()) ? Number(v.trim()) : NaN
  if (!Number.isSafeInteger(n) || n < min) throw fail('DP_ERR_INVALID_ARGUMENT', `field "${name}" must be an integer >= ${min}, got "${v}"`)
  return n
}

/** Declared profiles by name (whether each takes values): fixed for the daemon's life. */
type Declared = ReadonlyMap<string, boolean>

/** Checks a profile and value: declared (else 404), a value exactly on valued profiles when `write`. */
const profileAndValue = (declared: Declared, profile: string, rawValue: string | null | undefined, write: boolean): { profile: string; value: string | undefined } => {
  const withValue = declared.get(profile)
  if (withValue === undefined) throw fail('DP_ERR_UNKNOWN_PROFILE', `profile "${profile}" is not declared`)
  const p = { withValue }
  const value = rawValue === null || rawValue === undefined || rawValue === '' ? undefined : rawValue
  if (value !== undefined && !p.withValue) throw fail('DP_ERR_VALUE_MISMATCH', `profile "${profile}" has no values`)
  if (value === undefined && p.withValue && write) throw fail('DP_ERR_VALUE_MISMATCH', `profile "${profile}" needs a value`)
  if (value !== undefined && value.length > MAX_ID) throw fail('DP_ERR_INVALID_ARGUMENT', `value is longer than ${MAX_ID} characters`)
  return { profile, value }
}

const seconds = (s: number | undefined): number | undefined => s === undefined ? undefined : s * 1000

const memberJson = (m: Member): Record<string, unknown> => ({
  dialog: m.dialog, value: m.value, node: m.node, incarnation: m.incarnation, expiresAt: m.expiresAt, remote: m.remote, id: m.id
})

/**
 * What `GET /readyz` answers: ready only in the `ready` state, so a node that is `syncing`,
 * `timed-out` or `degraded` (its data directory refuses writes) is taken out of rotation.
 */
export const readiness = (node: Pick<ClusterNode, 'cluster'>): { ready: boolean, state: ReturnType<ClusterNode['cluster']>['readyState'] } => {
  const state = node.cluster().readyState
  return { ready: state === 'ready', state }
}

/** Registers every route of the contract on `router`. */
export const registerRoutes = (router: Router, deps: RouteDeps): void => {
  const { node, admission, metrics } = deps
  const declared: Declared = new Map(node.store.profiles().map((p) => [p.name, p.withValue]))

  router.addLean('POST', '/v1/acquire', async (req, res) => {
    const f = await req.body()
    const dialog = required(f, 'dialog')
    const { profile, value } = profileAndValue(declared, required(f, 'profile'), f['value'], true)
    const limit = integerField(f, 'limit', 0, false) as number
    const expires = integerField(f, 'expires', 1, true)
    let r
    try {
      const decided = admission.acquire(dialog, profile, value, limit, seconds(expires))
      r = decided instanceof Promise ? await decided : decided
    } catch (err) {
      if (err instanceof DialogProfilesError && err.code === 'DP_ERR_NOT_READY') metrics.acquire(profile, false, 'not_ready')
      throw err
    }
    metrics.acquire(profile, r.admitted, r.reason)
    if (req.text) {
      replyText(res, r.admitted ? 200 : 429, `${r.admitted ? 'admitted' : 'refused'} ${r.size} ${r.limit}`)
      return
    }
    // JSON.stringify({ admitted, size, limit }) of a boolean and two integers, without the object
    replyJson(res, r.admitted ? 200 : 429, `{"admitted":${String(r.admitted)},"size":${r.size},"limit":${r.limit}}`)
  })

  router.addLean('POST', '/v1/dialogs/:dialog/profiles', async (req, res) => {
    const dialog = required(req.params, 'dialog')
    const f = await req.body()
    const { profile, value } = profileAndValue(declared, required(f, 'profile'), f['value'], true)
    const expires = integerField(f, 'expires', 1, true)
    admission.add(dialog, profile, value, seconds(expires))
    replyEmpty(res)
  })

  router.addLean('DELETE', '/v1/dialogs/:dialog/profiles/:profile', (req, res) => {
    const dialog = required(req.params, 'dialog')
    const { profile, value } = profileAndValue(declared, required(req.params, 'profile'), req.query.get('value'), false)
    admission.remove(dialog, profile, value)
    replyEmpty(res)
  })

  const endDialog = (req: LeanRequest, res: ApiResponse): void => {
    admission.end(required(req.params, 'dialog'))
    replyEmpty(res)
  }
  router.addLean('DELETE', '/v1/dialogs/:dialog', endDialog)
  // Kamailio's http_client turns an empty POST into a GET, so scripts send a form body (reason=bye): read and ignore it.
  router.addLean('POST', '/v1/dialogs/:dialog/end', async (req, res) => {
    const dialog = required(req.params, 'dialog')
    await req.body()
    admission.end(dialog)
    replyEmpty(res)
  })

  router.addLean('GET', '/v1/profiles/:profile/size', (req, res) => {
    const { profile, value } = profileAndValue(declared, required(req.params, 'profile'), req.query.get('value'), false)
    const size = node.store.size(profile, value)
    reply(req, res, 200, { profile, value: value ?? null, size }, () => String(size))
  })

  router.add('GET', '/v1/profiles/:profile/members', (req, res) => {
    const { profile, value } = profileAndValue(declared, required(req.params, 'profile'), req.query.get('value'), false)
    const members = node.store.members(profile, value)
    reply(req, res, 200, { profile, value: value ?? null, size: members.length, members: members.map(memberJson) },
      () => members.map((m) => `${m.dialog} ${m.value ?? '-'} ${m.node} ${m.expiresAt ?? '-'}`).join('\n'))
  })

  router.add('GET', '/v1/profiles', (req, res) => {
    const profiles = node.store.profiles().map((p) => ({
      name: p.name,
      withValue: p.withValue,
      size: node.store.size(p.name),
      values: p.withValue ? node.store.values(p.name) : []
    }))
    reply(req, res, 200, { profiles }, () => profiles.flatMap((p) => [`${p.name} ${p.size}`, ...p.values.map((v) => `${p.name} ${v.value} ${v.size}`)]).join('\n'))
  })

  router.add('GET', '/v1/cluster', (req, res) => {
    const c = node.cluster()
    reply(req, res, 200, { ...c, mode: admission.mode }, () => [
      `node ${c.nodeId} ${c.readyState}`,
      ...c.peers.map((p) => `peer ${p.node ?? '?'} ${p.url ?? '-'} ${p.connected ? 'connected' : 'disconnected'} ${p.synced ? 'synced' : 'not-synced'} ${p.liveness ?? '-'}`),
      `document ${c.document.stateBytes} bytes ${c.document.memberships} memberships`
    ].join('\n'))
  })

  router.add('GET', '/healthz', (req, res) => { reply(req, res, 200, { ok: true }, () => 'ok') }, { public: true })

  router.add('GET', '/readyz', (req, res) => {
    const { ready, state } = readiness(node)
    reply(req, res, ready ? 200 : 503, { ready, state }, () => ready ? 'ready' : `not ready (${state})`)
  }, { public: true })

  router.add('GET', '/metrics', async (_req, res) => {
    const m = await metrics.render()
    res.writeHead(200, { 'content-type': m.contentType, 'content-length': Buffer.byteLength(m.body) })
    res.end(m.body)
  })
}
