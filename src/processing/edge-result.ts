/**
 * The edge finder's boundary types: what one shot brings (profiles, ROI, event value) and the
 * per-shot outputs, plus the small helpers every step of the finder uses.
 * @module
 */
import type { ProfileInKernel, ProfileSums } from '../kernel/profiles.js'

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
  /** Correlation peak / the filter's noise sigma (issue 21); NaN when not computed. */
  edge_confidence: number
  edge_status: number
}

export function emptyResult(status: number): EdgeResult {
  return {
    edge_position: NaN,
    cross_correlation_amplitude: NaN,
    edge_position_fs: NaN,
    edge_fwhm: NaN,
    next_amplitude: NaN,
    reference_amplitude: NaN,
    edge_confidence: NaN,
    edge_status: status,
  }
}

export function isInKernel(p: ProfileInput): p is ProfileInKernel {
  return !ArrayBuffer.isView(p)
}

export function profileLength(p: ProfileInput): number {
  return p.length
}

/** Polynomial c0 + c1 x + c2 x^2 + ... (Horner). */
export function evalPolynomial(coefficients: readonly number[], x: number): number {
  let y = 0
  for (let i = coefficients.length - 1; i >= 0; i--) y = y * x + coefficients[i]!
  return y
}
