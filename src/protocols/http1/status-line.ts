// The status line of an HTTP/1 response on its own (RFC 9112 §4): what an exchange shed in the kernel
// keeps of its response.

export interface StatusLine {
  /** "1.0" or "1.1". */
  version: string;
  statusCode: number;
  /** The reason phrase as far as the bytes go (a shed exchange keeps the line's first 32 bytes). */
  reason: string;
}

const DIGIT_0 = 0x30;

/** "HTTP/1.1 200 OK" → its parts; null for anything else. The line may be cut short after the code. */
export function parseStatusLine(b: Uint8Array): StatusLine | null {
  // "HTTP/1.x NNN" is 12 bytes; a space or the line's end follows the code.
  if (b.length < 12) return null;
  const prefix = 'HTTP/1.';
  for (let i = 0; i < prefix.length; i++) if (b[i] !== prefix.charCodeAt(i)) return null;
  const minor = b[7]!;
  if ((minor !== DIGIT_0 && minor !== DIGIT_0 + 1) || b[8] !== 0x20) return null;
  let code = 0;
  for (let i = 9; i < 12; i++) {
    const d = b[i]! - DIGIT_0;
    if (d < 0 || d > 9) return null;
    code = code * 10 + d;
  }
  if (code < 100) return null;
  if (b.length > 12 && b[12] !== 0x20 && b[12] !== 0x0d) return null;
  let end = 13;
  while (end < b.length && b[end] !== 0x0d && b[end] !== 0x0a) end++;
  return { version: minor === DIGIT_0 ? '1.0' : '1.1', statusCode: code, reason: b.length > 13 ? Buffer.from(b.buffer, b.byteOffset + 13, Math.max(0, end - 13)).toString('latin1') : '' };
}
