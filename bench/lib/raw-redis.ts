/**
 * A minimal Redis (RESP2) client over one TCP connection, one command in flight: the Redis
 * side of the http-acquire scenario, built like {@link RawHttpConnection} (one write per
 * command, Nagle off, the answer parsed from the socket's latin1 text), as a proxy's C client
 * (hiredis) talks to Redis. Only the replies the scenario reads are supported: integers,
 * simple strings, errors, bulk strings and flat arrays of those.
 */
import { connect } from 'node:net'
import type { Socket } from 'node:net'

/** A RESP reply: a number, a string, null (nil bulk), or a flat array of those. */
export type RespReply = number | string | null | Array<number | string | null>

/** Parses one scalar reply at `at`; returns it and the index after it, or undefined when incomplete. */
const scalar = (buf: string, at: number): { value: number | string | null, next: number } | undefined => {
  const eol = buf.indexOf('\r\n', at)
  if (eol < 0) return undefined
  const kind = buf[at]
  const line = buf.slice(at + 1, eol)
  if (kind === ':') return { value: Number(line), next: eol + 2 }
  if (kind === '+') return { value: line, next: eol + 2 }
  if (kind === '-') throw new Error(`redis error: ${line}`)
  if (kind === '$') {
    const len = Number(line)
    if (len < 0) return { value: null, next: eol + 2 }
    if (buf.length < eol + 2 + len + 2) return undefined
    return { value: buf.slice(eol + 2, eol + 2 + len), next: eol + 2 + len + 2 }
  }
  throw new Error(`unsupported RESP reply type ${String(kind)}`)
}

/** One connection to a Redis server. */
export class RawRedisConnection {
  private buf = ''
  /** Why the connection is unusable (closed or failed); a request then rejects at once instead of waiting forever. */
  private dead: Error | null = null
  private waiting: { resolve: (r: RespReply) => void, reject: (e: Error) => void } | null = null

  private constructor (private readonly socket: Socket) {
    socket.setNoDelay(true)
    socket.setEncoding('latin1')
    socket.on('data', (s: string) => { this.buf += s; this.parse() })
    socket.on('error', (e) => { this.dead ??= e; this.waiting?.reject(e); this.waiting = null })
    socket.on('close', () => { this.dead ??= new Error('connection closed'); this.waiting?.reject(this.dead); this.waiting = null })
  }

  static async open (host: string, port: number): Promise<RawRedisConnection> {
    return await new Promise((resolve, reject) => {
      const s = connect({ host, port }, () => { s.off('error', reject); resolve(new RawRedisConnection(s)) })
      s.once('error', reject)
    })
  }

  private parse (): void {
    const w = this.waiting
    if (w === null) return
    let reply: RespReply
    let next: number
    try {
      if (this.buf[0] === '*') {
        const eol = this.buf.indexOf('\r\n')
        if (eol < 0) return
        const n = Number(this.buf.slice(1, eol))
        const items: Array<number | string | null> = []
        next = eol + 2
        for (let i = 0; i < n; i++) {
          const r = scalar(this.buf, next)
          if (r === undefined) return
          items.push(r.value)
          next = r.next
        }
        reply = items
      } else {
        const r = scalar(this.buf, 0)
        if (r === undefined) return
        reply = r.value
        next = r.next
      }
    } catch (err) {
      this.buf = ''
      this.waiting = null
      w.reject(err as Error)
      return
    }
    this.buf = this.buf.slice(next)
    this.waiting = null
    w.resolve(reply)
  }

  /** Sends one command (as a RESP array of bulk strings) and resolves with its reply. */
  async command (...args: ReadonlyArray<string | number>): Promise<RespReply> {
    return await new Promise((resolve, reject) => {
      if (this.dead !== null) { reject(this.dead); return }
      this.waiting = { resolve, reject }
      let out = `*${args.length}\r\n`
      for (const a of args) {
        const s = String(a)
        out += `$${s.length}\r\n${s}\r\n` // latin1: one byte per character
      }
      this.socket.write(out, 'latin1')
    })
  }

  close (): void { this.socket.destroy() }
}
