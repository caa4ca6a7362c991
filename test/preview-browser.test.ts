/**
 * The browser preview end to end, in a real browser (headless chromium through playwright-core)
 * against the real service process (bin/psen-processing.js) fed by a real bsread camera with
 * 2560x2160 bitshuffle_lz4 frames. Checks: no console errors; the canvas shows the frame;
 * dragging the signal ROI changes what GET /roi_signal returns; the profiles the page computed
 * for a pulse equal, bit for bit, what the service sent on its data stream for that pulse.
 * Leaves a screenshot in test-artifacts/preview.png (and docs/preview.png with UPDATE_DOCS=1).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { copyFile, mkdir } from 'node:fs/promises'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import type { Browser, Page } from 'playwright-core'
import { decodeValue, type BsreadMessage } from '../src/bsread/decoder.js'
import { BsreadReceiver } from '../src/bsread/receiver.js'
import { Codec } from '../src/kernel/codec.js'
import { Kernel } from '../src/kernel/kernel.js'
import { FACILITY_BAND, FACILITY_HEIGHT } from '../src/sim/frame.js'
import { startCamera, type Camera } from './helpers/preview-camera.js'
import { browserChoice, launchChromium } from './helpers/preview-browser.js'
import { freePorts } from './helpers/ports.js'
import { sleep, waitFor } from './helpers/wait.js'

const PREFIX = 'TEST-CAM'
const N = `${PREFIX}:FPICTURE`
const WIDTH = 2560
const HEIGHT = 2160
/** Middle of the simulated spectrum band, as a fraction of the frame height. */
const BAND_CENTRE = (FACILITY_BAND[0] + FACILITY_BAND[1]) / 2 / FACILITY_HEIGHT

interface Sent {
  signal: string[] | null
  background: string[] | null
  parameters: { roi_signal: number[]; roi_background: number[] }
}

interface Ctx {
  camera: Camera
  service: ChildProcess
  serviceLog: string[]
  url: string
  data: BsreadReceiver
  /** Data-stream messages by pulse id (the newest few thousand). */
  sent: Map<string, Sent>
  browser: Browser
  page: Page
  consoleErrors: string[]
  /** Every URL the page requested. */
  requests: string[]
}

const test = suite<Ctx>('preview-browser')

/** The shared waitFor with this suite's patience: a real browser on a shared machine. */
const until = <T>(what: string, check: () => T | Promise<T>, ms = 60_000) =>
  waitFor(what, check, ms, 100)

async function api(ctx: Ctx, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(
    ctx.url + path,
    body === undefined
      ? {}
      : {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify(body),
        },
  )
  const env = (await res.json()) as Record<string, unknown>
  assert.is(env.state, 'ok', `${path}: ${String(env.status)}`)
  return env
}

function profileStrings(msg: BsreadMessage, name: string, codec: Codec): string[] | null {
  const raw = msg.value(name)
  if (!raw) return null
  const v = decodeValue(raw, codec)
  if (typeof v !== 'object' || !('length' in v)) return null
  return Array.from(v as ArrayLike<number | bigint>, (x) => x.toString())
}

