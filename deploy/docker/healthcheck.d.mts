/** The HEALTHCHECK URL for a service started with `args` (undefined: no HTTP API). */
export function healthUrl(args: readonly string[]): string | undefined
/** The running service's arguments, found through /proc. */
export function serviceArgs(): string[]
