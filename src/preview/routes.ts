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
import { WebSocketServer } from 'ws'
import { DEFAULT_KERNEL_URL } from '../kernel/loader.js'
import {
  encodePreviewMessage,
  previewHeader,
  type PreviewFeed,
  type PreviewFrame,
  type PreviewResult,
} from './feed.js'

/** Where `scripts/build-preview.mjs` writes the page (same place from src/ and from dist/). */
export const PREVIEW_STATIC_URL = new URL('../../dist/preview/static/', import.meta.url)

export interface PreviewRoutesOptions {
  feed: PreviewFeed
  /** Directory with index.html, app.js, app.css (default: the build output). */
  staticUrl?: URL
  /** The kernel module served as /kernel.wasm (default: build/kernel.wasm). */
  kernelUrl?: URL
  /**
   * A client whose socket holds more than this many unsent bytes is skipped for a frame rather
   * than queued (default 64 MiB): a slow browser must not make the service buffer frames.
   */
  maxBufferedBytes?: number
}

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
  return { server: new WebSocketServer({ noServer: true }) }
}

/** The preview router: `/`, `/preview`, `/preview/*` assets, `/kernel.wasm`, frame endpoints. */
export function previewRoutes(options: PreviewRoutesOptions): Hono {
  const { feed } = options
  const staticUrl = options.staticUrl ?? PREVIEW_STATIC_URL
  const kernelUrl = options.kernelUrl ?? DEFAULT_KERNEL_URL
  const maxBuffered = options.maxBufferedBytes ?? 64 * 1024 * 1024
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
      },
    }),
  )

  app.get('/preview/frame', (c) => {
    const frame = feed.latest()
    if (frame === undefined) return c.body(null, 204, { 'Cache-Control': 'no-store' })
    const h = previewHeader(frame)
    const nanos = String(h.global_timestamp.ns).padStart(9, '0')
    // A copy: the answer must not share memory the receiver may release.
    return c.body(new Uint8Array(frame.data), 200, {
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
    { frame: PreviewFrame; results: PreviewResult[]; message: Uint8Array<ArrayBuffer> } | undefined
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
      return {
        onOpen(_event, ws) {
          const raw = ws.raw as { bufferedAmount?: number } | undefined
          const push = (frame: PreviewFrame, results: PreviewResult[]) => {
            if (ws.readyState !== 1) return
            // A slow browser skips frames rather than making the service buffer them.
            if ((raw?.bufferedAmount ?? 0) > maxBuffered) return
            ws.send(encoded(frame, results))
          }
          // The newest frame at once, so a freshly opened page shows something immediately.
          const first = feed.latest()
          if (first !== undefined) push(first, [])
          unsubscribe = feed.subscribe(push)
        },
        onClose() {
          unsubscribe?.()
          unsubscribe = undefined
        },
        onError() {
          unsubscribe?.()
          unsubscribe = undefined
        },
      }
    }),
  )

  return app
}
