/**
 * Test-only fault injection, so the fault tests can prove that an unexpected exception in the
 * processing loop is survived, logged, counted and shown by `/status`. Off unless the
 * environment variable `PSEN_FAULT_INJECTION` is set (never in production units):
 *
 *   PSEN_FAULT_INJECTION=frame:1005,loop:1010
 *
 * - `frame:<pulse_id>`: processing the frame with that pulse id throws (a bug inside a frame:
 *   counted as frame error `exception`, the loop goes on with the next frame).
 * - `loop:<pulse_id>`: the receive loop itself throws when that frame arrives, outside the
 *   per-frame guard (as a failing socket would): the supervisor restarts the loop.
 * @module
 */

export const FAULT_ENV = 'PSEN_FAULT_INJECTION'

/** An injected failure (a plain Error, like any unexpected bug). */
export class InjectedFault extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'InjectedFault'
  }
}

export class FaultInjection {
  readonly #frame: ReadonlySet<bigint>
  readonly #loop: ReadonlySet<bigint>

  constructor(frame: Iterable<bigint>, loop: Iterable<bigint>) {
    this.#frame = new Set(frame)
    this.#loop = new Set(loop)
  }

  /**
   * Parses the variable's value; undefined when unset or empty. Throws with a readable message
   * on a malformed value (a typo must not silently disable the test it was meant for).
   */
  static parse(value: string | undefined): FaultInjection | undefined {
    if (value === undefined || value.trim() === '') return undefined
    const frame: bigint[] = []
    const loop: bigint[] = []
    for (const item of value.split(',')) {
      const m = /^\s*(frame|loop):(\d+)\s*$/.exec(item)
      if (!m) throw new Error(`${FAULT_ENV}: cannot read '${item}' (expected frame:ID or loop:ID)`)
      ;(m[1] === 'frame' ? frame : loop).push(BigInt(m[2] as string))
    }
    return new FaultInjection(frame, loop)
  }

  /** Throws when processing this frame is to fail. */
  frame(pulseId: bigint): void {
    if (this.#frame.has(pulseId)) {
      throw new InjectedFault(`injected fault while processing pulse ${pulseId}`)
    }
  }

  /** Throws when the receive loop is to fail on this frame. */
  loop(pulseId: bigint): void {
    if (this.#loop.has(pulseId)) {
      throw new InjectedFault(`injected fault in the receive loop at pulse ${pulseId}`)
    }
  }
}
