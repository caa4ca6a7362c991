/**
 * Small canvas charts (no library): line plots with vertical markers, and a bar histogram.
 * @module
 */

export interface Series {
  values: ArrayLike<number>
  colour: string
  label: string
  /** x of sample i = x0 + i * dx (default 0 and 1). */
  x0?: number
  dx?: number
  /** Dots instead of a line (for sparse series such as per-shot edges). */
  points?: boolean
}

export interface Marker {
  x: number
  colour: string
  label: string
  /** Label line (0 = first below the top), so that close markers keep readable labels. */
  row?: number
  dashed?: boolean
}

const AXIS = '#59616c'
const TEXT = '#8a939e'

function prepare(canvas: HTMLCanvasElement): CanvasRenderingContext2D | undefined {
  // Match the backing store to the displayed size once it is known, for crisp lines.
  const w = Math.max(100, Math.round(canvas.clientWidth * (window.devicePixelRatio || 1)))
  if (canvas.clientWidth > 0 && canvas.width !== w) {
    canvas.height = Math.round((w * canvas.height) / canvas.width)
    canvas.width = w
  }
  const ctx = canvas.getContext('2d') ?? undefined
  if (!ctx) return undefined
  ctx.clearRect(0, 0, canvas.width, canvas.height)
  ctx.font = `${Math.round(canvas.width / 55 + 4)}px system-ui, sans-serif`
  return ctx
}

function fmt(v: number): string {
  const a = Math.abs(v)
  if (a !== 0 && (a >= 1e6 || a < 1e-2)) return v.toExponential(2)
  return Number.isInteger(v) ? String(v) : v.toFixed(a < 10 ? 2 : 1)
}

