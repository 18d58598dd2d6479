/**
 * The HTTP API of one real daemon process: every route of the contract, JSON and form bodies,
 * text answers, bad input of every kind on every route (400/404/405 with the typed error and no
 * change), the body size limit, keep-alive, the maximum call duration, and the API token.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { eventually, form, http, json, size, startDaemon, stopAll } from './support.js'
import type { Answer, DaemonProcess } from './support.js'

let d: DaemonProcess
let base: string

beforeAll(async () => {
  d = await startDaemon(['--node-id', 'solo', '--profile', 'total', '--profile', 'caller:value', '--max-body-bytes', '1024', '--max-call-duration', '600'])
  base = d.http
})
afterAll(stopAll)

/** What must not change under bad input: every membership and the document's update counter. */
const snapshot = async (): Promise<string> => {
  const profiles = (await http('GET', `${base}/v1/profiles`)).json
  const members = [(await http('GET', `${base}/v1/profiles/total/members`)).json, (await http('GET', `${base}/v1/profiles/caller/members`)).json]
  const generation = (await http('GET', `${base}/v1/cluster`)).json.document.generation
  return JSON.stringify({ profiles, members, generation })
}

const expectError = (r: Answer, status: number, code: string): void => {
  expect({ status: r.status, code: r.json?.error?.code }).toEqual({ status, code })
  expect(typeof r.json.error.message).toBe('string')
}

