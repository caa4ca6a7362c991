/**
 * The per-shot edge finder of the timing tool. One `EdgeFinder` per processor keeps
 * the reference window in kernel memory and runs every step on the kernels:
 *
 *   signal profile -> f64 -> (dark subtraction) -> reference shot: into the window
 *                                               -> X-ray shot: normalise by the window mean
 *   -> (smoothing) -> linear-interpolation refinement -> step correlation ('valid', prefix sums)
 *   -> argmax (+ parabola) -> pixels within the signal ROI -> (calibration to fs)
 *
 * `reference_amplitude` is the mean, over the profile, of the reference profile that the
 * X-ray shot was normalised with (after dark subtraction): a quick check that references are
 * being collected and how bright they are; NaN on shots that use no reference.
 *
 * In `reference_roi` mode the reference is the same frame's reference-ROI profile, used as it is
 * (no averaging over shots: that would defeat taking it simultaneously), and every shot is an
 * X-ray shot. Profiles passed as `ProfileInKernel` must live in this finder's kernel.
 *
 * Compatibility mode reproduces the old code's arithmetic (arange(0, n - 1, step), a step
 * waveform resampled the same way, so 49 taps of which int(L/2) = 25 are +1). Its correlation
 * is computed in TypeScript (still linear: prefix sums plus the few interpolated taps), because
 * the resampled waveform is not a pure step; the default path runs entirely on the kernels.
 * @module
 */
import type { Kernel, Region } from '../kernel/kernel.js'
import { KernelError } from '../kernel/errors.js'
import type { ProfileInKernel, ProfileSums } from '../kernel/profiles.js'
import { sumKindCode } from '../kernel/profiles.js'
import {
  EdgeStatus, defaultParameters, referenceChanged, type ProcessingParameters,
} from './parameters.js'

/** A profile handed to the finder: copied arrays, or sums already in this kernel's memory. */
export type ProfileInput = ProfileSums | ProfileInKernel

export interface EdgeInput {
  pulseId: bigint
  /** Signal ROI x-profile; null when the signal ROI is unset or does not fit the frame. */
  signal: ProfileInput | null
  /** The current signal ROI ([] when unset); a change resets the reference window. */
  signalRoi: readonly number[]
  /** The signal ROI is set but does not fit this frame (status roi_outside_frame). */
  signalRoiOutside?: boolean
  /** Background ROI x-profile, for dark subtraction. */
  background?: ProfileInput | null
  /** Reference ROI x-profile of the same frame (`reference_roi` mode). */
  reference?: ProfileInput | null
  /** Value of the event channel in this message (`event_channel` mode); null when missing. */
  eventValue?: number | bigint | boolean | string | null
}

/** Per-shot outputs (float64 channels of the data stream; NaN when not computed). */
export interface EdgeResult {
  edge_position: number
  cross_correlation_amplitude: number
  edge_position_fs: number
  edge_fwhm: number
  next_amplitude: number
  reference_amplitude: number
  edge_status: number
}

function emptyResult(status: number): EdgeResult {
  return {
    edge_position: NaN,
    cross_correlation_amplitude: NaN,
    edge_position_fs: NaN,
    edge_fwhm: NaN,
    next_amplitude: NaN,
    reference_amplitude: NaN,
    edge_status: status,
  }
}

