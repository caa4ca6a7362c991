import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { Kernel } from '../src/kernel/kernel.js'
import { DEFAULT_KERNEL_URL, compileKernel } from '../src/kernel/loader.js'
import {
  ProfileKernels,
  type FrameRef,
  type ProfileInKernel,
  type RoiTuple,
} from '../src/kernel/profiles.js'
import { EdgeFinder, type EdgeInput, type EdgeResult } from '../src/processing/edge-finder.js'
import { EdgeStatistics } from '../src/processing/edge-statistics.js'
import {
  EDGE_STATUS,
  EdgeStatus,
  defaultParameters,
  effectiveAveraging,
  parseParameterUpdate,
  type ProcessingParameters,
} from '../src/processing/parameters.js'
import {
  correlateValid,
  edgeFindRef,
  oldFindEdge,
  refineRef,
  smoothRef,
  stepWaveform,
} from './reference/edge.js'
import { xorshift32 as rng } from './helpers/random.js'

const module = await compileKernel(DEFAULT_KERNEL_URL)

/** Standard normal deviates (Box-Muller) from a uniform source. */
function gauss(rnd: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(rnd() + 1e-300)) * Math.cos(2 * Math.PI * rnd())
}

/** The step method as the contract describes it (the defaults before issue 21). */
const STEP = { edge_method: 'step', minimum_confidence: null }

/** The step method's parameters with `update` (the tests below check the contract). */
function params(update: Record<string, unknown> = {}): ProcessingParameters {
  const r = parseParameterUpdate(defaultParameters(), { ...STEP, ...update })
  if (!r.ok) throw new Error(r.errors.join('; '))
  return r.parameters
}

/**
 * A timing-tool camera frame (uint16, width W, height H): dark offset 100 everywhere, a
 * spectrum band in rows [100, 140) (signal ROI) and a dark-only band in rows [20, 60)
 * (background ROI). On X-ray shots the band's transmission drops by `depth` after the edge at
 * `edge` (pixel x covers [x, x + 1), so the drop is fractional in the pixel containing it).
 */
function cameraFrame(
  width: number,
  edge: number | null,
  depth: number,
  noise: number,
  rnd: () => number,
): Uint16Array {
  const height = 160
  const g = gauss(rnd)
  const px = new Uint16Array(width * height)
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let v = 100
      if (y >= 100 && y < 140) {
        const spectrum = 2000 * Math.exp(-(((x - width / 2) / (0.9 * width)) ** 2))
        const after = edge === null ? 0 : Math.min(1, Math.max(0, x + 1 - edge))
        v += spectrum * (1 - depth * after)
      }
      if (noise > 0) v += noise * g()
      px[y * width + x] = Math.max(0, Math.min(65535, Math.round(v)))
    }
  }
  return px
}

/** Status of one shot. */
function st(f: EdgeFinder, input: EdgeInput): number {
  return f.process(input).edge_status
}

const SIGNAL: RoiTuple = [0, 0, 100, 40]
const BACKGROUND: RoiTuple = [0, 0, 20, 40]

class Camera {
  readonly kernel = Kernel.fromModule(module)
  readonly pk = new ProfileKernels(this.kernel)
  readonly frame = this.kernel.region()
  readonly sigOut = this.kernel.region()
  readonly bgOut = this.kernel.region()

  constructor(readonly width: number) {}

  /** Writes a frame into kernel memory and returns the finder input with both profiles. */
  shot(pulseId: bigint, px: Uint16Array, extra: Partial<EdgeInput> = {}): EdgeInput {
    const ptr = this.frame.ensure(px.byteLength)
    this.kernel
      .bytes(ptr, px.byteLength)
      .set(new Uint8Array(px.buffer, px.byteOffset, px.byteLength))
    const height = px.length / this.width
    const frame: FrameRef = { ptr, width: this.width, height, dtype: 'uint16', bigEndian: false }
    const sroi: RoiTuple = [SIGNAL[0], this.width, SIGNAL[2], SIGNAL[3]]
    const broi: RoiTuple = [BACKGROUND[0], this.width, BACKGROUND[2], BACKGROUND[3]]
    return {
      pulseId,
      signal: this.pk.xProfileInKernel(frame, sroi, this.sigOut),
      signalRoi: sroi,
      background: this.pk.xProfileInKernel(frame, broi, this.bgOut),
      ...extra,
    }
  }
}

