/**
 * A minimal keep-alive HTTP/1.1 client over one TCP connection, one request in flight, for the
 * http-acquire scenario: it writes a request in one write and reads the status line and the
 * body by Content-Length, as a proxy's C client (libcurl in Kamailio's http_client) does,
 * without the Node http client's per-request machinery. Only what the daemon answers is
 * supported (Content-Length bodies, no chunked encoding).
 */
import { connect } from 'node:net'
import type { Socket } from 'node:net'

/** One keep-alive connection. */
export class RawHttpConnection {
  private buf = ''
  /** Why the connection is unusable (closed or failed); a request then rejects at once instead of waiting forever. */
  private dead: Error | null = null
  private waiting: { resolve: (r: { status: number, body: string }) => void, reject: (e: Error) => void } | null = null

  private constructor (private readonly socket: Socket, private readonly host: string) {
    socket.setNoDelay(true)
    socket.setEncoding('latin1')
    socket.on('data', (s: string) => { this.buf += s; this.parse() })
    socket.on('error', (e) => { this.dead ??= e; this.waiting?.reject(e); this.waiting = null })
    socket.on('close', () => { this.dead ??= new Error('connection closed'); this.waiting?.reject(this.dead); this.waiting = null })
  }

  static async open (host: string, port: number): Promise<RawHttpConnection> {
    return await new Promise((resolve, reject) => {
      const s = connect({ host, port }, () => { s.off('error', reject); resolve(new RawHttpConnection(s, `${host}:${port}`)) })
      s.once('error', reject)
    })
  }

  private parse (): void {
    const w = this.waiting
    if (w === null) return
    const head = this.buf.indexOf('\r\n\r\n')
    if (head < 0) return
    const m = /\r\ncontent-length: *(\d+)/i.exec(this.buf.slice(0, head))
    const len = m !== null ? Number(m[1]) : 0
    if (this.buf.length < head + 4 + len) return
    const status = Number(this.buf.slice(9, 12))
    const body = this.buf.slice(head + 4, head + 4 + len)
    this.buf = this.buf.slice(head + 4 + len)
    this.waiting = null
    w.resolve({ status, body })
  }

  /** Sends one request with a form body (or none) and resolves with the status and body. */
  async request (method: string, path: string, form?: string): Promise<{ status: number, body: string }> {
    return await new Promise((resolve, reject) => {
      if (this.dead !== null) { reject(this.dead); return }
      this.waiting = { resolve, reject }
      const body = form ?? ''
      this.socket.write(`${method} ${path} HTTP/1.1\r\nHost: ${this.host}\r\n` +
        (form !== undefined ? `Content-Type: application/x-www-form-urlencoded\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` : '') +
        `\r\n${body}`, 'latin1')
    })
  }

  close (): void { this.socket.destroy() }
}
