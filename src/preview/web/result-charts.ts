/**
 * The charts beside the image: the x-profiles, the normalised signal with the edge, and the
 * trend and histogram of the edge per X-ray shot (the service's results when they come with the
 * frames, the page's own edges otherwise).
 * @module
 */
import type { PreviewHeader } from '../feed.js'
import { histogramChart, lineChart, type Marker, type Series } from './charts.js'
import type { EdgeView } from './edge.js'
import type { Profile } from './frame.js'
import { el, fmtNum } from './page.js'

const TREND_LENGTH = 2000

export class ResultCharts {
  readonly #edgeView: EdgeView
  readonly #trend: Array<{ pulse: string; edge: number }> = []
  #trendSource = 'service'

  constructor(edgeView: EdgeView) {
    this.#edgeView = edgeView
  }

  /** Adds the shots of one preview message to the trend (call after the edge view's update). */
  addResults(h: PreviewHeader): void {
    const edgeView = this.#edgeView
    // The service's per-shot results come with the frames; without them, the page's own edges.
    for (const [pulse, edge] of h.results) this.#addTrend(pulse, edge)
    if (h.results.length > 0) this.#trendSource = 'service'
    else if (
      edgeView.last?.pulseId === h.pulse_id &&
      edgeView.last.xray &&
      edgeView.last.status !== 'no_reference_yet'
    ) {
      this.#trendSource = 'browser'
      this.#addTrend(h.pulse_id, edgeView.last.position)
    }
  }

  /** The service's edge for `pulse` among the recent results (undefined when not there). */
  #serviceEdge(pulse: string): number | undefined {
    const trend = this.#trend
    if (this.#trendSource !== 'service') return undefined
    for (let i = trend.length - 1; i >= 0 && i >= trend.length - 400; i--) {
      if (trend[i]!.pulse === pulse) return trend[i]!.edge
    }
    return undefined
  }

  #addTrend(pulse: string, edge: number | null): void {
    const trend = this.#trend
    trend.push({ pulse, edge: edge ?? NaN })
    if (trend.length > TREND_LENGTH) trend.splice(0, trend.length - TREND_LENGTH)
  }

  drawProfiles(sig: Profile | undefined, bkg: Profile | undefined): void {
    const series: Series[] = []
    if (sig)
      series.push({ values: sig.values, colour: '#ff9f1c', label: 'signal', x0: sig.roi[0] ?? 0 })
    if (bkg) {
      series.push({
        values: bkg.values,
        colour: '#2ec4b6',
        label: 'background',
        x0: bkg.roi[0] ?? 0,
      })
    }
    lineChart(
      el<HTMLCanvasElement>('profiles'),
      series,
      [],
      series.length ? '' : 'set a signal or background ROI that fits the frame',
    )
    el('profile-info').textContent = sig ? `(${sig.values.length} columns, x = frame column)` : ''
  }

  drawEdge(): void {
    const edgeView = this.#edgeView
    const trend = this.#trend
    const e = edgeView.last
    const markers: Marker[] = []
    let msg = e ? e.status.replaceAll('_', ' ') : 'no X-ray shot yet'
    if (e && e.position !== null) {
      markers.push({ x: e.position, colour: '#e71d36', label: `edge ${e.position.toFixed(1)}` })
      msg = ''
    }
    // The service's own edge for the same pulse, when it came with the frames.
    const service = e ? this.#serviceEdge(e.pulseId) : undefined
    if (service !== undefined && Number.isFinite(service)) {
      markers.push({
        x: service,
        colour: '#e8e8e8',
        label: `service ${service.toFixed(1)}`,
        row: 1,
        dashed: true,
      })
    }
    const series: Series[] = []
    if (e?.normalised) {
      const what =
        edgeView.parameters.normalisation === 'divide'
          ? 'signal / reference − 1'
          : 'signal − reference'
      const label = `${what} (pulse ${e.pulseId})`
      series.push({ values: e.normalised, colour: '#ff9f1c', label })
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
      ? `last ${values.length} edges of ${trend.length} shots (${this.#trendSource}), ` +
        `mean ${fmtNum(finite.reduce((a, b) => a + b, 0) / finite.length)}`
      : ''
    histogramChart(el<HTMLCanvasElement>('edge-hist'), values, 40, '#e71d36')
  }
}