test('the step method with default parameters reproduces the contract', () => {
  const p = params()
  assert.equal(p.reference, { mode: 'pulse_modulo', period: 4, phase: 0 })
  assert.equal(p.averaging, { mode: 'auto' })
  assert.equal(effectiveAveraging(p), { mode: 'mean', count: 4 })
  assert.equal(effectiveAveraging({ ...p, edge_method: 'learned', compatibility: true }), {
    mode: 'mean',
    count: 4,
  })
  assert.equal(effectiveAveraging(defaultParameters()), { mode: 'exponential', alpha: 0.05 })
  assert.is(defaultParameters().edge_method, 'learned')
  assert.is(p.normalisation, 'subtract')
  assert.is(p.step_length, 50)
  assert.is(p.edge_type, 'falling')
  assert.is(p.refinement_step, 1)
  assert.is(p.parabola_refinement, false)
  assert.is(p.minimum_amplitude, null)
  assert.equal(p.calibration, [])
  assert.is(p.compatibility, false)
  assert.is(p.dark_subtraction, false)
})

test('partial updates merge, switch modes with defaults, and report readable errors', () => {
  const d = defaultParameters()
  const a = parseParameterUpdate(d, { reference: { period: 8 }, refinement_step: 0.1 })
  assert.ok(a.ok)
  if (a.ok) {
    assert.equal(a.parameters.reference, { mode: 'pulse_modulo', period: 8, phase: 0 })
    assert.is(a.parameters.refinement_step, 0.1)
    assert.is(a.parameters.step_length, 50)
  }
  const b = parseParameterUpdate(d, { averaging: { mode: 'exponential' } })
  assert.ok(b.ok && b.parameters.averaging.mode === 'exponential')
  if (b.ok) assert.equal(b.parameters.averaging, { mode: 'exponential', alpha: 0.25 })
  const c = parseParameterUpdate(d, {
    reference: { mode: 'event_channel' },
    edge_type: 'up',
    stepp: 1,
  })
  assert.not.ok(c.ok)
  if (!c.ok) {
    assert.ok(
      c.errors.some((e) => e.startsWith('reference.channel:')),
      c.errors.join('|'),
    )
    assert.ok(c.errors.some((e) => e.startsWith('edge_type:')))
    assert.ok(c.errors.some((e) => e.includes('stepp')))
  }
  const e = parseParameterUpdate(d, { reference: { phase: 4 } })
  assert.ok(!e.ok && e.errors[0] === 'reference.phase: phase must be below period')
  assert.not.ok(parseParameterUpdate(d, null).ok)
  const badRoi = { reference: { mode: 'reference_roi', roi: [0, 0, 1, 1] } }
  assert.not.ok(parseParameterUpdate(d, badRoi).ok)
})

test('EDGE_STATUS is a consistent code/name/description table', () => {
  const codes = EDGE_STATUS.map((s) => s.code)
  assert.equal(
    codes,
    codes.map((_, i) => i),
  )
  assert.is(EdgeStatus.ok, 0)
  for (const s of EDGE_STATUS) assert.ok(s.description.length > 5)
})

