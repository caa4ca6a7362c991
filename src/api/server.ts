/**
 * Serves a built app over HTTP (@hono/node-server) and closes it within a bounded time.
 * @module
 */
import type { AddressInfo } from 'node:net'
import type { Server } from 'node:http'
import { serve } from '@hono/node-server'
import type { Hono } from 'hono'
import type { WebSocketServer } from 'ws'

export interface HttpServer {
  /** The port actually bound (useful with port 0). */
  readonly port: number
  readonly host: string
  /** Stops accepting, ends open connections after `graceMs`, resolves when closed. */
  close(graceMs?: number): Promise<void>
}

export interface ListenOptions {
  port: number
  host: string
  /** WebSocket server for routes that upgrade (the preview). */
  websocket?: { server: WebSocketServer }
}

/** Listens on host:port; rejects when the port cannot be bound (e.g. EADDRINUSE). */
export function listen(app: Hono, opts: ListenOptions): Promise<HttpServer> {
  return new Promise((resolve, reject) => {
    const server = serve({
      fetch: app.fetch,
      port: opts.port,
      hostname: opts.host,
      ...(opts.websocket ? { websocket: opts.websocket } : {}),
    }) as Server
    const onError = (err: Error): void => reject(err)
    server.once('error', onError)
    server.once('listening', () => {
      server.off('error', onError)
      const address = server.address() as AddressInfo
      resolve({
        port: address.port,
        host: opts.host,
        close: (graceMs = 500) => closeServer(server, opts.websocket?.server, graceMs),
      })
    })
  })
}

function closeServer(
  server: Server,
  wss: WebSocketServer | undefined,
  graceMs: number,
): Promise<void> {
  return new Promise((resolve) => {
    for (const client of wss?.clients ?? []) client.terminate()
    wss?.close()
    // close() waits for open connections (keep-alive, streams); give them a moment, then cut.
    const timer = setTimeout(() => server.closeAllConnections(), graceMs)
    server.close(() => {
      clearTimeout(timer)
      resolve()
    })
    server.closeIdleConnections()
  })
}
