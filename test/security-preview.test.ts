// The preview's limits, over real sockets: a client message above a few KiB closes that client
// (1009), clients beyond the cap are turned away with a reason (1013), a client that stops
// answering pings is dropped, a slow client has at most two frames queued, GET /preview/frame
// does not copy the frame per request, and after POST /stop the last frame is gone (the real
// service fed by the simulated camera).
import { request, type IncomingMessage } from 'node:http'
import { Hono } from 'hono'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { WebSocket } from 'ws'
import { listen, type HttpServer } from '../src/api/server.js'
import { PreviewFeed, encodePreviewMessage, type PreviewChannel } from '../src/preview/feed.js'
import { PREVIEW_MAX_PAYLOAD, previewRoutes, previewWebSocket } from '../src/preview/routes.js'
import { startSimulator } from '../src/sim/simulator.js'
import { api, startCli, waitFor } from './helpers/service.js'
import { sleep } from './helpers/wait.js'

const channel: PreviewChannel = {
  name: 'CAM:FPICTURE',
  type: 'uint16',
  shape: [2048, 2048],
  encoding: 'little',
  compression: 'none',
}
const FRAME_BYTES = 2048 * 2048 * 2

interface Served {
  feed: PreviewFeed
  http: HttpServer
  ws: ReturnType<typeof previewWebSocket>
  url: string
}

async function serve(
  opts: { maxClients?: number; heartbeatMs?: number; rateHz?: number } = {},
): Promise<Served> {
  const feed = new PreviewFeed({ rateHz: opts.rateHz ?? 5 })
  const app = new Hono()
  app.route(
    '/',
    previewRoutes({
      feed,
      ...(opts.maxClients ? { maxClients: opts.maxClients } : {}),
      ...(opts.heartbeatMs ? { heartbeatMs: opts.heartbeatMs } : {}),
    }),
  )
  const ws = previewWebSocket()
  const http = await listen(app, { port: 0, host: '127.0.0.1', websocket: ws })
  return { feed, http, ws, url: `ws://127.0.0.1:${http.port}/preview/ws` }
}

async function close(s: Served): Promise<void> {
  s.feed.close()
  await s.http.close(50)
}

function open(url: string, opts: { autoPong?: boolean } = {}): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, opts)
    ws.on('open', () => resolve(ws))
    ws.on('error', reject)
  })
}

function closed(ws: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) => {
    if (ws.readyState === WebSocket.CLOSED) resolve({ code: 1006, reason: '' })
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }))
  })
}

const test = suite('security-preview')

test('a client message above a few KiB closes that client (1009)', async () => {
  const s = await serve()
  try {
    const ws = await open(s.url)
    const done = closed(ws)
    ws.send(new Uint8Array(PREVIEW_MAX_PAYLOAD + 1))
    assert.is((await done).code, 1009)
    assert.ok(PREVIEW_MAX_PAYLOAD <= 16 * 1024, 'a few KiB')
  } finally {
    await close(s)
  }
})

test('clients beyond the cap are refused with a reason', async () => {
  const s = await serve({ maxClients: 2 })
  try {
    const a = await open(s.url)
    const b = await open(s.url)
    const c = await open(s.url)
    const r = await closed(c)
    assert.is(r.code, 1013)
    assert.match(r.reason, /too many preview clients \(limit 2\)/)
    assert.is(a.readyState, WebSocket.OPEN)
    a.close()
    await closed(a)
    // A place is free again.
    const d = await waitFor(
      'a free place',
      async () => {
        const ws = await open(s.url)
        await sleep(50) // a quiet period: a refused client is closed right after it opened
        if (ws.readyState === WebSocket.OPEN) return ws
        ws.terminate()
        return false
      },
      5000,
    )
    d.close()
    b.close()
  } finally {
    await close(s)
  }
})

