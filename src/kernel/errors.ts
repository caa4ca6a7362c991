/** Negative status codes returned by kernels; mirror of assembly/errors.ts. */
export const KernelStatus = {
  TRUNCATED: -1,
  CORRUPT: -2,
  OUTPUT_OVERFLOW: -3,
  SIZE_MISMATCH: -4,
  BAD_ARGUMENT: -5,
} as const

export type KernelStatusName = keyof typeof KernelStatus

/** A kernel returned a negative status code. */
export class KernelError extends Error {
  constructor(
    /** MEMORY_CAP: a region bigger than the kernel's memory can hold was refused. */
    readonly code: KernelStatusName | 'TRAP' | 'MEMORY_CAP',
    message: string,
  ) {
    super(message)
    this.name = 'KernelError'
  }
}

/** Name of a negative status code, for messages. */
export function statusName(status: number): KernelStatusName {
  for (const [name, value] of Object.entries(KernelStatus)) {
    if (value === status) return name as KernelStatusName
  }
  return 'CORRUPT'
}
