/**
 * The preview page: frames arrive still compressed (WebSocket, HTTP polling as a fallback), are
 * decoded and profiled by the service's own kernel module in the browser, and drawn with the
 * ROIs, which the user edits here. Service state comes from the contract's HTTP endpoints.
 * @module
 */
import { Kernel } from '../../kernel/kernel.js'
import { decodePreviewMessage, type PreviewHeader } from '../feed.js'
import { ApiError, call } from './api.js'
import { histogramChart, lineChart, type Marker, type Series } from './charts.js'
import { EdgeView } from './edge.js'
import { FrameWork, type DecodedFrame, type Profile, type Roi } from './frame.js'
import { renderFrame, type ColourMapName, type View } from './image.js'
import { RoiOverlay, sameRoi, type RoiKind } from './roi.js'

/** What tests (and curious users, from the console) can read. */
export interface PreviewDebug {
  ready: boolean
  /** Decimal string of the last frame shown. */
  lastPulseId: string | null
  lastProfiles: {
    pulse_id: string
    roi_signal: Roi
    roi_background: Roi
    /** Exact column sums as decimal strings; null when the ROI is unset or does not fit. */
    signal: string[] | null
    background: string[] | null
  } | null
  framesShown: number
  decodeErrors: number
  errors: string[]
  roi: { signal: Roi; background: Roi }
  transport: 'websocket' | 'http' | 'none'
  /** Milliseconds spent on the last frame, per step. */
  timings: { decode: number; contrast: number; profiles: number; render: number; charts: number }
  lastEdge: {
    pulse_id: string
    position: number | null
    amplitude: number | null
    source: string
  } | null
}

declare global {
  interface Window {
    __psenPreview: PreviewDebug
  }
}

const debug: PreviewDebug = {
  ready: false,
  lastPulseId: null,
  lastProfiles: null,
  framesShown: 0,
  decodeErrors: 0,
  errors: [],
  roi: { signal: [], background: [] },
  transport: 'none',
  lastEdge: null,
  timings: { decode: 0, contrast: 0, profiles: 0, render: 0, charts: 0 },
}
window.__psenPreview = debug

function el<T extends HTMLElement = HTMLElement>(id: string): T {
  const e = document.getElementById(id)
  if (!e) throw new Error(`page element #${id} missing`)
  return e as T
}

const canvas = el<HTMLCanvasElement>('image')
const overlaySvg = document.getElementById('overlay') as unknown as SVGSVGElement
const messageEl = el('message')

let messageTimer: ReturnType<typeof setTimeout> | undefined
function showMessage(text: string, isError = true): void {
  messageEl.textContent = text
  messageEl.style.color = isError ? '' : 'var(--ok)'
  if (isError) {
    debug.errors.push(text)
    if (debug.errors.length > 50) debug.errors.shift()
  }
  clearTimeout(messageTimer)
  messageTimer = setTimeout(() => {
    messageEl.textContent = ''
  }, 8000)
}

// ---- image, view and ROIs -------------------------------------------------------------------

let work: FrameWork | undefined
let frame: DecodedFrame | undefined
let view: View = { x: 0, y: 0, w: 1, h: 1 }
let contrastRange = { lo: 0, hi: 1, min: 0, max: 0 }

const overlay = new RoiOverlay(overlaySvg, {
  commit: (kind, roi) => void saveRoi(kind, roi),
  pan: (v) => {
    view = v
    draw()
  },
})

function fitView(): void {
  if (!frame) return
  view = { x: 0, y: 0, w: frame.width, h: frame.height }
}

