/**
 * Redis baselines over `ioredis`, against the harness's own loopback redis-server:
 * - {@link RedisAdmission}: check-and-add in one Lua script (SCARD, then SADD when below the
 *   limit), the Redis way to do an atomic admission decision;
 * - {@link JambonzCounters}: how SIP stacks share call counts today (jambonz, FreeSWITCH
 *   mod_hiredis, OpenSIPS `/s`): an INCR/DECR counter and a SADD/SREM set per profile, updated
 *   by each proxy at call start and end. Nothing cleans up after a client that dies mid-call.
 */
import { Redis } from 'ioredis'
import type { RedisServer } from '../lib/redis-server.js'

/** Opens a client to the harness's server; fails fast instead of queueing forever. */
export const connectRedis = async (server: RedisServer): Promise<Redis> => {
  const client = new Redis({
    host: server.host,
    port: server.port,
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    connectTimeout: 5000,
    retryStrategy: () => null
  })
  await client.connect()
  return client
}

/** The check-and-add script: KEYS[1] the profile's set, ARGV[1] the dialog, ARGV[2] the limit; answers {admitted 0|1, size}. */
export const ACQUIRE_LUA = `
local n = redis.call('SCARD', KEYS[1])
if n >= tonumber(ARGV[2]) then return {0, n} end
redis.call('SADD', KEYS[1], ARGV[1])
return {1, n + 1}
`

/** Atomic check-and-add of a dialog into a profile set, in one round trip. */
export class RedisAdmission {
  private sha = ''
  constructor (private readonly client: Redis, readonly key: string) {}

  /** Loads the script and empties the profile. */
  async init (): Promise<void> {
    this.sha = String(await this.client.script('LOAD', ACQUIRE_LUA))
    await this.client.del(this.key)
  }

  /** One admission decision: admitted when the set holds fewer than `limit` dialogs. */
  async acquire (dialog: string, limit: number): Promise<{ admitted: boolean, size: number }> {
    const r = await this.client.evalsha(this.sha, 1, this.key, dialog, limit) as [number, number]
    return { admitted: r[0] === 1, size: r[1] }
  }

  async end (dialog: string): Promise<void> { await this.client.srem(this.key, dialog) }
  async size (): Promise<number> { return await this.client.scard(this.key) }
  async members (): Promise<string[]> { return await this.client.smembers(this.key) }
}

/** A profile as jambonz-style scripts keep it: a counter and a set of call ids. */
export class JambonzCounters {
  constructor (private readonly client: Redis, readonly profile: string) {}

  get counterKey (): string { return `calls:${this.profile}:count` }
  get setKey (): string { return `calls:${this.profile}:set` }

  async reset (): Promise<void> { await this.client.del(this.counterKey, this.setKey) }

  /** Call start: INCR the counter and SADD the call id, in one round trip (MULTI). */
  async start (dialog: string): Promise<void> {
    await this.client.multi().incr(this.counterKey).sadd(this.setKey, dialog).exec()
  }

  /** Call end: DECR and SREM (a double BYE decrements twice: nothing guards it). */
  async end (dialog: string): Promise<void> {
    await this.client.multi().decr(this.counterKey).srem(this.setKey, dialog).exec()
  }

  async count (): Promise<number> { return Number(await this.client.get(this.counterKey) ?? 0) }
  async setSize (): Promise<number> { return await this.client.scard(this.setKey) }
}
