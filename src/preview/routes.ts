/**
 * HTTP side of the browser preview: the page and its assets, the kernel module the page runs,
 * the newest frame over a WebSocket (pushed at the preview rate) and over plain HTTP.
 *
 * Mount with `app.route('/', previewRoutes({ feed }))` and serve with
 * `serve({ fetch: app.fetch, port, websocket: previewWebSocket() })`.
 * @module
 */
import { readFile } from 'node:fs/promises'
import { upgradeWebSocket } from '@hono/node-server'
import { Hono } from 'hono'
import type { Context } from 'hono'
import { WebSocketServer, type WebSocket } from 'ws'
import { DEFAULT_KERNEL_URL } from '../kernel/loader.js'
import {
  encodePreviewMessage,
  previewHeader,
  type PreviewFeed,
  type PreviewFrame,
  type PreviewResult,
} from './feed.js'
import { CLOSE_TOO_MANY, PREVIEW_PROTOCOL } from './ws-protocol.js'

/** Where `scripts/build-preview.mjs` writes the page (same place from src/ and from dist/). */
export const PREVIEW_STATIC_URL = new URL('../../dist/preview/static/', import.meta.url)

export interface PreviewRoutesOptions {
  feed: PreviewFeed
  /** Directory with index.html, app.js, app.css (default: the build output). */
  staticUrl?: URL
  /** The kernel module served as /kernel.wasm (default: build/kernel.wasm). */
  kernelUrl?: URL
  /** Most WebSocket clients served at once; more are closed with code 1013 (default 8). */
  maxClients?: number
  /** Ping period; a client that did not answer the previous ping is dropped (default 30 s). */
  heartbeatMs?: number
  /** Whether the WebSocket needs the API token (reported to the page by /preview/info). */
  tokenRequired?: boolean
}

/**
 * Frames queued per client at most: one on the wire and the next. A slow browser skips frames
 * rather than making the service buffer them (each may be a 5 MB camera frame).
 */
const MAX_QUEUED_FRAMES = 2
/** Largest message a client may send (the page sends none): a few KiB, then ws closes it. */
export const PREVIEW_MAX_PAYLOAD = 4096

const CONTENT_TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  map: 'application/json; charset=utf-8',
  png: 'image/png',
  wasm: 'application/wasm',
}

/** The WebSocket server to pass to `serve({ websocket })` so that `/preview/ws` can upgrade. */
export function previewWebSocket(): { server: WebSocketServer } {
  return {
    server: new WebSocketServer({
      noServer: true,
      maxPayload: PREVIEW_MAX_PAYLOAD,
      // Never echo the token protocol; a client that asked for protocols gets ours.
      handleProtocols: (protocols) => (protocols.has(PREVIEW_PROTOCOL) ? PREVIEW_PROTOCOL : false),
    }),
  }
}

