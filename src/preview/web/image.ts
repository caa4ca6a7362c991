/**
 * Draws a decoded frame on a canvas: a view rectangle of the frame (zoom), sampled with a stride
 * so that the canvas never exceeds a screen's worth of pixels (a 2560x2160 frame is drawn from
 * every 2nd pixel at "fit"; zooming in shows full resolution), through a colour map.
 * @module
 */

export type ColourMapName = 'gray' | 'viridis' | 'inferno' | 'jet'

/** Anchor colours, evenly spaced, interpolated into a 256-entry table. */
const ANCHORS: Record<ColourMapName, Array<[number, number, number]>> = {
  gray: [
    [0, 0, 0],
    [255, 255, 255],
  ],
  viridis: [
    [68, 1, 84],
    [72, 40, 120],
    [62, 74, 137],
    [49, 104, 142],
    [38, 130, 142],
    [31, 158, 137],
    [53, 183, 121],
    [109, 205, 89],
    [180, 222, 44],
    [253, 231, 37],
  ],
  inferno: [
    [0, 0, 4],
    [31, 12, 72],
    [85, 15, 109],
    [136, 34, 106],
    [186, 54, 85],
    [227, 89, 51],
    [249, 140, 10],
    [249, 201, 50],
    [252, 255, 164],
  ],
  jet: [
    [0, 0, 128],
    [0, 0, 255],
    [0, 128, 255],
    [0, 255, 255],
    [128, 255, 128],
    [255, 255, 0],
    [255, 128, 0],
    [255, 0, 0],
    [128, 0, 0],
  ],
}

const lutCache = new Map<ColourMapName, Uint32Array>()

/** 256 RGBA colours packed for a little-endian Uint32 view of ImageData. */
export function colourTable(name: ColourMapName): Uint32Array {
  const cached = lutCache.get(name)
  if (cached) return cached
  const anchors = ANCHORS[name]
  const lut = new Uint32Array(256)
  for (let i = 0; i < 256; i++) {
    const t = (i / 255) * (anchors.length - 1)
    const j = Math.min(anchors.length - 2, Math.floor(t))
    const f = t - j
    const a = anchors[j] ?? [0, 0, 0]
    const b = anchors[j + 1] ?? a
    const r = Math.round(a[0] + (b[0] - a[0]) * f)
    const g = Math.round(a[1] + (b[1] - a[1]) * f)
    const bl = Math.round(a[2] + (b[2] - a[2]) * f)
    lut[i] = (255 << 24) | (bl << 16) | (g << 8) | r
  }
  lutCache.set(name, lut)
  return lut
}

/** The part of the frame shown, in frame pixels. */
export interface View {
  x: number
  y: number
  w: number
  h: number
}

export interface RenderOptions {
  lo: number
  hi: number
  log: boolean
  colourMap: ColourMapName
  /** Largest canvas width and height in canvas pixels (default 1400 x 1200). */
  maxWidth?: number
  maxHeight?: number
}

/** Reused across frames: the per-frame garbage stays at zero when the canvas size is stable. */
let imageData: ImageData | undefined

/** Renders `pixels` (width x height, row-major) into `canvas`; returns the stride used. */
export function renderFrame(
  canvas: HTMLCanvasElement,
  pixels: ArrayLike<number> | BigInt64Array | BigUint64Array,
  width: number,
  view: View,
  o: RenderOptions,
): number {
  const maxW = o.maxWidth ?? 1400
  const maxH = o.maxHeight ?? 1200
  const stride = Math.max(1, Math.ceil(Math.max(view.w / maxW, view.h / maxH)))
  const cw = Math.max(1, Math.floor(view.w / stride))
  const ch = Math.max(1, Math.floor(view.h / stride))
  if (canvas.width !== cw || canvas.height !== ch) {
    canvas.width = cw
    canvas.height = ch
  }
  const ctx = canvas.getContext('2d')
  if (!ctx) return stride
  if (!imageData || imageData.width !== cw || imageData.height !== ch)
    imageData = ctx.createImageData(cw, ch)
  const out = new Uint32Array(imageData.data.buffer)
  const lut = colourTable(o.colourMap)
  let lo = o.lo
  let hi = o.hi
  if (o.log) {
    lo = Math.log1p(Math.max(0, lo))
    hi = Math.log1p(Math.max(0, hi))
  }
  const scale = hi > lo ? 255 / (hi - lo) : 0
  const colourOf = (value: number): number => {
    let v = value
    if (o.log) v = Math.log1p(v > 0 ? v : 0)
    let c = (v - lo) * scale
    c = c < 0 ? 0 : c > 255 ? 255 : c
    return lut[c | 0] as number
  }
  if (pixels instanceof Uint16Array || pixels instanceof Uint8Array) {
    // Small integer pixels: one table lookup per pixel (the table costs 64k steps per frame).
    renderLookup(pixels, width, view, stride, cw, ch, out, valueTable(pixels, colourOf))
  } else if (pixels instanceof BigInt64Array || pixels instanceof BigUint64Array) {
    let k = 0
    for (let cy = 0; cy < ch; cy++) {
      let idx = (view.y + cy * stride) * width + view.x
      for (let cx = 0; cx < cw; cx++, idx += stride) out[k++] = colourOf(Number(pixels[idx]))
    }
  } else {
    let k = 0
    for (let cy = 0; cy < ch; cy++) {
      let idx = (view.y + cy * stride) * width + view.x
      for (let cx = 0; cx < cw; cx++, idx += stride) out[k++] = colourOf(pixels[idx] as number)
    }
  }
  ctx.putImageData(imageData, 0, 0)
  return stride
}

let table16 = new Uint32Array(65536)

function valueTable(
  pixels: Uint16Array | Uint8Array,
  colourOf: (v: number) => number,
): Uint32Array {
  const n = pixels instanceof Uint16Array ? 65536 : 256
  if (table16.length < n) table16 = new Uint32Array(65536)
  for (let v = 0; v < n; v++) table16[v] = colourOf(v)
  return table16
}

function renderLookup(
  pixels: Uint16Array | Uint8Array,
  width: number,
  view: View,
  stride: number,
  cw: number,
  ch: number,
  out: Uint32Array,
  table: Uint32Array,
): void {
  let k = 0
  for (let cy = 0; cy < ch; cy++) {
    let idx = (view.y + cy * stride) * width + view.x
    for (let cx = 0; cx < cw; cx++, idx += stride) out[k++] = table[pixels[idx]!]!
  }
}
