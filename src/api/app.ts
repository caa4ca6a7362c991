/**
 * The HTTP control API (Hono): the old service's endpoints with its envelope
 * (`state`, `status`, the endpoint's own field), plus parameters, history, health, readiness and
 * Prometheus metrics. `createApp(deps)` only builds the app; src/api/server.ts listens.
 * @module
 */
import { getConnInfo } from '@hono/node-server/conninfo'
import { Hono, type Context } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import { cors } from 'hono/cors'
import type { Logger } from '../log.js'
import type { Metrics } from '../metrics.js'
import { ControlError, type Requester, type ServiceControl } from '../processing/control.js'
import { RoiError } from '../processing/roi.js'
import { StateWriteError } from '../state/store.js'
import { isMutating, originAllowed, RefusedOrigins, tokenMatches } from './guard.js'
import { stringifyJson } from './json.js'

export interface AppDeps {
  control: ServiceControl
  log: Logger
  metrics?: Metrics
  /** When set, POST endpoints (and WebSockets) require `Authorization: Bearer <token>`. */
  apiToken?: string
  /** Origins besides the service's own whose pages may change settings. */
  allowedOrigins?: readonly string[]
  /** Whether settings persist, and why changes are refused if they cannot (for /status). */
  stateFile?: () => { persistent: boolean; error: string | null }
  /** Largest accepted request body (bytes). */
  maxBodyBytes?: number
}

/** Paths and their methods, for 405 answers (the old service answered those too). */
const ROUTES: Record<string, string[]> = {
  '/start': ['POST'],
  '/stop': ['POST'],
  '/status': ['GET'],
  '/roi_signal': ['GET', 'POST'],
  '/roi_background': ['GET', 'POST'],
  '/statistics': ['GET'],
  '/parameters': ['GET', 'POST'],
  '/history': ['GET'],
  '/health': ['GET'],
  '/ready': ['GET'],
  '/metrics': ['GET'],
}

type JsonBody = { ok: true; value: unknown } | { ok: false; message: string }

function isJsonType(contentType: string): boolean {
  const mime = contentType.split(';')[0]?.trim().toLowerCase() ?? ''
  return mime === 'application/json' || mime.endsWith('+json')
}

/**
 * Reads a JSON request body. An empty body counts as `null`: that is what the old Python client
 * sends for `set_roi_signal(None)` (requests sends no body at all for `json=None`). Anything
 * else must be declared and valid JSON; the old service silently cleared the ROI instead.
 */
async function readJson(c: Context): Promise<JsonBody> {
  const text = await c.req.text()
  const contentType = c.req.header('content-type') ?? ''
  if (text.trim() === '' && (contentType === '' || isJsonType(contentType))) {
    return { ok: true, value: null }
  }
  if (!isJsonType(contentType)) {
    return {
      ok: false,
      message:
        `Request body must be JSON (Content-Type: application/json), got ` +
        `'${contentType || 'no content type'}'; nothing was changed.`,
    }
  }
  try {
    return { ok: true, value: JSON.parse(text) as unknown }
  } catch (err) {
    const why = err instanceof Error ? err.message : 'syntax error'
    return { ok: false, message: `Request body is not valid JSON (${why}); nothing was changed.` }
  }
}

function requester(c: Context): Requester {
  let client = 'unknown'
  try {
    client = getConnInfo(c).remote.address ?? client
  } catch {
    // Not served by node-server (app.request in tests): no socket to ask.
  }
  return { endpoint: `${c.req.method} ${c.req.path}`, client }
}