/** Zooms by `factor` (< 1 zooms in) keeping frame point (fx, fy) where it is on screen. */
function zoom(factor: number, fx?: number, fy?: number): void {
  if (!frame) return
  const W = frame.width
  const H = frame.height
  const w = Math.round(Math.min(W, Math.max(8, view.w * factor)))
  const h = Math.max(1, Math.round((w * H) / W))
  const cx = fx ?? view.x + view.w / 2
  const cy = fy ?? view.y + view.h / 2
  const x = Math.round(cx - ((cx - view.x) / view.w) * w)
  const y = Math.round(cy - ((cy - view.y) / view.h) * h)
  view = { x: Math.min(Math.max(0, x), W - w), y: Math.min(Math.max(0, y), H - h), w, h }
  draw()
}

function numberInput(id: string, fallback: number): number {
  const v = Number(el<HTMLInputElement>(id).value)
  return Number.isFinite(v) ? v : fallback
}

/** Draws the current frame with the current view and contrast (no kernel work). */
function draw(): void {
  if (!work || !frame) return
  const stride = renderFrame(canvas, work.pixels(frame), frame.width, view, {
    lo: contrastRange.lo,
    hi: contrastRange.hi,
    log: el<HTMLInputElement>('log').checked,
    colourMap: el<HTMLSelectElement>('cmap').value as ColourMapName,
  })
  const shown = { x: view.x, y: view.y, w: canvas.width * stride, h: canvas.height * stride }
  overlay.setGeometry(shown, frame.width, frame.height)
  el('view-info').textContent =
    `${frame.width}×${frame.height} ${frame.dtype}` +
    (stride > 1 ? `, every ${stride}${stride === 2 ? 'nd' : 'th'} pixel` : '') +
    (view.w < frame.width
      ? `, view x ${view.x}–${view.x + view.w} y ${view.y}–${view.y + view.h}`
      : '')
  el('range-info').textContent = `range ${fmtNum(contrastRange.lo)}–${fmtNum(contrastRange.hi)}`
}

function fmtNum(v: number): string {
  return Number.isInteger(v) ? String(v) : Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(4)
}

el('fit').addEventListener('click', () => {
  fitView()
  draw()
})
el('zoom-in').addEventListener('click', () => zoom(0.5))
el('zoom-out').addEventListener('click', () => zoom(2))
el('viewer').addEventListener('dblclick', () => {
  fitView()
  draw()
})
el('viewer').addEventListener(
  'wheel',
  (e) => {
    if (!frame) return
    e.preventDefault()
    const r = overlaySvg.getBoundingClientRect()
    const fx = view.x + ((e.clientX - r.left) / r.width) * view.w
    const fy = view.y + ((e.clientY - r.top) / r.height) * view.h
    zoom(e.deltaY < 0 ? 0.8 : 1.25, fx, fy)
  },
  { passive: false },
)
for (const id of ['cmap', 'log', 'p-lo', 'p-hi']) {
  el(id).addEventListener('change', () => {
    if (work && frame)
      contrastRange = work.contrast(frame, numberInput('p-lo', 1), numberInput('p-hi', 99.5))
    draw()
  })
}

function roiText(roi: Roi): string {
  return roi.length === 4 ? roi.join(', ') : ''
}

function setRoiLocal(kind: RoiKind, roi: Roi): void {
  if (!sameRoi(roi, overlay.roi(kind))) overlay.setRoi(kind, roi)
  debug.roi[kind] = [...overlay.roi(kind)]
  const input = el<HTMLInputElement>(`roi-${kind}-text`)
  // Not while the user is typing in it.
  if (document.activeElement !== input) input.value = roiText(overlay.roi(kind))
}

/** Bumped by every local change: a poll answer older than the change must not undo it. */
const roiEpoch: Record<RoiKind, number> = { signal: 0, background: 0 }
const roiSaving: Record<RoiKind, number> = { signal: 0, background: 0 }

async function saveRoi(kind: RoiKind, roi: Roi): Promise<void> {
  roiEpoch[kind]++
  roiSaving[kind]++
  try {
    const env = await call(`/roi_${kind}`, roi)
    const saved = env[`roi_${kind}`] as Roi
    roiEpoch[kind]++
    setRoiLocal(kind, saved)
    showMessage(`${kind} ROI saved: [${roiText(saved)}]`, false)
  } catch (err) {
    showMessage(err instanceof Error ? err.message : String(err))
  } finally {
    roiSaving[kind]--
  }
  if (roiSaving[kind] === 0) await pollRois()
}

