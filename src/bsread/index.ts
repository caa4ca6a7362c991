/**
 * bsread: the SwissFEL beam-synchronous data protocol over ZeroMQ.
 * @module
 */
export * from './types.js'
export * from './errors.js'
export * from './decoder.js'
export * from './encoder.js'
export * from './receiver.js'
export * from './sender.js'
