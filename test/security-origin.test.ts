// Cross-site request forgery against the real CLI, with real HTTP requests carrying `Origin`
// (node:http: fetch may not set it): a page of another origin cannot change the service (403,
// the contract envelope, nothing changed, counted, logged once per origin), whatever the method
// or content type; requests without Origin (the old client, curl) and from the service's own
// page work as before; --allowed_origins admits a dashboard; reads and pre-flights keep
// `Access-Control-Allow-Origin: *`. The preview WebSocket checks Origin and the API token too.
import { request } from 'node:http'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { WebSocket } from 'ws'
import { PREVIEW_PROTOCOL, TOKEN_PROTOCOL_PREFIX } from '../src/preview/ws-protocol.js'
import { metricValue, scrape } from './helpers/metrics.js'
import { startCli, waitFor, type CliProcess } from './helpers/service.js'

const EVIL = 'http://evil.example'
const DASHBOARD = 'http://dash.example:8080'
const TOKEN = 'origin-test-token'

interface Answer {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: Record<string, unknown>
}

/** One HTTP request with exactly these headers (node:http sends Origin as given). */
function send(
  base: string,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { method, headers }, (res) => {
      let text = ''
      res.on('data', (b: Buffer) => {
        text += b.toString()
      })
      res.on('end', () => {
        let parsed: Record<string, unknown> = {}
        try {
          parsed = text === '' ? {} : (JSON.parse(text) as Record<string, unknown>)
        } catch {
          parsed = { raw: text }
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed })
      })
    })
    req.on('error', reject)
    req.end(body)
  })
}

const JSON_TYPE = { 'Content-Type': 'application/json' }

interface Ctx {
  cli: CliProcess
  tokenCli: CliProcess
}
const test = suite<Ctx>('security-origin', {} as Ctx)

test.before(async (ctx) => {
  // Nothing listens on the input: the HTTP side is what is under test.
  ctx.cli = await startCli('tcp://127.0.0.1:9', 'ORIGIN', [
    '--auto_start',
    '--allowed_origins',
    `${DASHBOARD}, https://other.example/`,
  ])
  ctx.tokenCli = await startCli('tcp://127.0.0.1:9', 'ORIGIN-TOKEN', ['--api_token', TOKEN])
})

test.after(async (ctx) => {
  await Promise.all([ctx.cli?.stop(), ctx.tokenCli?.stop()])
})

const roi = async (base: string): Promise<unknown> =>
  (await send(base, 'GET', '/roi_signal')).body.roi_signal

test('a page of another origin cannot change anything: 403, envelope, counted', async (ctx) => {
  const base = ctx.cli.base
  const set = await send(base, 'POST', '/roi_signal', JSON_TYPE, '[1, 2, 3, 4]')
  assert.is(set.body.state, 'ok', 'no Origin (the old client, curl): works as before')
  const before = await scrape(base)
  const refusedBefore = metricValue(before, 'psen_http_refused_total', {
    reason: 'origin',
    route: '/roi_signal',
  })
  const statusBefore = (await send(base, 'GET', '/status')).body.status
  // What a foreign page can send: a simple no-cors POST (text/plain, form) or a pre-flighted
  // JSON POST, to every mutating endpoint; 'null' is a sandboxed frame or a file: page; the
  // service's own host on another port is another origin.
  const attempts: Array<[string, string, Record<string, string>, string | undefined]> = [
    ['/stop', EVIL, { 'Content-Type': 'text/plain' }, ''],
    ['/start', EVIL, {}, undefined],
    ['/roi_signal', EVIL, JSON_TYPE, '[10, 20, 30, 40]'],
    ['/roi_signal', EVIL, { 'Content-Type': 'application/x-www-form-urlencoded' }, 'a=1'],
    ['/roi_background', 'null', JSON_TYPE, 'null'],
    ['/parameters', `http://127.0.0.1:${ctx.cli.restPort + 1}`, JSON_TYPE, '{"step_length": 30}'],
    ['/roi_signal', `http://127.0.0.1.evil.example:${ctx.cli.restPort}`, JSON_TYPE, 'null'],
  ]
  for (const [path, origin, headers, body] of attempts) {
    const r = await send(base, 'POST', path, { ...headers, Origin: origin }, body)
    assert.is(r.status, 403, `${origin} POST ${path}`)
    assert.is(r.body.state, 'error')
    assert.match(String(r.body.status), /another|may not change/)
    assert.match(String(r.body.status), /nothing was changed/)
  }
  // Other methods are mutating too.
  const put = await send(base, 'PUT', '/roi_signal', { Origin: EVIL, ...JSON_TYPE }, 'null')
  assert.is(put.status, 403)
  assert.equal(await roi(base), [1, 2, 3, 4], 'the ROI is unchanged')
  assert.is((await send(base, 'GET', '/status')).body.status, statusBefore, 'still processing')
  const params = (await send(base, 'GET', '/parameters')).body.parameters as { step_length: number }
  assert.is(params.step_length, 50)
  const after = await scrape(base)
  assert.is(
    metricValue(after, 'psen_http_refused_total', { reason: 'origin', route: '/roi_signal' }) -
      refusedBefore,
    4,
  )
  assert.ok(
    metricValue(after, 'psen_http_refused_total', { reason: 'origin', route: '/stop' }) >= 1,
  )
  // Logged once per origin, however often it came.
  const lines = ctx.cli
    .output()
    .split('\n')
    .filter((l) => l.includes('another web origin'))
  const origins = lines.map((l) => (JSON.parse(l) as { origin: string }).origin)
  assert.is(origins.filter((o) => o === EVIL).length, 1, ctx.cli.output())
  assert.ok(origins.includes('null'))
})

