/**
 * The per-shot edge finder of the timing tool. One `EdgeFinder` per processor keeps
 * the reference window in kernel memory and runs every step on the kernels:
 *
 *   signal profile -> f64 -> (dark subtraction) -> reference shot: into the window
 *                                               -> X-ray shot: normalise by the window mean
 *   -> (smoothing) -> linear-interpolation refinement -> correlation ('valid') with the step
 *   (prefix sums) or the learned filter (edge-filter.ts) -> argmax (+ parabola) -> pixels
 *   within the signal ROI -> (calibration to fs); confidence = peak / its noise sigma
 *
 * Reference shots are also normalised by the average they have not entered yet and
 * correlated, for the noise of the correlation (the confidence's denominator).
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
 * waveform resampled the same way, so 49 taps of which int(L/2) = 25 are +1); its correlation
 * is in edge-compat.ts. The default path runs entirely on the kernels.
 * @module
 */
import type { Kernel, Region } from '../kernel/kernel.js'
import { KernelError } from '../kernel/errors.js'
import { sumKindCode } from '../kernel/profiles.js'
import { CompatCorrelator, peakMetrics } from './edge-compat.js'
import { EdgeFilter } from './edge-filter.js'
import {
  emptyResult,
  evalPolynomial,
  isInKernel,
  profileLength,
  type EdgeInput,
  type EdgeResult,
  type ProfileInput,
} from './edge-result.js'
import { ShotSelector } from './edge-shot.js'
import {
  EdgeStatus,
  defaultParameters,
  effectiveAveraging,
  referenceChanged,
  type ProcessingParameters,
} from './parameters.js'

export type { EdgeInput, EdgeResult, ProfileInput } from './edge-result.js'
export { evalPolynomial } from './edge-result.js'
export { peakMetrics } from './edge-compat.js'

