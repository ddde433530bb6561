// Zero-terminated strings in fixed-size fields of kernel records (comm[16], filename[256]).

/** The bytes up to the first NUL (all of them when there is none), as UTF-8. */
export function cString(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return Buffer.from(bytes.subarray(0, end < 0 ? bytes.length : end)).toString('utf8');
}
