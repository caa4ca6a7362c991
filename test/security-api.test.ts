// Security of the HTTP API against the real CLI: request bodies are size-limited (with and
// without Content-Length), JSON only and schema-validated; every refused request keeps the
// contract envelope and changes nothing (settings, history, state file); --api_token /
// PSEN_API_TOKEN guard the mutating endpoints while reads and CORS pre-flights stay open; no
// answer ever carries a stack trace or a file path.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { ROOT, api, startCli, type CliProcess } from './helpers/service.js'

const TOKEN = 's3cret-token-for-tests'
const AUTH = { Authorization: `Bearer ${TOKEN}` }
const JSON_TYPE = { 'Content-Type': 'application/json' }

/** POST of a JSON text (with the token unless other headers are given). */
const postJson = (
  base: string,
  path: string,
  body: string,
  headers: Record<string, string> = AUTH,
): ReturnType<typeof api> =>
  api(base, 'POST', path, { headers: { ...JSON_TYPE, ...headers }, body })

interface Ctx {
  cli: CliProcess
  dir: string
  stateFile: string
}

const test = suite<Ctx>('security-api', {} as Ctx)

test.before(async (ctx) => {
  ctx.dir = await mkdtemp(join(tmpdir(), 'psen-security-'))
  ctx.stateFile = join(ctx.dir, 'state.json')
  // Nothing listens on the input: the API is what is under test here.
  ctx.cli = await startCli('tcp://127.0.0.1:9', 'SEC', [
    '--api_token',
    TOKEN,
    '--state_file',
    ctx.stateFile,
  ])
  const set = async (path: string, body: unknown): Promise<void> => {
    const r = await postJson(ctx.cli.base, path, JSON.stringify(body))
    assert.is(r.body.state, 'ok', JSON.stringify(r.body))
  }
  await set('/roi_signal', [10, 20, 30, 40])
  await set('/roi_background', [0, 5, 0, 5])
  await set('/parameters', { step_length: 30 })
})

test.after(async (ctx) => {
  await ctx.cli.stop()
  await rm(ctx.dir, { recursive: true, force: true })
})

/** Everything a refused request must leave alone. */
async function settings(ctx: Ctx): Promise<string> {
  const b = ctx.cli.base
  const [sig, bg, par, hist] = await Promise.all([
    api(b, 'GET', '/roi_signal'),
    api(b, 'GET', '/roi_background'),
    api(b, 'GET', '/parameters'),
    api(b, 'GET', '/history'),
  ])
  const file = await readFile(ctx.stateFile, 'utf8')
  return JSON.stringify([
    sig.body.roi_signal,
    bg.body.roi_background,
    par.body.parameters,
    (hist.body.history as unknown[]).length,
    JSON.parse(file),
  ])
}

/** An answer that keeps the envelope, reports an error and leaks nothing. */
function refused(r: { status: number; body: Record<string, unknown> }, what: string): string {
  assert.is(r.body.state, 'error', `${what}: ${JSON.stringify(r.body)}`)
  assert.type(r.body.status, 'string', `${what}: status is the message`)
  noLeak(JSON.stringify(r.body), what)
  return r.body.status as string
}

function noLeak(text: string, what: string): void {
  assert.not.ok(
    text.includes(ROOT) || /\/(work|home|tmp|usr|app)\//.test(text),
    `${what}: a path in ${text}`,
  )
  assert.not.match(
    text,
    /node_modules|\.(ts|js|mjs):\d+|\n\s+at |at [\w.<>]+ \(/,
    `${what}: a stack in ${text}`,
  )
}

test('oversized bodies refused, with or without Content-Length; nothing changes', async (ctx) => {
  const before = await settings(ctx)
  const big = JSON.stringify([1, 2, 3, 4]) + ' '.repeat(200 * 1024)
  const r = await postJson(ctx.cli.base, '/roi_signal', big)
  assert.is(r.status, 413)
  assert.match(refused(r, 'big body'), /too large/)
  // The unread rest of the body makes the connection unusable: the answer must say so, or a
  // client's next request on its pooled connection fails ("other side closed").
  assert.is(r.headers.get('connection'), 'close')
  // Chunked upload (no Content-Length): the limit holds while streaming.
  type Answer = { status: number; body: Record<string, unknown> }
  const chunked = await new Promise<Answer>((resolve, reject) => {
    const req = request(`${ctx.cli.base}/parameters`, {
      method: 'POST',
      headers: { ...JSON_TYPE, ...AUTH },
    })
    req.on('response', (res) => {
      let text = ''
      res.on('data', (b: Buffer) => {
        text += b.toString()
      })
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          body: JSON.parse(text) as Record<string, unknown>,
        }),
      )
    })
    req.on('error', reject)
    req.write('{"step_length": 40, "pad": "')
    for (let i = 0; i < 32; i++) req.write('x'.repeat(8192))
    req.end('"}')
  })
  assert.is(chunked.status, 413)
  refused(chunked, 'chunked body')
  assert.is(await settings(ctx), before)
})