test('default finder = the contract computed literally (window 4, 50 taps, argmax + 25)', () => {
  const kernel = Kernel.fromModule(module)
  const finder = new EdgeFinder(kernel, params())
  const rnd = rng(21)
  const n = 300
  const refs: number[][] = []
  const results: EdgeResult[] = []
  for (let pid = 0n; pid < 40n; pid++) {
    const xray = pid % 4n === 0n
    const e = 100 + Number(pid)
    const p = Float64Array.from(
      { length: n },
      (_, i) => 1000 + rnd() * 50 - (xray && i >= e ? 300 : 0),
    )
    const r = finder.process({ pulseId: pid, signal: p, signalRoi: [0, n, 0, 1] })
    results.push(r)
    if (!xray) {
      refs.push(Array.from(p))
      assert.is(r.edge_status, EdgeStatus.reference_shot)
      assert.ok(Number.isNaN(r.edge_position))
      continue
    }
    if (refs.length === 0) {
      assert.is(r.edge_status, EdgeStatus.no_reference_yet)
      assert.ok(Number.isNaN(r.edge_position) && Number.isNaN(r.cross_correlation_amplitude))
      continue
    }
    const window = refs.slice(-4)
    const mean = Array.from(
      { length: n },
      (_, i) => window.reduce((s, w) => s + w[i]!, 0) / window.length,
    )
    const diff = Array.from(p, (v, i) => v - mean[i]!)
    const c = correlateValid(refineRef(diff, 1, n - 1), stepWaveform(50, false))
    let best = 0
    for (let k = 1; k < c.length; k++) if (c[k]! > c[best]!) best = k
    assert.is(r.edge_status, EdgeStatus.ok)
    assert.is(r.edge_position, best + 25)
    assert.ok(Math.abs(r.cross_correlation_amplitude - c[best]!) < 1e-9 * Math.abs(c[best]!))
    assert.ok(Math.abs(r.edge_position - e) <= 1, `pid ${pid}: ${r.edge_position} vs ${e}`)
    assert.ok(Math.abs(r.reference_amplitude - mean.reduce((a, b) => a + b) / n) < 1e-9)
    assert.ok(Number.isNaN(r.edge_position_fs))
  }
  assert.is(results.filter((r) => r.edge_status === EdgeStatus.ok).length, 9)
})

// divide, smoothing, step 0.1, rising, parabola, calibration
test('finder with options equals the plain TS reference', () => {
  const rnd = rng(5)
  const n = 257
  const combos: Array<Record<string, unknown>> = [
    { normalisation: 'divide' },
    { smoothing: 5 },
    { refinement_step: 0.1 },
    { refinement_step: 0.3, step_length: 41 },
    { edge_type: 'rising', parabola_refinement: true },
    { parabola_refinement: true, calibration: [10, -2, 0.01] },
    {
      normalisation: 'divide',
      smoothing: 4,
      refinement_step: 0.5,
      step_length: 30,
      parabola_refinement: true,
    },
  ]
  for (const update of combos) {
    const p = params(update)
    const finder = new EdgeFinder(Kernel.fromModule(module), p)
    const rising = p.edge_type === 'rising'
    const ref = Float64Array.from({ length: n }, (_, i) => 500 + 100 * Math.sin(i / 40) + rnd() * 5)
    finder.process({ pulseId: 1n, signal: ref, signalRoi: [0, n, 0, 1] })
    const e = 111.37
    const cover = (i: number): number => Math.min(1, Math.max(0, rising ? e - i : i + 1 - e))
    const sig = Float64Array.from(ref, (v, i) => v * (1 - 0.4 * cover(i)) + rnd() * 5)
    const r = finder.process({ pulseId: 4n, signal: sig, signalRoi: [0, n, 0, 1] })
    const norm = Array.from(sig, (s, i) =>
      p.normalisation === 'subtract' ? s - ref[i]! : s / ref[i]! - 1,
    )
    const smooth = p.smoothing > 1 ? Array.from(smoothRef(norm, p.smoothing)) : norm
    const step = p.refinement_step
    const taps = Math.round(p.step_length / step)
    const want = edgeFindRef(refineRef(smooth, step, n - 1), taps, rising)
    const peak = want.argmax + (p.parabola_refinement ? want.offset : 0)
    const pos = peak * step + Math.floor(taps / 2) * step
    const tag = JSON.stringify(update)
    assert.is(r.edge_status, EdgeStatus.ok, tag)
    assert.ok(Math.abs(r.edge_position - pos) < 1e-9, `${tag}: ${r.edge_position} vs ${pos}`)
    const amp = r.cross_correlation_amplitude
    assert.ok(Math.abs(amp - want.amplitude) <= 1e-9 * Math.abs(want.amplitude), tag)
    const fwhm = want.fwhm * step
    assert.ok(Math.abs(r.edge_fwhm - fwhm) < 1e-6, `${tag} fwhm ${r.edge_fwhm} ${fwhm}`)
    assert.ok(Math.abs(r.next_amplitude - want.next) <= 1e-9 * Math.abs(want.next), tag)
    assert.ok(Math.abs(r.edge_position - e) < 2, `${tag}: edge ${r.edge_position}`)
    if (p.calibration.length > 0) {
      const x = r.edge_position
      assert.ok(Math.abs(r.edge_position_fs - (10 - 2 * x + 0.01 * x * x)) < 1e-9)
    }
  }
})

