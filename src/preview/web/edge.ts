/**
 * The edge as the page sees it: the contract's algorithm (psen-api.md) run on the preview's own
 * frames with the kernel's profile math — reference shots' signal profiles go into a rolling
 * window, an X-ray shot's signal profile minus the window mean is refined and cross-correlated
 * with a step. The preview sees only some frames (5 Hz of 100 Hz), so its reference window is
 * sparser than the service's: the picture is for the eye; the trend shows the service's own edge
 * results whenever the service sends them with the frames.
 * @module
 */
import type { Kernel, Region } from '../../kernel/kernel.js'
import type { Profile } from './frame.js'

export interface EdgeResult {
  pulseId: string
  xray: boolean
  /** Edge in pixels within the signal ROI, or null. */
  position: number | null
  amplitude: number | null
  /** Signal minus reference mean (ROI-local x), for drawing. */
  subtracted: Float64Array | null
  source: string
  message: string
}

interface EdgeSettings {
  period: number
  window: number
  step: number
  taps: number
  rising: boolean
  dropLast: boolean
}

interface EdgeRegions {
  sig: Region
  mean: Region
  sub: Region
  refined: Region
  scratch: Region
  out: Region
}

const DEFAULTS: EdgeSettings = { period: 4, window: 4, step: 1, taps: 50, rising: false, dropLast: false }

/** The first numeric/string value among several possible parameter names. */
function pick(p: Record<string, unknown>, names: string[]): unknown {
  for (const n of names) if (p[n] !== undefined && p[n] !== null) return p[n]
  return undefined
}

function num(v: unknown, fallback: number): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' ? Number(v) : NaN
  return Number.isFinite(n) && n > 0 ? n : fallback
}

export class EdgeView {
  #s: EdgeSettings = { ...DEFAULTS }
  #ring: Float64Array[] = []
  #width = -1
  #regions: EdgeRegions | undefined
  #kernel: Kernel | undefined
  last: EdgeResult | undefined

  /** Reads the service's parameters (names as the service reports them; defaults otherwise). */
  setParameters(p: Record<string, unknown>): void {
    const dir = pick(p, ['edge_type', 'direction', 'step_type', 'edge_direction'])
    const quirk = pick(p, ['compat_quirks', 'legacy_quirks', 'quirks', 'compatibility_mode'])
    this.#s = {
      period: Math.round(num(pick(p, ['xray_period', 'xray_modulo', 'pulse_modulo', 'modulo']), DEFAULTS.period)),
      window: Math.round(num(pick(p, ['reference_window', 'background_window', 'window', 'n_references']),
        DEFAULTS.window)),
      step: num(pick(p, ['refine_step', 'refinement_step', 'interpolation_step', 'step']), DEFAULTS.step),
      taps: Math.round(num(pick(p, ['step_length', 'step_taps', 'step_size', 'step_width', 'taps']), DEFAULTS.taps)),
      rising: dir === 'rising',
      dropLast: quirk === true || quirk === 'legacy' || quirk === 'old',
    }
    const period = pick(p, ['xray_period', 'xray_modulo', 'pulse_modulo', 'modulo'])
    if (typeof period === 'number' && period <= 0) this.#s.period = DEFAULTS.period
  }

  #ensureRegions(kernel: Kernel): EdgeRegions {
    if (this.#kernel !== kernel || !this.#regions) {
      this.#kernel = kernel
      this.#regions = {
        sig: kernel.region(), mean: kernel.region(), sub: kernel.region(),
        refined: kernel.region(), scratch: kernel.region(), out: kernel.region(),
      }
    }
    return this.#regions
  }

  update(kernel: Kernel, pulseId: string, sig: Profile | undefined, _bkg: Profile | undefined): void {
    const s = this.#s
    if (!sig) {
      this.#ring = []
      this.#width = -1
      this.last = {
        pulseId, xray: false, position: null, amplitude: null, subtracted: null, source: 'browser',
        message: 'no signal ROI (or it does not fit the frame)',
      }
      return
    }
    const n = sig.values.length
    if (n !== this.#width) {
      this.#ring = []
      this.#width = n
    }
    const xray = BigInt(pulseId) % BigInt(s.period) === 0n
    if (!xray) {
      this.#ring.push(Float64Array.from(sig.values))
      if (this.#ring.length > s.window) this.#ring.shift()
      // Keep showing the last X-ray result; only note the reference count.
      if (this.last?.xray) return
      this.last = {
        pulseId, xray: false, position: null, amplitude: null, subtracted: null, source: 'browser',
        message: `reference shots in the window: ${this.#ring.length}; waiting for an X-ray shot`,
      }
      return
    }
    if (this.#ring.length === 0) {
      this.last = {
        pulseId, xray: true, position: null, amplitude: null, subtracted: null, source: 'browser',
        message: 'X-ray shot but no reference shot seen yet',
      }
      return
    }
    const r = this.#ensureRegions(kernel)
    const count = this.#ring.length
    const ring = r.sig.ensure((count + 1) * n * 8)
    const mean = r.mean.ensure(n * 8)
    const sub = r.sub.ensure(n * 8)
    const maxRefined = Math.floor((n - 1) / s.step) + 2
    const refined = r.refined.ensure(maxRefined * 8)
    const scratch = r.scratch.ensure((maxRefined + 1) * 8)
    const out = r.out.ensure(5 * 8)
    const mem = () => kernel.exports.memory.buffer
    const ringView = new Float64Array(mem(), ring, (count + 1) * n)
    this.#ring.forEach((p, k) => ringView.set(p, k * n))
    ringView.set(sig.values, count * n)
    const sigPtr = ring + count * n * 8
    kernel.run((k) => k.profiles_mean(ring, count, n, mean))
    kernel.run((k) => k.profile_subtract(sigPtr, mean, n, sub))
    const subtracted = new Float64Array(mem(), sub, n).slice()
    const lastX = s.dropLast ? n - 2 : n - 1
    const m = kernel.run((k) => k.profile_refine(sub, n, s.step, lastX, refined))
    let position: number | null = null
    let amplitude: number | null = null
    let message = ''
    const c = m >= 0 ? kernel.run((k) => k.edge_find(refined, m, s.taps, s.rising ? 1 : 0, scratch, out)) : 0
    if (c > 0) {
      const res = new Float64Array(mem(), out, 5)
      const argmax = res[0] ?? NaN
      amplitude = res[1] ?? null
      position = argmax * s.step + Math.floor(s.taps / 2)
    } else {
      message = `profile shorter than the ${s.taps}-sample step`
    }
    this.last = {
      pulseId, xray: true, position, amplitude, subtracted, message,
      source: `browser (kernel, ${count} reference shot${count === 1 ? '' : 's'})`,
    }
  }
}
