// Textual forms of IP addresses as OTel attributes carry them.

export function formatIpv4(b: Uint8Array): string {
  return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
}

/** RFC 5952 text form: lower case, longest run of zero groups as "::", IPv4-mapped as ::ffff:a.b.c.d. */
export function formatIpv6(b: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i] ?? 0) << 8) | (b[i + 1] ?? 0));
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) return `::ffff:${formatIpv4(b.subarray(12, 16))}`;
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/** Texts of IPv4 addresses and of IPv4-mapped IPv6 ones (by u32 + 2^32) made so far, up to MAX_REMEMBERED. */
const remembered = new Map<number, string>();
const MAX_REMEMBERED = 4096;
const MAPPED = 0x1_0000_0000;

function remember(key: number, text: string): string {
  if (remembered.size >= MAX_REMEMBERED) remembered.clear();
  remembered.set(key, text);
  return text;
}

/** Big-endian u32 of b[at..at+4). */
function u32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

/** The text of IPv4 address `n` (its four bytes as a big-endian u32), as formatIpv4 gives it; remembered. */
export function ipv4Text(n: number): string {
  return remembered.get(n) ?? remember(n, `${n >>> 24}.${(n >>> 16) & 0xff}.${(n >>> 8) & 0xff}.${n & 0xff}`);
}

/**
 * The text of IPv6 address `b` (16 bytes), as formatIpv6 gives it. A host's connections come from and
 * go to few addresses, two of them in every socket open record: IPv4-mapped ones (what a server
 * listening on [::] sees) are made once and found again by their number, as IPv4 ones are
 * (ipv4Text); other IPv6 ones are formatted each time.
 */
export function ipv6Text(b: Uint8Array): string {
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return formatIpv6(b);
  if (b[10] !== 0xff || b[11] !== 0xff) return formatIpv6(b);
  const key = MAPPED + u32(b, 12);
  return remembered.get(key) ?? remember(key, formatIpv6(b));
}
