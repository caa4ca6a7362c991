/**
 * Notices an input where nothing arrives: after FIRST_WARNING_S without a message (since the
 * start or the last message), and then every REPEAT_S, a warning names the address and how long
 * nothing arrived; when messages come again, one line says so. A 1 s timer reads the run's
 * last-received time, so frames cost nothing here.
 * @module
 */
import type { Logger } from '../log.js'

/** Seconds without a message before the first warning. */
export const FIRST_WARNING_S = 10
/** Seconds between further warnings while nothing arrives. */
export const REPEAT_S = 60

/** What GET /status says about the input. */
export interface InputReport {
  address: string
  mode: string
  /** Seconds since the last message (null: none yet in this run, or stopped). */
  last_message_age_s: number | null
  /** Nothing arrived for FIRST_WARNING_S or more while processing. */
  silent: boolean
  /** The warning in words while silent, else null. */
  warning: string | null
}

export interface InputSilenceOptions {
  address: string
  mode: string
  log: Logger
  /** Time (ms since the epoch) of the last message of the run; 0 while none arrived. */
  lastReceivedAt(): number
}

export class InputSilence {
  readonly #o: InputSilenceOptions
  readonly #since = Date.now()
  readonly #timer: NodeJS.Timeout
  /** Silence (s) at which the next warning is due. */
  #nextWarningS = FIRST_WARNING_S
  /** The last message time the warnings were about (a newer one ends the silence). */
  #warnedAbout: number | undefined

  constructor(o: InputSilenceOptions) {
    this.#o = o
    this.#timer = setInterval(() => this.#check(), 1000)
    this.#timer.unref()
  }

  /** Seconds since the last message, or since the start while none arrived. */
  #silenceS(now = Date.now()): number {
    const last = this.#o.lastReceivedAt()
    return (now - (last === 0 ? this.#since : last)) / 1000
  }

  #check(): void {
    const last = this.#o.lastReceivedAt()
    if (this.#warnedAbout !== undefined && last !== this.#warnedAbout) {
      this.#o.log.info({ input: this.#o.address }, `input ${this.#o.address} sends again`)
      this.#warnedAbout = undefined
      this.#nextWarningS = FIRST_WARNING_S
    }
    const silence = this.#silenceS()
    if (silence < this.#nextWarningS) return
    this.#warnedAbout = last
    this.#nextWarningS += REPEAT_S
    this.#o.log.warn(
      { input: this.#o.address, mode: this.#o.mode, silent_s: Math.round(silence) },
      this.#words(silence),
    )
  }

  #words(silence: number): string {
    const what = this.#o.lastReceivedAt() === 0 ? 'no message yet' : 'no message'
    return (
      `${what} from ${this.#o.address} for ${Math.round(silence)} s ` +
      `(input_mode ${this.#o.mode}): is the camera sending, and is this its address?`
    )
  }

  report(): InputReport {
    const last = this.#o.lastReceivedAt()
    const silence = this.#silenceS()
    const silent = silence >= FIRST_WARNING_S
    return {
      address: this.#o.address,
      mode: this.#o.mode,
      last_message_age_s: last === 0 ? null : Math.round((Date.now() - last) / 100) / 10,
      silent,
      warning: silent ? this.#words(silence) : null,
    }
  }

  stop(): void {
    clearInterval(this.#timer)
  }
}