/** Builds the API. Other modules' routes (the preview) are mounted by the caller. */
export function createApp(deps: AppDeps): Hono {
  const { control, log, metrics } = deps
  const app = new Hono()

  const send = (c: Context, body: Record<string, unknown>, status = 200): Response =>
    c.body(stringifyJson(body), status as 200, { 'Content-Type': 'application/json' })
  const ok = (c: Context, extra: Record<string, unknown> = {}): Response =>
    send(c, { state: 'ok', status: control.status(), ...extra })
  // Errors keep the envelope; HTTP 200 like the old service, whose client reads only the body.
  const fail = (c: Context, message: string, status = 200): Response =>
    send(c, { state: 'error', status: message }, status)

  const route = (c: Context): string => (ROUTES[c.req.path] ? c.req.path : 'other')

  app.use(
    '*',
    cors({
      origin: '*',
      allowMethods: ['GET', 'POST', 'PUT', 'DELETE', 'OPTIONS'],
      allowHeaders: [
        'Origin',
        'Accept',
        'Content-Type',
        'X-Requested-With',
        'X-CSRF-Token',
        'Authorization',
      ],
      maxAge: 600,
    }),
  )

  app.use('*', async (c, next) => {
    const started = performance.now()
    await next()
    metrics?.httpRequest(c.req.method, route(c), c.res.status, (performance.now() - started) / 1000)
    log.debug({ method: c.req.method, path: c.req.path, status: c.res.status }, 'http')
  })

  app.use(
    '*',
    bodyLimit({
      maxSize: deps.maxBodyBytes ?? 64 * 1024,
      onError: (c) => {
        // The rest of the body is never read: the connection cannot be reused after this answer.
        c.header('Connection', 'close')
        return fail(c, 'Request body too large; nothing was changed.', 413)
      },
    }),
  )

  // Cross-site request forgery: after CORS (pre-flights are answered there, as before), before
  // the body is read. Reads stay open to every origin (the old client and dashboards use them).
  const allowed = new Set(deps.allowedOrigins ?? [])
  const refusedOrigins = new RefusedOrigins((fields, msg) => log.warn(fields, msg))
  app.use('*', async (c, next) => {
    const origin = c.req.header('origin')
    if (!isMutating(c) || originAllowed(origin, c.req.header('host'), allowed)) return next()
    metrics?.httpRefused('origin', route(c))
    refusedOrigins.report(String(origin), `${c.req.method} ${c.req.path}`)
    return fail(
      c,
      `Forbidden: a page from ${String(origin).slice(0, 200)} may not change ` +
        'this service (start it with --allowed_origins to admit that page); nothing was changed.',
      403,
    )
  })

  if (deps.apiToken !== undefined) {
    const token = deps.apiToken
    app.use('*', async (c, next) => {
      if (!isMutating(c)) return next()
      if (!tokenMatches(c, token)) {
        metrics?.httpRefused('token', route(c))
        c.header('WWW-Authenticate', 'Bearer')
        return fail(c, 'Unauthorized: this endpoint needs "Authorization: Bearer <token>".', 401)
      }
      return next()
    })
  }

  app.post('/start', async (c) => {
    await control.start()
    return ok(c)
  })
  app.post('/stop', async (c) => {
    await control.stop()
    return ok(c)
  })
  app.get('/status', async (c) =>
    ok(c, {
      last_error: control.lastError(),
      ...(deps.stateFile ? { state_file: deps.stateFile() } : {}),
      ...(await control.statusDetails?.()),
    }),
  )
  app.get('/statistics', async (c) => ok(c, { statistics: await control.statistics() }))

  for (const kind of ['roi_signal', 'roi_background'] as const) {
    app.get(`/${kind}`, (c) => ok(c, { [kind]: control.getRoi(kind) }))
    app.post(`/${kind}`, async (c) => {
      const body = await readJson(c)
      if (!body.ok) return fail(c, body.message)
      const roi = await control.setRoi(kind, body.value, requester(c))
      return ok(c, { [kind]: roi })
    })
  }

  app.get('/parameters', (c) =>
    ok(c, {
      parameters: control.getParameters(),
      ...control.parameterInfo(),
    }),
  )
  app.post('/parameters', async (c) => {
    const body = await readJson(c)
    if (!body.ok) return fail(c, body.message)
    const parameters = await control.setParameters(body.value, requester(c))
    return ok(c, { parameters })
  })
  app.get('/history', async (c) => ok(c, { history: await control.history() }))

  app.get('/health', (c) => ok(c, { health: 'up', uptime_s: Math.round(process.uptime()) }))
  app.get('/ready', (c) => {
    const r = control.ready()
    return r.ready ? ok(c, { ready: true }) : fail(c, `not ready: ${r.reason}`, 503)
  })
  app.get('/metrics', async (c) => {
    if (!metrics) return fail(c, 'metrics are not enabled', 404)
    return c.body(await metrics.registry.metrics(), 200, {
      'Content-Type': metrics.registry.contentType,
    })
  })

  app.notFound((c) => {
    const methods = ROUTES[c.req.path]
    if (methods) {
      c.header('Allow', [...methods, 'OPTIONS'].join(', '))
      return fail(c, `Method ${c.req.method} not allowed on ${c.req.path}.`, 405)
    }
    return fail(c, `Not found: ${c.req.method} ${c.req.path}.`, 404)
  })

  app.onError((err, c) => {
    if (err instanceof RoiError || err instanceof ControlError) return fail(c, err.message)
    if (err instanceof StateWriteError) {
      // Its message names the state file: that stays in the log, not in the answer.
      log.error({ err, path: c.req.path }, 'settings change not saved')
      return fail(
        c,
        'The change could not be saved (state file not writable; details are in ' +
          'the service log); nothing was changed.',
      )
    }
    // Unexpected: logged with its stack, answered without it (no paths or internals leak).
    log.error({ err, path: c.req.path }, 'HTTP handler failed')
    return fail(c, 'Internal error (details are in the service log).', 500)
  })

  return app
}
