// HTTP/2 frame layout and constants (RFC 9113 §4, §6, §7, §11.2), and the checks that tell a frame
// header from other bytes. Pure: no state.

/** §3.4: the client connection preface. */
export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
/** §4.1: length (24) type (8) flags (8) R (1) stream identifier (31). */
export const FRAME_HEADER_LENGTH = 9;
/** §4.2: SETTINGS_MAX_FRAME_SIZE may not exceed 2^24-1. */
export const MAX_FRAME_SIZE_LIMIT = 2 ** 24 - 1;
/** §6.5.2: the initial SETTINGS_MAX_FRAME_SIZE. */
export const DEFAULT_MAX_FRAME_SIZE = 16_384;

// §6 frame types (§11.2 registry).
export const DATA = 0x0;
export const HEADERS = 0x1;
export const PRIORITY = 0x2;
export const RST_STREAM = 0x3;
export const SETTINGS = 0x4;
export const PUSH_PROMISE = 0x5;
export const PING = 0x6;
export const GOAWAY = 0x7;
export const WINDOW_UPDATE = 0x8;
export const CONTINUATION = 0x9;

// Flags (§6.1-§6.10).
export const END_STREAM = 0x1;
export const ACK = 0x1;
export const END_HEADERS = 0x4;
export const PADDED = 0x8;
export const PRIORITY_FLAG = 0x20;

// §6.5.2 settings.
export const SETTINGS_HEADER_TABLE_SIZE = 0x1;
export const SETTINGS_MAX_FRAME_SIZE = 0x5;

/** §7 error codes by value. */
const ERROR_CODES = [
  'NO_ERROR', 'PROTOCOL_ERROR', 'INTERNAL_ERROR', 'FLOW_CONTROL_ERROR', 'SETTINGS_TIMEOUT', 'STREAM_CLOSED',
  'FRAME_SIZE_ERROR', 'REFUSED_STREAM', 'CANCEL', 'COMPRESSION_ERROR', 'CONNECT_ERROR', 'ENHANCE_YOUR_CALM',
  'INADEQUATE_SECURITY', 'HTTP_1_1_REQUIRED',
];

/** The name of an error code; unknown codes (§7: not an error to receive) as "0x1f". */
export function errorCodeName(code: number): string {
  return ERROR_CODES[code] ?? `0x${code.toString(16)}`;
}

export interface FrameHeader {
  length: number;
  type: number;
  flags: number;
  /** The reserved bit is masked off (§4.1: ignored on receipt). */
  streamId: number;
  /** Time of the syscall that carried the frame header's first byte. */
  startNs: bigint;
}

/** Flags each known type defines; set bits outside them are ignored by peers, and unused by any sender. */
const DEFINED_FLAGS = [
  END_STREAM | PADDED, // DATA
  END_STREAM | END_HEADERS | PADDED | PRIORITY_FLAG, // HEADERS
  0, // PRIORITY
  0, // RST_STREAM
  ACK, // SETTINGS
  END_HEADERS | PADDED, // PUSH_PROMISE
  ACK, // PING
  0, // GOAWAY
  0, // WINDOW_UPDATE
  END_HEADERS, // CONTINUATION
];

/**
 * Whether a header obeys the rules every peer enforces as connection errors (§6: which types
 * need a stream and which must be on stream 0, fixed payload lengths, the frame size limit).
 * Frames breaking them are not something a working peer sends: the bytes are not frames.
 */
export function validHeader(length: number, type: number, flags: number, streamId: number, maxFrameSize: number): boolean {
  if (length > maxFrameSize) return false;
  switch (type) {
    case DATA:
      return streamId !== 0 && ((flags & PADDED) === 0 || length >= 1);
    case HEADERS:
      return streamId !== 0 && length >= ((flags & PADDED) !== 0 ? 1 : 0) + ((flags & PRIORITY_FLAG) !== 0 ? 5 : 0);
    case PRIORITY:
      return streamId !== 0 && length === 5;
    case RST_STREAM:
      return streamId !== 0 && length === 4;
    case SETTINGS:
      return streamId === 0 && length % 6 === 0 && ((flags & ACK) === 0 || length === 0);
    case PUSH_PROMISE:
      return streamId !== 0 && length >= ((flags & PADDED) !== 0 ? 5 : 4);
    case PING:
      return streamId === 0 && length === 8;
    case GOAWAY:
      return streamId === 0 && length >= 8;
    case WINDOW_UPDATE:
      return length === 4;
    case CONTINUATION:
      return streamId !== 0;
    default:
      return true; // §5.5: unknown types are ignored
  }
}

/**
 * Stricter, for finding frames in bytes of unknown alignment: a valid header of a type a frame
 * sequence can start with (not CONTINUATION, not an unknown extension), only defined flags, a
 * stream id no larger than `maxStreamId`, and not an empty DATA frame that does not end its stream.
 */
export function plausibleHeader(length: number, type: number, flags: number, streamId: number, maxFrameSize: number, maxStreamId: number): boolean {
  if (type >= CONTINUATION) return false;
  if ((flags & ~DEFINED_FLAGS[type]!) !== 0) return false;
  if (streamId > maxStreamId) return false;
  // An empty DATA frame says something only when it ends the stream; runs of zero bytes look
  // like empty DATA frames.
  if (type === DATA && length === 0 && (flags & END_STREAM) === 0) return false;
  return validHeader(length, type, flags, streamId, maxFrameSize);
}

/** Reads a 9-byte frame header at `p` (the caller checks that 9 bytes are there). */
export function readHeader(b: Uint8Array, p: number, startNs: bigint): FrameHeader {
  return {
    length: (b[p]! << 16) | (b[p + 1]! << 8) | b[p + 2]!,
    type: b[p + 3]!,
    flags: b[p + 4]!,
    streamId: ((b[p + 5]! & 0x7f) * 2 ** 24) + (b[p + 6]! << 16) + (b[p + 7]! << 8) + b[p + 8]!,
    startNs,
  };
}

export function u32(b: Uint8Array, p: number): number {
  return b[p]! * 2 ** 24 + ((b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!);
}

/**
 * The header block fragment of a HEADERS (§6.2) or PUSH_PROMISE (§6.6) payload, without padding,
 * priority fields or the promised stream id; null when the padding is longer than the payload.
 */
export function headerFragment(h: FrameHeader, payload: Buffer): { fragment: Buffer; promisedId: number } | null {
  let from = 0;
  let to = payload.length;
  if ((h.flags & PADDED) !== 0) {
    if (to < 1) return null;
    to -= payload[0]!;
    from = 1;
  }
  let promisedId = 0;
  if (h.type === HEADERS && (h.flags & PRIORITY_FLAG) !== 0) from += 5;
  if (h.type === PUSH_PROMISE) {
    if (from + 4 > payload.length) return null;
    promisedId = u32(payload, from) & 0x7fffffff;
    from += 4;
  }
  if (to < from) return null;
  return { fragment: payload.subarray(from, to), promisedId };
}
