/**
 * psen-processing as a library: the HTTP client, the bsread codec (decoder, encoder, sockets)
 * and the WebAssembly kernel loader with its typed wrappers.
 * @module
 */
export {
  PsenProcessingClient,
  PsenClientError,
  type ClientOptions,
  type Roi,
  type Statistics,
  type Status,
} from './client/client.js'

export {
  BsreadDecoder,
  decodeValue,
  decompressValue,
  type BsreadMessage,
  type DecodedValue,
  type DecoderOptions,
  type RawValue,
} from './bsread/decoder.js'
export {
  BsreadEncoder,
  preEncoded,
  PreEncoded,
  type EncodeChannel,
  type EncodeMessage,
  type EncoderOptions,
  type EncodableValue,
} from './bsread/encoder.js'
export { BsreadReceiver, type ReceiverOptions, type ReceiverStats } from './bsread/receiver.js'
export { BsreadSender, type SenderOptions } from './bsread/sender.js'
export { BsreadError, type BsreadErrorReason } from './bsread/errors.js'
export type {
  BsreadCodec,
  ChannelInfo,
  ChannelType,
  Compression,
  Encoding,
  Timestamp,
} from './bsread/types.js'

export { Kernel, Region } from './kernel/kernel.js'
export {
  compileKernel,
  DEFAULT_KERNEL_URL,
  DEBUG_KERNEL_URL,
  type KernelSource,
} from './kernel/loader.js'
export { KernelError } from './kernel/errors.js'
export { Codec } from './kernel/codec.js'
export { ProfileKernels, type FrameRef, type ProfileSums } from './kernel/profiles.js'
export type { KernelExports } from './kernel/abi.js'
export { DType, type DTypeName } from './kernel/dtype.js'
