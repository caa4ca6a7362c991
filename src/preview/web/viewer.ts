/**
 * The image panel: the decoded frame drawn with the current view (zoom, pan) and contrast, the
 * ROI overlay over it, and the panel's controls (colour map, contrast, log, fit, zoom, wheel).
 * @module
 */
import type { DecodedFrame, FrameWork, Roi } from './frame.js'
import { renderFrame, type ColourMapName, type View } from './image.js'
import { el, fmtNum } from './page.js'
import { RoiOverlay, type RoiKind } from './roi.js'

function numberInput(id: string, fallback: number): number {
  const v = Number(el<HTMLInputElement>(id).value)
  return Number.isFinite(v) ? v : fallback
}

export class Viewer {
  /** The kernel's frame work, once the kernel has loaded. */
  work: FrameWork | undefined
  frame: DecodedFrame | undefined
  view: View = { x: 0, y: 0, w: 1, h: 1 }
  contrastRange = { lo: 0, hi: 1, min: 0, max: 0 }
  readonly overlay: RoiOverlay
  readonly #canvas = el<HTMLCanvasElement>('image')
  readonly #overlaySvg = document.getElementById('overlay') as unknown as SVGSVGElement

  /** `commitRoi` saves a ROI the user dragged. */
  constructor(commitRoi: (kind: RoiKind, roi: Roi) => void) {
    this.overlay = new RoiOverlay(this.#overlaySvg, {
      commit: commitRoi,
      pan: (v) => {
        this.view = v
        this.draw()
      },
    })
    el('fit').addEventListener('click', () => {
      this.fitView()
      this.draw()
    })
    el('zoom-in').addEventListener('click', () => this.zoom(0.5))
    el('zoom-out').addEventListener('click', () => this.zoom(2))
    el('viewer').addEventListener('dblclick', () => {
      this.fitView()
      this.draw()
    })
    el('viewer').addEventListener(
      'wheel',
      (e) => {
        if (!this.frame) return
        e.preventDefault()
        const view = this.view
        const r = this.#overlaySvg.getBoundingClientRect()
        const fx = view.x + ((e.clientX - r.left) / r.width) * view.w
        const fy = view.y + ((e.clientY - r.top) / r.height) * view.h
        this.zoom(e.deltaY < 0 ? 0.8 : 1.25, fx, fy)
      },
      { passive: false },
    )
    for (const id of ['cmap', 'log', 'p-lo', 'p-hi']) {
      el(id).addEventListener('change', () => {
        if (this.work && this.frame) this.updateContrast()
        this.draw()
      })
    }
  }

  /** Shows frame `f` from now on; a new shape resets the view to the whole frame. */
  setFrame(f: DecodedFrame): void {
    const old = this.frame
    const shapeChanged = !old || old.width !== f.width || old.height !== f.height
    this.frame = f
    if (shapeChanged) {
      this.fitView()
      el('no-frame').style.display = 'none'
    }
  }

  /** Computes the contrast range of the current frame from the page's percentiles. */
  updateContrast(): void {
    if (!this.work || !this.frame) return
    this.contrastRange = this.work.contrast(
      this.frame,
      numberInput('p-lo', 1),
      numberInput('p-hi', 99.5),
    )
  }

  fitView(): void {
    if (!this.frame) return
    this.view = { x: 0, y: 0, w: this.frame.width, h: this.frame.height }
  }

  /** Zooms by `factor` (< 1 zooms in) keeping frame point (fx, fy) where it is on screen. */
  zoom(factor: number, fx?: number, fy?: number): void {
    if (!this.frame) return
    const view = this.view
    const W = this.frame.width
    const H = this.frame.height
    const w = Math.round(Math.min(W, Math.max(8, view.w * factor)))
    const h = Math.max(1, Math.round((w * H) / W))
    const cx = fx ?? view.x + view.w / 2
    const cy = fy ?? view.y + view.h / 2
    const x = Math.round(cx - ((cx - view.x) / view.w) * w)
    const y = Math.round(cy - ((cy - view.y) / view.h) * h)
    this.view = { x: Math.min(Math.max(0, x), W - w), y: Math.min(Math.max(0, y), H - h), w, h }
    this.draw()
  }

  /** Draws the current frame with the current view and contrast (no kernel work). */
  draw(): void {
    const { work, frame, view, contrastRange } = this
    if (!work || !frame) return
    const canvas = this.#canvas
    const stride = renderFrame(canvas, work.pixels(frame), frame.width, view, {
      lo: contrastRange.lo,
      hi: contrastRange.hi,
      log: el<HTMLInputElement>('log').checked,
      colourMap: el<HTMLSelectElement>('cmap').value as ColourMapName,
    })
    const shown = { x: view.x, y: view.y, w: canvas.width * stride, h: canvas.height * stride }
    this.overlay.setGeometry(shown, frame.width, frame.height)
    el('view-info').textContent =
      `${frame.width}×${frame.height} ${frame.dtype}` +
      (stride > 1 ? `, every ${stride}${stride === 2 ? 'nd' : 'th'} pixel` : '') +
      (view.w < frame.width
        ? `, view x ${view.x}–${view.x + view.w} y ${view.y}–${view.y + view.h}`
        : '')
    el('range-info').textContent = `range ${fmtNum(contrastRange.lo)}–${fmtNum(contrastRange.hi)}`
  }
}