// noise-free: within ±0.5 px (argmax), ±0.2 px with the parabola
test('synthetic frames: sub-pixel edges across the ROI, noise-free', () => {
  const width = 512
  const cam = new Camera(width)
  for (const parabola of [false, true]) {
    const p = params({ parabola_refinement: parabola, dark_subtraction: true })
    const finder = new EdgeFinder(cam.kernel, p)
    const rnd = rng(1)
    const refFrame = cameraFrame(width, null, 0.3, 0, rnd)
    let worst = 0
    let pid = 1n
    for (let e = 40; e < width - 40; e += 7.13) {
      for (; pid % 4n !== 0n; pid++) finder.process(cam.shot(pid, refFrame))
      const r = finder.process(cam.shot(pid, cameraFrame(width, e, 0.3, 0, rnd)))
      pid++
      assert.is(r.edge_status, EdgeStatus.ok)
      worst = Math.max(worst, Math.abs(r.edge_position - e))
    }
    const tol = parabola ? 0.2 : 0.5
    assert.ok(worst <= tol, `parabola=${parabola}: worst error ${worst} px > ${tol}`)
  }
})

// σ = 2 % of the band per pixel; step 0.1 + parabola: within ±1 px
test('synthetic frames with noise', () => {
  // Per-pixel Gaussian noise of 40 counts on a ~2000-count band (40 rows summed), edge depth 30 %.
  const width = 1024
  const cam = new Camera(width)
  const p = params({ refinement_step: 0.1, parabola_refinement: true, dark_subtraction: true })
  const finder = new EdgeFinder(cam.kernel, p)
  const rnd = rng(77)
  let worst = 0
  let sq = 0
  let count = 0
  let pid = 1n
  for (let e = 100.25; e < width - 100; e += 37.7) {
    for (; pid % 4n !== 0n; pid++) {
      finder.process(cam.shot(pid, cameraFrame(width, null, 0.3, 40, rnd)))
    }
    const r = finder.process(cam.shot(pid, cameraFrame(width, e, 0.3, 40, rnd)))
    pid++
    assert.is(r.edge_status, EdgeStatus.ok)
    worst = Math.max(worst, Math.abs(r.edge_position - e))
    sq += (r.edge_position - e) ** 2
    count++
    assert.ok(r.edge_fwhm > 20 && r.edge_fwhm < 80, `fwhm ${r.edge_fwhm}`)
    assert.ok(r.next_amplitude < r.cross_correlation_amplitude / 2)
  }
  assert.ok(worst <= 1, `worst error ${worst} px (rms ${Math.sqrt(sq / count)})`)
})

test('every status on the right shot types: pulse_modulo', () => {
  const width = 256
  const cam = new Camera(width)
  const rnd = rng(9)
  const ref = cameraFrame(width, null, 0.3, 0, rnd)
  const xr = cameraFrame(width, 120, 0.3, 0, rnd)
  const finder = new EdgeFinder(cam.kernel, params({ reference: { period: 3, phase: 1 } }))
  assert.is(finder.process(cam.shot(1n, xr)).edge_status, EdgeStatus.no_reference_yet)
  assert.is(finder.process(cam.shot(2n, ref)).edge_status, EdgeStatus.reference_shot)
  assert.is(finder.process(cam.shot(3n, ref)).edge_status, EdgeStatus.reference_shot)
  const ok = finder.process(cam.shot(4n, xr))
  assert.is(ok.edge_status, EdgeStatus.ok)
  assert.is(ok.edge_position, 120)
  assert.is(st(finder, { pulseId: 7n, signal: null, signalRoi: [] }), EdgeStatus.no_signal_roi)
  const outside = { pulseId: 7n, signal: null, signalRoi: [0, 9999, 0, 1], signalRoiOutside: true }
  assert.is(st(finder, outside), EdgeStatus.roi_outside_frame)
  finder.setParameters(params({ reference: { period: 3, phase: 1 }, minimum_amplitude: 1e12 }))
  const low = finder.process(cam.shot(7n, xr))
  assert.is(low.edge_status, EdgeStatus.below_threshold)
  assert.ok(Number.isNaN(low.edge_position) && low.cross_correlation_amplitude > 0)
  finder.setParameters(params({ reference: { period: 3, phase: 1 }, dark_subtraction: true }))
  assert.is(st(finder, { ...cam.shot(8n, ref), background: null }), EdgeStatus.no_background)
  // A 30-pixel ROI is shorter than the 50-sample step.
  const short = new Float64Array(30).fill(1)
  const f2 = new EdgeFinder(cam.kernel, params())
  f2.process({ pulseId: 1n, signal: short, signalRoi: [0, 30, 0, 1] })
  assert.is(
    st(f2, { pulseId: 4n, signal: short, signalRoi: [0, 30, 0, 1] }),
    EdgeStatus.profile_too_short,
  )
})

