/**
 * Headless chromium for the browser test, driven by playwright-core; nothing is downloaded.
 * Which chromium (PSEN_BROWSER):
 * - `system`: Debian's (CHROMIUM_PATH, default /usr/bin/chromium);
 * - `bundled`: the headless Chromium that the npm package @sparticuz/chromium ships inside it
 *   (a devDependency), so `npm ci && npm test` needs no browser installed by hand;
 * - unset: the system one when present, else the bundled one.
 * The bundled binary needs only libraries a fresh Debian 12 image has: run under LD_DEBUG=libs
 * (4 processes, a page with text and a canvas) it loaded glibc, libgcc-s, libexpat, libnspr4 and
 * libnss3 and nothing else (2026-12-07).
 * @module
 */
import { createReadStream, createWriteStream, existsSync } from 'node:fs'
import { mkdir, readFile, rename, rm } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { fileURLToPath } from 'node:url'
import { createBrotliDecompress } from 'node:zlib'
import { chromium, type Browser } from 'playwright-core'

export const SYSTEM_CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

export type BrowserChoice = 'system' | 'bundled'

/** The chromium the test will use (PSEN_BROWSER, else the system one when present). */
export function browserChoice(env: NodeJS.ProcessEnv = process.env): BrowserChoice {
  const asked = env.PSEN_BROWSER
  if (asked === 'system' || asked === 'bundled') return asked
  if (asked !== undefined && asked !== '') {
    throw new Error(`PSEN_BROWSER must be 'system' or 'bundled', got '${asked}'`)
  }
  return existsSync(SYSTEM_CHROMIUM) ? 'system' : 'bundled'
}

/** Where @sparticuz/chromium keeps its brotli-compressed binary (its own bin/ folder). */
function bundledArchive(): string {
  const entry = fileURLToPath(import.meta.resolve('@sparticuz/chromium'))
  // entry: node_modules/@sparticuz/chromium/build/esm/index.js
  return join(dirname(entry), '..', '..', 'bin', 'chromium.br')
}

/**
 * Unpacks the bundled chromium once into node_modules/.cache (next to the package, so a new
 * `npm ci` starts afresh) and returns its path. Unpacked by hand rather than with the package's
 * executablePath(): that writes to the shared /tmp under fixed names without an atomic rename, so
 * an interrupted unpack leaves a truncated binary it reuses forever; it also sets up Lambda's
 * library paths, which a Debian machine does not need (fonts come from fontconfig, the GPU is
 * off, so its fonts and swiftshader archives are not needed either).
 */
export async function bundledChromium(): Promise<string> {
  const archive = bundledArchive()
  const pkgDir = join(dirname(archive), '..')
  const { version } = JSON.parse(await readFile(join(pkgDir, 'package.json'), 'utf8')) as {
    version: string
  }
  const dir = join(pkgDir, '..', '..', '.cache', 'psen-chromium', version)
  const binary = join(dir, 'chromium')
  if (existsSync(binary)) return binary
  await mkdir(dir, { recursive: true })
  const partial = `${binary}.${process.pid}.partial`
  try {
    await pipeline(
      createReadStream(archive),
      createBrotliDecompress(),
      createWriteStream(partial, { mode: 0o755 }),
    )
    await rename(partial, binary)
  } finally {
    await rm(partial, { force: true })
  }
  return binary
}

/** The executable for `choice`; throws with what to do when the system one is missing. */
export async function chromiumPath(choice: BrowserChoice = browserChoice()): Promise<string> {
  if (choice === 'bundled') return bundledChromium()
  if (!existsSync(SYSTEM_CHROMIUM)) {
    throw new Error(`PSEN_BROWSER=system but no chromium at ${SYSTEM_CHROMIUM}`)
  }
  return SYSTEM_CHROMIUM
}

export async function launchChromium(choice: BrowserChoice = browserChoice()): Promise<Browser> {
  return chromium.launch({
    executablePath: await chromiumPath(choice),
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  })
}
