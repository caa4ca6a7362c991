/**
 * Where a service instance keeps its state by default: one file per instance, named by camera
 * prefix and REST port (two instances on one host never share a file), in the XDG state
 * directory (`$XDG_STATE_HOME/psen-processing/`, else `~/.local/state/psen-processing/`). The
 * container image sets XDG_STATE_HOME=/data, its volume.
 * @module
 */
import { homedir } from 'node:os'
import { isAbsolute, join } from 'node:path'

/** The value of `--state_file` that turns persistence off. */
export const STATE_FILE_OFF = 'none'

/** The default state file of the instance `prefix` on `restPort`. */
export function defaultStateFile(
  prefix: string,
  restPort: number,
  env: NodeJS.ProcessEnv = process.env,
): string {
  const xdg = env.XDG_STATE_HOME
  // The XDG spec: a relative value is invalid and must be ignored.
  const base = xdg && isAbsolute(xdg) ? xdg : join(env.HOME || homedir(), '.local', 'state')
  // A prefix is a camera name (letters, digits, '-', ':' at most); anything else becomes '_' so
  // that the name is one plain file name on every file system.
  const name = prefix.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_')
  return join(base, 'psen-processing', `${name}-${restPort}.json`)
}

/**
 * The state file of an instance: `--state_file PATH` (or env PSEN_STATE_FILE) when given,
 * `none` (or an empty value) for none, else the default. Without a prefix (the demo) there is
 * no default: the demo keeps its state in memory unless a file is given.
 */
export function resolveStateFile(
  given: string | undefined,
  instance: { prefix: string; restPort: number } | undefined,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  if (given !== undefined) {
    return given.trim() === '' || given.trim().toLowerCase() === STATE_FILE_OFF ? undefined : given
  }
  if (instance === undefined) return undefined
  return defaultStateFile(instance.prefix, instance.restPort, env)
}
