// Every endpoint over raw HTTP against the real CLI: envelope, status codes, CORS and
// pre-flight, ROI validation order and messages, non-JSON bodies, limits, token, no internals.
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { api, startCli, type CliProcess } from './helpers/service.js'

interface Ctx {
  cli: CliProcess
}
const test = suite<Ctx>('api-http')

const JSON_HEADERS = { 'Content-Type': 'application/json' }

test.before(async (ctx) => {
  // Nothing listens on the input: the API must work all the same.
  ctx.cli = await startCli('tcp://127.0.0.1:9', 'API-TEST')
})

test.after(async (ctx) => {
  const code = await ctx.cli?.stop()
  assert.is(code, 0, ctx.cli?.output().slice(-2000))
})

test('status, statistics and ROIs before the first start', async ({ cli }) => {
  const s = await api(cli.base, 'GET', '/status')
  assert.is(s.status, 200)
  assert.is(s.body.state, 'ok')
  assert.is(s.body.status, 'stopped')
  assert.is(s.headers.get('access-control-allow-origin'), '*')
  assert.match(s.headers.get('content-type') ?? '', 'application/json')
  const st = await api(cli.base, 'GET', '/statistics')
  assert.equal(st.body, { state: 'ok', status: 'stopped', statistics: {} })
  for (const kind of ['roi_signal', 'roi_background']) {
    const r = await api(cli.base, 'GET', `/${kind}`)
    assert.equal(r.body, { state: 'ok', status: 'stopped', [kind]: [] })
  }
})

// An empty body is what requests sends for json=None.
test('setting ROIs: lists, null, [] and an empty body', async ({ cli }) => {
  for (const kind of ['roi_signal', 'roi_background']) {
    const body = '[1, 20, 3, 40]'
    let r = await api(cli.base, 'POST', `/${kind}`, { headers: JSON_HEADERS, body })
    assert.equal(r.body, { state: 'ok', status: 'stopped', [kind]: [1, 20, 3, 40] })
    assert.equal((await api(cli.base, 'GET', `/${kind}`)).body[kind], [1, 20, 3, 40])
    r = await api(cli.base, 'POST', `/${kind}`, { headers: JSON_HEADERS, body: 'null' })
    assert.equal(r.body[kind], [])
    await api(cli.base, 'POST', `/${kind}`, { headers: JSON_HEADERS, body: '[0,1,0,1]' })
    r = await api(cli.base, 'POST', `/${kind}`, { headers: JSON_HEADERS, body: '[]' })
    assert.equal(r.body[kind], [])
    await api(cli.base, 'POST', `/${kind}`, { headers: JSON_HEADERS, body: '[0,1,0,1]' })
    r = await api(cli.base, 'POST', `/${kind}`)
    assert.is(r.body.state, 'ok')
    assert.equal(r.body[kind], [])
  }
})

test('ROI errors: order, message prefixes, HTTP 200, ROI unchanged', async ({ cli }) => {
  const good = [2, 3, 4, 5]
  const cases: Array<[string, string]> = [
    ['{"a": 1}', 'ROI must be an instance of a list'],
    ['"0,1,0,1"', 'ROI must be an instance of a list'],
    ['5', 'ROI must be an instance of a list'],
    ['false', 'ROI must be an instance of a list'],
    ['[1, 2, 3]', 'ROI must have exactly 4 elements'],
    ['[1, 2, 3, 4, 5]', 'ROI must have exactly 4 elements'],
    ['[-1, -1, -1, -1]', 'ROI offsets'],
    ['[0, 1, -1, 1]', 'ROI offsets'],
    ['[0, 0, 0, 1]', 'ROI sizes'],
    ['[0, 1, 0, 0]', 'ROI sizes'],
    ['[0.5, 1, 0, 1]', 'ROI values must be integers'],
    ['[0, "1", 0, 1]', 'ROI values must be integers'],
    ['[true, 1, 0, 1]', 'ROI values must be integers'],
  ]
  for (const kind of ['roi_signal', 'roi_background']) {
    await api(cli.base, 'POST', `/${kind}`, { headers: JSON_HEADERS, body: JSON.stringify(good) })
    for (const [body, prefix] of cases) {
      const r = await api(cli.base, 'POST', `/${kind}`, { headers: JSON_HEADERS, body })
      assert.is(r.status, 200, body)
      assert.is(r.body.state, 'error', body)
      assert.ok(String(r.body.status).startsWith(prefix), `${body}: ${r.body.status}`)
      assert.equal(Object.keys(r.body).sort(), ['state', 'status'])
      const now = (await api(cli.base, 'GET', `/${kind}`)).body[kind]
      assert.equal(now, good, `${body} left the ROI`)
    }
  }
})