describe('routes of the contract', () => {
  it('acquires with form and JSON bodies, refuses at the limit with 429, answers text when asked', async () => {
    const a = await form(`${base}/v1/acquire`, { dialog: 'r1', profile: 'caller', value: 'alice', limit: 2 })
    expect(a.status).toBe(200)
    expect(a.json).toEqual({ admitted: true, size: 1, limit: 2 })
    expect(a.headers['connection']).toBe('keep-alive')
    // no content type at all: read as a form
    const b = await http('POST', `${base}/v1/acquire`, 'dialog=r2&profile=caller&value=alice&limit=2')
    expect(b.json).toEqual({ admitted: true, size: 2, limit: 2 })
    const c = await json(`${base}/v1/acquire`, { dialog: 'r3', profile: 'caller', value: 'alice', limit: 2 })
    expect(c.status).toBe(429)
    expect(c.json).toEqual({ admitted: false, size: 2, limit: 2 })
    const t = await http('POST', `${base}/v1/acquire?format=text`, 'dialog=r3&profile=caller&value=alice&limit=2')
    expect({ status: t.status, text: t.text }).toEqual({ status: 429, text: 'refused 2 2\n' })
    expect((await http('GET', `${base}/v1/profiles/caller/size?value=alice`)).json).toEqual({ profile: 'caller', value: 'alice', size: 2 })
    expect((await http('GET', `${base}/v1/profiles/caller/size?value=alice`, undefined, { accept: 'text/plain' })).text).toBe('2\n')
  })

  it('adds, removes and ends dialogs with 204, also when absent', async () => {
    expect((await form(`${base}/v1/dialogs/r1/profiles`, { profile: 'total' })).status).toBe(204)
    expect((await json(`${base}/v1/dialogs/r9/profiles`, { profile: 'total', expires: 60 })).status).toBe(204)
    expect(await size(base, 'total')).toBe(2)
    const m = (await http('GET', `${base}/v1/profiles/total/members`)).json
    expect(m.members.map((x: { dialog: string }) => x.dialog).sort()).toEqual(['r1', 'r9'])
    expect(m.members[0].node).toBe('solo')
    const all = (await http('GET', `${base}/v1/profiles`)).json
    expect(all.profiles).toEqual([
      { name: 'total', withValue: false, size: 2, values: [] },
      { name: 'caller', withValue: true, size: 2, values: [{ value: 'alice', size: 2 }] }
    ])
    expect((await http('DELETE', `${base}/v1/dialogs/r9/profiles/total`)).status).toBe(204)
    expect((await http('DELETE', `${base}/v1/dialogs/r9/profiles/total`)).status).toBe(204)
    expect((await http('DELETE', `${base}/v1/dialogs/r2/profiles/caller?value=alice`)).status).toBe(204)
    expect(await size(base, 'caller', 'alice')).toBe(1)
    expect((await form(`${base}/v1/dialogs/r1/end`, { reason: 'bye' })).status).toBe(204)
    expect((await http('POST', `${base}/v1/dialogs/absent/end`)).status).toBe(204)
    expect((await http('DELETE', `${base}/v1/dialogs/absent`)).status).toBe(204)
    expect(await size(base, 'caller')).toBe(0)
    expect(await size(base, 'total')).toBe(0)
  })

  it('answers health, readiness, cluster and metrics', async () => {
    expect((await http('GET', `${base}/healthz`)).status).toBe(200)
    expect((await http('GET', `${base}/readyz`)).json).toEqual({ ready: true, state: 'ready' })
    const c = (await http('GET', `${base}/v1/cluster`)).json
    expect(c.nodeId).toBe('solo')
    expect(c.mode).toBe('eventual')
    const m = await http('GET', `${base}/metrics`)
    expect(m.status).toBe(200)
    for (const name of ['dialog_profiles_acquires_total{profile="caller",result="refused",reason="limit"} 2', 'dialog_profiles_profile_size{profile="total",value=""} 0', 'dialog_profiles_ready 1', 'dialog_profiles_peers_up 0', 'dialog_profiles_document_bytes', 'dialog_profiles_process_resident_memory_bytes']) {
      expect(m.text).toContain(name)
    }
  })

  it('caps every membership at --max-call-duration', async () => {
    const before = Date.now()
    expect((await form(`${base}/v1/acquire`, { dialog: 'long', profile: 'total', limit: 10, expires: 86_400 })).status).toBe(200)
    expect((await form(`${base}/v1/dialogs/long2/profiles`, { profile: 'total' })).status).toBe(204)
    const m = (await http('GET', `${base}/v1/profiles/total/members`)).json
    for (const x of m.members) expect(x.expiresAt).toBeLessThanOrEqual(Date.now() + 600_000)
    for (const x of m.members) expect(x.expiresAt).toBeGreaterThanOrEqual(before + 600_000)
    await http('DELETE', `${base}/v1/dialogs/long`)
    await http('DELETE', `${base}/v1/dialogs/long2`)
  })
})