test('every status on the right shot types: event_channel (numbers, booleans, bigints)', () => {
  const width = 256
  const cam = new Camera(width)
  const rnd = rng(10)
  const ref = cameraFrame(width, null, 0.3, 0, rnd)
  const xr = cameraFrame(width, 150, 0.3, 0, rnd)
  const finder = new EdgeFinder(
    cam.kernel,
    params({
      reference: {
        mode: 'event_channel',
        channel: 'EVR:CODE',
        xray_values: [1],
        reference_values: [0],
      },
    }),
  )
  // The pulse id no longer matters: pulse 4 is a reference shot by its event value.
  assert.is(st(finder, cam.shot(4n, xr, { eventValue: null })), EdgeStatus.no_event_value)
  assert.is(finder.process(cam.shot(4n, xr)).edge_status, EdgeStatus.no_event_value)
  assert.is(st(finder, cam.shot(4n, xr, { eventValue: 7 })), EdgeStatus.unknown_event_value)
  assert.is(st(finder, cam.shot(5n, xr, { eventValue: true })), EdgeStatus.no_reference_yet)
  assert.is(st(finder, cam.shot(4n, ref, { eventValue: false })), EdgeStatus.reference_shot)
  assert.is(st(finder, cam.shot(8n, ref, { eventValue: 0n })), EdgeStatus.reference_shot)
  const r = finder.process(cam.shot(9n, xr, { eventValue: 1n }))
  assert.is(r.edge_status, EdgeStatus.ok)
  assert.is(r.edge_position, 150)
  // Empty reference_values: everything that is not an X-ray value is a reference shot.
  finder.setParameters(
    params({
      reference: { mode: 'event_channel', channel: 'EVR:CODE', xray_values: [13] },
    }),
  )
  assert.is(st(finder, cam.shot(1n, ref, { eventValue: 42 })), EdgeStatus.reference_shot)
  assert.is(finder.process(cam.shot(2n, xr, { eventValue: 13 })).edge_position, 150)
})

test('every status on the right shot types: reference_roi (same frame, no window)', () => {
  const width = 256
  const cam = new Camera(width)
  const rnd = rng(11)
  const xr = cameraFrame(width, 99, 0.3, 0, rnd)
  const refPx = cameraFrame(width, null, 0.3, 0, rnd)
  const finder = new EdgeFinder(
    cam.kernel,
    params({ reference: { mode: 'reference_roi', roi: [0, width, 100, 40] } }),
  )
  // The reference ROI's profile: the band of a frame without edge (copied-out u64 sums).
  const refCam = new Camera(width)
  const refInput = refCam.shot(0n, refPx)
  const refSums = refCam.pk.copyOut(refInput.signal as ProfileInKernel)
  assert.is(finder.process(cam.shot(1n, xr)).edge_status, EdgeStatus.no_reference_roi)
  assert.is(
    st(finder, cam.shot(1n, xr, { reference: refSums.slice(1) })),
    EdgeStatus.reference_size_mismatch,
  )
  const r = finder.process(cam.shot(2n, xr, { reference: refSums }))
  assert.is(r.edge_status, EdgeStatus.ok)
  assert.is(r.edge_position, 99)
})

