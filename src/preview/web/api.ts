/**
 * The service's HTTP API as the page uses it: the contract's envelope (`state`, `status`, the
 * endpoint's own field); an error envelope becomes an exception with the service's message.
 * @module
 */

export interface Envelope {
  state: 'ok' | 'error'
  status: string
  [field: string]: unknown
}

export class ApiError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(message)
    this.name = 'ApiError'
  }
}

// `#token=...` in the page URL: sent as a bearer token when the service requires one for POSTs.
const token = new URLSearchParams(location.hash.slice(1)).get('token')

/** GET (no body) or POST (JSON body; `undefined` sends none) and returns the ok envelope. */
export async function call(
  path: string,
  body?: unknown,
  method = body === undefined ? 'GET' : 'POST',
): Promise<Envelope> {
  const headers: Record<string, string> = {}
  if (method !== 'GET' && token) headers.Authorization = `Bearer ${token}`
  if (body !== undefined) headers['Content-Type'] = 'application/json'
  let res: Response
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? null : JSON.stringify(body),
      cache: 'no-store',
    })
  } catch (err) {
    throw new ApiError(
      path,
      `${path}: service unreachable (${err instanceof Error ? err.message : String(err)})`,
    )
  }
  let env: Envelope
  try {
    env = (await res.json()) as Envelope
  } catch {
    throw new ApiError(path, `${path}: HTTP ${res.status}, not a JSON answer`)
  }
  if (env.state !== 'ok') throw new ApiError(path, `${path}: ${env.status}`)
  return env
}
