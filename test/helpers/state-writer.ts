/**
 * Child process for the kill -9 test of the state store: opens the store at argv[2], then saves
 * a numbered state after another, keeping up to `window` saves in flight, and prints `ack N` for
 * each save that resolved (i.e. is durable). Runs until killed.
 */
import { StateStore, type ServiceState } from '../../src/state/store.js'

export function stateFor(seq: number): ServiceState {
  return {
    roi_signal: [seq % 7, 10 + (seq % 5), 3, 20],
    roi_background: seq % 3 === 0 ? [] : [0, 5, 1, 2],
    // Some bulk so that writes take long enough to be caught mid-way.
    parameters: { seq, note: 'x'.repeat(2000 + (seq % 13) * 100) },
  }
}

async function main(): Promise<void> {
  const path = process.argv[2]
  const window = Number(process.argv[3] ?? 4)
  if (!path) throw new Error('usage: state-writer PATH [WINDOW]')
  const store = await StateStore.open({ path })
  for (const w of store.warnings) process.stdout.write(`warning ${w}\n`)
  const params = store.state.parameters as { seq?: number }
  let next = typeof params.seq === 'number' ? params.seq + 1 : 1
  process.stdout.write(`start ${next}\n`)
  const issue = (): void => {
    const seq = next++
    const s = stateFor(seq)
    store.save(s, { endpoint: 'TEST', client: 'child', old: seq - 1, new: seq }).then(
      () => {
        process.stdout.write(`ack ${seq}\n`)
        issue()
      },
      (err: unknown) => {
        process.stdout.write(`error ${String(err)}\n`)
        process.exit(2)
      },
    )
  }
  for (let i = 0; i < window; i++) issue()
}

if (process.argv[1]?.endsWith('state-writer.ts')) await main()
