/** `psen-processing simulate` without the build step: runs runSimulate on this process's args. */
import { runSimulate } from '../../src/cli/simulate.js'

process.exitCode = await runSimulate(process.argv.slice(2))
