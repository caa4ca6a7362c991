/**
 * The ROI rectangles over the image: an SVG in frame coordinates (its viewBox follows the zoomed
 * view), rectangles that move when dragged and resize by their corners. A change is committed
 * (saved by the caller) when the pointer is released; the server's answer then replaces it.
 * @module
 */
import type { Roi } from './frame.js'
import type { View } from './image.js'

export type RoiKind = 'signal' | 'background'

type Drag =
  | {
      mode: 'move' | 'nw' | 'ne' | 'sw' | 'se'
      kind: RoiKind
      start: [number, number]
      roi0: number[]
    }
  | { mode: 'draw'; kind: RoiKind; start: [number, number]; roi0: number[] }
  | { mode: 'pan'; start: [number, number]; view0: View }

const SVG = 'http://www.w3.org/2000/svg'

export interface RoiOverlayEvents {
  /** A dragged ROI was released: save it. */
  commit(kind: RoiKind, roi: Roi): void
  /** The user panned the view. */
  pan(view: View): void
}

export class RoiOverlay {
  readonly #svg: SVGSVGElement
  readonly #events: RoiOverlayEvents
  #rois: Record<RoiKind, Roi> = { signal: [], background: [] }
  #view: View = { x: 0, y: 0, w: 1, h: 1 }
  #frame = { width: 0, height: 0 }
  #drag: Drag | undefined