test('a client that does not answer pings is dropped; a live one stays', async () => {
  const s = await serve({ heartbeatMs: 100 })
  try {
    const dead = await open(s.url, { autoPong: false })
    const live = await open(s.url)
    const r = await closed(dead)
    assert.is(r.code, 1006, 'terminated, no closing handshake')
    await sleep(300) // a quiet period of 3 heartbeats: the live client must stay
    assert.is(live.readyState, WebSocket.OPEN)
    live.close()
  } finally {
    await close(s)
  }
})

test('a slow client has at most two frames queued', async () => {
  const s = await serve({ rateHz: 50 })
  try {
    const slow = await open(s.url)
    // Stop reading: the service's writes back up (the kernel buffers fill, then user space).
    ;(slow as unknown as { _socket: { pause(): void } })._socket.pause()
    const data = new Uint8Array(FRAME_BYTES)
    const message = encodePreviewMessage({
      pulseId: 1n,
      globalTimestamp: { sec: 0, ns: 0 },
      channel,
      data,
      offeredAt: 0,
      sequence: 1,
    }).byteLength
    let pulse = 0n
    const timer = setInterval(() => s.feed.offer(++pulse, { sec: 0, ns: 0 }, channel, data), 5)
    await waitFor('many publications', () => s.feed.published >= 40, 20_000)
    clearInterval(timer)
    const [server] = [...s.ws.server.clients]
    assert.ok(server)
    // ws adds a frame header (a few bytes) to each message.
    assert.ok(
      server.bufferedAmount <= 2 * (message + 16),
      `${server.bufferedAmount} bytes queued for one client (2 frames: ${2 * message})`,
    )
    slow.terminate()
  } finally {
    await close(s)
  }
})

test('GET /preview/frame answers from the frame itself, no copy per request', async () => {
  const s = await serve()
  const port = s.http.port
  const responses: IncomingMessage[] = []
  try {
    s.feed.offer(7n, { sec: 1, ns: 2 }, channel, new Uint8Array(FRAME_BYTES).fill(3))
    const before = process.memoryUsage().arrayBuffers
    // Requests whose answers nobody reads: each one's body stays referenced until written.
    const n = 8
    for (let k = 0; k < n; k++) {
      responses.push(
        await new Promise<IncomingMessage>((resolve, reject) => {
          const req = request({ host: '127.0.0.1', port, path: '/preview/frame' }, (res) => {
            res.pause()
            resolve(res)
          })
          req.on('error', reject)
          req.end()
        }),
      )
    }
    assert.ok(responses.every((r) => r.statusCode === 200))
    const grown = process.memoryUsage().arrayBuffers - before
    assert.ok(
      grown < 2 * FRAME_BYTES,
      `${(grown / 2 ** 20).toFixed(1)} MiB more array buffers for ${n} answers of ` +
        `${FRAME_BYTES / 2 ** 20} MiB`,
    )
  } finally {
    for (const r of responses) r.destroy()
    await close(s)
  }
})

test('after POST /stop the preview has no frame to show', async () => {
  const sim = await startSimulator({ rate: 50, width: 256, height: 128 })
  const cli = await startCli(sim.address, sim.prefix, ['--auto_start', '--preview_rate', '20'])
  try {
    await waitFor(
      'a preview frame',
      async () => (await fetch(`${cli.base}/preview/frame`)).status === 200,
      20_000,
    )
    assert.is((await api(cli.base, 'POST', '/stop')).body.state, 'ok')
    const r = await fetch(`${cli.base}/preview/frame`)
    assert.is(r.status, 204, 'no stale frame served as if live')
    // A page opening now gets nothing until processing runs again.
    const ws = await open(`ws://127.0.0.1:${cli.restPort}/preview/ws`)
    let got = 0
    ws.on('message', () => {
      got++
    })
    await sleep(300) // a quiet period: nothing may arrive while stopped
    assert.is(got, 0)
    ws.close()
    assert.is((await api(cli.base, 'POST', '/start')).body.state, 'ok')
    await waitFor(
      'frames again',
      async () => (await fetch(`${cli.base}/preview/frame`)).status === 200,
      20_000,
    )
  } finally {
    await cli.stop()
    await sim.close()
  }
})

test.run()
