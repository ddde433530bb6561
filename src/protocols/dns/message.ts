// DNS message decoding (RFC 1035 §4): header, questions, answers with name compression. Pure and
// bounded: malformed input returns null, never throws; compression loops and huge counts are cut.
import { formatIpv4, formatIpv6 } from '../../model/address.js';
import type { DnsAnswer, DnsMessage, DnsQuestion } from '../../model/dns.js';

const HEADER = 12;
const MAX_NAME = 255; // RFC 1035 §2.3.4
const MAX_POINTERS = 32;
const MAX_QUESTIONS = 4;
const MAX_ANSWERS = 32;

/** Reads a possibly compressed name at `off`; returns the name and the offset after it in place. */
function readName(b: Uint8Array, off: number): { name: string; next: number } | null {
  const labels: string[] = [];
  let length = 0;
  let next = -1;
  let p = off;
  for (let jumps = 0; ;) {
    if (p >= b.length) return null;
    const len = b[p]!;
    if (len === 0) {
      if (next < 0) next = p + 1;
      break;
    }
    if ((len & 0xc0) === 0xc0) {
      // Compression pointer (§4.1.4): 14-bit offset; bounded so a loop cannot spin.
      if (p + 1 >= b.length || ++jumps > MAX_POINTERS) return null;
      if (next < 0) next = p + 2;
      p = ((len & 0x3f) << 8) | b[p + 1]!;
      continue;
    }
    if ((len & 0xc0) !== 0) return null; // 0x40/0x80: extended label types, not used
    if (p + 1 + len > b.length) return null;
    length += len + 1;
    if (length > MAX_NAME) return null;
    labels.push(Buffer.from(b.subarray(p + 1, p + 1 + len)).toString('latin1'));
    p += 1 + len;
  }
  return { name: labels.length === 0 ? '.' : labels.join('.'), next };
}

function u16(b: Uint8Array, off: number): number {
  return (b[off]! << 8) | b[off + 1]!;
}

function rdataText(b: Uint8Array, type: number, off: number, len: number): string {
  if (type === 1 && len === 4) return formatIpv4(b.subarray(off, off + 4));
  if (type === 28 && len === 16) return formatIpv6(b.subarray(off, off + 16));
  if (type === 5 || type === 12 || type === 2) return readName(b, off)?.name ?? '';
  return '';
}

export function decodeDnsMessage(b: Uint8Array, timeNs: bigint): DnsMessage | null {
  if (b.length < HEADER) return null;
  const flags = u16(b, 2);
  const qd = u16(b, 4);
  const an = u16(b, 6);
  const questions: DnsQuestion[] = [];
  const answers: DnsAnswer[] = [];
  let p = HEADER;
  for (let i = 0; i < Math.min(qd, MAX_QUESTIONS); i++) {
    const n = readName(b, p);
    if (n === null || n.next + 4 > b.length) return null;
    questions.push({ name: n.name, type: u16(b, n.next), class: u16(b, n.next + 2) });
    p = n.next + 4;
  }
  if (qd > MAX_QUESTIONS) return null; // real queries carry one question; more is not DNS as used
  let decoded = 0;
  for (let i = 0; i < an && decoded < MAX_ANSWERS; i++) {
    const n = readName(b, p);
    if (n === null || n.next + 10 > b.length) break;
    const type = u16(b, n.next);
    const ttl = ((b[n.next + 4]! << 24) >>> 0) + (b[n.next + 5]! << 16) + (b[n.next + 6]! << 8) + b[n.next + 7]!;
    const rdlen = u16(b, n.next + 8);
    const rdata = n.next + 10;
    if (rdata + rdlen > b.length) break;
    answers.push({ name: n.name, type, ttl, data: rdataText(b, type, rdata, rdlen) });
    decoded++;
    p = rdata + rdlen;
  }
  return {
    id: u16(b, 0),
    isResponse: (flags & 0x8000) !== 0,
    opcode: (flags >> 11) & 0xf,
    rcode: flags & 0xf,
    truncated: (flags & 0x0200) !== 0,
    questions,
    answers,
    answersNotDecoded: an - decoded,
    size: b.length,
    timeNs,
  };
}

/** A plausible query header: QR=0, standard query opcode, one question, no answers. */
export function looksLikeDnsQuery(b: Uint8Array): boolean {
  return b.length >= HEADER && (b[2]! & 0x80) === 0 && ((b[2]! >> 3) & 0xf) === 0 && u16(b, 4) === 1 && u16(b, 6) === 0;
}

export function looksLikeDnsResponse(b: Uint8Array): boolean {
  return b.length >= HEADER && (b[2]! & 0x80) !== 0 && u16(b, 4) <= MAX_QUESTIONS;
}

/** RCODE names (RFC 1035 §4.1.1, RFC 6895 §2.3). */
export const RCODE_NAMES: Record<number, string> = {
  0: 'NOERROR', 1: 'FORMERR', 2: 'SERVFAIL', 3: 'NXDOMAIN', 4: 'NOTIMP', 5: 'REFUSED', 6: 'YXDOMAIN', 7: 'YXRRSET', 8: 'NXRRSET', 9: 'NOTAUTH', 10: 'NOTZONE',
};

/** QTYPE names of the common types (RFC 1035 §3.2.2, RFC 3596, RFC 2782, RFC 9460). */
export const QTYPE_NAMES: Record<number, string> = {
  1: 'A', 2: 'NS', 5: 'CNAME', 6: 'SOA', 12: 'PTR', 15: 'MX', 16: 'TXT', 28: 'AAAA', 33: 'SRV', 65: 'HTTPS', 64: 'SVCB', 255: 'ANY',
};
