/**
 * The preview routes on a real HTTP server, fed by a real bsread receiver (the camera's frames
 * reach the feed exactly as the service hands them over). Used by test/preview-routes.test.ts;
 * the browser test runs against the real service instead.
 * @module
 */
import type { AddressInfo } from 'node:net'
import type { Server } from 'node:http'
import { serve } from '@hono/node-server'
import { Hono } from 'hono'
import { BsreadReceiver } from '../../src/bsread/receiver.js'
import { PreviewFeed } from '../../src/preview/feed.js'
import { previewRoutes, previewWebSocket } from '../../src/preview/routes.js'

export interface Harness {
  url: string
  feed: PreviewFeed
  received(): number
  close(): Promise<void>
}

export async function startHarness(opts: {
  input: string
  channel: string
  rateHz?: number
}): Promise<Harness> {
  const feed = new PreviewFeed({ rateHz: opts.rateHz ?? 5 })
  const receiver = new BsreadReceiver({ address: opts.input })
  let received = 0
  const loop = (async () => {
    for await (const msg of receiver) {
      const v = msg.value(opts.channel)
      if (!v) continue
      received++
      feed.offer(msg.pulseId, msg.globalTimestamp, v.info, v.bytes)
    }
  })()
  const app = new Hono()
  app.route('/', previewRoutes({ feed }))
  const websocket = previewWebSocket()
  const server = await new Promise<Server>((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1', websocket }, () =>
      resolve(s as Server),
    )
  })
  const port = (server.address() as AddressInfo).port
  return {
    url: `http://127.0.0.1:${port}`,
    feed,
    received: () => received,
    async close() {
      feed.close()
      receiver.close()
      await loop
      for (const c of websocket.server.clients) c.terminate()
      websocket.server.close()
      await new Promise<void>((r) => {
        server.close(() => r())
        server.closeAllConnections()
      })
    },
  }
}
