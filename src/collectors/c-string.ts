// Zero-terminated strings in fixed-size fields of kernel records (comm[16], filename[256]).

const utf8 = new TextDecoder();

/** The bytes up to the first NUL (all of them when there is none), as UTF-8. */
export function cString(bytes: Uint8Array): string {
  let end = 0;
  let ascii = true;
  for (; end < bytes.length; end++) {
    const b = bytes[end]!;
    if (b === 0) break;
    if (b >= 0x80) ascii = false;
  }
  const text = bytes.subarray(0, end);
  // ASCII is what these nearly always are, and its UTF-8 is its codes: a string of them, without a
  // Buffer copied and decoded in C++ (a socket open event's comm was ~4 % of the path under a
  // connection per request).
  return ascii ? String.fromCharCode.apply(null, text as unknown as number[]) : utf8.decode(text);
}