test('a kernel trap comes back as status error; the finder starts over on a fresh instance', () => {
  const kernel = Kernel.fromModule(module)
  const finder = new EdgeFinder(kernel, params())
  const n = 100
  const ref = new Float64Array(n).fill(100)
  const xr = Float64Array.from({ length: n }, (_, i) => (i < 70 ? 100 : 50))
  finder.process({ pulseId: 1n, signal: ref, signalRoi: [0, n, 0, 1] })
  // Sums "in kernel memory" far outside it: the conversion traps.
  const bad = { ptr: kernel.memoryBytes - 8, length: n, kind: 'uint64' as const }
  const r = finder.process({ pulseId: 5n, signal: bad, signalRoi: [0, n, 0, 1] })
  assert.is(r.edge_status, EdgeStatus.error)
  assert.is(kernel.resets, 1)
  const after = { pulseId: 8n, signal: xr, signalRoi: [0, n, 0, 1] }
  assert.is(st(finder, after), EdgeStatus.no_reference_yet)
  finder.process({ pulseId: 9n, signal: ref, signalRoi: [0, n, 0, 1] })
  assert.is(finder.process({ pulseId: 12n, signal: xr, signalRoi: [0, n, 0, 1] }).edge_position, 70)
})

test('the reference window resets on ROI and reference-parameter changes, not on others', () => {
  const finder = new EdgeFinder(Kernel.fromModule(module), params())
  const n = 200
  const ref = new Float64Array(n).fill(100)
  const xr = Float64Array.from({ length: n }, (_, i) => (i < 80 ? 100 : 50))
  finder.process({ pulseId: 1n, signal: ref, signalRoi: [0, n, 0, 10] })
  assert.is(finder.referenceCount, 1)
  assert.is(finder.process({ pulseId: 4n, signal: xr, signalRoi: [0, n, 0, 10] }).edge_position, 80)
  const moved = { pulseId: 8n, signal: xr, signalRoi: [0, n, 1, 10] }
  assert.is(st(finder, moved), EdgeStatus.no_reference_yet)
  finder.process({ pulseId: 9n, signal: ref, signalRoi: [0, n, 1, 10] })
  finder.setParameters(params({ smoothing: 3 }))
  assert.is(finder.referenceCount, 1)
  finder.setParameters(params({ smoothing: 3, averaging: { count: 8 } }))
  assert.is(finder.referenceCount, 0)
  // A different profile length (ROI width) also starts over.
  finder.process({ pulseId: 9n, signal: ref, signalRoi: [0, n, 1, 10] })
  assert.is(
    st(finder, { pulseId: 12n, signal: xr.slice(0, 150), signalRoi: [0, n, 1, 10] }),
    EdgeStatus.no_reference_yet,
  )
})

test('averaging: mean of the last N and the exponential average', () => {
  const n = 120
  const shots = [10, 20, 30, 40, 50, 60].map((v) => new Float64Array(n).fill(v))
  const mean = new EdgeFinder(Kernel.fromModule(module), params({ averaging: { count: 3 } }))
  const ema = new EdgeFinder(
    Kernel.fromModule(module),
    params({ averaging: { mode: 'exponential', alpha: 0.5 } }),
  )
  for (const [i, s] of shots.entries()) {
    mean.process({ pulseId: BigInt(i * 4 + 1), signal: s, signalRoi: [0, n, 0, 1] })
    ema.process({ pulseId: BigInt(i * 4 + 1), signal: s, signalRoi: [0, n, 0, 1] })
  }
  const x = new Float64Array(n).fill(0)
  const shot = { pulseId: 100n, signal: x, signalRoi: [0, n, 0, 1] }
  assert.is(mean.process(shot).reference_amplitude, 50)
  // 10 -> 15 -> 22.5 -> 31.25 -> 40.625 -> 50.3125
  assert.is(ema.process(shot).reference_amplitude, 50.3125)
})