// The old service cleared the ROI instead.
test('non-JSON bodies are errors and leave the ROI unchanged', async ({ cli }) => {
  await api(cli.base, 'POST', '/roi_signal', { headers: JSON_HEADERS, body: '[9, 9, 9, 9]' })
  const bad: Array<[Record<string, string>, string]> = [
    [{ 'Content-Type': 'text/plain' }, '[1, 2, 3, 4]'],
    [{ 'Content-Type': 'application/x-www-form-urlencoded' }, 'roi=1'],
    [JSON_HEADERS, '[1, 2, 3,'],
    [JSON_HEADERS, 'nul'],
    [{ 'Content-Type': 'text/plain' }, 'null'],
  ]
  for (const [headers, body] of bad) {
    const r = await api(cli.base, 'POST', '/roi_signal', { headers, body })
    assert.is(r.body.state, 'error', body)
    assert.match(String(r.body.status), /JSON/)
    assert.equal((await api(cli.base, 'GET', '/roi_signal')).body.roi_signal, [9, 9, 9, 9])
  }
  const huge = `[${'1,'.repeat(100_000)}1]`
  const big = await api(cli.base, 'POST', '/roi_signal', { headers: JSON_HEADERS, body: huge })
  assert.is(big.status, 413)
  assert.is(big.body.state, 'error')
  assert.equal((await api(cli.base, 'GET', '/roi_signal')).body.roi_signal, [9, 9, 9, 9])
})

test('start and stop are idempotent', async ({ cli }) => {
  const steps = [
    ['/start', 'processing'],
    ['/start', 'processing'],
    ['/stop', 'stopped'],
    ['/stop', 'stopped'],
    ['/start', 'processing'],
  ] as const
  for (const [path, want] of steps) {
    const r = await api(cli.base, 'POST', path)
    assert.equal(r.body, { state: 'ok', status: want }, path)
    assert.is((await api(cli.base, 'GET', '/status')).body.status, want)
  }
  const st = await api(cli.base, 'GET', '/statistics')
  const s = st.body.statistics as Record<string, unknown>
  const old = [
    'processing_start_time',
    'last_sent_pulse_id',
    'last_sent_time',
    'n_processed_images',
  ]
  for (const f of old) {
    assert.ok(f in s, f)
  }
  assert.is(s.n_processed_images, 0)
  assert.is(s.last_sent_pulse_id, null)
  assert.is((await api(cli.base, 'GET', '/ready')).status, 503, 'not ready without input')
  assert.is((await api(cli.base, 'POST', '/stop')).body.status, 'stopped')
})

test('CORS pre-flight is answered; unknown paths and methods keep the envelope', async (ctx) => {
  const { cli } = ctx
  const r = await fetch(`${cli.base}/roi_signal`, {
    method: 'OPTIONS',
    headers: {
      Origin: 'http://elsewhere.example',
      'Access-Control-Request-Method': 'POST',
      'Access-Control-Request-Headers': 'Content-Type',
    },
  })
  assert.ok(r.status === 204 || r.status === 200, String(r.status))
  assert.is(r.headers.get('access-control-allow-origin'), '*')
  assert.match(r.headers.get('access-control-allow-methods') ?? '', 'POST')
  assert.match((r.headers.get('access-control-allow-headers') ?? '').toLowerCase(), 'content-type')
  const nf = await api(cli.base, 'GET', '/nothing/here')
  assert.is(nf.status, 404)
  assert.is(nf.body.state, 'error')
  const na = await api(cli.base, 'GET', '/start')
  assert.is(na.status, 405)
  assert.is(na.body.state, 'error')
  assert.match(na.headers.get('allow') ?? '', 'POST')
})

