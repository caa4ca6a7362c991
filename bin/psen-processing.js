#!/usr/bin/env -S node --single-threaded-gc
// The installed command: runs the compiled CLI (npm ci / npm run build produce dist/).
// --single-threaded-gc, also in `npm start` and the Docker ENTRYPOINT: V8's GC helper threads
// cost ~2 ms of CPU per frame at 100 Hz on a 2-core host, taken from the camera and the
// consumers (docs/performance.md). It cannot be set from here: V8 flags changed at run time
// (v8.setFlagsFromString) abort the process at its next collection.
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
