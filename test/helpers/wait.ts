/**
 * Waiting in tests: for a condition (`waitFor`), for a zeromq connection (`handshake`), and,
 * where the wait itself is the point (a quiet period, pacing a sender), for a time (`sleep`).
 * The one copy of these; test/helpers/service.ts re-exports them.
 * @module
 */
import type * as zmq from 'zeromq'

/**
 * Resolves after `ms`. Only for waits that are the point of a test: "nothing happens for X ms",
 * a measurement window, pacing a sender. To wait for something, use `waitFor`.
 */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/**
 * Polls `check` every `everyMs` until it returns a value other than undefined/false, and
 * resolves with that value; throws after `ms`, naming `what` and the last error `check` threw
 * (a throwing check counts as "not yet"). A check may also act, e.g. send one more frame.
 */
export async function waitFor<T>(
  what: string,
  check: () => T | Promise<T>,
  ms = 10_000,
  everyMs = 25,
): Promise<Exclude<T, false | undefined>> {
  const end = Date.now() + ms
  let last: unknown
  for (;;) {
    try {
      const v = await check()
      if (v !== undefined && v !== false) return v as Exclude<T, false | undefined>
    } catch (err) {
      last = err
    }
    if (Date.now() > end) {
      throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`)
    }
    await sleep(everyMs)
  }
}

/**
 * Resolves when `socket` completes its first ZMTP handshake with a peer (zeromq's 'handshake'
 * event). Call it BEFORE `connect`/`bind`, so the event cannot be missed. Rejects after `ms`, or
 * when the socket closes first; a rejection nobody awaits is not reported as unhandled.
 * The socket's event observer is read until the socket closes, never closed early: zeromq.js
 * names a monitor endpoint after the observer's address, and a closed observer's endpoint stays
 * bound while its socket lives, so a later observer at the same address fails (EADDRINUSE).
 */
export function handshake(socket: zmq.Socket, ms = 10_000): Promise<void> {
  const events = socket.events
  let connected: () => void = () => undefined
  let closed: () => void = () => undefined
  const done = new Promise<void>((resolve, reject) => {
    connected = resolve
    closed = () => reject(new Error('the socket closed before its zeromq handshake'))
  })
  void (async () => {
    try {
      for await (const event of events) if (event.type === 'handshake') connected()
    } catch {
      // The socket (and its observer) closed.
    }
    closed()
  })()
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no zeromq handshake within ${ms} ms`)), ms)
  })
  const result = Promise.race([done, timeout]).finally(() => clearTimeout(timer))
  result.catch(() => undefined)
  return result
}