// Typed ROIs: four integers (any separators), or nothing to switch the ROI off.
for (const kind of ['signal', 'background'] as const) {
  const input = el<HTMLInputElement>(`roi-${kind}-text`)
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') {
      input.value = roiText(overlay.roi(kind))
      input.blur()
    }
    if (e.key !== 'Enter') return
    const text = input.value.trim()
    const roi = text === '' ? [] : (text.match(/-?\d+(\.\d+)?/g) ?? []).map(Number)
    // The service validates (and explains what is wrong); the page only sends.
    input.blur()
    void saveRoi(kind, roi)
  })
}

// ---- profiles, edge, trend ------------------------------------------------------------------

const edgeView = new EdgeView()
const trend: Array<{ pulse: string; edge: number }> = []
const TREND_LENGTH = 2000
let trendSource = 'service'

/** The service's edge for `pulse` among the recent results (undefined when not there). */
function serviceEdge(pulse: string): number | undefined {
  if (trendSource !== 'service') return undefined
  for (let i = trend.length - 1; i >= 0 && i >= trend.length - 400; i--) {
    if (trend[i]!.pulse === pulse) return trend[i]!.edge
  }
  return undefined
}

function addTrend(pulse: string, edge: number | null): void {
  trend.push({ pulse, edge: edge ?? NaN })
  if (trend.length > TREND_LENGTH) trend.splice(0, trend.length - TREND_LENGTH)
}

function drawProfiles(sig: Profile | undefined, bkg: Profile | undefined): void {
  const series: Series[] = []
  if (sig)
    series.push({ values: sig.values, colour: '#ff9f1c', label: 'signal', x0: sig.roi[0] ?? 0 })
  if (bkg)
    series.push({ values: bkg.values, colour: '#2ec4b6', label: 'background', x0: bkg.roi[0] ?? 0 })
  lineChart(
    el<HTMLCanvasElement>('profiles'),
    series,
    [],
    series.length ? '' : 'set a signal or background ROI that fits the frame',
  )
  el('profile-info').textContent = sig ? `(${sig.values.length} columns, x = frame column)` : ''
}

function drawEdge(): void {
  const e = edgeView.last
  const markers: Marker[] = []
  let msg = e ? e.status.replaceAll('_', ' ') : 'no X-ray shot yet'
  if (e && e.position !== null) {
    markers.push({ x: e.position, colour: '#e71d36', label: `edge ${e.position.toFixed(1)}` })
    msg = ''
  }
  // The service's own edge for the same pulse, when it came with the frames.
  const service = e ? serviceEdge(e.pulseId) : undefined
  if (service !== undefined && Number.isFinite(service)) {
    markers.push({ x: service, colour: '#e8e8e8', label: `service ${service.toFixed(1)}`, row: 1,
      dashed: true })
  }
  const series: Series[] = []
  if (e?.normalised) {
    const what =
      edgeView.parameters.normalisation === 'divide'
        ? 'signal / reference − 1'
        : 'signal − reference'
    series.push({ values: e.normalised, colour: '#ff9f1c', label: `${what} (pulse ${e.pulseId})` })
  }
  lineChart(el<HTMLCanvasElement>('subtracted'), series, markers, msg)
  el('edge-info').textContent = e
    ? `${e.source}${e.amplitude !== null ? `, amplitude ${fmtNum(e.amplitude)}` : ''}`
    : ''
  // X-ray shots only: reference shots have no edge.
  const values = trend.map((t) => t.edge).filter(Number.isFinite)
  lineChart(
    el<HTMLCanvasElement>('trend'),
    [{ values, colour: '#e71d36', label: 'edge (px) per X-ray shot', points: true }],
    [],
    values.some(Number.isFinite) ? '' : 'no edges yet',
  )
  const finite = values.filter(Number.isFinite)
  el('trend-info').textContent = finite.length
    ? `last ${values.length} edges of ${trend.length} shots (${trendSource}), ` +
      `mean ${fmtNum(finite.reduce((a, b) => a + b, 0) / finite.length)}`
    : ''
  histogramChart(el<HTMLCanvasElement>('edge-hist'), values, 40, '#e71d36')
}

