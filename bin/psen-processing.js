#!/usr/bin/env node
// The installed command: runs the compiled CLI (npm ci / npm run build produce dist/). It needs
// no node flags: the runtime settings the frame path needs are set by the program itself
// (src/processing/scavenger.ts, docs/performance.md).
import { main } from '../dist/cli/main.js'

main(process.argv.slice(2)).then(
  (code) => {
    if (typeof code === 'number') process.exitCode = code
  },
  (err) => {
    console.error(err instanceof Error ? err.message : String(err))
    process.exit(1)
  },
)