test('compatibility mode equals a literal port of the old find_edge (49 taps, last pixel)', () => {
  const rnd = rng(31)
  const cases = [
    [50, 1, 'falling'],
    [50, 0.1, 'falling'],
    [51, 0.5, 'rising'],
    [50, 0.3, 'rising'],
    [7, 1, 'falling'],
  ] as const
  for (const [L, step, edgeType] of cases) {
    const p = params({
      compatibility: true,
      step_length: L,
      refinement_step: step,
      edge_type: edgeType,
    })
    const finder = new EdgeFinder(Kernel.fromModule(module), p)
    const n = 240
    const refs = [1n, 2n, 3n].map(() => Float64Array.from({ length: n }, () => 800 + rnd() * 40))
    refs.forEach((r, i) => {
      finder.process({ pulseId: BigInt(i + 1), signal: r, signalRoi: [0, n, 0, 1] })
    })
    const e = 97.6
    const sign = edgeType === 'falling' ? 1 : -1
    const sig = Float64Array.from(
      { length: n },
      (_, i) => 800 + rnd() * 40 - sign * 200 * Math.min(1, Math.max(0, i + 1 - e)),
    )
    const r = finder.process({ pulseId: 4n, signal: sig, signalRoi: [0, n, 0, 1] })
    const mean = Array.from(
      { length: n },
      (_, i) => (refs[0]![i]! + refs[1]![i]! + refs[2]![i]!) / 3,
    )
    const old = oldFindEdge(
      sig.map((v, i) => v - mean[i]!),
      L,
      edgeType === 'rising',
      step,
    )
    const tag = `L=${L} step=${step} ${edgeType}`
    assert.is(r.edge_status, EdgeStatus.ok, tag)
    const pos = r.edge_position
    assert.ok(Math.abs(pos - old.edge) < 1e-9, `${tag}: ${pos} vs ${old.edge}`)
    const amp = r.cross_correlation_amplitude
    assert.ok(Math.abs(amp - old.amplitude) <= 1e-9 * Math.abs(old.amplitude), tag)
  }
})

test('the literal port matches numbers computed by numpy for the old code', () => {
  // Profile p[i] = 100 for i < 60 else 10, plus (i % 7); numpy (old find_edge) gave these.
  const p = Array.from({ length: 150 }, (_, i) => (i < 60 ? 100 : 10) + (i % 7))
  assert.equal(oldFindEdge(p, 50, false, 1), NUMPY.step1)
  const r = oldFindEdge(p, 50, false, 0.1)
  assert.ok(Math.abs(r.edge - NUMPY.step01.edge) < 1e-9)
  assert.ok(Math.abs(r.amplitude - NUMPY.step01.amplitude) < 1e-6)
})

test('kernel memory does not grow over 1000 shots', () => {
  const cam = new Camera(512)
  const finder = new EdgeFinder(
    cam.kernel,
    params({ refinement_step: 0.1, dark_subtraction: true, smoothing: 3 }),
  )
  const rnd = rng(2)
  const ref = cameraFrame(512, null, 0.3, 10, rnd)
  const xr = cameraFrame(512, 200, 0.3, 10, rnd)
  for (let pid = 0n; pid < 8n; pid++) finder.process(cam.shot(pid, pid % 4n === 0n ? xr : ref))
  const before = cam.kernel.memoryBytes
  for (let pid = 8n; pid < 1008n; pid++) finder.process(cam.shot(pid, pid % 4n === 0n ? xr : ref))
  assert.is(cam.kernel.memoryBytes, before)
})

test('EdgeStatistics: rolling median and standard deviation over the last N valid edges', () => {
  const s = new EdgeStatistics(5)
  assert.ok(Number.isNaN(s.snapshot().edge_median))
  for (const v of [100, NaN, 1, 2, 3, 4, 5]) s.push(v)
  const snap = s.snapshot()
  assert.is(snap.edge_count, 5)
  assert.is(snap.edge_median, 3)
  assert.is(snap.edge_mean, 3)
  assert.ok(Math.abs(snap.edge_std - Math.sqrt(2)) < 1e-12)
  s.push(11)
  assert.is(s.snapshot().edge_median, 4)
  s.resize(2)
  assert.equal([s.snapshot().edge_median, s.snapshot().edge_count], [8, 2])
  s.resize(4)
  s.push(1)
  assert.is(s.snapshot().edge_median, 5)
  s.reset()
  assert.is(s.snapshot().edge_count, 0)
  assert.throws(() => new EdgeStatistics(0))
})

const NUMPY = {
  step1: { edge: 60, amplitude: 2251 },
  step01: { edge: 60, amplitude: 21721.3 },
}

test.run()