// ---- frames ---------------------------------------------------------------------------------

let pending: ArrayBuffer | undefined
let scheduled = false
let lastShownAt = 0
let fps = 0

function offerMessage(buf: ArrayBuffer): void {
  // Only the newest message matters; older ones waiting here are dropped.
  pending = buf
  if (!scheduled) {
    scheduled = true
    setTimeout(processPending, 0)
  }
}

function processPending(): void {
  scheduled = false
  const buf = pending
  pending = undefined
  if (!buf || !work) return
  try {
    showFrame(buf)
  } catch (err) {
    debug.decodeErrors++
    showMessage(`frame not shown: ${err instanceof Error ? err.message : String(err)}`)
  }
}

function showFrame(buf: ArrayBuffer): void {
  if (!work) return
  const t0 = performance.now()
  const msg = decodePreviewMessage(buf)
  const h = msg.header
  const f = work.decode(h, msg.data)
  const shapeChanged = !frame || frame.width !== f.width || frame.height !== f.height
  frame = f
  if (shapeChanged) {
    fitView()
    el('no-frame').style.display = 'none'
  }
  const t1 = performance.now()
  contrastRange = work.contrast(f, numberInput('p-lo', 1), numberInput('p-hi', 99.5))
  const t2 = performance.now()
  const roiSignal = overlay.roi('signal')
  const roiBackground = overlay.roi('background')
  const sig = work.xProfile(f, roiSignal)
  const bkg = work.xProfile(f, roiBackground)
  edgeView.update(work.kernel, h.pulse_id, sig, bkg)
  const t3 = performance.now()
  draw()
  const t4 = performance.now()
  // The service's per-shot results come with the frames; without them, the page's own edges.
  for (const [pulse, edge] of h.results) addTrend(pulse, edge)
  if (h.results.length > 0) trendSource = 'service'
  else if (
    edgeView.last?.pulseId === h.pulse_id &&
    edgeView.last.xray &&
    edgeView.last.status !== 'no_reference_yet'
  ) {
    trendSource = 'browser'
    addTrend(h.pulse_id, edgeView.last.position)
  }
  drawProfiles(sig, bkg)
  drawEdge()
  const t5 = performance.now()
  debug.timings = {
    decode: t1 - t0,
    contrast: t2 - t1,
    profiles: t3 - t2,
    render: t4 - t3,
    charts: t5 - t4,
  }
  const decodeMs = t5 - t0

  debug.lastPulseId = h.pulse_id
  debug.lastProfiles = {
    pulse_id: h.pulse_id,
    roi_signal: [...roiSignal],
    roi_background: [...roiBackground],
    signal: sig?.strings ?? null,
    background: bkg?.strings ?? null,
  }
  const e = edgeView.last
  debug.lastEdge = e
    ? { pulse_id: e.pulseId, position: e.position, amplitude: e.amplitude, source: e.source }
    : null
  debug.framesShown++

  const now = performance.now()
  if (lastShownAt > 0) {
    const inst = 1000 / Math.max(1, now - lastShownAt)
    fps = fps === 0 ? inst : fps * 0.8 + inst * 0.2
  }
  lastShownAt = now
  el('pulse').textContent = h.pulse_id
  el('fps').textContent = fps ? fps.toFixed(1) : '–'
  el('decode-ms').textContent = decodeMs.toFixed(0)
  el('decode-ms').title = Object.entries(debug.timings)
    .map(([k, v]) => `${k} ${v.toFixed(1)} ms`)
    .join(', ')
  el('camera').textContent = h.name
}