function sameRoi(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

function isInKernel(p: ProfileInput): p is ProfileInKernel {
  return !ArrayBuffer.isView(p)
}

function profileLength(p: ProfileInput): number {
  return p.length
}

/** Polynomial c0 + c1 x + c2 x^2 + ... (Horner). */
export function evalPolynomial(coefficients: readonly number[], x: number): number {
  let y = 0
  for (let i = coefficients.length - 1; i >= 0; i--) y = y * x + coefficients[i]!
  return y
}

function normaliseEventValue(v: number | bigint | boolean | string): number | string {
  if (typeof v === 'boolean') return v ? 1 : 0
  if (typeof v === 'bigint') return Number(v)
  return v
}

/** Peak metrics of a correlation, the same rules as the edge_find kernel (for compat mode). */
export function peakMetrics(
  c: ArrayLike<number>, n: number,
): [number, number, number, number, number] {
  let best = 0
  for (let k = 1; k < n; k++) if (c[k]! > c[best]!) best = k
  const peak = c[best]!
  const hm = peak / 2
  let left = best
  while (left > 0 && c[left - 1]! >= hm) left--
  let right = best
  while (right < n - 1 && c[right + 1]! >= hm) right++
  let fwhm = NaN
  if (peak > 0 && left > 0 && right < n - 1) {
    const xl = left - 1 + (hm - c[left - 1]!) / (c[left]! - c[left - 1]!)
    const xr = right + (c[right]! - hm) / (c[right]! - c[right + 1]!)
    fwhm = xr - xl
  }
  let next = NaN
  for (let k = 0; k < n; k++) {
    if (k >= left && k <= right) continue
    const prev = k > 0 ? c[k - 1]! : -Infinity
    const nxt = k < n - 1 ? c[k + 1]! : -Infinity
    if (c[k]! >= prev && c[k]! >= nxt && (Number.isNaN(next) || c[k]! > next)) next = c[k]!
  }
  let offset = 0
  if (best > 0 && best < n - 1) {
    const den = c[best - 1]! - 2 * peak + c[best + 1]!
    if (den < 0) offset = Math.max(-0.5, Math.min(0.5, (0.5 * (c[best - 1]! - c[best + 1]!)) / den))
  }
  return [best, peak, fwhm, next, offset]
}

/** Stateful edge finder; one per processor, not shared between threads. */
export class EdgeFinder {
  readonly #kernel: Kernel
  #params: ProcessingParameters
  #period = 4n
  #phase = 0n
  #xrayValues: Array<number | string> = []
  #referenceValues: Array<number | string> = []

  // Kernel regions, reused across shots.
  readonly #stage: Region
  readonly #sig: Region
  readonly #bg: Region
  readonly #ref: Region
  readonly #ring: Region
  readonly #work: Region
  readonly #work2: Region
  readonly #refined: Region
  readonly #scratch: Region
  readonly #out: Region

  // Reference window state.
  #roi: number[] = []
  #length = -1
  #generation = -1
  #filled = 0
  #next = 0
  #emaReady = false
  #compatCorr = new Float64Array(0)
  #compatS = new Float64Array(0)
  #compatWave: { w: Float64Array; plus: number; minus: number } | undefined
  #compatWaveKey = ''

  constructor(kernel: Kernel, parameters: ProcessingParameters = defaultParameters()) {
    this.#kernel = kernel
    this.#stage = kernel.region()
    this.#sig = kernel.region()
    this.#bg = kernel.region()
    this.#ref = kernel.region()
    this.#ring = kernel.region()
    this.#work = kernel.region()
    this.#work2 = kernel.region()
    this.#refined = kernel.region()
    this.#scratch = kernel.region()
    this.#out = kernel.region()
    this.#params = parameters
    this.#applyParameters(parameters)
  }

  get parameters(): ProcessingParameters {
    return this.#params
  }

  /** Reference profiles currently in the window (or 1 once the exponential average started). */
  get referenceCount(): number {
    if (this.#params.averaging.mode === 'exponential') return this.#emaReady ? 1 : 0
    return this.#filled
  }

  /** Applies new parameters from the next shot; reference-related changes reset the window. */
  setParameters(parameters: ProcessingParameters): void {
    if (parameters === this.#params) return
    if (referenceChanged(this.#params, parameters)) this.reset()
    this.#params = parameters
    this.#applyParameters(parameters)
  }

  /** Forgets every collected reference profile. */
  reset(): void {
    this.#filled = 0
    this.#next = 0
    this.#emaReady = false
  }

  #applyParameters(p: ProcessingParameters): void {
    if (p.reference.mode === 'pulse_modulo') {
      this.#period = BigInt(p.reference.period)
      this.#phase = BigInt(p.reference.phase)
    } else if (p.reference.mode === 'event_channel') {
      this.#xrayValues = p.reference.xray_values.map(normaliseEventValue)
      this.#referenceValues = p.reference.reference_values.map(normaliseEventValue)
    }
  }

  /**
   * Processes one shot. `parameters`, when given, is the set this frame is processed with (it
   * replaces the current one like setParameters). Never throws for bad data: kernel errors
   * come back as status `error`.
   */
  process(input: EdgeInput, parameters?: ProcessingParameters): EdgeResult {
    if (parameters) this.setParameters(parameters)
    try {
      // Inside run(): a trap in a region allocation also replaces the instance.
      return this.#kernel.run(() => this.#process(input))
    } catch (err) {
      // KernelError: a kernel status or trap; RangeError: a view outside kernel memory.
      if (err instanceof KernelError || err instanceof RangeError) {
        return emptyResult(EdgeStatus.error)
      }
      throw err
    }
  }

  #process(input: EdgeInput): EdgeResult {
    const p = this.#params
    if (!input.signal) {
      return emptyResult(
        input.signalRoiOutside ? EdgeStatus.roi_outside_frame : EdgeStatus.no_signal_roi)
    }
    const n = profileLength(input.signal)
    if (!sameRoi(input.signalRoi, this.#roi) || n !== this.#length ||
      this.#kernel.generation !== this.#generation) {
      this.reset()
      this.#roi = [...input.signalRoi]
      this.#length = n
      this.#generation = this.#kernel.generation
    }

    // Shot type.
    let xray: boolean
    const sel = p.reference
    if (sel.mode === 'pulse_modulo') {
      xray = input.pulseId % this.#period === this.#phase
    } else if (sel.mode === 'event_channel') {
      if (input.eventValue === null || input.eventValue === undefined) {
        return emptyResult(EdgeStatus.no_event_value)
      }
      const v = normaliseEventValue(input.eventValue)
      if (this.#xrayValues.includes(v)) xray = true
      else if (this.#referenceValues.length === 0 || this.#referenceValues.includes(v)) xray = false
      else return emptyResult(EdgeStatus.unknown_event_value)
    } else {
      xray = true
      if (!input.reference) return emptyResult(EdgeStatus.no_reference_roi)
      if (profileLength(input.reference) !== n) {
        return emptyResult(EdgeStatus.reference_size_mismatch)
      }
    }

    const bytes = n * 8
    // Every region is sized before any pointer is used: a growth may move nothing we hold.
    const sig = this.#sig.ensure(bytes)
    const work = this.#work.ensure(bytes)
    const work2 = this.#work2.ensure(bytes)
    const ref = this.#ref.ensure(bytes)
    const bg = p.dark_subtraction ? this.#bg.ensure(bytes) : 0
    const ring = p.averaging.mode === 'mean' && sel.mode !== 'reference_roi'
      ? this.#ring.ensure(bytes * p.averaging.count) : 0

    this.#loadF64(input.signal, sig)
    if (p.dark_subtraction) {
      if (!input.background || profileLength(input.background) !== n) {
        return emptyResult(EdgeStatus.no_background)
      }
      this.#loadF64(input.background, bg)
      this.#kernel.run((k) => k.profile_subtract(sig, bg, n, sig))
    }

    if (!xray) {
      this.#addReference(sig, n, ring)
      return emptyResult(EdgeStatus.reference_shot)
    }

    // The reference this shot is normalised with.
    if (sel.mode === 'reference_roi') {
      this.#loadF64(input.reference!, ref)
      if (p.dark_subtraction) this.#kernel.run((k) => k.profile_subtract(ref, bg, n, ref))
    } else if (p.averaging.mode === 'mean') {
      if (this.#filled === 0) return emptyResult(EdgeStatus.no_reference_yet)
      this.#kernel.run((k) => k.profiles_mean(ring, this.#filled, n, ref))
    } else if (!this.#emaReady) {
      return emptyResult(EdgeStatus.no_reference_yet)
    }

    const result = emptyResult(EdgeStatus.ok)
    const memory = (): ArrayBuffer => this.#kernel.exports.memory.buffer
    {
      const r = new Float64Array(memory(), ref, n)
      let s = 0
      for (let i = 0; i < n; i++) s += r[i]!
      result.reference_amplitude = s / n
    }

    const step = p.refinement_step
    const compat = p.compatibility
    // numpy's arange length: ceil((stop - start) / step), no tolerance.
    const lastX = compat ? (Math.ceil((n - 1) / step) - 1) * step : n - 1
    if (n < 1 || lastX < 0) return { ...result, edge_status: EdgeStatus.profile_too_short }
    const maxRefined = Math.floor(lastX / step + 1e-9) + 1
    const refined = this.#refined.ensure(maxRefined * 8)
    const scratch = this.#scratch.ensure((maxRefined + 1) * 8)
    const out = this.#out.ensure(5 * 8)

    const mode = p.normalisation === 'subtract' ? 0 : 1
    let cur = work
    this.#kernel.run((k) => {
      k.profile_normalise(sig, ref, n, mode, work)
      if (p.smoothing > 1) {
        k.profile_smooth(work, n, p.smoothing, work2)
        cur = work2
      }
    })
    const m = this.#kernel.check(
      this.#kernel.run((k) => k.profile_refine(cur, n, step, lastX, refined)), 'profile_refine')

    let argmax: number, amplitude: number, fwhm: number, next: number, offset: number
    let origin: number
    if (!compat) {
      const taps = Math.max(2, Math.round(p.step_length / step))
      const count = this.#kernel.check(this.#kernel.run((k) =>
        k.edge_find(refined, m, taps, p.edge_type === 'rising' ? 1 : 0, scratch, out)), 'edge_find')
      if (count === 0) return { ...result, edge_status: EdgeStatus.profile_too_short }
      const o = new Float64Array(memory(), out, 5)
      argmax = o[0]!; amplitude = o[1]!; fwhm = o[2]!; next = o[3]!; offset = o[4]!
      origin = Math.floor(taps / 2) * step
    } else {
      const count = this.#compatCorrelate(refined, m)
      if (count === 0) return { ...result, edge_status: EdgeStatus.profile_too_short }
      ;[argmax, amplitude, fwhm, next, offset] = peakMetrics(this.#compatCorr, count)
      origin = Math.floor(p.step_length / 2)
    }

    result.cross_correlation_amplitude = amplitude
    result.next_amplitude = next
    if (p.minimum_amplitude !== null && !(amplitude >= p.minimum_amplitude)) {
      result.edge_status = EdgeStatus.below_threshold
      return result
    }
    result.edge_position = (argmax + (p.parabola_refinement ? offset : 0)) * step + origin
    result.edge_fwhm = fwhm * step
    if (p.calibration.length > 0) {
      result.edge_position_fs = evalPolynomial(p.calibration, result.edge_position)
    }
    return result
  }

  /** Writes a profile as n f64 at dst (dst sized for n; staging region for copied sums). */
  #loadF64(p: ProfileInput, dst: number): void {
    const n = p.length
    if (isInKernel(p)) {
      this.#kernel.run((k) => k.profile_to_f64(p.ptr, n, sumKindCode(p.kind), dst))
      return
    }
    if (p instanceof Float64Array) {
      new Float64Array(this.#kernel.exports.memory.buffer, dst, n).set(p)
      return
    }
    const stage = this.#stage.ensure(n * 8)
    const buf = this.#kernel.exports.memory.buffer
    if (p instanceof BigUint64Array) new BigUint64Array(buf, stage, n).set(p)
    else new BigInt64Array(buf, stage, n).set(p)
    const kind = p instanceof BigUint64Array ? 0 : 1
    this.#kernel.run((k) => k.profile_to_f64(stage, n, kind, dst))
  }

  #addReference(sig: number, n: number, ring: number): void {
    const a = this.#params.averaging
    const bytes = n * 8
    if (a.mode === 'mean') {
      const slot = ring + this.#next * bytes
      this.#kernel.bytes(slot, bytes).set(this.#kernel.bytes(sig, bytes))
      this.#next = (this.#next + 1) % a.count
      this.#filled = Math.min(this.#filled + 1, a.count)
    } else {
      const ref = this.#ref.ptr
      if (!this.#emaReady) {
        this.#kernel.bytes(ref, bytes).set(this.#kernel.bytes(sig, bytes))
        this.#emaReady = true
      } else {
        this.#kernel.run((k) => k.profile_ema(ref, sig, n, a.alpha))
      }
    }
  }

  /**
   * The old code's correlation: refined profile against ones(L) with [int(L/2):] = -1 (the
   * opposite for rising), resampled at arange(0, L - 1, step). Prefix sums cover the +1 / -1
   * runs; the few interpolated taps of the transition are added one by one.
   */
  #compatCorrelate(refinedPtr: number, m: number): number {
    const wave = this.#compatWaveform()
    const taps = wave.w.length
    const count = m - taps + 1
    if (taps < 1 || count <= 0) return 0
    const prof = new Float64Array(this.#kernel.exports.memory.buffer, refinedPtr, m)
    if (this.#compatCorr.length < m + 1) {
      this.#compatCorr = new Float64Array(m + 1)
      this.#compatS = new Float64Array(m + 1)
    }
    const S = this.#compatS
    for (let i = 0; i < m; i++) S[i + 1] = S[i]! + prof[i]!
    const c = this.#compatCorr
    const { plus, minus, w } = wave
    for (let k = 0; k < count; k++) {
      // w is +1 on [0, plus), -1 on [minus, taps) (or the opposite for rising), between: explicit.
      let v = w[0]! * ((S[k + plus]! - S[k]!) - (S[k + taps]! - S[k + minus]!))
      for (let j = plus; j < minus; j++) v += w[j]! * prof[k + j]!
      c[k] = v
    }
    return count
  }

  /**
   * The old step waveform, built exactly as numpy did: ones(L), [int(L/2):] = -1 (falling) or
   * [:int(L/2)] = -1 (rising), then interp at arange(0, L - 1, step). Cached per parameters.
   */
  #compatWaveform(): { w: Float64Array; plus: number; minus: number } {
    const p = this.#params
    const key = `${p.step_length}/${p.refinement_step}/${p.edge_type}`
    if (this.#compatWave && this.#compatWaveKey === key) return this.#compatWave
    const L = p.step_length
    const step = p.refinement_step
    const half = Math.trunc(L / 2)
    const rising = p.edge_type === 'rising'
    const base = Array.from({ length: L }, (_, i) => ((i >= half) !== rising ? -1 : 1))
    const taps = Math.ceil((L - 1) / step)
    const w = new Float64Array(taps)
    for (let j = 0; j < taps; j++) {
      const x = j * step
      const i = Math.floor(x)
      w[j] = i >= L - 1 ? base[L - 1]! : base[i]! + (x - i) * (base[i + 1]! - base[i]!)
    }
    const first = w[0]!
    let plus = 0
    while (plus < taps && w[plus] === first) plus++
    let minus = taps
    while (minus > plus && w[minus - 1] === -first) minus--
    this.#compatWave = { w, plus, minus }
    this.#compatWaveKey = key
    return this.#compatWave
  }
}
