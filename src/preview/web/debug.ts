/**
 * What the page exposes as `window.__psenPreview`: tests (and curious users, from the console)
 * read the page's progress, last results and errors there.
 * @module
 */
import type { Roi } from './frame.js'

/** What tests (and curious users, from the console) can read. */
export interface PreviewDebug {
  ready: boolean
  /** Decimal string of the last frame shown. */
  lastPulseId: string | null
  lastProfiles: {
    pulse_id: string
    roi_signal: Roi
    roi_background: Roi
    /** Exact column sums as decimal strings; null when the ROI is unset or does not fit. */
    signal: string[] | null
    background: string[] | null
  } | null
  framesShown: number
  decodeErrors: number
  errors: string[]
  roi: { signal: Roi; background: Roi }
  transport: 'websocket' | 'http' | 'none'
  /** Milliseconds spent on the last frame, per step. */
  timings: { decode: number; contrast: number; profiles: number; render: number; charts: number }
  lastEdge: {
    pulse_id: string
    position: number | null
    amplitude: number | null
    source: string
  } | null
}

declare global {
  interface Window {
    __psenPreview: PreviewDebug
  }
}

/** A fresh debug record: nothing shown yet. */
export function createDebug(): PreviewDebug {
  return {
    ready: false,
    lastPulseId: null,
    lastProfiles: null,
    framesShown: 0,
    decodeErrors: 0,
    errors: [],
    roi: { signal: [], background: [] },
    transport: 'none',
    lastEdge: null,
    timings: { decode: 0, contrast: 0, profiles: 0, render: 0, charts: 0 },
  }
}
