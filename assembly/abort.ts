// Aborts without importing `env.abort` from the host: the module must instantiate with no imports
// (Node and the browser load the same bytes). The location is kept in a static block that the
// TypeScript loader reads after a trap, so a failed assertion still says where it failed.

/** [message ptr, file ptr, line, column] of the last abort, as u32 each. */
const ABORT_INFO: usize = memory.data(16)

export function kernelAbort(message: string | null, fileName: string | null, line: u32, column: u32): void {
  store<u32>(ABORT_INFO, changetype<usize>(message))
  store<u32>(ABORT_INFO, changetype<usize>(fileName), 4)
  store<u32>(ABORT_INFO, line, 8)
  store<u32>(ABORT_INFO, column, 12)
  unreachable()
}

/** Address of the abort block; the loader decodes the two UTF-16 strings it points to. */
export function abort_info(): usize {
  return ABORT_INFO
}