test.before(async (ctx) => {
  const [rest, dataPort, imagePort] = await freePorts(3)
  ctx.camera = await startCamera({ prefix: PREFIX, width: WIDTH, height: HEIGHT, rateHz: 10 })
  ctx.serviceLog = []
  ctx.service = spawn(
    process.execPath,
    [
      'bin/psen-processing.js',
      ctx.camera.endpoint,
      PREFIX,
      '-r',
      String(rest),
      '-o',
      String(dataPort),
      '-i',
      String(imagePort),
      '--rest_api_interface',
      '127.0.0.1',
      '--stream_interface',
      '127.0.0.1',
      '--preview_rate',
      '5',
      '--log_level',
      'WARNING',
      '--auto_start',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  for (const s of [ctx.service.stdout, ctx.service.stderr]) {
    s?.on('data', (d: Buffer) => {
      ctx.serviceLog.push(d.toString())
      if (ctx.serviceLog.length > 200) ctx.serviceLog.shift()
    })
  }
  ctx.url = `http://127.0.0.1:${rest}`
  await until(
    'the service',
    async () => {
      try {
        return (await fetch(`${ctx.url}/status`)).ok || undefined
      } catch {
        return undefined
      }
    },
    30_000,
  )
  await api(ctx, '/roi_signal', [600, 1200, 1200, 300])
  await api(ctx, '/roi_background', [600, 1200, 200, 300])

  // Everything the service sends on its data stream, by pulse id.
  const kernel = await Kernel.load()
  const codec = new Codec(kernel)
  ctx.sent = new Map()
  ctx.data = new BsreadReceiver({ address: `tcp://127.0.0.1:${dataPort}`, codec })
  void (async () => {
    for await (const msg of ctx.data) {
      const paramsRaw = msg.value(`${N}.processing_parameters`)
      const params = paramsRaw ? JSON.parse(String(decodeValue(paramsRaw, codec))) : {}
      ctx.sent.set(msg.pulseId.toString(), {
        signal: profileStrings(msg, `${N}.roi_signal_x_profile`, codec),
        background: profileStrings(msg, `${N}.roi_background_x_profile`, codec),
        parameters: params as Sent['parameters'],
      })
      if (ctx.sent.size > 4000) ctx.sent.delete(ctx.sent.keys().next().value as string)
    }
  })()

  ctx.browser = await launchChromium()
  ctx.page = await ctx.browser.newPage({ viewport: { width: 1600, height: 1000 } })
  ctx.consoleErrors = []
  ctx.page.on('console', (m) => {
    if (m.type() === 'error') ctx.consoleErrors.push(m.text())
  })
  ctx.page.on('pageerror', (e) => ctx.consoleErrors.push(e.message))
  ctx.requests = []
  ctx.page.on('request', (r) => ctx.requests.push(r.url()))
})

test.after(async (ctx) => {
  await ctx.browser?.close()
  ctx.data?.close()
  if (ctx.service && ctx.service.exitCode === null) {
    const exited = new Promise((r) => ctx.service.once('exit', r))
    ctx.service.kill('SIGTERM')
    await Promise.race([exited, sleep(5000)]) // a bound on the wait for the exit
    if (ctx.service.exitCode === null) ctx.service.kill('SIGKILL')
  }
  await ctx.camera?.stop()
})

test('the page loads from the service and shows frames without console errors', async (ctx) => {
  const { page } = ctx
  await page.goto(`${ctx.url}/`)
  await page.waitForFunction(
    () => window.__psenPreview?.ready && window.__psenPreview.framesShown >= 3,
    null,
    { timeout: 60_000 },
  )
  const d = await page.evaluate(() => window.__psenPreview)
  assert.is(d.transport, 'websocket')
  assert.is(d.decodeErrors, 0)
  assert.equal(d.roi.signal, [600, 1200, 1200, 300])
  assert.equal(ctx.consoleErrors, [], 'no console errors')
  // Nothing from anywhere else (no CDN): every request went to the service itself.
  const origin = new URL(ctx.url).host
  assert.equal(
    ctx.requests.filter((u) => !u.startsWith('data:') && new URL(u).host !== origin),
    [],
  )
  assert.ok(
    ctx.requests.some((u) => u.endsWith('/kernel.wasm')),
    'kernel from the service',
  )
})

test('the canvas shows the frame (not blank): the spectrum band is brighter than the rest', async ({
  page,
}) => {
  // A string, not a function: tsx's transform would insert helpers the page does not have.
  const stats = (await page.evaluate(`(() => {
    const c = document.getElementById('image')
    const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data
    function rowMean(y) {
      let s = 0
      for (let x = 0; x < c.width; x++) {
        const i = (y * c.width + x) * 4
        s += px[i] + px[i + 1] + px[i + 2]
      }
      return s / c.width
    }
    const colours = new Set()
    for (let i = 0; i < px.length; i += 4 * 97) {
      colours.add((px[i] << 16) | (px[i + 1] << 8) | px[i + 2])
    }
    // The simulated spectrum band (src/sim/frame.ts) is bright; rows near the top are dark.
    return {
      width: c.width, height: c.height, colours: colours.size,
      band: rowMean(Math.round(c.height * ${BAND_CENTRE})),
      dark: rowMean(Math.round(c.height * 0.1)),
    }
  })()`)) as { width: number; height: number; colours: number; band: number; dark: number }
  assert.ok(stats.width >= 1000 && stats.height >= 800, `canvas ${stats.width}x${stats.height}`)
  assert.ok(stats.colours > 20, `only ${stats.colours} colours`)
  assert.ok(stats.band > stats.dark + 100, `band ${stats.band} vs dark ${stats.dark}`)
})

test('dragging the signal ROI rectangle saves it: GET /roi_signal changes', async (ctx) => {
  const { page } = ctx
  const before = (await api(ctx, '/roi_signal')).roi_signal as number[]
  const box = await page.locator('#overlay rect.roi.signal').boundingBox()
  assert.ok(box, 'signal ROI rectangle on the page')
  const x = box.x + box.width / 2
  const y = box.y + box.height / 2
  await page.mouse.move(x, y)
  await page.mouse.down()
  for (let i = 1; i <= 10; i++) await page.mouse.move(x - 8 * i, y - 3 * i)
  await page.mouse.up()
  const after = await until(
    'the new ROI on the service',
    async () => {
      const r = (await api(ctx, '/roi_signal')).roi_signal as number[]
      return r.join() !== before.join() ? r : undefined
    },
    20_000,
  )
  assert.is(after[1], before[1], 'moved, not resized')
  assert.is(after[3], before[3])
  assert.ok(after[0]! < before[0]!, 'moved left')
  assert.ok(after[2]! < before[2]!, 'moved up')
  await until(
    'the page showing the saved ROI',
    async () =>
      (await page.evaluate(() => window.__psenPreview.roi.signal)).join() === after.join() ||
      undefined,
  )
})

test('a ROI typed into its field is saved; an invalid one is refused, unchanged', async (ctx) => {
  const { page } = ctx
  const input = page.locator('#roi-background-text')
  await input.fill('500, 1300, 150, 250')
  await input.press('Enter')
  await until(
    'the typed background ROI on the service',
    async () => {
      const r = (await api(ctx, '/roi_background')).roi_background as number[]
      return r.join() === '500,1300,150,250' || undefined
    },
    20_000,
  )
  await input.fill('500, 1300, -1, 250')
  await input.press('Enter')
  await until(
    'the service error shown',
    async () =>
      /ROI offsets/.test((await page.locator('#message').textContent()) ?? '') || undefined,
  )
  const r = (await api(ctx, '/roi_background')).roi_background as number[]
  assert.equal(r, [500, 1300, 150, 250])
})

test('browser profiles equal, bit for bit, those on the service data stream', async (ctx) => {
  const { page } = ctx
  const roi = (await api(ctx, '/roi_signal')).roi_signal as number[]
  let compared = 0
  const seen = new Set<string>()
  while (compared < 3) {
    const p = await until('a page profile with the current ROI', async () => {
      const lp = await page.evaluate(() => window.__psenPreview.lastProfiles)
      if (!lp || seen.has(lp.pulse_id) || lp.roi_signal.join() !== roi.join() || !lp.signal)
        return undefined
      return lp
    })
    seen.add(p.pulse_id)
    const s = await until(
      `pulse ${p.pulse_id} on the data stream`,
      () => ctx.sent.get(p.pulse_id),
      20_000,
    )
    // The service applies a ROI change from the next frame: compare only frames processed with
    // the ROIs the page used.
    if (
      s.parameters.roi_signal?.join() !== p.roi_signal.join() ||
      s.parameters.roi_background?.join() !== p.roi_background.join()
    )
      continue
    assert.ok(s.signal && s.signal.length === roi[1], 'signal profile sent')
    assert.is(p.signal!.length, s.signal!.length)
    assert.equal(p.signal, s.signal, `signal profile of pulse ${p.pulse_id}`)
    assert.equal(p.background, s.background, `background profile of pulse ${p.pulse_id}`)
    compared++
  }
  assert.equal(ctx.consoleErrors, [], 'no console errors')
})

test('without WebSockets (blocked by a proxy) the page polls GET /preview/frame', async (ctx) => {
  const page = await ctx.browser.newPage({ viewport: { width: 1200, height: 800 } })
  const errors: string[] = []
  page.on('pageerror', (e) => errors.push(e.message))
  // Every WebSocket to the preview is refused, as a proxy without upgrade support would.
  await page.routeWebSocket(/\/preview\/ws$/, (ws) => ws.close())
  await page.goto(`${ctx.url}/preview`)
  await page.waitForFunction(
    () => window.__psenPreview?.transport === 'http' && window.__psenPreview.framesShown >= 2,
    null,
    { timeout: 60_000 },
  )
  const d = await page.evaluate(() => window.__psenPreview)
  assert.is(d.decodeErrors, 0)
  assert.ok(d.lastProfiles?.signal, 'profiles computed from polled frames')
  assert.equal(errors, [])
  await page.close()
})

test('screenshot: the page as a PNG of the viewport, not blank', async (ctx) => {
  const { page } = ctx
  // Let the trend collect a few more shots for the picture.
  const shown = await page.evaluate(() => window.__psenPreview.framesShown)
  await page.waitForFunction((n) => window.__psenPreview.framesShown >= n + 5, shown, {
    timeout: 60_000,
  })
  await mkdir('test-artifacts', { recursive: true })
  const png = await page.screenshot({ path: 'test-artifacts/preview.png' })
  // Decode it in a fresh page (the browser is the PNG decoder at hand): the viewport's size,
  // and a picture, not a blank page: many distinct colours.
  const viewer = await ctx.browser.newPage()
  try {
    const seen = await viewer.evaluate(async (b64) => {
      const img = new Image()
      img.src = `data:image/png;base64,${b64}`
      await img.decode()
      const canvas = document.createElement('canvas')
      canvas.width = img.naturalWidth
      canvas.height = img.naturalHeight
      const g = canvas.getContext('2d')!
      g.drawImage(img, 0, 0)
      const px = g.getImageData(0, 0, canvas.width, canvas.height).data
      const colours = new Set<number>()
      for (let i = 0; i < px.length; i += 4) {
        colours.add((px[i]! << 16) | (px[i + 1]! << 8) | px[i + 2]!)
      }
      return { width: img.naturalWidth, height: img.naturalHeight, colours: colours.size }
    }, png.toString('base64'))
    assert.equal([seen.width, seen.height], [1600, 1000], 'the viewport size')
    assert.ok(seen.colours > 100, `${seen.colours} distinct colours`)
  } finally {
    await viewer.close()
  }
  if (process.env.UPDATE_DOCS === '1') {
    await mkdir('docs', { recursive: true })
    await copyFile('test-artifacts/preview.png', 'docs/preview.png')
  }
})

test('with nobody reading the data stream, the page says so plainly', async (ctx) => {
  const notice = ctx.page.locator('#svc-notice')
  // The test's own reader is the data stream's consumer so far: no notice.
  assert.ok(await notice.isHidden(), 'no notice while a consumer reads the data stream')
  ctx.data.close()
  await ctx.page.waitForFunction(
    () => {
      const n = document.getElementById('svc-notice')
      return n !== null && !n.hidden && /no consumer on the data port/.test(n.textContent ?? '')
    },
    null,
    { timeout: 30_000 },
  )
  // biome-ignore lint/performance/useDomNodeTextContent: a Playwright locator, not a DOM node
  assert.match(await notice.innerText(), /data messages are dropped until one connects/)
})

// Runs in every environment: with Debian's chromium when present, else with the one the
// @sparticuz/chromium devDependency ships (PSEN_BROWSER=bundled forces that: a fresh machine).
console.log(`  (browser: ${browserChoice()} chromium)`)
test.run()
