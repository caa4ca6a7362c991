/**
 * The API token as the page holds it: asked for once when the service wants one (a POST
 * answered 401, or /preview/info says the WebSocket needs it) or through the header's token
 * button, then kept in sessionStorage: it lives as long as the tab, never in the page's URL
 * or in localStorage. A `#token=...` in the URL (older bookmarks) is moved there and removed.
 * @module
 */
import { PREVIEW_PROTOCOL, TOKEN_PROTOCOL_PREFIX } from '../ws-protocol.js'

const KEY = 'psen-api-token'

function store(): Storage | undefined {
  try {
    return window.sessionStorage
  } catch {
    return undefined // storage disabled: the token lasts as long as the page
  }
}

let current: string | undefined = store()?.getItem(KEY) ?? undefined
{
  const fromUrl = new URLSearchParams(location.hash.slice(1)).get('token')
  if (fromUrl) {
    current = fromUrl
    store()?.setItem(KEY, fromUrl)
    history.replaceState(null, '', location.pathname + location.search)
  }
}

/** The token entered in this tab, if any. */
export function apiToken(): string | undefined {
  return current
}

/** Asks the operator for the token (`why` says what needs it); true when one was entered. */
export function askToken(why: string): boolean {
  const given = window.prompt(`${why}\nAPI token (kept for this browser tab only):`, '')
  if (given === null) return false
  const token = given.trim()
  current = token === '' ? undefined : token
  if (current === undefined) store()?.removeItem(KEY)
  else store()?.setItem(KEY, current)
  return current !== undefined
}

/** The subprotocols that carry the token to the preview WebSocket (none without a token). */
export function webSocketProtocols(): string[] {
  if (current === undefined) return []
  const bytes = new TextEncoder().encode(current)
  let binary = ''
  for (const b of bytes) binary += String.fromCharCode(b)
  const b64url = btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
  return [PREVIEW_PROTOCOL, TOKEN_PROTOCOL_PREFIX + b64url]
}