test('parameters: defaults, partial updates, errors in the envelope', async ({ cli }) => {
  const g = await api(cli.base, 'GET', '/parameters')
  assert.is(g.body.state, 'ok')
  const p = g.body.parameters as Record<string, unknown>
  assert.is(p.step_length, 50)
  assert.is(p.refinement_step, 1)
  assert.ok(Array.isArray(g.body.edge_status), 'edge_status table')
  const u = await api(cli.base, 'POST', '/parameters', {
    headers: JSON_HEADERS,
    body: '{"step_length": 40}',
  })
  assert.is(u.body.state, 'ok')
  assert.is((u.body.parameters as Record<string, unknown>).step_length, 40)
  assert.is((u.body.parameters as Record<string, unknown>).edge_type, 'falling')
  for (const body of ['{"step_length": "x"}', '{"no_such": 1}', '[1]', '{"refinement_step": 0}']) {
    const e = await api(cli.base, 'POST', '/parameters', { headers: JSON_HEADERS, body })
    assert.is(e.status, 200)
    assert.is(e.body.state, 'error', body)
    assert.match(String(e.body.status), /^Invalid parameters/)
  }
  const after = await api(cli.base, 'GET', '/parameters')
  assert.is((after.body.parameters as Record<string, unknown>).step_length, 40)
})

test('history, health, ready and metrics', async ({ cli }) => {
  const h = await api(cli.base, 'GET', '/history')
  const hist = h.body.history as Array<Record<string, unknown>>
  assert.ok(hist.length > 0)
  assert.is(hist[0]!.endpoint, 'POST /parameters')
  assert.is(hist[0]!.client, '127.0.0.1')
  assert.ok('old' in hist[0]! && 'new' in hist[0]! && 'time' in hist[0]!)
  const health = await api(cli.base, 'GET', '/health')
  assert.is(health.status, 200)
  assert.is(health.body.state, 'ok')
  const m = await fetch(`${cli.base}/metrics`)
  assert.is(m.status, 200)
  assert.match(m.headers.get('content-type') ?? '', 'text/plain')
  const text = await m.text()
  for (const name of [
    'psen_frames_received_total',
    'psen_frames_dropped_total',
    'psen_stage_seconds',
    'psen_roi_size_pixels',
    'process_resident_memory_bytes',
  ]) {
    assert.match(text, name)
  }
})

test('error answers never carry stack traces or paths', async ({ cli }) => {
  const bad = [
    ['POST', '/roi_signal', '{'],
    ['POST', '/parameters', '{"a":'],
  ] as const
  for (const [method, path, body] of bad) {
    const r = await fetch(cli.base + path, { method, headers: JSON_HEADERS, body })
    const text = await r.text()
    assert.not.match(text, /\/work\/|node_modules|\n\s+at /)
  }
})

test.run()

// A second service with a token: writes need it, reads and pre-flights do not.
const auth = suite<Ctx>('api-http token')

auth.before(async (ctx) => {
  ctx.cli = await startCli('tcp://127.0.0.1:9', 'API-TOKEN', [], { PSEN_API_TOKEN: 's3cret' })
})

auth.after(async (ctx) => {
  assert.is(await ctx.cli?.stop(), 0)
})

auth('POST needs the bearer token; GET and OPTIONS stay open', async ({ cli }) => {
  const variants: Array<Record<string, string>> = [
    {},
    { Authorization: 'Bearer wrong' },
    { Authorization: 's3cret' },
  ]
  for (const headers of variants) {
    const r = await api(cli.base, 'POST', '/roi_signal', {
      headers: { ...JSON_HEADERS, ...headers },
      body: '[0,1,0,1]',
    })
    assert.is(r.status, 401)
    assert.is(r.body.state, 'error')
    assert.match(String(r.body.status), 'Unauthorized')
  }
  assert.equal((await api(cli.base, 'GET', '/roi_signal')).body.roi_signal, [])
  const ok = await api(cli.base, 'POST', '/roi_signal', {
    headers: { ...JSON_HEADERS, Authorization: 'Bearer s3cret' },
    body: '[0,1,0,1]',
  })
  assert.equal(ok.body.roi_signal, [0, 1, 0, 1])
  assert.is((await api(cli.base, 'POST', '/start')).status, 401)
  const pre = await fetch(`${cli.base}/start`, {
    method: 'OPTIONS',
    headers: { Origin: 'http://x', 'Access-Control-Request-Method': 'POST' },
  })
  assert.ok(pre.status < 300)
  assert.is((await api(cli.base, 'GET', '/status')).body.status, 'stopped')
})

auth.run()