function sameRoi(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** Stateful edge finder; one per processor, not shared between threads. */
export class EdgeFinder {
  readonly #kernel: Kernel
  #params: ProcessingParameters
  readonly #shots = new ShotSelector()
  readonly #compat: CompatCorrelator
  readonly #filter: EdgeFilter

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
    this.#compat = new CompatCorrelator(kernel, parameters)
    this.#filter = new EdgeFilter(kernel)
    this.#applyParameters(parameters)
  }

  get parameters(): ProcessingParameters {
    return this.#params
  }

  /** X-ray shots in the learned filter (0 while the step filter is used). */
  get learnedShots(): number {
    return this.#filter.learnedShots
  }

  /** The filter X-ray shots are correlated with (a copy: learned, or the step). */
  filterTaps(): Float64Array {
    return this.#filter.filter()
  }

  /** Reference profiles currently in the window (or 1 once the exponential average started). */
  get referenceCount(): number {
    if (effectiveAveraging(this.#params).mode === 'exponential') return this.#emaReady ? 1 : 0
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
    this.#filter.resetNoise()
  }

  #applyParameters(p: ProcessingParameters): void {
    this.#shots.applyParameters(p)
    this.#compat.setParameters(p)
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
        input.signalRoiOutside ? EdgeStatus.roi_outside_frame : EdgeStatus.no_signal_roi,
      )
    }
    const n = profileLength(input.signal)
    if (
      !sameRoi(input.signalRoi, this.#roi) ||
      n !== this.#length ||
      this.#kernel.generation !== this.#generation
    ) {
      this.reset()
      this.#filter.reset()
      this.#roi = [...input.signalRoi]
      this.#length = n
      this.#generation = this.#kernel.generation
    }

    const shot = this.#shots.classify(input, p, n)
    if (typeof shot === 'number') return emptyResult(shot)
    const xray = shot
    const sel = p.reference

    const bytes = n * 8
    // Every region is sized before any pointer is used: a growth may move nothing we hold.
    const sig = this.#sig.ensure(bytes)
    const work = this.#work.ensure(bytes)
    const work2 = this.#work2.ensure(bytes)
    const ref = this.#ref.ensure(bytes)
    const bg = p.dark_subtraction ? this.#bg.ensure(bytes) : 0
    const averaging = effectiveAveraging(p)
    const ring =
      averaging.mode === 'mean' && sel.mode !== 'reference_roi'
        ? this.#ring.ensure(bytes * averaging.count)
        : 0

    this.#loadF64(input.signal, sig)
    if (p.dark_subtraction) {
      if (!input.background || profileLength(input.background) !== n) {
        return emptyResult(EdgeStatus.no_background)
      }
      this.#loadF64(input.background, bg)
      this.#kernel.run((k) => k.profile_subtract(sig, bg, n, sig))
    }

    // The reference this shot is normalised with (a reference shot: the average it has not
    // entered yet, for the noise estimate).
    let haveRef = true
    if (sel.mode === 'reference_roi') {
      this.#loadF64(input.reference!, ref)
      if (p.dark_subtraction) this.#kernel.run((k) => k.profile_subtract(ref, bg, n, ref))
    } else if (averaging.mode === 'mean') {
      haveRef = this.#filled > 0
      // Reference shots need the average only for the noise estimate.
      if (haveRef && (xray || !p.compatibility)) {
        this.#kernel.run((k) => k.profiles_mean(ring, this.#filled, n, ref))
      }
    } else {
      haveRef = this.#emaReady
    }

    const compat = p.compatibility
    // The learned method's sub-pixel position comes from the fit of the correlation peak; an
    // interpolated profile would add samples, not information, at refinement_step^-2 the cost.
    const step = p.edge_method === 'learned' && !compat ? 1 : p.refinement_step
    // numpy's arange length: ceil((stop - start) / step), no tolerance.
    const lastX = compat ? (Math.ceil((n - 1) / step) - 1) * step : n - 1
    const maxRefined = lastX < 0 ? 0 : Math.floor(lastX / step + 1e-9) + 1
    const refined = this.#refined.ensure(Math.max(1, maxRefined) * 8)
    const scratch = this.#scratch.ensure((maxRefined + 1) * 8)
    const out = this.#out.ensure(5 * 8)
    const length = p.edge_method === 'learned' ? p.filter_length : p.step_length
    const taps = Math.max(2, Math.round(length / step))
    if (!compat) this.#filter.prepare(p, taps, maxRefined)

    if (!xray) {
      if (haveRef && !compat && maxRefined > 0) {
        const m = this.#normalised(sig, ref, n, work, work2, refined, step, lastX)
        this.#filter.noise(refined, m)
      }
      this.#addReference(sig, n, ring)
      return emptyResult(EdgeStatus.reference_shot)
    }
    if (!haveRef) return emptyResult(EdgeStatus.no_reference_yet)

    const result = emptyResult(EdgeStatus.ok)
    const memory = (): ArrayBuffer => this.#kernel.exports.memory.buffer
    {
      const r = new Float64Array(memory(), ref, n)
      let s = 0
      for (let i = 0; i < n; i++) s += r[i]!
      result.reference_amplitude = s / n
    }
    if (n < 1 || lastX < 0) return { ...result, edge_status: EdgeStatus.profile_too_short }
    const m = this.#normalised(sig, ref, n, work, work2, refined, step, lastX)

    let argmax: number, amplitude: number, fwhm: number, next: number, offset: number
    let origin: number
    let confidence = NaN
    if (compat) {
      const count = this.#compat.correlate(refined, m)
      if (count === 0) return { ...result, edge_status: EdgeStatus.profile_too_short }
      ;[argmax, amplitude, fwhm, next, offset] = peakMetrics(this.#compat.correlation, count)
      origin = Math.floor(p.step_length / 2)
    } else if (p.edge_method === 'learned') {
      const peak = this.#filter.find(refined, m)
      if (!peak) return { ...result, edge_status: EdgeStatus.profile_too_short }
      ;({ argmax, amplitude, fwhm, next, offset } = peak)
      confidence = this.#filter.confidence(amplitude, argmax, m - taps + 1)
      this.#filter.learn(refined, m, argmax, confidence, p.filter_shots)
      if (p.normalisation === 'subtract' && p.smoothing <= 1) {
        ;({ argmax, offset } = this.#dividedPeak(sig, ref, m, work2, argmax, taps, offset))
      }
      origin = peak.origin * step
    } else {
      const count = this.#kernel.check(
        this.#kernel.run((k) =>
          k.edge_find(refined, m, taps, p.edge_type === 'rising' ? 1 : 0, scratch, out),
        ),
        'edge_find',
      )
      if (count === 0) return { ...result, edge_status: EdgeStatus.profile_too_short }
      const o = new Float64Array(memory(), out, 5)
      argmax = o[0]!
      amplitude = o[1]!
      fwhm = o[2]!
      next = o[3]!
      offset = o[4]!
      origin = Math.floor(taps / 2) * step
      confidence = this.#filter.confidence(amplitude, argmax, count, scratch)
    }

    result.cross_correlation_amplitude = amplitude
    result.next_amplitude = next
    result.edge_confidence = confidence
    if (p.minimum_amplitude !== null && !(amplitude >= p.minimum_amplitude)) {
      result.edge_status = EdgeStatus.below_threshold
      return result
    }
    const parabola = p.parabola_refinement || (!compat && p.edge_method === 'learned')
    result.edge_position = (argmax + (parabola ? offset : 0)) * step + origin
    result.edge_fwhm = fwhm * step
    if (p.calibration.length > 0) {
      result.edge_position_fs = evalPolynomial(p.calibration, result.edge_position)
    }
    // Below the confidence threshold the edge is still reported, flagged for cutting.
    if (p.minimum_confidence !== null && confidence < p.minimum_confidence) {
      result.edge_status = EdgeStatus.low_confidence
    }
    return result
  }

  /**
   * The learned method's sub-pixel position on the divided profile (sig / ref - 1) around the
   * peak found on the subtracted one. After subtraction the step's height follows the
   * spectrum, so the profile is tilted wherever the spectrum slopes, which biases the peak by
   * about 0.1 px (docs/science.md); divided, the step is flat. Only a window of 2 filter lengths
   * is divided, so the dim ends of the ROI, where dividing amplifies the noise, never compete.
   * Keeps the subtracted peak when the divided one lands more than 2 samples away.
   */
  #dividedPeak(
    sig: number,
    ref: number,
    m: number,
    out: number,
    argmax: number,
    taps: number,
    offset: number,
  ): { argmax: number; offset: number } {
    const half = Math.floor(taps / 2)
    const lo = Math.max(0, argmax - half)
    const hi = Math.min(m, argmax + taps + half)
    const local = this.#kernel.run((k) => {
      k.profile_normalise(sig + lo * 8, ref + lo * 8, hi - lo, 1, out + lo * 8)
      return this.#filter.find(out + lo * 8, hi - lo)
    })
    if (!local || Math.abs(lo + local.argmax - argmax) > 2) return { argmax, offset }
    return { argmax: lo + local.argmax, offset: local.offset }
  }

  /**
   * sig normalised by ref, smoothed, refined (step) into `refined`; returns the refined length.
   * work and work2 hold n f64; refined holds the refined samples up to lastX.
   */
  #normalised(
    sig: number,
    ref: number,
    n: number,
    work: number,
    work2: number,
    refined: number,
    step: number,
    lastX: number,
  ): number {
    const p = this.#params
    const mode = p.normalisation === 'subtract' ? 0 : 1
    let cur = work
    this.#kernel.run((k) => {
      k.profile_normalise(sig, ref, n, mode, work)
      if (p.smoothing > 1) {
        k.profile_smooth(work, n, p.smoothing, work2)
        cur = work2
      }
    })
    return this.#kernel.check(
      this.#kernel.run((k) => k.profile_refine(cur, n, step, lastX, refined)),
      'profile_refine',
    )
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
    const a = effectiveAveraging(this.#params)
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
}
