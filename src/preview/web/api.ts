/**
 * The service's HTTP API as the page uses it: the contract's envelope (`state`, `status`, the
 * endpoint's own field); an error envelope becomes an exception with the service's message.
 * @module
 */
import { apiToken, askToken } from './token.js'

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

/**
 * GET (no body) or POST (JSON body; `undefined` sends none) and returns the ok envelope. A POST
 * the service answers 401 (it was started with --api_token) asks for the token once and is
 * sent again with it.
 */
export async function call(
  path: string,
  body?: unknown,
  method = body === undefined ? 'GET' : 'POST',
  retried = false,
): Promise<Envelope> {
  const headers: Record<string, string> = {}
  const token = apiToken()
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
  if (
    res.status === 401 &&
    method !== 'GET' &&
    !retried &&
    askToken(`${path} needs the service's API token.`)
  ) {
    return call(path, body, method, true)
  }
  if (env.state !== 'ok') throw new ApiError(path, `${path}: ${env.status}`)
  return env
}