/** The preview router: `/`, `/preview`, `/preview/*` assets, `/kernel.wasm`, frame endpoints. */
export function previewRoutes(options: PreviewRoutesOptions): Hono {
  const { feed } = options
  const staticUrl = options.staticUrl ?? PREVIEW_STATIC_URL
  const kernelUrl = options.kernelUrl ?? DEFAULT_KERNEL_URL
  const maxClients = options.maxClients ?? 8
  const heartbeat = new Heartbeat(options.heartbeatMs ?? 30_000)
  const app = new Hono()

  const sendFile = async (c: Context, url: URL, cache: string): Promise<Response> => {
    const ext = url.pathname.slice(url.pathname.lastIndexOf('.') + 1)
    const headers: Record<string, string> = {
      'Content-Type': CONTENT_TYPES[ext] ?? 'application/octet-stream',
      'Cache-Control': cache,
      Vary: 'Accept-Encoding',
    }
    let body: Buffer | undefined
    // The build writes gzip copies of the page's files (the bundle shrinks about five-fold).
    if (/\bgzip\b/.test(c.req.header('accept-encoding') ?? '')) {
      body = await readFile(new URL(`${url.href}.gz`)).catch(() => undefined)
      if (body) headers['Content-Encoding'] = 'gzip'
    }
    try {
      body ??= await readFile(url)
    } catch {
      return c.json(
        { state: 'error', status: `preview asset not found: ${url.pathname} (run npm run build)` },
        404,
      )
    }
    return c.body(
      new Uint8Array(body.buffer as ArrayBuffer, body.byteOffset, body.byteLength),
      200,
      headers,
    )
  }

  const page = (c: Context) => sendFile(c, new URL('index.html', staticUrl), 'no-cache')
  app.get('/', page)
  app.get('/preview', page)
  app.get('/preview/', page)

  // Only the page's own files: a fixed list keeps path tricks out.
  for (const name of ['app.js', 'app.js.map', 'app.css', 'favicon.png']) {
    app.get(`/preview/${name}`, (c) => sendFile(c, new URL(name, staticUrl), 'no-cache'))
  }
  const wasm = (c: Context) => sendFile(c, kernelUrl, 'no-cache')
  app.get('/kernel.wasm', wasm)
  app.get('/preview/kernel.wasm', wasm)

  app.get('/preview/info', (c) =>
    c.json({
      state: 'ok',
      preview: {
        rate_hz: feed.rateHz,
        offered: feed.offered,
        published: feed.published,
        subscribers: feed.subscribers,
        clients: heartbeat.size,
        max_clients: maxClients,
        token_required: options.tokenRequired ?? false,
      },
    }),
  )

  app.get('/preview/frame', (c) => {
    const frame = feed.latest()
    if (frame === undefined) return c.body(null, 204, { 'Cache-Control': 'no-store' })
    const h = previewHeader(frame)
    const nanos = String(h.global_timestamp.ns).padStart(9, '0')
    // The received bytes themselves, no copy per request: they are never mutated (the
    // FrameObserver contract) and the answer holds them until written.
    return c.body(frame.data as Uint8Array<ArrayBuffer>, 200, {
      'Content-Type': 'application/octet-stream',
      'Cache-Control': 'no-store',
      'X-Pulse-Id': h.pulse_id,
      'X-Global-Timestamp': `${h.global_timestamp.sec}.${nanos}`,
      'X-Channel': h.name,
      'X-Type': h.type,
      'X-Shape': h.shape.join(','),
      'X-Encoding': h.encoding,
      'X-Compression': h.compression,
      'Access-Control-Expose-Headers':
        'X-Pulse-Id, X-Global-Timestamp, X-Channel, X-Type, X-Shape, X-Encoding, X-Compression',
    })
  })

  // One encoded message per publication, shared by every client (ws never mutates it).
  let cached:
    | { frame: PreviewFrame; results: PreviewResult[]; message: Uint8Array<ArrayBuffer> }
    | undefined
  const encoded = (frame: PreviewFrame, results: PreviewResult[]): Uint8Array<ArrayBuffer> => {
    if (cached?.frame.sequence !== frame.sequence || cached.results !== results) {
      cached = { frame, results, message: encodePreviewMessage(frame, results) }
    }
    return cached.message
  }

  app.get(
    '/preview/ws',
    upgradeWebSocket(() => {
      let unsubscribe: (() => void) | undefined
      const drop = (): void => {
        unsubscribe?.()
        unsubscribe = undefined
      }
      return {
        onOpen(_event, ws) {
          const raw = ws.raw as WebSocket
          if (heartbeat.size >= maxClients) {
            raw.close(CLOSE_TOO_MANY, `too many preview clients (limit ${maxClients})`)
            return
          }
          heartbeat.add(raw)
          let queued = 0
          const sent = (): void => {
            queued--
          }
          const push = (frame: PreviewFrame, results: PreviewResult[]) => {
            if (raw.readyState !== 1 || queued >= MAX_QUEUED_FRAMES) return
            queued++
            raw.send(encoded(frame, results), { binary: true }, sent)
          }
          // The newest frame at once, so a freshly opened page shows something immediately.
          const first = feed.latest()
          if (first !== undefined) push(first, [])
          unsubscribe = feed.subscribe(push)
          raw.once('close', () => heartbeat.delete(raw))
        },
        onClose: drop,
        onError: drop,
      }
    }),
  )

  return app
}

/**
 * Pings every preview client each period; one that did not answer the previous ping (a
 * browser tab that vanished without closing, a dead network path) is dropped. The timer runs
 * only while there are clients.
 */
class Heartbeat {
  readonly #alive = new Map<WebSocket, boolean>()
  #timer: ReturnType<typeof setInterval> | undefined

  constructor(private readonly periodMs: number) {}

  get size(): number {
    return this.#alive.size
  }

  add(ws: WebSocket): void {
    this.#alive.set(ws, true)
    ws.on('pong', () => this.#alive.set(ws, true))
    this.#timer ??= setInterval(() => this.#beat(), this.periodMs)
    this.#timer.unref?.()
  }

  delete(ws: WebSocket): void {
    this.#alive.delete(ws)
    if (this.#alive.size === 0 && this.#timer !== undefined) {
      clearInterval(this.#timer)
      this.#timer = undefined
    }
  }

  #beat(): void {
    for (const [ws, alive] of this.#alive) {
      if (!alive) {
        ws.terminate()
        this.delete(ws)
        continue
      }
      this.#alive.set(ws, false)
      ws.ping()
    }
  }
}
