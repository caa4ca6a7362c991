/**
 * Who may change the service over HTTP: the cross-site request rule (a mutating request that
 * a browser sent from another web origin is refused) and the API token. A WebSocket upgrade
 * counts as mutating here: browsers let any page open one (no CORS), so it passes the same
 * checks, its token in the Sec-WebSocket-Protocol header (the only header a page can set on it;
 * a query string would land in logs).
 * @module
 */
import { timingSafeEqual } from 'node:crypto'
import type { Context } from 'hono'
import { TOKEN_PROTOCOL_PREFIX } from '../preview/ws-protocol.js'

/** Methods that only read (CORS pre-flights included); every other method mutates. */
const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

export function isWebSocketUpgrade(c: Context): boolean {
  return c.req.header('upgrade')?.toLowerCase() === 'websocket'
}

/** True for requests the origin and token rules apply to. */
export function isMutating(c: Context): boolean {
  return !READ_METHODS.has(c.req.method) || isWebSocketUpgrade(c)
}

/**
 * The origin rule: no `Origin` header (the old Python client, curl, scripts: not a browser
 * acting for another site) passes; otherwise the origin must be the service's own (its host
 * and port equal the `Host` the request was addressed to) or one of `allowed`. The opaque
 * origin `null` (sandboxed frames, file: pages) is never the service's own.
 */
export function originAllowed(
  origin: string | undefined,
  host: string | undefined,
  allowed: ReadonlySet<string>,
): boolean {
  if (origin === undefined) return true
  let url: URL
  try {
    url = new URL(origin)
  } catch {
    return false
  }
  if (allowed.has(url.origin)) return true
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || host === undefined) return false
  let addressed: string
  try {
    // Normalised like the origin (lower case, default port dropped).
    addressed = new URL(`${url.protocol}//${host}`).host
  } catch {
    return false
  }
  return url.host === addressed
}

function same(given: string, token: string): boolean {
  const a = Buffer.from(given)
  const b = Buffer.from(token)
  return a.length === b.length && timingSafeEqual(a, b)
}

/** The token of a request: `Authorization: Bearer …`, or for a WebSocket its subprotocol. */
export function tokenMatches(c: Context, token: string): boolean {
  const bearer = /^Bearer\s+(.+)$/i.exec(c.req.header('authorization') ?? '')?.[1]?.trim()
  if (bearer) return same(bearer, token)
  if (!isWebSocketUpgrade(c)) return false
  for (const p of (c.req.header('sec-websocket-protocol') ?? '').split(',')) {
    const value = p.trim()
    if (!value.startsWith(TOKEN_PROTOCOL_PREFIX)) continue
    const given = Buffer.from(value.slice(TOKEN_PROTOCOL_PREFIX.length), 'base64url')
    if (same(given.toString('utf8'), token)) return true
  }
  return false
}

/**
 * Logs a refused origin once (an attacker's page would otherwise fill the log at its request
 * rate); at most `limit` distinct origins are remembered, then one line says logging stopped.
 */
export class RefusedOrigins {
  readonly #seen = new Set<string>()
  constructor(
    private readonly log: (fields: Record<string, unknown>, message: string) => void,
    private readonly limit = 256,
  ) {}

  report(origin: string, request: string): void {
    if (this.#seen.has(origin) || this.#seen.size > this.limit) return
    this.#seen.add(origin)
    if (this.#seen.size > this.limit) {
      this.log(
        { origins: this.limit },
        'requests from more refused origins than this; ' +
          'no more are logged (psen_http_refused_total counts them all)',
      )
      return
    }
    this.log(
      { origin, request },
      'refused a request from another web origin (CSRF); ' +
        'admit a dashboard with --allowed_origins',
    )
  }
}