let wsFailures = 0
let wsEverOpened = false
let polling = false

function setConn(text: string, ok: boolean): void {
  const c = el('conn')
  c.textContent = text
  c.className = `badge ${ok ? 'ok' : 'bad'}`
}

function connect(): void {
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/preview/ws`
  let opened = false
  const sock = new WebSocket(url)
  sock.binaryType = 'arraybuffer'
  sock.onopen = () => {
    opened = true
    wsEverOpened = true
    wsFailures = 0
    debug.transport = 'websocket'
    setConn('live (WebSocket)', true)
  }
  sock.onmessage = (e) => {
    if (e.data instanceof ArrayBuffer) offerMessage(e.data)
  }
  sock.onclose = () => {
    if (!opened) wsFailures++
    if (!wsEverOpened && wsFailures >= 3) {
      // WebSockets never worked (e.g. a proxy without upgrades): poll the newest frame instead.
      void pollFrames()
      return
    }
    // The service went away (restart, network): retry, less often the longer it lasts.
    setConn(wsFailures > 0 ? 'service unreachable, retrying' : 'reconnecting', false)
    setTimeout(connect, Math.min(5000, 1000 * (1 + wsFailures)))
  }
}

/** HTTP fallback: GET /preview/frame at the preview rate. */
async function pollFrames(): Promise<void> {
  if (polling) return
  polling = true
  debug.transport = 'http'
  setConn('live (HTTP polling)', true)
  let rate = 5
  try {
    const info = await call('/preview/info')
    rate = Number((info.preview as { rate_hz?: number } | undefined)?.rate_hz) || 5
  } catch {
    // keep the default rate
  }
  let lastPulse = ''
  for (;;) {
    const started = performance.now()
    try {
      const res = await fetch('/preview/frame', { cache: 'no-store' })
      if (res.status === 200) {
        const pulse = res.headers.get('X-Pulse-Id') ?? ''
        if (pulse !== lastPulse) {
          lastPulse = pulse
          const data = new Uint8Array(await res.arrayBuffer())
          offerMessage(packFromHeaders(res.headers, data))
        }
      }
    } catch {
      setConn('service unreachable', false)
    }
    await new Promise((r) =>
      // Jittered like the server's pushes, so as not to alias with the shot pattern.
      setTimeout(r, Math.max(0, (1000 / rate) * (0.75 + 0.5 * Math.random()) -
        (performance.now() - started))),
    )
  }
}

/** Builds the same message the WebSocket sends from a /preview/frame answer. */
function packFromHeaders(h: Headers, data: Uint8Array): ArrayBuffer {
  const [sec = '0', ns = '0'] = (h.get('X-Global-Timestamp') ?? '0.0').split('.')
  const hdr: PreviewHeader = {
    htype: 'psen-preview-1',
    pulse_id: h.get('X-Pulse-Id') ?? '0',
    global_timestamp: { sec: Number(sec), ns: Number(ns) },
    name: h.get('X-Channel') ?? '',
    type: h.get('X-Type') ?? 'uint16',
    shape: (h.get('X-Shape') ?? '').split(',').map(Number),
    encoding: (h.get('X-Encoding') ?? 'little') as PreviewHeader['encoding'],
    compression: (h.get('X-Compression') ?? 'none') as PreviewHeader['compression'],
    byte_length: data.byteLength,
    results: [],
  }
  const json = new TextEncoder().encode(JSON.stringify(hdr))
  const offset = Math.ceil((4 + json.byteLength) / 8) * 8
  const out = new Uint8Array(offset + data.byteLength)
  new DataView(out.buffer).setUint32(0, json.byteLength, true)
  out.set(json, 4)
  out.set(data, offset)
  return out.buffer
}

// ---- service state --------------------------------------------------------------------------

async function pollRois(): Promise<void> {
  for (const kind of ['signal', 'background'] as const) {
    if (overlay.dragging === kind || roiSaving[kind] > 0) continue
    const epoch = roiEpoch[kind]
    try {
      const env = await call(`/roi_${kind}`)
      const roi = env[`roi_${kind}`]
      if (!Array.isArray(roi)) continue
      // Skip answers that raced with a drag or a save started meanwhile.
      if (epoch !== roiEpoch[kind] || roiSaving[kind] > 0 || overlay.dragging === kind) continue
      setRoiLocal(kind, roi as Roi)
    } catch (err) {
      if (err instanceof ApiError) setConn(err.message, false)
    }
  }
}

function flatten(
  obj: Record<string, unknown>,
  prefix = '',
  out: Array<[string, string]> = [],
): Array<[string, string]> {
  for (const [k, v] of Object.entries(obj)) {
    const key = prefix ? `${prefix}.${k}` : k
    if (v !== null && typeof v === 'object' && !Array.isArray(v))
      flatten(v as Record<string, unknown>, key, out)
    else
      out.push([
        key,
        typeof v === 'number' && !Number.isInteger(v)
          ? v.toPrecision(6)
          : Array.isArray(v)
            ? JSON.stringify(v)
            : String(v),
      ])
  }
  return out
}

/** Input rate, drops and errors of the service, in the header (from GET /statistics). */
function showServiceRates(st: Record<string, unknown>): void {
  const n = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0)
  const sum = (v: unknown): number =>
    v !== null && typeof v === 'object'
      ? Object.values(v as Record<string, unknown>).reduce<number>((a, b) => a + n(b), 0)
      : n(v)
  const span = el('svc-rates')
  if (!('n_received_images' in st)) {
    span.textContent = ''
    return
  }
  const errors = n(st.n_malformed) + sum(st.n_frame_errors)
  // Image drops are normal when nobody reads the image stream; data drops are not.
  span.textContent =
    `service: input ${n(st.input_rate_hz).toFixed(1)} Hz, ` +
    `${n(st.n_processed_images)} processed, dropped ${n(st.n_dropped_data)} data / ` +
    `${n(st.n_dropped_images)} images, ${errors} errors`
  span.style.color = errors > 0 ? 'var(--err)' : ''
}

async function pollStatus(): Promise<void> {
  try {
    const status = await call('/status')
    const s = el('state')
    s.textContent = status.status
    s.className = `badge ${status.status === 'processing' ? 'ok' : 'bad'}`
    const stats = await call('/statistics')
    const st = (stats.statistics ?? {}) as Record<string, unknown>
    showServiceRates(st)
    const rows = flatten(st)
    const table = el<HTMLTableElement>('stats')
    table.replaceChildren(
      ...rows.slice(0, 40).map(([k, v]) => {
        const tr = document.createElement('tr')
        const a = document.createElement('td')
        const b = document.createElement('td')
        a.textContent = k
        b.textContent = v
        tr.append(a, b)
        return tr
      }),
    )
    const lastError = status.last_error as { message?: string } | null | undefined
    if (lastError?.message) el('state').title = `last error: ${lastError.message}`
  } catch (err) {
    const s = el('state')
    s.textContent = 'unreachable'
    s.className = 'badge bad'
    s.title = err instanceof Error ? err.message : String(err)
  }
}

// ---- parameters -----------------------------------------------------------------------------

let parameters: Record<string, unknown> = {}
/** Parameters with a fixed set of values (src/processing/parameters.ts). */
const CHOICES: Record<string, string[]> = {
  edge_type: ['falling', 'rising'],
  normalisation: ['subtract', 'divide'],
}

function renderParameters(p: Record<string, unknown>, info: Record<string, unknown>): void {
  parameters = p
  const problem = edgeView.setParameters(p)
  if (problem) showMessage(`the page's edge finder keeps its defaults: ${problem}`)
  const form = el<HTMLFormElement>('params')
  const nodes: HTMLElement[] = []
  for (const [key, value] of Object.entries(p)) {
    if (key === 'roi_signal' || key === 'roi_background') continue
    const label = document.createElement('label')
    label.textContent = key
    label.htmlFor = `param-${key}`
    let input: HTMLInputElement | HTMLSelectElement
    const choices = CHOICES[key] ?? info[`${key}_choices`]
    if (typeof value === 'boolean') {
      input = document.createElement('input')
      input.type = 'checkbox'
      input.checked = value
    } else if (Array.isArray(choices) && choices.every((c) => typeof c === 'string')) {
      input = document.createElement('select')
      for (const c of choices as string[]) input.add(new Option(c, c, false, c === value))
    } else if (typeof value === 'number' || value === null) {
      input = document.createElement('input')
      input.type = 'number'
      input.step = 'any'
      input.value = value === null ? '' : String(value)
    } else if (typeof value === 'string') {
      input = document.createElement('input')
      input.type = 'text'
      input.value = value
    } else {
      input = document.createElement('input')
      input.type = 'text'
      input.value = JSON.stringify(value)
      input.dataset.json = '1'
    }
    input.id = `param-${key}`
    input.name = key
    nodes.push(label, input)
  }
  form.replaceChildren(...nodes)
}

