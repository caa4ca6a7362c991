/**
 * The preview feed and its HTTP/WebSocket endpoints, over real sockets: a bsread camera (PUSH),
 * a receiver feeding the PreviewFeed, the routes on a real HTTP server, a `ws` client.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import WebSocket from 'ws'
import { Codec } from '../src/kernel/codec.js'
import { Kernel } from '../src/kernel/kernel.js'
import {
  decodePreviewMessage,
  encodePreviewMessage,
  PreviewFeed,
  type PreviewChannel,
  type PreviewFrame,
} from '../src/preview/feed.js'
import { startCamera, type Camera } from './helpers/preview-camera.js'
import { startHarness, type Harness } from './helpers/preview-harness.js'
import { sleep, waitFor } from './helpers/wait.js'

const channel: PreviewChannel = {
  name: 'CAM:FPICTURE',
  type: 'uint16',
  shape: [4, 2],
  encoding: 'little',
  compression: 'none',
}

const feedSuite = suite('preview-feed')

feedSuite('offer keeps references only and latest() returns the newest frame', () => {
  const feed = new PreviewFeed()
  assert.is(feed.latest(), undefined)
  const a = new Uint8Array(16).fill(1)
  const b = new Uint8Array(16).fill(2)
  feed.offer(1n, { sec: 1, ns: 2 }, channel, a)
  feed.offer(2n ** 63n + 5n, { sec: 3, ns: 4 }, channel, b)
  const f = feed.latest()
  assert.ok(f)
  assert.is(f.pulseId, 2n ** 63n + 5n)
  assert.is(f.data, b, 'the very buffer offered, not a copy')
  assert.is(f.sequence, 2)
  assert.is(feed.offered, 2)
  feed.clear()
  assert.is(feed.latest(), undefined)
})

feedSuite('subscribers get only the newest of several offers, once', async () => {
  const feed = new PreviewFeed({ rateHz: 50 })
  const got: PreviewFrame[] = []
  let resolveNext: (() => void) | undefined
  const stop = feed.subscribe((f) => {
    got.push(f)
    resolveNext?.()
  })
  for (let i = 1n; i <= 10n; i++) feed.offer(i, { sec: 0, ns: 0 }, channel, new Uint8Array(16))
  feed.offerResult(9n, 12.5, 3)
  feed.offerResult(10n, NaN, NaN)
  // The feed's timer is unref'd (it must not keep a service alive): hold the loop open here.
  const keepAlive = setTimeout(() => undefined, 10_000)
  await new Promise<void>((r) => {
    resolveNext = r
  })
  assert.is(got.length, 1)
  assert.is(got[0]!.pulseId, 10n)
  // Nothing new offered: the next ticks publish nothing (a quiet period, on purpose).
  await sleep(100)
  assert.is(got.length, 1)
  assert.is(feed.published, 1)
  clearTimeout(keepAlive)
  stop()
  assert.is(feed.subscribers, 0)
  assert.throws(() => new PreviewFeed({ rateHz: 0 }), /preview rate/)
})

feedSuite('preview messages round-trip header and bytes; pulse ids stay exact', () => {
  const data = new Uint8Array(13).map((_, i) => i * 7)
  const frame: PreviewFrame = {
    pulseId: 18446744073709551615n,
    globalTimestamp: { sec: 1700000000, ns: 5 },
    channel: { ...channel, compression: 'bitshuffle_lz4' },
    data,
    offeredAt: 0,
    sequence: 1,
  }
  const msg = encodePreviewMessage(frame, [{ pulseId: 7n, edgePosition: 1.5, amplitude: NaN }])
  assert.is((msg.byteLength - data.byteLength) % 8, 0, 'value bytes start 8-aligned')
  const { header, data: back } = decodePreviewMessage(msg.buffer)
  assert.is(header.pulse_id, '18446744073709551615')
  assert.equal(header.shape, [4, 2])
  assert.is(header.compression, 'bitshuffle_lz4')
  assert.equal(header.results, [['7', 1.5, null]])
  assert.equal([...back], [...data])
  assert.throws(() => decodePreviewMessage(msg.subarray(0, msg.byteLength - 1)), /truncated/)
  assert.throws(() => decodePreviewMessage(new Uint8Array(2)), /too short/)
})

feedSuite.run()

const http = suite<{ camera: Camera; harness: Harness; kernel: Kernel }>('preview-routes')

http.before(async (ctx) => {
  ctx.camera = await startCamera({ prefix: 'TEST-CAM', width: 256, height: 216, rateHz: 40 })
  ctx.harness = await startHarness({
    input: ctx.camera.endpoint,
    channel: ctx.camera.channel.name,
    rateHz: 20,
  })
  ctx.kernel = await Kernel.load()
})

http.after(async (ctx) => {
  await ctx.harness?.close()
  await ctx.camera?.stop()
})

http('the page, its assets and the kernel are served with the right types', async ({ harness }) => {
  for (const path of ['/', '/preview']) {
    const res = await fetch(harness.url + path)
    assert.is(res.status, 200, path)
    assert.match(res.headers.get('content-type') ?? '', /text\/html/)
    assert.match(await res.text(), /\/preview\/app\.js/)
  }
  const js = await fetch(`${harness.url}/preview/app.js`)
  assert.is(js.status, 200)
  assert.match(js.headers.get('content-type') ?? '', /javascript/)
  await js.arrayBuffer()
  // Precompressed for browsers that accept gzip, plain otherwise; the same bytes either way.
  const plain = await fetch(`${harness.url}/preview/app.js`, {
    headers: { 'Accept-Encoding': 'identity' },
  })
  assert.is(plain.headers.get('content-encoding'), null)
  const plainText = await plain.text()
  const gz = await fetch(`${harness.url}/preview/app.js`, {
    headers: { 'Accept-Encoding': 'gzip' },
  })
  assert.is(gz.headers.get('content-encoding'), 'gzip')
  assert.is(await gz.text(), plainText, 'fetch decompresses to the same bundle')
  const css = await fetch(`${harness.url}/preview/app.css`)
  assert.match(css.headers.get('content-type') ?? '', /text\/css/)
  await css.arrayBuffer()
  const wasm = await fetch(`${harness.url}/kernel.wasm`)
  assert.is(wasm.headers.get('content-type'), 'application/wasm')
  const mod = await WebAssembly.compileStreaming(wasm)
  assert.ok(WebAssembly.Module.exports(mod).some((e) => e.name === 'bslz4_decompress'))
  const missing = await fetch(`${harness.url}/preview/..%2f..%2fpackage.json`)
  assert.is.not(missing.status, 200)
  await missing.arrayBuffer()
})

http(
  'GET /preview/frame returns the newest frame as received, metadata in headers',
  async (ctx) => {
    const { harness, camera, kernel } = ctx
    await waitFor('3 frames received', () => harness.received() >= 3, 10_000, 20)
    const res = await fetch(`${harness.url}/preview/frame`)
    assert.is(res.status, 200)
    assert.is(res.headers.get('x-type'), 'uint16')
    assert.is(res.headers.get('x-shape'), '256,216')
    assert.is(res.headers.get('x-compression'), 'bitshuffle_lz4')
    assert.is(res.headers.get('x-channel'), camera.channel.name)
    const pulse = BigInt(res.headers.get('x-pulse-id') ?? '-1')
    assert.ok(pulse >= 10_000n && pulse < camera.nextPulseId)
    const body = new Uint8Array(await res.arrayBuffer())
    // Still compressed: smaller than the frame, and the kernel codec decodes it to the full size.
    assert.ok(body.byteLength < 256 * 216 * 2)
    const decoded = new Codec(kernel).decompress(body, 'bitshuffle_lz4', 2, 256 * 216 * 2)
    assert.is(decoded.byteLength, 256 * 216 * 2)
    const info = (await (await fetch(`${harness.url}/preview/info`)).json()) as {
      preview: { rate_hz: number }
    }
    assert.is(info.preview.rate_hz, 20)
  },
)

http(
  'the WebSocket pushes newest frames as binary messages at the preview rate',
  async ({ harness }) => {
    const ws = new WebSocket(`${harness.url.replace('http', 'ws')}/preview/ws`)
    ws.binaryType = 'arraybuffer'
    const pulses: bigint[] = []
    await new Promise<void>((resolve, reject) => {
      ws.on('error', reject)
      ws.on('message', (data: ArrayBuffer) => {
        const { header, data: bytes } = decodePreviewMessage(data)
        assert.is(header.type, 'uint16')
        assert.equal(header.shape, [256, 216])
        assert.is(bytes.byteLength, header.byte_length)
        pulses.push(BigInt(header.pulse_id))
        if (pulses.length === 4) resolve()
      })
    })
    ws.close()
    for (let i = 1; i < pulses.length; i++)
      assert.ok(pulses[i]! > pulses[i - 1]!, 'newer frames only')
    assert.is(harness.feed.subscribers >= 0, true)
  },
)

http.run()
