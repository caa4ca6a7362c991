#!/usr/bin/env node
// The image's HEALTHCHECK: GET /health on the service's HTTP API. Slim images have no curl, and
// the port is whatever the container was started with (-r / --rest_api_port), so the command
// line of the running service is read from /proc. Exit 0 = healthy, 1 = unhealthy.
// PSEN_HEALTH_URL overrides everything (e.g. a service started with an unusual wrapper).
// Exits 0 for the subcommands without an HTTP API (simulate).
import { readdirSync, readFileSync } from 'node:fs'
import { pathToFileURL } from 'node:url'

const DEFAULT_PORT = 10000
const ENTRY = 'psen-processing.js'

/**
 * Where the service's HTTP API listens, from its arguments (those after the script).
 * Returns undefined for subcommands without an HTTP API (simulate, dump).
 */
export function healthUrl(args) {
  // Unit files written for the old image name the command first: `IMAGE psen_processing …`.
  if (args[0] === 'psen_processing' || args[0] === 'psen-processing') args = args.slice(1)
  if (args[0] === 'simulate' || args[0] === 'dump') return undefined
  let port = DEFAULT_PORT
  let host = '127.0.0.1'
  for (let i = 0; i < args.length; i++) {
    const a = args[i]
    let value
    let name
    if (a === '--') break
    if (a.startsWith('--')) {
      const eq = a.indexOf('=')
      name = eq < 0 ? a.slice(2) : a.slice(2, eq)
      if (name !== 'rest_api_port' && name !== 'rest_api_interface') continue
      value = eq < 0 ? args[++i] : a.slice(eq + 1)
    } else if (a.startsWith('-r')) {
      name = 'rest_api_port'
      value = a.length > 2 ? a.slice(a[2] === '=' ? 3 : 2) : args[++i]
    } else {
      continue
    }
    if (value === undefined) continue
    if (name === 'rest_api_port') port = Number(value)
    else if (!['0.0.0.0', '::', '*', '[::]', ''].includes(value)) host = value
  }
  if (host.includes(':') && !host.startsWith('[')) host = `[${host}]`
  return `http://${host}:${port}/health`
}

function cmdline(pid) {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((s) => s !== '')
  } catch {
    return undefined
  }
}

/** The service's arguments: PID 1, or the process behind `docker run --init`'s tini. */
export function serviceArgs() {
  // PSEN_HEALTH_PID names the process (tests: a shared machine runs many services).
  const pids = process.env.PSEN_HEALTH_PID
    ? [process.env.PSEN_HEALTH_PID]
    : ['1', ...readdirSync('/proc').filter((p) => /^\d+$/.test(p) && p !== '1')]
  for (const pid of pids) {
    if (pid === String(process.pid)) continue
    const argv = cmdline(pid)
    const at = argv?.findIndex((s) => s.endsWith(ENTRY)) ?? -1
    if (argv && at >= 0) return argv.slice(at + 1)
  }
  return []
}

async function main() {
  const url = process.env.PSEN_HEALTH_URL || healthUrl(serviceArgs())
  if (url === undefined) return 0
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(4000) })
    if (res.ok) return 0
    console.error(`${url}: HTTP ${res.status}`)
  } catch (err) {
    console.error(`${url}: ${err instanceof Error ? err.message : String(err)}`)
  }
  return 1
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main()
}
