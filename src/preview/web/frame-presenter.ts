/**
 * One preview message to the screen: decode the frame with the kernel, compute contrast,
 * profiles and the edge, draw image and charts, and record what was shown in the debug record
 * and the header. Only the newest message waiting is shown; older ones are dropped.
 * @module
 */
import { decodePreviewMessage } from '../feed.js'
import type { PreviewDebug } from './debug.js'
import type { EdgeView } from './edge.js'
import { el, type MessageLine } from './page.js'
import type { ResultCharts } from './result-charts.js'
import type { Viewer } from './viewer.js'

export class FramePresenter {
  readonly #viewer: Viewer
  readonly #edgeView: EdgeView
  readonly #charts: ResultCharts
  readonly #debug: PreviewDebug
  readonly #messages: MessageLine
  #pending: ArrayBuffer | undefined
  #scheduled = false
  #lastShownAt = 0
  #fps = 0

  constructor(
    viewer: Viewer,
    edgeView: EdgeView,
    charts: ResultCharts,
    debug: PreviewDebug,
    messages: MessageLine,
  ) {
    this.#viewer = viewer
    this.#edgeView = edgeView
    this.#charts = charts
    this.#debug = debug
    this.#messages = messages
  }

  /** Takes a message from the transport (the WebSocket's binary message format). */
  offer(buf: ArrayBuffer): void {
    // Only the newest message matters; older ones waiting here are dropped.
    this.#pending = buf
    if (!this.#scheduled) {
      this.#scheduled = true
      setTimeout(() => this.#processPending(), 0)
    }
  }

  #processPending(): void {
    this.#scheduled = false
    const buf = this.#pending
    this.#pending = undefined
    if (!buf || !this.#viewer.work) return
    try {
      this.#show(buf)
    } catch (err) {
      this.#debug.decodeErrors++
      this.#messages.show(`frame not shown: ${err instanceof Error ? err.message : String(err)}`)
    }
  }

  #show(buf: ArrayBuffer): void {
    const viewer = this.#viewer
    const work = viewer.work
    const edgeView = this.#edgeView
    const debug = this.#debug
    if (!work) return
    const t0 = performance.now()
    const msg = decodePreviewMessage(buf)
    const h = msg.header
    const f = work.decode(h, msg.data)
    viewer.setFrame(f)
    const t1 = performance.now()
    viewer.updateContrast()
    const t2 = performance.now()
    const roiSignal = viewer.overlay.roi('signal')
    const roiBackground = viewer.overlay.roi('background')
    const sig = work.xProfile(f, roiSignal)
    const bkg = work.xProfile(f, roiBackground)
    edgeView.update(work.kernel, h.pulse_id, sig, bkg)
    const t3 = performance.now()
    viewer.draw()
    const t4 = performance.now()
    this.#charts.addResults(h)
    this.#charts.drawProfiles(sig, bkg)
    this.#charts.drawEdge()
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
    if (this.#lastShownAt > 0) {
      const inst = 1000 / Math.max(1, now - this.#lastShownAt)
      this.#fps = this.#fps === 0 ? inst : this.#fps * 0.8 + inst * 0.2
    }
    this.#lastShownAt = now
    const fps = this.#fps
    el('pulse').textContent = h.pulse_id
    el('fps').textContent = fps ? fps.toFixed(1) : '–'
    el('decode-ms').textContent = decodeMs.toFixed(0)
    el('decode-ms').title = Object.entries(debug.timings)
      .map(([k, v]) => `${k} ${v.toFixed(1)} ms`)
      .join(', ')
    el('camera').textContent = h.name
  }
}
