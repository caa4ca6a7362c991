/**
 * The edge as the page sees it: the service's own EdgeFinder (src/processing/edge-finder.ts),
 * with the service's parameters, run in the browser on the preview's frames. The preview sees
 * only some frames (5 Hz of a 100 Hz stream), so its reference window is built from fewer,
 * older shots than the service's: the curve and marker are for the eye. The trend and the
 * histogram use the service's own per-shot results when the service sends them with the frames.
 *
 * For the drawing, the page also keeps the normalised curve (signal against the mean of the
 * same window of reference profiles) — EdgeFinder keeps that inside kernel memory.
 * @module
 */
import type { Kernel } from '../../kernel/kernel.js'
import { EdgeFinder, type EdgeResult as FinderResult } from '../../processing/edge-finder.js'
import {
  EDGE_STATUS,
  defaultParameters,
  effectiveAveraging,
  parameterModel,
  type ProcessingParameters,
} from '../../processing/parameters.js'
import type { Profile } from './frame.js'

export interface EdgeResult {
  pulseId: string
  xray: boolean
  /** Edge in pixels within the signal ROI, or null. */
  position: number | null
  amplitude: number | null
  /** Correlation peak / its noise sigma (the service's edge_confidence), or null. */
  confidence: number | null
  /** Signal normalised by the reference mean (ROI-local x), for drawing. */
  normalised: Float64Array | null
  status: string
  source: string
}

function finite(v: number): number | null {
  return Number.isFinite(v) ? v : null
}

export class EdgeView {
  #params: ProcessingParameters = defaultParameters()
  #finder: EdgeFinder | undefined
  #kernel: Kernel | undefined
  #ring: Float64Array[] = []
  #roiKey = ''
  /** Latest result of an X-ray shot (kept while reference shots follow). */
  last: EdgeResult | undefined
  /** Status of the newest shot, whatever its type. */
  lastStatus = ''

  get parameters(): ProcessingParameters {
    return this.#params
  }

  /** Takes the service's parameters (GET /parameters); unknown or invalid ones keep defaults. */
  setParameters(p: Record<string, unknown>): string | undefined {
    try {
      const { roi_signal: _s, roi_background: _b, ...rest } = p
      this.#params = parameterModel.merge(defaultParameters(), rest)
      this.#finder?.setParameters(this.#params)
      this.#ring = []
      return undefined
    } catch (err) {
      return err instanceof Error ? err.message : String(err)
    }
  }

  update(
    kernel: Kernel,
    pulseId: string,
    sig: Profile | undefined,
    bkg: Profile | undefined,
  ): void {
    if (this.#kernel !== kernel || !this.#finder) {
      this.#kernel = kernel
      this.#finder = new EdgeFinder(kernel, this.#params)
    }
    const r: FinderResult = this.#finder.process({
      pulseId: BigInt(pulseId),
      signal: sig?.sums ?? null,
      signalRoi: sig?.roi ?? [],
      background: bkg?.sums ?? null,
    })
    const status = EDGE_STATUS.find((s) => s.code === r.edge_status)?.name ?? String(r.edge_status)
    this.lastStatus = status
    const normalised = this.#normalised(sig, bkg, status)
    if (status === 'reference_shot') return
    this.last = {
      pulseId,
      xray: status !== 'no_signal_roi' && status !== 'roi_outside_frame',
      position: finite(r.edge_position),
      amplitude: finite(r.cross_correlation_amplitude),
      confidence: finite(r.edge_confidence),
      normalised,
      status,
      source: this.#source(r, status),
    }
  }

  /** How the browser's finder got this result, with the shot's confidence (shown by the page). */
  #source(r: FinderResult, status: string): string {
    const f = this.#finder!
    const method = this.#params.compatibility
      ? 'compatibility'
      : this.#params.edge_method === 'learned'
        ? `filter learned from ${f.learnedShots} shot(s)`
        : 'step filter'
    const conf = Number.isFinite(r.edge_confidence)
      ? `, confidence ${r.edge_confidence.toFixed(1)}${status === 'low_confidence' ? ' (low)' : ''}`
      : ''
    return `browser EdgeFinder, ${method}, ${f.referenceCount} reference(s)${conf}`
  }

  /** The curve to draw: signal (minus dark) normalised by the mean of recent references. */
  #normalised(
    sig: Profile | undefined,
    bkg: Profile | undefined,
    status: string,
  ): Float64Array | null {
    if (!sig) {
      this.#ring = []
      return null
    }
    const key = sig.roi.join(',')
    if (key !== this.#roiKey) {
      this.#ring = []
      this.#roiKey = key
    }
    const p = this.#params
    const n = sig.values.length
    const s = Float64Array.from(sig.values)
    if (p.dark_subtraction && bkg && bkg.values.length === n) {
      for (let i = 0; i < n; i++) s[i]! -= bkg.values[i]!
    }
    if (status === 'reference_shot') {
      this.#ring.push(s)
      const averaging = effectiveAveraging(p)
      const keep = averaging.mode === 'mean' ? averaging.count : 4
      while (this.#ring.length > keep) this.#ring.shift()
      return null
    }
    if (this.#ring.length === 0) return null
    const out = new Float64Array(n)
    for (let i = 0; i < n; i++) {
      let ref = 0
      for (const r of this.#ring) ref += r[i]!
      ref /= this.#ring.length
      out[i] = p.normalisation === 'divide' ? (ref === 0 ? 0 : s[i]! / ref - 1) : s[i]! - ref
    }
    return out
  }
}