describe('bad input changes nothing', () => {
  const long = 'x'.repeat(300)
  const cases: Array<[string, () => Promise<Answer>, number, string]> = [
    ['acquire: no dialog', async () => await form(`${base}/v1/acquire`, { profile: 'total', limit: 5 }), 400, 'DP_ERR_INVALID_ARGUMENT'],
    ['acquire: no profile', async () => await form(`${base}/v1/acquire`, { dialog: 'b1', limit: 5 }), 400, 'DP_ERR_INVALID_ARGUMENT'],
    ['acquire: no limit', async () => await form(`${base}/v1/acquire`, { dialog: 'b1', profile: 'total' }), 400, 'DP_ERR_INVALID_ARGUMENT'],
    ['acquire: non-numeric limit', async () => await form(`${base}/v1/acquire`, { dialog: 'b1', profile: 'total', limit: 'ten' }), 400, 'DP_ERR_INVALID_ARGUMENT'],
    ['acquire: negative limit', async () => await form(`${base}/v1/acquire`, { dialog: 'b1', profile: 'total', limit: -1 }), 400, 'DP_ERR_INVALID_ARGUMENT'],
    ['acquire: fractional limit', async () => await json(`${base}/v1/acquire`, { dialog: 'b1', profile: 'total', limit: 1.5 }), 400, 'DP_ERR_INVALID_ARGUMENT'],
    ['acquire: bad expires', async () => await form(`${base}/v1/acquire`, { dialog: 'b1', profile: 'total', limit: 5, expires: 'soon' }), 400, 'DP_ERR_INVALID_ARGUMENT'],
    ['acquire: zero expires', async () => await form(`${base}/v1/acquire`, { dialog: 'b1', profile: 'total', limit: 5, expires: 0 }), 400, 'DP_ERR_INVALID_ARGUMENT'],
    ['acquire: value on a plain profile', async () => await form(`${base}/v1/acquire`, { dialog: 'b1', profile: 'total', value: 'x', limit: 5 }), 400, 'DP_ERR_VALUE_MISMATCH'],
    ['acquire: no value on a valued profile', async () => await form(`${base}/v1/acquire`, { dialog: 'b1', profile: 'caller', limit: 5 }), 400, 'DP_ERR_VALUE_MISMATCH'],
    ['acquire: undeclared profile', async () => await form(`${base}/v1/acquire`, { dialog: 'b1', profile: 'nope', limit: 5 }), 404, 'DP_ERR_UNKNOWN_PROFILE'],
    ['acquire: oversize dialog id', async () => await form(`${base}/v1/acquire`, { dialog: long, profile: 'total', limit: 5 }), 400, 'DP_ERR_INVALID_ARGUMENT'],
    ['acquire: malformed JSON', async () => await http('POST', `${base}/v1/acquire`, '{"dialog":', { 'content-type': 'application/json' }), 400, 'DP_ERR_BAD_REQUEST'],
    ['acquire: JSON array', async () => await http('POST', `${base}/v1/acquire`, '[1]', { 'content-type': 'application/json' }), 400, 'DP_ERR_BAD_REQUEST'],
    ['acquire: nested JSON field', async () => await json(`${base}/v1/acquire`, { dialog: { a: 1 }, profile: 'total', limit: 5 }), 400, 'DP_ERR_BAD_REQUEST'],
    ['acquire: unsupported content type', async () => await http('POST', `${base}/v1/acquire`, '<x/>', { 'content-type': 'text/xml' }), 400, 'DP_ERR_BAD_REQUEST'],
    ['acquire: field given twice', async () => await http('POST', `${base}/v1/acquire`, 'dialog=b1&dialog=b2&profile=total&limit=5'), 400, 'DP_ERR_BAD_REQUEST'],
    ['acquire: oversize body', async () => await http('POST', `${base}/v1/acquire`, `dialog=b1&profile=total&limit=5&pad=${'p'.repeat(2000)}`), 400, 'DP_ERR_BAD_REQUEST'],
    ['add: no profile', async () => await form(`${base}/v1/dialogs/b1/profiles`, { value: 'x' }), 400, 'DP_ERR_INVALID_ARGUMENT'],
    ['add: undeclared profile', async () => await form(`${base}/v1/dialogs/b1/profiles`, { profile: 'nope' }), 404, 'DP_ERR_UNKNOWN_PROFILE'],
    ['add: value on a plain profile', async () => await form(`${base}/v1/dialogs/b1/profiles`, { profile: 'total', value: 'x' }), 400, 'DP_ERR_VALUE_MISMATCH'],
    ['add: no value on a valued profile', async () => await form(`${base}/v1/dialogs/b1/profiles`, { profile: 'caller' }), 400, 'DP_ERR_VALUE_MISMATCH'],
    ['add: bad expires', async () => await form(`${base}/v1/dialogs/b1/profiles`, { profile: 'total', expires: '-5' }), 400, 'DP_ERR_INVALID_ARGUMENT'],
    ['add: malformed JSON', async () => await http('POST', `${base}/v1/dialogs/b1/profiles`, '{', { 'content-type': 'application/json' }), 400, 'DP_ERR_BAD_REQUEST'],
    ['add: oversize dialog id', async () => await form(`${base}/v1/dialogs/${long}/profiles`, { profile: 'total' }), 400, 'DP_ERR_INVALID_ARGUMENT'],
    ['add: bad percent-encoding', async () => await form(`${base}/v1/dialogs/%zz/profiles`, { profile: 'total' }), 400, 'DP_ERR_BAD_REQUEST'],
    ['remove: undeclared profile', async () => await http('DELETE', `${base}/v1/dialogs/b1/profiles/nope`), 404, 'DP_ERR_UNKNOWN_PROFILE'],
    ['remove: value on a plain profile', async () => await http('DELETE', `${base}/v1/dialogs/b1/profiles/total?value=x`), 400, 'DP_ERR_VALUE_MISMATCH'],
    ['remove: oversize dialog id', async () => await http('DELETE', `${base}/v1/dialogs/${long}/profiles/total`), 400, 'DP_ERR_INVALID_ARGUMENT'],
    ['end (DELETE): bad percent-encoding', async () => await http('DELETE', `${base}/v1/dialogs/%E0%A4%A`), 400, 'DP_ERR_BAD_REQUEST'],
    ['end (DELETE): oversize dialog id', async () => await http('DELETE', `${base}/v1/dialogs/${long}`), 400, 'DP_ERR_INVALID_ARGUMENT'],
    ['end (POST): malformed JSON', async () => await http('POST', `${base}/v1/dialogs/kept/end`, '{', { 'content-type': 'application/json' }), 400, 'DP_ERR_BAD_REQUEST'],
    ['end (POST): oversize body', async () => await http('POST', `${base}/v1/dialogs/kept/end`, `reason=${'p'.repeat(2000)}`), 400, 'DP_ERR_BAD_REQUEST'],
    ['size: undeclared profile', async () => await http('GET', `${base}/v1/profiles/nope/size`), 404, 'DP_ERR_UNKNOWN_PROFILE'],
    ['size: value on a plain profile', async () => await http('GET', `${base}/v1/profiles/total/size?value=x`), 400, 'DP_ERR_VALUE_MISMATCH'],
    ['members: undeclared profile', async () => await http('GET', `${base}/v1/profiles/nope/members`), 404, 'DP_ERR_UNKNOWN_PROFILE'],
    ['members: value on a plain profile', async () => await http('GET', `${base}/v1/profiles/total/members?value=x`), 400, 'DP_ERR_VALUE_MISMATCH'],
    ['unknown route', async () => await http('GET', `${base}/v1/nothing`), 404, 'DP_ERR_NOT_FOUND'],
    ['wrong method on acquire', async () => await http('GET', `${base}/v1/acquire`), 405, 'DP_ERR_METHOD_NOT_ALLOWED'],
    ['wrong method on profiles', async () => await http('POST', `${base}/v1/profiles`, 'x=1'), 405, 'DP_ERR_METHOD_NOT_ALLOWED'],
    ['wrong method on cluster', async () => await http('DELETE', `${base}/v1/cluster`), 405, 'DP_ERR_METHOD_NOT_ALLOWED']
  ]

  it.each(cases)('%s', async (_name, send, status, code) => {
    // a membership that must survive every bad request
    await form(`${base}/v1/dialogs/kept/profiles`, { profile: 'caller', value: 'bob' })
    const before = await snapshot()
    const r = await send()
    expectError(r, status, code)
    expect(await snapshot()).toBe(before)
  })

  it('answers errors as text when asked', async () => {
    const r = await http('GET', `${base}/v1/profiles/nope/size?format=text`)
    expect(r.status).toBe(404)
    expect(r.text).toMatch(/^DP_ERR_UNKNOWN_PROFILE: /)
  })

  it('keeps serving on the same keep-alive connection after an oversize body was refused', async () => {
    const r = await http('POST', `${base}/v1/acquire`, 'x'.repeat(5000))
    expect(r.status).toBe(400)
    expect((await http('GET', `${base}/healthz`)).status).toBe(200)
  })
})

