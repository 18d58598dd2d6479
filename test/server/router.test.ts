/** The daemon's router on its own: static and parameterised paths, methods, decoding. */
import { describe, expect, it } from 'vitest'
import { DialogProfilesError } from '../../src/errors.js'
import { Router } from '../../src/server/router.js'

const noop = (): void => {}

describe('Router', () => {
  const r = new Router()
  r.add('POST', '/v1/acquire', noop)
  r.add('DELETE', '/v1/dialogs/:dialog', noop)
  r.add('DELETE', '/v1/dialogs/:dialog/profiles/:profile', noop)
  r.add('GET', '/', noop, { public: true })

  it('matches static and parameterised routes, decoding parameters', () => {
    expect(r.match('POST', '/v1/acquire')).toMatchObject({ kind: 'found', params: {} })
    expect(r.match('DELETE', '/v1/dialogs/a%40b%2Fc/profiles/total')).toMatchObject({ kind: 'found', params: { dialog: 'a@b/c', profile: 'total' } })
    expect(r.match('GET', '/')).toMatchObject({ kind: 'found', route: { public: true } })
  })

  it('tells a wrong method from an unknown path', () => {
    expect(r.match('GET', '/v1/acquire')).toEqual({ kind: 'method', allowed: ['POST'] })
    expect(r.match('GET', '/v1/dialogs/x')).toEqual({ kind: 'method', allowed: ['DELETE'] })
    expect(r.match('GET', '/v1/acquire/x')).toEqual({ kind: 'none' })
    expect(r.match('DELETE', '/v1/dialogs/')).toEqual({ kind: 'none' })
  })

  it('refuses a parameter that is not valid percent-encoding', () => {
    expect(() => r.match('DELETE', '/v1/dialogs/%zz')).toThrow(DialogProfilesError)
  })

  it('lets a later route replace an earlier one (another module mounts "/")', () => {
    const other = (): void => {}
    r.add('GET', '/', other)
    const m = r.match('GET', '/')
    expect(m.kind === 'found' && m.route.handler).toBe(other)
    expect(r.routes().filter((x) => x.path === '/')).toHaveLength(1)
  })
})
