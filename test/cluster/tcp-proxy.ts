/**
 * A TCP proxy on loopback that a test controls: `cut()` drops every connection and refuses new
 * ones, `blackhole()` keeps connections open but silently discards bytes, `heal()` restores
 * forwarding, `delayMs` delays every chunk.
 */
import * as net from 'node:net'

export class TcpProxy {
  private readonly server: net.Server
  private readonly pairs = new Set<[net.Socket, net.Socket]>()
  private mode: 'open' | 'cut' | 'blackhole' = 'open'
  delayMs = 0
  port = 0

  /** `targetPort` may be set after `listen()` (connections before that fail). */
  constructor (public targetPort: number, private readonly targetHost = '127.0.0.1') {
    this.server = net.createServer((client) => { this.accept(client) })
  }

  async listen (): Promise<string> {
    await new Promise<void>((resolve) => { this.server.listen(0, '127.0.0.1', resolve) })
    this.port = (this.server.address() as net.AddressInfo).port
    return `ws://127.0.0.1:${this.port}`
  }

  private accept (client: net.Socket): void {
    if (this.mode === 'cut') { client.destroy(); return }
    const upstream = net.connect(this.targetPort, this.targetHost)
    const pair: [net.Socket, net.Socket] = [client, upstream]
    this.pairs.add(pair)
    const pipe = (from: net.Socket, to: net.Socket): void => {
      from.on('data', (chunk) => {
        if (this.mode !== 'open') return
        if (this.delayMs > 0) setTimeout(() => { if (!to.destroyed) to.write(chunk) }, this.delayMs)
        else to.write(chunk)
      })
    }
    pipe(client, upstream)
    pipe(upstream, client)
    const end = (): void => { client.destroy(); upstream.destroy(); this.pairs.delete(pair) }
    client.on('close', end)
    upstream.on('close', end)
    client.on('error', end)
    upstream.on('error', end)
  }

  /** Drops every connection and refuses new ones. */
  cut (): void {
    this.mode = 'cut'
    for (const [a, b] of this.pairs) { a.destroy(); b.destroy() }
    this.pairs.clear()
  }

  /** Keeps connections but discards every byte (a silent partition). */
  blackhole (): void { this.mode = 'blackhole' }

  heal (): void { this.mode = 'open' }

  async close (): Promise<void> {
    this.cut()
    await new Promise<void>((resolve) => { this.server.close(() => { resolve() }) })
  }
}
