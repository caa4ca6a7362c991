/**
 * The ROIs between the page and the service: saving what the user dragged or typed
 * (POST /roi_signal, /roi_background) and taking the service's ROIs when polled, without letting
 * a poll answer undo a local change made meanwhile.
 * @module
 */
import { ApiError, call } from './api.js'
import type { PreviewDebug } from './debug.js'
import type { Roi } from './frame.js'
import { el, setConn, type MessageLine } from './page.js'
import { sameRoi, type RoiKind, type RoiOverlay } from './roi.js'

function roiText(roi: Roi): string {
  return roi.length === 4 ? roi.join(', ') : ''
}

export class RoiSync {
  readonly #overlay: RoiOverlay
  readonly #debug: PreviewDebug
  readonly #messages: MessageLine
  /** Bumped by every local change: a poll answer older than the change must not undo it. */
  readonly #epoch: Record<RoiKind, number> = { signal: 0, background: 0 }
  readonly #saving: Record<RoiKind, number> = { signal: 0, background: 0 }

  constructor(overlay: RoiOverlay, debug: PreviewDebug, messages: MessageLine) {
    this.#overlay = overlay
    this.#debug = debug
    this.#messages = messages
    // Typed ROIs: four integers (any separators), or nothing to switch the ROI off.
    for (const kind of ['signal', 'background'] as const) {
      const input = el<HTMLInputElement>(`roi-${kind}-text`)
      input.addEventListener('keydown', (e) => {
        if (e.key === 'Escape') {
          input.value = roiText(overlay.roi(kind))
          input.blur()
        }
        if (e.key !== 'Enter') return
        const text = input.value.trim()
        const roi = text === '' ? [] : (text.match(/-?\d+(\.\d+)?/g) ?? []).map(Number)
        // The service validates (and explains what is wrong); the page only sends.
        input.blur()
        void this.save(kind, roi)
      })
    }
  }

  #setLocal(kind: RoiKind, roi: Roi): void {
    const overlay = this.#overlay
    if (!sameRoi(roi, overlay.roi(kind))) overlay.setRoi(kind, roi)
    this.#debug.roi[kind] = [...overlay.roi(kind)]
    const input = el<HTMLInputElement>(`roi-${kind}-text`)
    // Not while the user is typing in it.
    if (document.activeElement !== input) input.value = roiText(overlay.roi(kind))
  }

  async save(kind: RoiKind, roi: Roi): Promise<void> {
    this.#epoch[kind]++
    this.#saving[kind]++
    try {
      const env = await call(`/roi_${kind}`, roi)
      const saved = env[`roi_${kind}`] as Roi
      this.#epoch[kind]++
      this.#setLocal(kind, saved)
      this.#messages.show(`${kind} ROI saved: [${roiText(saved)}]`, false)
    } catch (err) {
      this.#messages.show(err instanceof Error ? err.message : String(err))
    } finally {
      this.#saving[kind]--
    }
    if (this.#saving[kind] === 0) await this.poll()
  }

  /** Takes the service's ROIs (GET /roi_signal, /roi_background). */
  async poll(): Promise<void> {
    const overlay = this.#overlay
    for (const kind of ['signal', 'background'] as const) {
      if (overlay.dragging === kind || this.#saving[kind] > 0) continue
      const epoch = this.#epoch[kind]
      try {
        const env = await call(`/roi_${kind}`)
        const roi = env[`roi_${kind}`]
        if (!Array.isArray(roi)) continue
        // Skip answers that raced with a drag or a save started meanwhile.
        if (epoch !== this.#epoch[kind] || this.#saving[kind] > 0 || overlay.dragging === kind)
          continue
        this.#setLocal(kind, roi as Roi)
      } catch (err) {
        if (err instanceof ApiError) setConn(err.message, false)
      }
    }
  }
}
