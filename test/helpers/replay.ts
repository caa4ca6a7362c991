/** `replay` run in-process on a port of its own choosing (no race for a free port). */
import { runReplay } from '../../src/cli/replay.js'

export interface ReplayRun {
  /** Every line the command printed. */
  lines: string[]
  /** The bound address, e.g. tcp://127.0.0.1:40123 (rejects when replay ends first). */
  address: Promise<string>
  /** The exit code. */
  done: Promise<number>
}

export function startReplay(args: string[], signal?: AbortSignal): ReplayRun {
  const lines: string[] = []
  let bound: (address: string) => void = () => undefined
  const address = new Promise<string>((resolve) => {
    bound = resolve
  })
  const out = (l: string): void => {
    lines.push(l)
    const m = /^replaying .* on (tcp:\/\/\S+) \(/.exec(l)
    if (m) bound(m[1] as string)
  }
  const done = runReplay([...args, '--port', '0'], {
    out,
    err: (l) => {
      lines.push(l)
    },
    ...(signal ? { signal } : {}),
  })
  return {
    lines,
    done,
    address: Promise.race([
      address,
      done.then((code) => {
        throw new Error(`replay ended (${code}) before binding: ${lines.join('\n')}`)
      }),
    ]),
  }
}