  constructor(svg: SVGSVGElement, events: RoiOverlayEvents) {
    this.#svg = svg
    this.#events = events
    svg.addEventListener('pointerdown', (e) => this.#down(e))
    svg.addEventListener('pointermove', (e) => this.#move(e))
    svg.addEventListener('pointerup', (e) => this.#up(e))
    svg.addEventListener('pointercancel', () => {
      this.#drag = undefined
    })
  }

  get dragging(): RoiKind | 'pan' | undefined {
    const d = this.#drag
    if (!d) return undefined
    return d.mode === 'pan' ? 'pan' : d.kind
  }

  roi(kind: RoiKind): Roi {
    return this.#rois[kind]
  }

  /** Sets a ROI from the server, unless the user is dragging that one right now. */
  setRoi(kind: RoiKind, roi: Roi): void {
    if (this.dragging === kind) return
    if (sameRoi(this.#rois[kind], roi)) return
    this.#rois[kind] = [...roi]
    this.render()
  }

  setGeometry(view: View, width: number, height: number): void {
    const v = this.#view
    if (
      v.x === view.x &&
      v.y === view.y &&
      v.w === view.w &&
      v.h === view.h &&
      this.#frame.width === width &&
      this.#frame.height === height
    )
      return
    this.#view = { ...view }
    this.#frame = { width, height }
    this.#svg.setAttribute('viewBox', `${view.x} ${view.y} ${view.w} ${view.h}`)
    this.render()
  }

  render(): void {
    const svg = this.#svg
    while (svg.firstChild) svg.removeChild(svg.firstChild)
    // Handle size: about 9 screen pixels whatever the zoom.
    const px = this.#view.w / Math.max(1, svg.getBoundingClientRect().width || 800)
    const hs = 9 * px
    for (const kind of ['background', 'signal'] as const) {
      const roi = this.#rois[kind]
      if (roi.length !== 4) continue
      const [ox = 0, sx = 0, oy = 0, sy = 0] = roi
      const rect = document.createElementNS(SVG, 'rect')
      setAttrs(rect, {
        x: ox,
        y: oy,
        width: sx,
        height: sy,
        class: `roi ${kind}`,
        'data-kind': kind,
        'data-mode': 'move',
      })
      svg.appendChild(rect)
      const label = document.createElementNS(SVG, 'text')
      setAttrs(label, {
        x: ox + 2 * px,
        y: oy - 4 * px,
        class: 'roi-label',
        fill: kind === 'signal' ? '#ff9f1c' : '#2ec4b6',
        'font-size': 12 * px,
      })
      label.textContent = kind
      svg.appendChild(label)
      const corners: Array<[string, number, number]> = [
        ['nw', ox, oy],
        ['ne', ox + sx, oy],
        ['sw', ox, oy + sy],
        ['se', ox + sx, oy + sy],
      ]
      for (const [mode, cx, cy] of corners) {
        const h = document.createElementNS(SVG, 'rect')
        setAttrs(h, {
          x: cx - hs / 2,
          y: cy - hs / 2,
          width: hs,
          height: hs,
          class: `handle ${kind} ${mode}`,
          'data-kind': kind,
          'data-mode': mode,
        })
        svg.appendChild(h)
      }
    }
  }

  #toFrame(e: PointerEvent): [number, number] {
    const r = this.#svg.getBoundingClientRect()
    const v = this.#view
    return [
      v.x + ((e.clientX - r.left) / r.width) * v.w,
      v.y + ((e.clientY - r.top) / r.height) * v.h,
    ]
  }

  #down(e: PointerEvent): void {
    if (e.button !== 0 || this.#frame.width === 0) return
    const target = e.target as Element
    const kind = target.getAttribute('data-kind') as RoiKind | null
    const mode = target.getAttribute('data-mode')
    const p = this.#toFrame(e)
    if (e.shiftKey || e.altKey) {
      const k: RoiKind = e.shiftKey ? 'signal' : 'background'
      this.#drag = { mode: 'draw', kind: k, start: p, roi0: [] }
    } else if (
      kind &&
      (mode === 'move' || mode === 'nw' || mode === 'ne' || mode === 'sw' || mode === 'se')
    ) {
      this.#drag = { mode, kind, start: p, roi0: [...this.#rois[kind]] }
    } else {
      this.#drag = { mode: 'pan', start: [e.clientX, e.clientY], view0: { ...this.#view } }
    }
    this.#svg.setPointerCapture(e.pointerId)
    e.preventDefault()
  }

  #move(e: PointerEvent): void {
    const d = this.#drag
    if (!d) return
    if (d.mode === 'pan') {
      const r = this.#svg.getBoundingClientRect()
      const dx = ((e.clientX - d.start[0]) / r.width) * d.view0.w
      const dy = ((e.clientY - d.start[1]) / r.height) * d.view0.h
      const W = this.#frame.width
      const H = this.#frame.height
      const x = Math.round(Math.min(Math.max(0, d.view0.x - dx), W - d.view0.w))
      const y = Math.round(Math.min(Math.max(0, d.view0.y - dy), H - d.view0.h))
      if (x !== this.#view.x || y !== this.#view.y) this.#events.pan({ ...d.view0, x, y })
      return
    }
    const p = this.#toFrame(e)
    const W = this.#frame.width
    const H = this.#frame.height
    const dx = Math.round(p[0] - d.start[0])
    const dy = Math.round(p[1] - d.start[1])
    let next: number[]
    if (d.mode === 'draw') {
      const x0 = clamp(Math.floor(Math.min(d.start[0], p[0])), 0, W - 1)
      const y0 = clamp(Math.floor(Math.min(d.start[1], p[1])), 0, H - 1)
      const x1 = clamp(Math.ceil(Math.max(d.start[0], p[0])), x0 + 1, W)
      const y1 = clamp(Math.ceil(Math.max(d.start[1], p[1])), y0 + 1, H)
      next = [x0, x1 - x0, y0, y1 - y0]
    } else {
      const [ox = 0, sx = 1, oy = 0, sy = 1] = d.roi0
      let l = ox
      let t = oy
      let r = ox + sx
      let b = oy + sy
      if (d.mode === 'move') {
        const mx = clamp(dx, -ox, W - r)
        const my = clamp(dy, -oy, H - b)
        l += mx
        r += mx
        t += my
        b += my
      } else {
        if (d.mode === 'nw' || d.mode === 'sw') l = clamp(ox + dx, 0, r - 1)
        if (d.mode === 'ne' || d.mode === 'se') r = clamp(r + dx, l + 1, W)
        if (d.mode === 'nw' || d.mode === 'ne') t = clamp(oy + dy, 0, b - 1)
        if (d.mode === 'sw' || d.mode === 'se') b = clamp(b + dy, t + 1, H)
      }
      next = [l, r - l, t, b - t]
    }
    if (!sameRoi(next, this.#rois[d.kind])) {
      this.#rois[d.kind] = next
      this.render()
    }
  }

  #up(e: PointerEvent): void {
    const d = this.#drag
    this.#drag = undefined
    if (this.#svg.hasPointerCapture(e.pointerId)) this.#svg.releasePointerCapture(e.pointerId)
    if (!d || d.mode === 'pan') return
    const roi = this.#rois[d.kind]
    if (!sameRoi(roi, d.roi0)) this.#events.commit(d.kind, [...roi])
  }
}

export function sameRoi(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i])
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(Math.max(v, lo), hi)
}

function setAttrs(el: Element, attrs: Record<string, string | number>): void {
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v))
}
