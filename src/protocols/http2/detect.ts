// Recognising the two directions of an HTTP/2 connection from their first bytes (RFC 9113 §3.4):
// the client begins with the connection preface, the server with a SETTINGS frame.
import { FRAME_HEADER_LENGTH, PREFACE, SETTINGS } from './frames.js';

/** The first bytes are (a prefix of at least 8 bytes of) the client connection preface. */
export function looksLikeHttp2Request(bytes: Uint8Array): boolean {
  const n = Math.min(bytes.length, PREFACE.length);
  if (n < 8) return false;
  for (let i = 0; i < n; i++) if (bytes[i] !== PREFACE[i]) return false;
  return true;
}

/** The first bytes are a SETTINGS frame header on stream 0: the server connection preface. */
export function looksLikeHttp2Response(bytes: Uint8Array): boolean {
  if (bytes.length < FRAME_HEADER_LENGTH) return false;
  const length = (bytes[0]! << 16) | (bytes[1]! << 8) | bytes[2]!;
  const flags = bytes[4]!;
  const streamZero = (bytes[5]! & 0x7f) === 0 && bytes[6] === 0 && bytes[7] === 0 && bytes[8] === 0;
  return bytes[3] === SETTINGS && streamZero && length % 6 === 0 && length <= 6 * 64 && (flags === 0 || (flags === 1 && length === 0));
}