test('only JSON is accepted: other content types and bad syntax change nothing', async (ctx) => {
  const before = await settings(ctx)
  const cases: Array<[string | undefined, string, string]> = [
    ['text/plain', '[1, 2, 3, 4]', 'text'],
    ['application/x-www-form-urlencoded', 'roi=1,2,3,4', 'form'],
    ['multipart/form-data; boundary=x', '--x\r\n\r\n[1,2,3,4]\r\n--x--', 'multipart'],
    ['application/xml', '<roi/>', 'xml'],
    ['application/json', '[1, 2, 3, 4', 'truncated JSON'],
    ['application/json', "{'step_length': 3}", 'python dict'],
    ['application/json', '\u0000\u0001', 'binary'],
    [undefined, '[1, 2, 3, 4]', 'no content type'],
  ]
  for (const path of ['/roi_signal', '/roi_background', '/parameters']) {
    for (const [type, body, what] of cases) {
      const headers: Record<string, string> = { ...AUTH }
      if (type) headers['Content-Type'] = type
      const r = await api(ctx.cli.base, 'POST', path, { headers, body })
      refused(r, `${path} ${what}`)
    }
  }
  assert.is(await settings(ctx), before)
})

test('schema validation: bad ROIs and parameters are refused and change nothing', async (ctx) => {
  const before = await settings(ctx)
  const rois: unknown[] = [
    'abc',
    5,
    { a: 1 },
    [1, 2, 3],
    [1, 2, 3, 4, 5],
    [-1, 2, 3, 4],
    [1, 0, 3, 4],
    [1.5, 2, 3, 4],
    ['1', '2', '3', '4'],
    [null, 1, 1, 1],
    [1e300, 1, 1, 1],
    [[1], 2, 3, 4],
    [true, 1, 1, 1],
    [1, 2 ** 53 + 2, 3, 4],
  ]
  for (const roi of rois) {
    for (const path of ['/roi_signal', '/roi_background']) {
      const r = await postJson(ctx.cli.base, path, JSON.stringify(roi))
      assert.match(refused(r, `${path} ${JSON.stringify(roi)}`), /^ROI /)
    }
  }
  const params: unknown[] = [
    { step_length: 'fifty' },
    { step_length: -3 },
    { step_length: 1.5 },
    { no_such_parameter: 1 },
    { edge_type: 'sideways' },
    [1, 2],
    'x',
    42,
    { reference: { mode: 'bogus' } },
    { averaging: { mode: 'mean', count: 0 } },
    { calibration: new Array(100).fill(1) },
    JSON.parse('{"__proto__": {"polluted": true}, "step_length": 3}'),
    { constructor: { prototype: { polluted: true } } },
  ]
  for (const p of params) {
    const r = await postJson(ctx.cli.base, '/parameters', JSON.stringify(p))
    refused(r, `parameters ${JSON.stringify(p)}`)
  }
  // Deeply nested JSON is read without trouble and refused by the schema.
  const deep = '['.repeat(5000) + ']'.repeat(5000)
  refused(await postJson(ctx.cli.base, '/roi_signal', deep), 'deep')
  assert.is(await settings(ctx), before)
  assert.not.ok(({} as Record<string, unknown>).polluted, 'no prototype pollution here either')
})