test('own page, allowed dashboards and no Origin may change; reads stay open', async (ctx) => {
  const base = ctx.cli.base
  const own = `http://127.0.0.1:${ctx.cli.restPort}`
  const cases: Array<[string, Record<string, string>]> = [
    ['own page', { Origin: own }],
    [
      'own page by name',
      { Origin: `http://localhost:${ctx.cli.restPort}`, Host: `localhost:${ctx.cli.restPort}` },
    ],
    ['dashboard', { Origin: DASHBOARD }],
    ['second dashboard', { Origin: 'https://other.example' }],
    ['no Origin', {}],
  ]
  let x = 0
  for (const [what, headers] of cases) {
    x++
    const r = await send(
      base,
      'POST',
      '/roi_signal',
      { ...JSON_TYPE, ...headers },
      JSON.stringify([x, 2, 3, 4]),
    )
    assert.is(r.status, 200, what)
    assert.is(r.body.state, 'ok', `${what}: ${JSON.stringify(r.body)}`)
    assert.equal(await roi(base), [x, 2, 3, 4], what)
  }
  // Reads and pre-flights answer every origin, with the wildcard the old dashboards read.
  const read = await send(base, 'GET', '/roi_signal', { Origin: EVIL })
  assert.is(read.status, 200)
  assert.is(read.headers['access-control-allow-origin'], '*')
  const pre = await send(base, 'OPTIONS', '/roi_signal', {
    Origin: EVIL,
    'Access-Control-Request-Method': 'POST',
    'Access-Control-Request-Headers': 'content-type',
  })
  assert.is(pre.status, 204)
  assert.is(pre.headers['access-control-allow-origin'], '*')
  const refused = await send(base, 'POST', '/stop', { Origin: EVIL })
  assert.is(refused.headers['access-control-allow-origin'], '*', 'a refusal is readable')
})

/** Opens a WebSocket; resolves with the protocol when open, or the refusal's HTTP status. */
function openWs(
  url: string,
  protocols: string[],
  origin?: string,
): Promise<{ open: true; protocol: string } | { open: false; status: number }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, protocols, origin ? { origin } : {})
    ws.on('open', () => {
      resolve({ open: true, protocol: ws.protocol })
      ws.close()
    })
    ws.on('unexpected-response', (_req, res) => {
      resolve({ open: false, status: res.statusCode ?? 0 })
      ws.terminate()
    })
    ws.on('error', () => resolve({ open: false, status: 0 }))
  })
}

test('the preview WebSocket checks Origin', async (ctx) => {
  const url = `ws://127.0.0.1:${ctx.cli.restPort}/preview/ws`
  assert.equal(await openWs(url, [], EVIL), { open: false, status: 403 })
  assert.equal(await openWs(url, [], `http://127.0.0.1:${ctx.cli.restPort}`), {
    open: true,
    protocol: '',
  })
  assert.equal(await openWs(url, [], DASHBOARD), { open: true, protocol: '' })
  assert.equal(await openWs(url, []), { open: true, protocol: '' })
  const m = await scrape(ctx.cli.base)
  assert.ok(metricValue(m, 'psen_http_refused_total', { reason: 'origin', route: 'other' }) >= 1)
})

test('with --api_token the preview WebSocket needs the token (as a subprotocol)', async (ctx) => {
  const port = ctx.tokenCli.restPort
  const url = `ws://127.0.0.1:${port}/preview/ws`
  const own = `http://127.0.0.1:${port}`
  const tokenProtocol = (t: string) => TOKEN_PROTOCOL_PREFIX + Buffer.from(t).toString('base64url')
  assert.equal(await openWs(url, [PREVIEW_PROTOCOL], own), { open: false, status: 401 })
  assert.equal(await openWs(url, [PREVIEW_PROTOCOL, tokenProtocol('wrong')], own), {
    open: false,
    status: 401,
  })
  // The service selects the preview protocol: the token is never echoed.
  assert.equal(await openWs(url, [PREVIEW_PROTOCOL, tokenProtocol(TOKEN)], own), {
    open: true,
    protocol: PREVIEW_PROTOCOL,
  })
  // The right token from a foreign page is still refused (the origin rule comes first).
  assert.equal(await openWs(url, [PREVIEW_PROTOCOL, tokenProtocol(TOKEN)], EVIL), {
    open: false,
    status: 403,
  })
  const info = await send(ctx.tokenCli.base, 'GET', '/preview/info')
  assert.is((info.body.preview as { token_required: boolean }).token_required, true)
  await waitFor(
    'the token refusals counted',
    async () =>
      metricValue(await scrape(ctx.tokenCli.base), 'psen_http_refused_total', {
        reason: 'token',
        route: 'other',
      }) === 2,
  )
})

test.run()
