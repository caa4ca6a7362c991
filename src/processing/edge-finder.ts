/**
 * The per-shot edge finder of the timing tool (issue 6). One `EdgeFinder` per processor keeps
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
 * waveform resampled the same way, so 49 taps of which int(L/2) = 25 are +1); its correlation
 * is in edge-compat.ts. The default path runs entirely on the kernels.
 * @module
 */
import type { Kernel, Region } from '../kernel/kernel.js'
import { KernelError } from '../kernel/errors.js'
import { sumKindCode } from '../kernel/profiles.js'
import { CompatCorrelator, peakMetrics } from './edge-compat.js'
import {
  emptyResult, evalPolynomial, isInKernel, profileLength, type EdgeInput, type EdgeResult,
  type ProfileInput,
} from './edge-result.js'
import { ShotSelector } from './edge-shot.js'
import {
  EdgeStatus, defaultParameters, referenceChanged, type ProcessingParameters,
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
      const count = this.#compat.correlate(refined, m)
      if (count === 0) return { ...result, edge_status: EdgeStatus.profile_too_short }
      ;[argmax, amplitude, fwhm, next, offset] = peakMetrics(this.#compat.correlation, count)
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
}