test('--api_token guards changes; reads and pre-flights stay open', async (ctx) => {
  const before = await settings(ctx)
  const b = ctx.cli.base
  const attempts: Array<[string, Record<string, string>]> = [
    ['no header', {}],
    ['wrong token', { Authorization: 'Bearer nope' }],
    ['token prefix', { Authorization: `Bearer ${TOKEN.slice(0, -1)}` }],
    ['token longer', { Authorization: `Bearer ${TOKEN}x` }],
    ['basic auth', { Authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}` }],
    ['bare token', { Authorization: TOKEN }],
  ]
  for (const path of ['/roi_signal', '/roi_background', '/parameters', '/start', '/stop']) {
    for (const [what, headers] of attempts) {
      const r = await postJson(b, path, '[1, 2, 3, 4]', headers)
      assert.is(r.status, 401, `${path} ${what}`)
      assert.match(refused(r, `${path} ${what}`), /Unauthorized/)
      assert.is(r.headers.get('www-authenticate'), 'Bearer')
      assert.is(r.headers.get('access-control-allow-origin'), '*', 'CORS headers on refusals too')
    }
  }
  assert.is(await settings(ctx), before, 'nothing changed without the token')
  assert.is((await api(b, 'GET', '/status')).body.status, 'stopped', 'never started')
  for (const path of [
    '/status',
    '/statistics',
    '/roi_signal',
    '/roi_background',
    '/parameters',
    '/history',
    '/health',
    '/metrics',
  ]) {
    const r = await fetch(b + path)
    assert.is(r.status, 200, `GET ${path} is open`)
  }
  for (const path of ['/roi_signal', '/start', '/parameters']) {
    const r = await fetch(b + path, {
      method: 'OPTIONS',
      headers: {
        Origin: 'http://example.org',
        'Access-Control-Request-Method': 'POST',
        'Access-Control-Request-Headers': 'content-type, authorization',
      },
    })
    assert.ok(r.status === 204 || r.status === 200, `pre-flight ${path}: ${r.status}`)
    assert.is(r.headers.get('access-control-allow-origin'), '*')
    assert.match(r.headers.get('access-control-allow-headers') ?? '', /authorization/i)
  }
  // With the token (any case of the scheme), changes go through.
  const ok = await api(b, 'POST', '/roi_signal', {
    headers: { ...JSON_TYPE, Authorization: `bearer ${TOKEN}` },
    body: '[1, 2, 3, 4]',
  })
  assert.is(ok.body.state, 'ok')
  assert.equal(ok.body.roi_signal, [1, 2, 3, 4])
  const back = await postJson(b, '/roi_signal', '[10, 20, 30, 40]')
  assert.is(back.body.state, 'ok')
})

test('PSEN_API_TOKEN from the environment; --api_token wins over it', async () => {
  const envOnly = await startCli('tcp://127.0.0.1:9', 'SEC', [], { PSEN_API_TOKEN: 'from-env' })
  try {
    const body = '[1, 2, 3, 4]'
    assert.is((await postJson(envOnly.base, '/roi_signal', body, {})).status, 401)
    const r = await api(envOnly.base, 'POST', '/roi_signal', {
      headers: { ...JSON_TYPE, Authorization: 'Bearer from-env' },
      body,
    })
    assert.is(r.body.state, 'ok')
  } finally {
    assert.is(await envOnly.stop(), 0)
  }
  const both = await startCli('tcp://127.0.0.1:9', 'SEC', ['--api_token', 'from-cli'], {
    PSEN_API_TOKEN: 'from-env',
  })
  try {
    const body = '[1, 2, 3, 4]'
    const env = await postJson(both.base, '/roi_signal', body, { Authorization: 'Bearer from-env' })
    assert.is(env.status, 401)
    const cli = await postJson(both.base, '/roi_signal', body, { Authorization: 'Bearer from-cli' })
    assert.is(cli.body.state, 'ok')
  } finally {
    assert.is(await both.stop(), 0)
  }
})

test('no stack traces or file paths in any answer', async (ctx) => {
  const b = ctx.cli.base
  const probes: Array<[string, string, RequestInit?]> = [
    ['GET', '/no/such/path'],
    ['GET', '/../../etc/passwd'],
    ['GET', '/%2e%2e/%2e%2e/etc/passwd'],
    ['GET', '/%00'],
    ['GET', '/roi_signal/extra'],
    ['DELETE', '/roi_signal'],
    ['PUT', '/start'],
    ['PATCH', '/parameters'],
    ['GET', '/start'],
    ['POST', '/status', { headers: AUTH }],
    ['POST', '/roi_signal', { headers: { ...JSON_TYPE, ...AUTH }, body: '{"x": ' }],
    [
      'POST',
      '/parameters',
      {
        headers: { ...JSON_TYPE, ...AUTH },
        body: '{"reference": {"mode": "reference_roi", "roi": "x"}}',
      },
    ],
    [
      'POST',
      '/roi_signal',
      {
        headers: {
          'Content-Type': 'application/json; charset=nonsense',
          ...AUTH,
        },
        body: '[1,2,3,4',
      },
    ],
    ['GET', '/static/../../../package.json'],
    ['GET', '/index.html/..%2f..%2fpackage.json'],
  ]
  for (const [method, path, init] of probes) {
    const r = await fetch(b + path, { method, ...init })
    const text = await r.text()
    noLeak(text, `${method} ${path}`)
    if ((r.headers.get('content-type') ?? '').includes('json')) {
      const body = JSON.parse(text) as Record<string, unknown>
      assert.ok(body.state === 'ok' || body.state === 'error', `${method} ${path}: envelope`)
    }
  }
  // Even the service's own failure (an unwritable state file) is answered without its path.
  // A file where its directory should be: no directory can be made there (ENOTDIR).
  const blocker = join(ctx.dir, 'not-a-directory')
  await writeFile(blocker, '')
  const noDir = await startCli('tcp://127.0.0.1:9', 'SEC', [
    '--state_file',
    join(blocker, 'state.json'),
  ])
  try {
    const r = await postJson(noDir.base, '/roi_signal', '[1, 2, 3, 4]', {})
    assert.match(refused(r, 'unwritable state'), /could not be saved/)
    assert.equal((await api(noDir.base, 'GET', '/roi_signal')).body.roi_signal, [], 'ROI unchanged')
  } finally {
    assert.is(await noDir.stop(), 0)
  }
})

test.run()