describe('strict mode', () => {
  let st: DaemonProcess
  beforeAll(async () => {
    st = await startDaemon(['--node-id', 'strict', '--mode', 'strict', '--profile', 'total', '--profile', 'caller:value'])
  })

  it('never admits past the limit, takes rights back on the end, and refuses plain adds to strict profiles', async () => {
    const results = []
    for (const id of ['s1', 's2', 's3']) results.push(await form(`${st.http}/v1/acquire`, { dialog: id, profile: 'caller', value: 'alice', limit: 2 }))
    expect(results.map((r) => r.status)).toEqual([200, 200, 429])
    expect(results[2]?.json).toEqual({ admitted: false, size: 2, limit: 2 })
    expect((await http('POST', `${st.http}/v1/dialogs/s1/end`, 'reason=bye')).status).toBe(204)
    expect((await form(`${st.http}/v1/acquire`, { dialog: 's3', profile: 'caller', value: 'alice', limit: 2 })).status).toBe(200)
    expect((await http('DELETE', `${st.http}/v1/dialogs/s2/profiles/caller?value=alice`)).status).toBe(204)
    expect(await size(st.http, 'caller', 'alice')).toBe(1)
    const add = await form(`${st.http}/v1/dialogs/s9/profiles`, { profile: 'total' })
    expectError(add, 400, 'DP_ERR_INVALID_ARGUMENT')
    expect(await size(st.http, 'total')).toBe(0)
    const m = await http('GET', `${st.http}/metrics`)
    expect(m.text).toContain('dialog_profiles_acquires_total{profile="caller",result="refused",reason="no_rights"} 1')
    expect((await http('GET', `${st.http}/v1/cluster`)).json.mode).toBe('strict')
  })
})

