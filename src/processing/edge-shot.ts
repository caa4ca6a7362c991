/**
 * Which shots are X-ray shots: pulse id modulo a period, an event channel's value, or (reference
 * ROI mode) every shot. Returns a status code when the shot cannot be classified.
 * @module
 */
import type { EdgeInput } from './edge-result.js'
import { profileLength } from './edge-result.js'
import { EdgeStatus, type ProcessingParameters } from './parameters.js'

export function normaliseEventValue(v: number | bigint | boolean | string): number | string {
  if (typeof v === 'boolean') return v ? 1 : 0
  if (typeof v === 'bigint') return Number(v)
  return v
}

/** Classifies shots by the `reference` parameter; one per finder. */
export class ShotSelector {
  #period = 4n
  #phase = 0n
  #xrayValues: Array<number | string> = []
  #referenceValues: Array<number | string> = []

  applyParameters(p: ProcessingParameters): void {
    if (p.reference.mode === 'pulse_modulo') {
      this.#period = BigInt(p.reference.period)
      this.#phase = BigInt(p.reference.phase)
    } else if (p.reference.mode === 'event_channel') {
      this.#xrayValues = p.reference.xray_values.map(normaliseEventValue)
      this.#referenceValues = p.reference.reference_values.map(normaliseEventValue)
    }
  }

  /** true: X-ray shot, false: reference shot, a number: the status of a shot not classified. */
  classify(input: EdgeInput, p: ProcessingParameters, n: number): boolean | number {
    let xray: boolean
    const sel = p.reference
    if (sel.mode === 'pulse_modulo') {
      xray = input.pulseId % this.#period === this.#phase
    } else if (sel.mode === 'event_channel') {
      if (input.eventValue === null || input.eventValue === undefined) {
        return EdgeStatus.no_event_value
      }
      const v = normaliseEventValue(input.eventValue)
      if (this.#xrayValues.includes(v)) xray = true
      else if (this.#referenceValues.length === 0 || this.#referenceValues.includes(v)) xray = false
      else return EdgeStatus.unknown_event_value
    } else {
      xray = true
      if (!input.reference) return EdgeStatus.no_reference_roi
      if (profileLength(input.reference) !== n) return EdgeStatus.reference_size_mismatch
    }
    return xray
  }
}
