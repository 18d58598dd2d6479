/**
 * The live status page of a daemon: plain HTML, CSS and a small script (no build step), served
 * from memory, updated by the server-sent events of a {@link StatusFeed}.
 *
 * Routes (GET or HEAD): `/` the page, `/status.css`, `/status.js`, `/status/events` the event
 * stream, `/status.json` one snapshot. The handler answers these and leaves every other request
 * to the caller, so the daemon's HTTP server mounts it beside its API.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Router } from './router.js'
import type { StatusFeed } from './status-feed.js'

/** Handles a status-page request; returns false (and writes nothing) for any other path. */
export type StatusRoutes = (req: IncomingMessage, res: ServerResponse) => boolean

const HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>dialog-profiles</title>
<link rel="stylesheet" href="/status.css">
</head>
<body>
<header>
  <h1>dialog-profiles <span id="self"></span></h1>
  <span id="conn" class="badge suspect">connecting</span>
  <span id="ready" class="badge"></span>
  <span id="updated"></span>
</header>
<main>
<section>
  <h2>Admissions</h2>
  <p class="rates"><span><b id="admitted-rate">-</b> admitted/s</span> <span><b id="refused-rate">-</b> refused/s</span>
  <span class="muted">totals: <span id="admitted-total">-</span> admitted, <span id="refused-total">-</span> refused</span></p>
</section>
<section>
  <h2>Nodes</h2>
  <table id="nodes"><thead><tr><th>node</th><th>liveness</th><th>incarnation</th><th>connection</th><th>sync</th><th>last heard</th></tr></thead><tbody></tbody></table>
</section>
<section>
  <h2>Profiles</h2>
  <div id="profiles"></div>