/** Line plot of several series sharing the axes; NaN samples leave gaps. */
export function lineChart(
  canvas: HTMLCanvasElement,
  series: Series[],
  markers: Marker[] = [],
  message = '',
): void {
  const ctx = prepare(canvas)
  if (!ctx) return
  const W = canvas.width
  const H = canvas.height
  // The legend gets its own line above the plot, so it never hides data.
  const fontPx = Math.round(W / 55 + 4)
  const pad = { l: W * 0.1, r: 8, t: fontPx + 8, b: H * 0.12 }
  let xmin = Infinity
  let xmax = -Infinity
  let ymin = Infinity
  let ymax = -Infinity
  for (const s of series) {
    const x0 = s.x0 ?? 0
    const dx = s.dx ?? 1
    if (s.values.length === 0) continue
    xmin = Math.min(xmin, x0)
    xmax = Math.max(xmax, x0 + (s.values.length - 1) * dx)
    for (let i = 0; i < s.values.length; i++) {
      const v = s.values[i] as number
      if (Number.isFinite(v)) {
        if (v < ymin) ymin = v
        if (v > ymax) ymax = v
      }
    }
  }
  ctx.fillStyle = TEXT
  if (!Number.isFinite(ymin) || !Number.isFinite(xmin)) {
    ctx.fillText(message || 'no data', pad.l + 8, H / 2)
    return
  }
  if (ymax === ymin) {
    ymax += 1
    ymin -= 1
  }
  if (xmax === xmin) xmax = xmin + 1
  // A little room above and below, so that extreme points do not sit on the frame.
  const top = ymax
  const bottom = ymin
  const margin = (ymax - ymin) * 0.04
  ymin -= margin
  ymax += margin
  const sx = (W - pad.l - pad.r) / (xmax - xmin)
  const sy = (H - pad.t - pad.b) / (ymax - ymin)
  const X = (x: number) => pad.l + (x - xmin) * sx
  const Y = (y: number) => H - pad.b - (y - ymin) * sy
  ctx.strokeStyle = AXIS
  ctx.lineWidth = 1
  ctx.strokeRect(pad.l, pad.t, W - pad.l - pad.r, H - pad.t - pad.b)
  ctx.fillText(fmt(top), 2, Y(top) + 10)
  ctx.fillText(fmt(bottom), 2, Y(bottom))
  ctx.fillText(fmt(xmin), pad.l, H - 4)
  const xr = fmt(xmax)
  ctx.fillText(xr, W - pad.r - ctx.measureText(xr).width, H - 4)
  if (ymin < 0 && ymax > 0) {
    ctx.setLineDash([3, 3])
    ctx.beginPath()
    ctx.moveTo(pad.l, Y(0))
    ctx.lineTo(W - pad.r, Y(0))
    ctx.stroke()
    ctx.setLineDash([])
  }
  ctx.lineWidth = Math.max(1, W / 500)
  let legendX = pad.l + 6
  for (const s of series) {
    const x0 = s.x0 ?? 0
    const dx = s.dx ?? 1
    ctx.strokeStyle = s.colour
    ctx.fillStyle = s.colour
    if (s.points) {
      const r = Math.max(1.5, W / 400)
      for (let i = 0; i < s.values.length; i++) {
        const v = s.values[i] as number
        if (Number.isFinite(v)) ctx.fillRect(X(x0 + i * dx) - r, Y(v) - r, 2 * r, 2 * r)
      }
      ctx.fillText(s.label, legendX, pad.t - 5)
      legendX += ctx.measureText(s.label).width + 14
      continue
    }
    ctx.beginPath()
    let pen = false
    for (let i = 0; i < s.values.length; i++) {
      const v = s.values[i] as number
      if (!Number.isFinite(v)) {
        pen = false
        continue
      }
      if (pen) ctx.lineTo(X(x0 + i * dx), Y(v))
      else ctx.moveTo(X(x0 + i * dx), Y(v))
      pen = true
    }
    ctx.stroke()
    ctx.fillStyle = s.colour
    ctx.fillText(s.label, legendX, pad.t - 5)
    legendX += ctx.measureText(s.label).width + 14
  }
  for (const m of markers) {
    if (!Number.isFinite(m.x)) continue
    ctx.strokeStyle = m.colour
    ctx.fillStyle = m.colour
    ctx.setLineDash(m.dashed ? [6, 4] : [])
    ctx.beginPath()
    ctx.moveTo(X(m.x), pad.t)
    ctx.lineTo(X(m.x), H - pad.b)
    ctx.stroke()
    ctx.setLineDash([])
    ctx.fillText(
      m.label,
      Math.min(X(m.x) + 4, W - pad.r - ctx.measureText(m.label).width),
      pad.t + (fontPx + 2) * (1 + (m.row ?? 0)),
    )
  }
  if (message) {
    ctx.fillStyle = TEXT
    ctx.fillText(message, pad.l + 6, H - pad.b - 6)
  }
}

/** Histogram of the finite values in `values` with `bins` bars. */
export function histogramChart(
  canvas: HTMLCanvasElement,
  values: number[],
  bins: number,
  colour: string,
): void {
  const finite = values.filter(Number.isFinite)
  const ctx = prepare(canvas)
  if (!ctx) return
  const W = canvas.width
  const H = canvas.height
  const pad = { l: 6, r: 6, t: 8, b: H * 0.14 }
  ctx.fillStyle = TEXT
  if (finite.length === 0) {
    ctx.fillText('no edges yet', pad.l + 8, H / 2)
    return
  }
  let lo = Math.min(...finite)
  let hi = Math.max(...finite)
  if (hi === lo) {
    lo -= 0.5
    hi += 0.5
  }
  const counts = new Array<number>(bins).fill(0)
  for (const v of finite)
    counts[Math.min(bins - 1, Math.floor(((v - lo) / (hi - lo)) * bins))]! += 1
  const top = Math.max(...counts)
  const bw = (W - pad.l - pad.r) / bins
  ctx.fillStyle = colour
  counts.forEach((c, i) => {
    const h = (c / top) * (H - pad.t - pad.b)
    ctx.fillRect(pad.l + i * bw, H - pad.b - h, Math.max(1, bw - 1), h)
  })
  ctx.fillStyle = TEXT
  ctx.fillText(fmt(lo), pad.l, H - 4)
  const r = fmt(hi)
  ctx.fillText(r, W - pad.r - ctx.measureText(r).width, H - 4)
  const n = `n = ${finite.length}`
  ctx.fillText(n, W / 2 - ctx.measureText(n).width / 2, H - 4)
}
