/**
 * The package version, for `--version` and what the recorder writes into a recording.
 * @module
 */
import { readFileSync } from 'node:fs'

export function packageVersion(): string {
  try {
    const pkg = JSON.parse(
      readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
    ) as { version?: string }
    return pkg.version ?? 'unknown'
  } catch {
    return 'unknown'
  }
}