</section>
</main>
<script src="/status.js"></script>
</body>
</html>
`

const CSS = `body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#1b1f24;background:#f6f7f9}
header{display:flex;gap:12px;align-items:center;padding:10px 20px;background:#1b1f24;color:#fff}
h1{font-size:18px;margin:0}h1 span{font-weight:normal;color:#aab}
h2{font-size:15px;margin:18px 0 6px}
main{padding:0 20px 20px}
table{border-collapse:collapse;background:#fff;min-width:480px}
th,td{padding:4px 10px;border-bottom:1px solid #e3e5e8;text-align:left}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.badge{padding:1px 8px;border-radius:9px;font-size:12px;background:#667}
.live{background:#1f883d;color:#fff}.suspect{background:#bf8700;color:#fff}.dead,.purged{background:#cf222e;color:#fff}
.profile{background:#fff;border:1px solid #e3e5e8;padding:8px 12px;margin-bottom:10px}
.profile .size{font-size:20px;font-weight:bold}
.profile h3{margin:0 0 6px}.profile table{display:inline-table;min-width:220px;margin-right:16px;vertical-align:top}
.rates>span{margin-right:18px}.rates b{font-size:20px}
.muted,#updated{color:#888;font-size:12px}
`

const JS = `'use strict'
const $ = (id) => document.getElementById(id)
const el = (tag, text, cls) => { const e = document.createElement(tag); if (text !== undefined) e.textContent = String(text); if (cls) e.className = cls; return e }
const ago = (ms) => ms === null ? 'never' : ms < 1000 ? 'just now' : (ms / 1000).toFixed(1) + ' s ago'
function render (s) {
  $('self').textContent = s.nodeId + ' #' + s.incarnation
  const r = $('ready'); r.textContent = s.ready ? 'ready' : 'syncing'; r.className = 'badge ' + (s.ready ? 'live' : 'suspect')
  $('updated').textContent = 'updated ' + new Date(s.at).toLocaleTimeString()
  const a = s.admissions
  $('admitted-rate').textContent = a ? a.admittedPerSec : '-'
  $('refused-rate').textContent = a ? a.refusedPerSec : '-'
  $('admitted-total').textContent = a ? a.admitted : '-'
  $('refused-total').textContent = a ? a.refused : '-'
  const body = document.querySelector('#nodes tbody'); body.replaceChildren()
  for (const n of s.nodes) {
    const tr = el('tr'); tr.dataset.node = n.node
    tr.append(el('td', n.node + (n.self ? ' (this node)' : '')))
    const l = el('td'); const b = el('span', n.liveness || 'unknown', 'badge liveness ' + (n.liveness || '')); l.append(b); tr.append(l)
    tr.append(el('td', n.incarnation === null ? '-' : n.incarnation, 'num'))
    tr.append(el('td', n.self ? '-' : n.connected ? 'connected' : 'down'))
    tr.append(el('td', n.synced ? 'synced' : 'not synced'))
    tr.append(el('td', ago(n.lastHeardMsAgo)))
    body.append(tr)
  }
  const ps = $('profiles'); ps.replaceChildren()
  for (const p of s.profiles) {
    const d = el('div', undefined, 'profile'); d.dataset.profile = p.name
    const h = el('h3'); h.append(el('span', p.name + ' '), el('span', p.size, 'size'))
    if (p.withValue) h.append(el('span', ' ' + p.values + (p.values === 1 ? ' value' : ' values'), 'muted values'))
    d.append(h)
    const t = el('table'); const hr = el('tr'); hr.append(el('th', 'node'), el('th', 'size', 'num')); t.append(hr)
    for (const [node, n] of Object.entries(p.byNode).sort()) { const tr = el('tr'); tr.dataset.node = node; tr.append(el('td', node), el('td', n, 'num')); t.append(tr) }
    d.append(t)
    if (p.withValue && p.top.length > 0) {
      const tt = el('table', undefined, 'top'); const th = el('tr'); th.append(el('th', 'top value'), el('th', 'size', 'num')); tt.append(th)
      for (const v of p.top) { const tr = el('tr'); tr.append(el('td', v.value), el('td', v.size, 'num')); tt.append(tr) }
      d.append(tt)
    }
    ps.append(d)
  }
}
const source = new EventSource('/status/events')
source.addEventListener('snapshot', (e) => { render(JSON.parse(e.data)); const c = $('conn'); c.textContent = 'live'; c.className = 'badge live' })
source.onerror = () => { const c = $('conn'); c.textContent = 'disconnected'; c.className = 'badge dead' }
`

const send = (req: IncomingMessage, res: ServerResponse, type: string, body: string): void => {
  res.writeHead(200, { 'content-type': `${type}; charset=utf-8`, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-cache' })
  res.end(req.method === 'HEAD' ? undefined : body)
}

/** One route of the status page: a GET (and HEAD) path and its handler. */
export interface StatusRoute {
  readonly path: string
  readonly handle: (req: IncomingMessage, res: ServerResponse) => void
}

/**
 * The status page's routes over `feed`, for a router that mounts routes one by one (the
 * daemon's `router.add('GET', route.path, ...)`).
 */
export const statusPageRoutes = (feed: StatusFeed): StatusRoute[] => [
  { path: '/', handle: (req, res) => { send(req, res, 'text/html', HTML) } },
  { path: '/status.css', handle: (req, res) => { send(req, res, 'text/css', CSS) } },
  { path: '/status.js', handle: (req, res) => { send(req, res, 'text/javascript', JS) } },
  { path: '/status.json', handle: (req, res) => { send(req, res, 'application/json', JSON.stringify(feed.snapshot())) } },
  { path: '/status/events', handle: (_req, res) => { feed.subscribe(res) } }
]

/**
 * The status page's request handler over `feed`, for a plain `node:http` server: it answers its
 * paths (GET and HEAD) and returns false for anything else.
 *
 * @example
 * ```ts
 * const routes = createStatusPage(new StatusFeed({ node }))
 * http.createServer((req, res) => { if (!routes(req, res)) api(req, res) })
 * ```
 */
export const createStatusPage = (feed: StatusFeed): StatusRoutes => {
  const byPath = new Map(statusPageRoutes(feed).map((r) => [r.path, r.handle]))
  return (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false
    const handle = byPath.get((req.url ?? '/').split('?', 1)[0] ?? '/')
    if (handle === undefined) return false
    handle(req, res)
    return true
  }
}

/**
 * Mounts the status page on the daemon's router: GET (and HEAD) of `/`, `/status.css`,
 * `/status.js`, `/status.json`, `/status/events`. The routes are not public: with an API token
 * configured they need it like the rest of the API (the page shows values, e.g. callers).
 */
export const mountStatusPage = (router: Router, feed: StatusFeed): void => {
  for (const r of statusPageRoutes(feed)) router.add('GET', r.path, (req, res) => { r.handle(req.raw, res) })
}