describe('API token', () => {
  const TOKEN = 'token-0123456789abcdef'
  let t: DaemonProcess
  let tbase: string
  beforeAll(async () => {
    // A non-loopback bind is allowed because a token is configured.
    t = await startDaemon(['--node-id', 'tok', '--profile', 'total', '--api-token', TOKEN, '--http', '0.0.0.0:0'])
    tbase = t.http.replace('0.0.0.0', '127.0.0.1')
  })

  it('refuses requests without the token or with a wrong one, changing nothing', async () => {
    for (const headers of [{}, { authorization: 'Bearer wrong-token-0123456789' }, { authorization: `Basic ${TOKEN}` }, { authorization: `Bearer ${TOKEN}x` }]) {
      const r = await http('POST', `${tbase}/v1/acquire`, 'dialog=a&profile=total&limit=5', headers)
      expectError(r, 401, 'DP_ERR_UNAUTHORIZED')
      expectError(await http('GET', `${tbase}/metrics`, undefined, headers), 401, 'DP_ERR_UNAUTHORIZED')
    }
    const auth = { authorization: `Bearer ${TOKEN}` }
    expect((await http('GET', `${tbase}/v1/profiles/total/size`, undefined, auth)).json.size).toBe(0)
    expect((await http('POST', `${tbase}/v1/acquire`, 'dialog=a&profile=total&limit=5', auth)).status).toBe(200)
    expect((await http('GET', `${tbase}/v1/profiles/total/size`, undefined, auth)).json.size).toBe(1)
    expect((await http('GET', `${tbase}/metrics`, undefined, auth)).status).toBe(200)
  })

  it('leaves health probes open', async () => {
    expect((await http('GET', `${tbase}/healthz`)).status).toBe(200)
    await eventually(async () => (await http('GET', `${tbase}/readyz`)).status === 200, 5000, 'ready')
  })

  it('never logs the token or the secret', () => {
    const all = JSON.stringify(t.logs) + t.stderr()
    expect(all).not.toContain(TOKEN)
    expect(all).not.toContain('e2e-secret')
  })
})