async function loadParameters(): Promise<void> {
  try {
    const env = await call('/parameters')
    const { parameters: p, state: _s, status: _t, ...info } = env
    renderParameters((p ?? {}) as Record<string, unknown>, info)
  } catch (err) {
    el('params').textContent = err instanceof Error ? err.message : String(err)
  }
}

el('params-save').addEventListener('click', () => {
  const changed: Record<string, unknown> = {}
  for (const input of el<HTMLFormElement>('params').querySelectorAll<
    HTMLInputElement | HTMLSelectElement
  >('input, select')) {
    const key = input.name
    const old = parameters[key]
    let value: unknown
    if (input instanceof HTMLInputElement && input.type === 'checkbox') value = input.checked
    else if (input instanceof HTMLInputElement && input.type === 'number')
      value = input.value === '' ? null : Number(input.value)
    else if (input instanceof HTMLInputElement && input.dataset.json) {
      try {
        value = JSON.parse(input.value)
      } catch {
        showMessage(`parameter ${key}: not valid JSON`)
        return
      }
    } else value = input.value
    if (JSON.stringify(value) !== JSON.stringify(old)) changed[key] = value
  }
  if (Object.keys(changed).length === 0) {
    showMessage('parameters unchanged', false)
    return
  }
  void call('/parameters', changed).then(
    () => {
      showMessage(`parameters saved: ${Object.keys(changed).join(', ')}`, false)
      return loadParameters()
    },
    (err: unknown) => showMessage(err instanceof Error ? err.message : String(err)),
  )
})

for (const action of ['start', 'stop'] as const) {
  el(action).addEventListener('click', () => {
    void call(`/${action}`, undefined, 'POST').then(
      () => pollStatus(),
      (err: unknown) => showMessage(err instanceof Error ? err.message : String(err)),
    )
  })
}

// ---- start ----------------------------------------------------------------------------------

async function main(): Promise<void> {
  setConn('loading kernel', false)
  const kernel = await Kernel.load(new URL('/kernel.wasm', location.href))
  work = new FrameWork(kernel)
  await Promise.all([pollRois(), pollStatus(), loadParameters()])
  drawProfiles(undefined, undefined)
  drawEdge()
  connect()
  setInterval(() => void pollStatus(), 1000)
  setInterval(() => void pollRois(), 1000)
  debug.ready = true
}

main().catch((err: unknown) => {
  const text = err instanceof Error ? err.message : String(err)
  setConn('failed', false)
  showMessage(`preview failed to start: ${text}`)
})
