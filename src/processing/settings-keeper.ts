/**
 * The service's settings over time: loads the saved ROIs and parameters, applies one change at a
 * time (validate, persist, then swap the snapshot) and keeps the ROI-size gauges current.
 * @module
 */
import type { Logger } from '../log.js'
import type { Metrics } from '../metrics.js'
import { StateWriteError, type StateStore } from '../state/store.js'
import { ControlError, type Requester, type RoiKind } from './control.js'
import { validateRoi, type Roi } from './roi.js'
import { makeSnapshot, type ParameterModel, type Snapshot } from './settings.js'

interface Change<P extends object> {
  next: Snapshot<P>
  patch: Record<string, unknown>
  old: unknown
  now: unknown
}

/** Holds the current snapshot; every change goes through here. */
export class SettingsKeeper<P extends object> {
  #snapshot: Snapshot<P>
  #mutations: Promise<unknown> = Promise.resolve()
  #onChange: ((next: Snapshot<P>) => void | Promise<void>) | undefined

  constructor(
    private readonly model: ParameterModel<P>,
    private readonly store: StateStore,
    private readonly log: Logger,
    private readonly metrics: Metrics,
  ) {
    this.#snapshot = SettingsKeeper.#load(model, store, log)
    this.#roiMetrics(this.#snapshot)
  }

  /** The saved settings; an invalid saved value falls back to its default (and is logged). */
  static #load<P extends object>(
    model: ParameterModel<P>,
    store: StateStore,
    log: Logger,
  ): Snapshot<P> {
    const saved = store.state
    const roi = (name: RoiKind, value: unknown): Roi => {
      try {
        return validateRoi(value)
      } catch (err) {
        log.warn(
          { roi: name, value },
          `saved ${name} is invalid (${(err as Error).message}); using []`,
        )
        return []
      }
    }
    let parameters: P
    try {
      const stored = model.upgradeSaved ? model.upgradeSaved(saved.parameters) : saved.parameters
      parameters = model.merge(model.defaults(), stored ?? {})
    } catch (err) {
      log.warn(
        { saved: saved.parameters },
        `saved parameters are invalid (${(err as Error).message}); using defaults`,
      )
      parameters = model.defaults()
    }
    return makeSnapshot(
      model,
      1,
      roi('roi_signal', saved.roi_signal),
      roi('roi_background', saved.roi_background),
      parameters,
    )
  }

  /** The settings the next frame is processed with. */
  get snapshot(): Snapshot<P> {
    return this.#snapshot
  }

  getRoi(kind: RoiKind): Roi {
    const s = this.#snapshot
    return [...(kind === 'roi_signal' ? s.roiSignal : s.roiBackground)] as Roi
  }

  setRoi(kind: RoiKind, value: unknown, who?: Requester): Promise<Roi> {
    // Validate before queueing, so a bad request never waits behind good ones.
    const roi = validateRoi(value)
    return this.#mutate(who ?? { endpoint: `POST /${kind}`, client: 'local' }, (cur) => {
      const old = kind === 'roi_signal' ? cur.roiSignal : cur.roiBackground
      return {
        next: makeSnapshot(
          this.model,
          cur.version + 1,
          kind === 'roi_signal' ? roi : cur.roiSignal,
          kind === 'roi_background' ? roi : cur.roiBackground,
          cur.parameters,
        ),
        patch: { [kind]: roi },
        old,
        now: roi,
      }
    }).then(() => [...roi] as Roi)
  }

  getParameters(): Record<string, unknown> {
    return this.model.toJson(this.#snapshot.parameters as P)
  }

  setParameters(partial: unknown, who?: Requester): Promise<Record<string, unknown>> {
    const model = this.model
    try {
      model.merge(this.#snapshot.parameters as P, partial)
    } catch (err) {
      return Promise.reject(new ControlError(`Invalid parameters: ${(err as Error).message}`))
    }
    return this.#mutate(who ?? { endpoint: 'POST /parameters', client: 'local' }, (cur) => {
      let merged: P
      try {
        // Merged again against the state current at its turn: concurrent updates never undo
        // each other.
        merged = model.merge(cur.parameters as P, partial)
      } catch (err) {
        throw new ControlError(`Invalid parameters: ${(err as Error).message}`)
      }
      return {
        next: makeSnapshot(model, cur.version + 1, cur.roiSignal, cur.roiBackground, merged),
        patch: { parameters: model.toJson(merged) },
        old: model.toJson(cur.parameters as P),
        now: model.toJson(merged),
      }
    }).then(() => this.getParameters())
  }

  /**
   * Called with every new snapshot once it is saved; the change is acknowledged when what it
   * returns resolves (the frame engine has the new settings then).
   */
  onChange(listener: (next: Snapshot<P>) => void | Promise<void>): void {
    this.#onChange = listener
  }

  /** Resolves when every change asked for so far is applied (or failed). */
  async settled(): Promise<void> {
    await this.#mutations.catch(() => undefined)
  }

  /**
   * Applies one settings change at a time: compute from the current snapshot, persist, then
   * swap. A change is acknowledged only once it is durable, and the state file always matches
   * what the frames use.
   */
  #mutate(who: Requester, change: (cur: Snapshot<P>) => Change<P>): Promise<void> {
    const job = async (): Promise<void> => {
      const cur = this.#snapshot
      const { next, patch, old, now } = change(cur)
      try {
        await this.store.update(patch, {
          endpoint: who.endpoint,
          client: who.client,
          old,
          new: now,
        })
      } catch (err) {
        if (!(err instanceof StateWriteError)) throw err
        this.log.error({ err }, 'a settings change could not be saved')
        // The reason without the path: answers never show the host's file layout.
        const code = (err.cause as NodeJS.ErrnoException | undefined)?.code
        throw new ControlError(
          'The change could not be saved to the state file' +
            `${code ? ` (${code})` : ''}; nothing was changed.`,
        )
      }
      this.#snapshot = next
      this.#roiMetrics(next)
      await this.#onChange?.(next)
      this.log.info({ change: who.endpoint, client: who.client, old, new: now }, 'settings changed')
    }
    const p = this.#mutations.then(job, job)
    this.#mutations = p.catch(() => undefined)
    return p
  }

  #roiMetrics(s: Snapshot<P>): void {
    const g = this.metrics.roiSize
    for (const [name, roi] of [
      ['signal', s.roiSignal],
      ['background', s.roiBackground],
    ] as const) {
      g.set({ roi: name, dim: 'x' }, roi.length === 4 ? roi[1] : 0)
      g.set({ roi: name, dim: 'y' }, roi.length === 4 ? roi[3] : 0)
    }
  }
}
