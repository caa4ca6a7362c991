/**
 * The typed handle on one instance of the kernel module: owns the instance and the reusable
 * memory regions, decodes abort locations, and re-instantiates after a trap.
 * @module
 */
import type { KernelExports } from './abi.js'
import { KernelError, statusName } from './errors.js'
import { compileKernel, type KernelSource } from './loader.js'

/**
 * The kernel module's memory cap: asconfig.json's maximumMemory, 16,384 pages of 64 KiB
 * (test/kernel-memory.test.ts checks that they agree).
 */
export const KERNEL_MEMORY_CAP = 16_384 * 65_536

/**
 * A block of kernel memory that is reused across frames and grows only when a bigger request
 * arrives. Its pointer stays valid until the next `ensure` that grows it or a kernel reset;
 * typed views over it must be made after every call that may allocate (memory.grow detaches).
 */
export class Region {
  #ptr = 0
  #capacity = 0
  #generation = -1

  constructor(private readonly kernel: Kernel) {}

  /**
   * Makes room for `bytes` bytes and returns the (16-byte aligned) address. Throws KernelError
   * MEMORY_CAP, before anything changes, for a size the kernel's memory can never hold: the
   * module's allocator takes a 32-bit size, and a bigger one (a 53,688 px ROI x 10,000 shots
   * is 4.3 GB) would wrap around to a small region that the kernel then writes past.
   */
  ensure(bytes: number): number {
    if (!(bytes >= 0 && bytes <= KERNEL_MEMORY_CAP)) {
      throw new KernelError(
        'MEMORY_CAP',
        `a region of ${bytes} bytes exceeds the kernel's ` +
          `memory cap of ${KERNEL_MEMORY_CAP} bytes`,
      )
    }
    if (this.#generation !== this.kernel.generation) {
      this.#ptr = 0
      this.#capacity = 0
      this.#generation = this.kernel.generation
    }
    if (bytes <= this.#capacity && this.#ptr !== 0) return this.#ptr
    const want = Math.max(bytes, 16)
    if (this.#ptr !== 0) this.kernel.exports.free(this.#ptr)
    this.#ptr = 0
    this.#capacity = 0
    this.#ptr = this.kernel.exports.alloc(want)
    this.#capacity = want
    return this.#ptr
  }

  get ptr(): number {
    return this.#generation === this.kernel.generation ? this.#ptr : 0
  }

  get capacity(): number {
    return this.#generation === this.kernel.generation ? this.#capacity : 0
  }

  /** Bytes [0, length) of the region as a fresh view (valid until the next allocation). */
  bytes(length = this.capacity): Uint8Array {
    return new Uint8Array(this.kernel.exports.memory.buffer, this.ptr, length)
  }
}

/** Checked at instantiation; test/kernel-loader.test.ts checks the whole ABI. */
const CORE_FUNCTIONS = ['alloc', 'free', 'abort_info'] as const

export class Kernel {
  #instance: WebAssembly.Instance
  #generation = 0
  #resets = 0

  private constructor(readonly module: WebAssembly.Module) {
    this.#instance = Kernel.#instantiate(module)
  }

  /** Compiles (or reuses) the module and instantiates it. */
  static async load(source?: KernelSource): Promise<Kernel> {
    return new Kernel(await compileKernel(source))
  }

  /** A new instance of an already compiled module (e.g. one per worker or per test). */
  static fromModule(module: WebAssembly.Module): Kernel {
    return new Kernel(module)
  }

  static #instantiate(module: WebAssembly.Module): WebAssembly.Instance {
    const instance = new WebAssembly.Instance(module, {})
    const missing = CORE_FUNCTIONS.filter((name) => typeof instance.exports[name] !== 'function')
    if (missing.length > 0) throw new Error(`kernel module lacks exports: ${missing.join(', ')}`)
    return instance
  }

  get exports(): KernelExports {
    return this.#instance.exports as unknown as KernelExports
  }

  /** Increments on every reset; regions from an older generation re-allocate. */
  get generation(): number {
    return this.#generation
  }

  /** How many times a trap forced a fresh instance. */
  get resets(): number {
    return this.#resets
  }

  get memoryBytes(): number {
    return this.exports.memory.buffer.byteLength
  }

  region(): Region {
    return new Region(this)
  }

  /** Fresh view of kernel memory (never keep it across a call that may allocate). */
  bytes(ptr: number, length: number): Uint8Array {
    return new Uint8Array(this.exports.memory.buffer, ptr, length)
  }

  /** Throws a KernelError for a negative status, otherwise returns it. */
  check(status: number, what: string): number {
    if (status < 0)
      throw new KernelError(
        statusName(status),
        `${what}: ${statusName(status).toLowerCase().replace('_', ' ')}`,
      )
    return status
  }

  /**
   * Runs `fn` against the exports; a trap (RuntimeError: an assertion, out of memory) replaces
   * the instance with a fresh one, since allocator state may be half-updated, and rethrows it as
   * a KernelError with the abort location when there is one.
   */
  run<T>(fn: (k: KernelExports) => T): T {
    try {
      return fn(this.exports)
    } catch (err) {
      if (!(err instanceof WebAssembly.RuntimeError)) throw err
      const where = this.#abortMessage()
      this.#instance = Kernel.#instantiate(this.module)
      this.#generation++
      this.#resets++
      throw new KernelError('TRAP', `kernel trap: ${where ?? err.message}`)
    }
  }

  #abortMessage(): string | undefined {
    try {
      const info = new Uint32Array(this.exports.memory.buffer, this.exports.abort_info(), 4)
      const [msgPtr, filePtr, line, column] = info
      if (!msgPtr && !filePtr) return undefined
      return `${this.#readString(msgPtr)} at ${this.#readString(filePtr)}:${line}:${column}`
    } catch {
      return undefined
    }
  }

  #readString(ptr: number | undefined): string {
    if (!ptr) return '?'
    // AssemblyScript strings: UTF-16LE, byte length in the object header just before the data.
    const byteLength = new Uint32Array(this.exports.memory.buffer, ptr - 4, 1)[0] ?? 0
    return String.fromCharCode(
      ...new Uint16Array(this.exports.memory.buffer, ptr, Math.min(byteLength, 2048) >>> 1),
    )
  }
}
