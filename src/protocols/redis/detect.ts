// Recognising the first captured bytes of a side of a Redis connection found mid-life, to tell which
// end is the client. Clients send commands as RESP arrays of bulk strings ("*<n>\r\n$<len>\r\n<name>",
// which is also what the kernel classifies on), or inline ("PING\r\n"); servers reply with any RESP
// type. An array of bulk strings is also a common reply (LRANGE, MGET), so a request must name a
// known command when the bytes reach that far.
import { knownCommand } from './commands.js';

const isDigit = (b: number | undefined): boolean => b !== undefined && b >= 0x30 && b <= 0x39;

/** "*<n>\r\n$<len>\r\n<name>": null when not that shape, else the name if it is all there. */
function arrayCommand(b: Uint8Array): { name: string | null } | null {
  let i = 0;
  if (b[i++] !== 0x2a || !isDigit(b[i])) return null;
  while (isDigit(b[i])) i++;
  if (b[i] !== 0x0d || b[i + 1] !== 0x0a || b[i + 2] !== 0x24 || !isDigit(b[i + 3])) return null;
  i += 3;
  let len = 0;
  while (isDigit(b[i]) && len < 1000) len = len * 10 + (b[i++]! - 0x30);
  if (i >= b.length) return { name: null };
  if (b[i] !== 0x0d || b[i + 1] !== 0x0a) return null;
  i += 2;
  if (i + len > b.length) return { name: null };
  return { name: Buffer.from(b.buffer, b.byteOffset + i, len).toString('latin1') };
}

/** An inline command: a known command name, then a space or the end of the line. */
function inlineCommand(b: Uint8Array): boolean {
  let i = 0;
  while (i < b.length && i < 40 && b[i] !== 0x20 && b[i] !== 0x0d && b[i] !== 0x0a) i++;
  if (i === 0 || i >= b.length || i === 40) return false;
  if (b.indexOf(0x0a) < 0) return false;
  return knownCommand(Buffer.from(b.buffer, b.byteOffset, i).toString('latin1')) !== null;
}

export function looksLikeRedisRequest(b: Uint8Array): boolean {
  const array = arrayCommand(b);
  if (array !== null) return array.name === null || knownCommand(array.name) !== null;
  return inlineCommand(b);
}

/** A RESP value's first line: a type byte and what that type's line may hold, up to CRLF. */
export function looksLikeRedisResponse(b: Uint8Array): boolean {
  if (b.length < 3) return false;
  const array = arrayCommand(b);
  if (array !== null && (array.name === null || knownCommand(array.name) !== null)) return false;
  const eol = b.indexOf(0x0d);
  const line = eol < 0 ? b.subarray(1, 64) : b.subarray(1, eol);
  if (eol >= 0 && b[eol + 1] !== undefined && b[eol + 1] !== 0x0a) return false;
  const digits = (from = 0): boolean => line.length > from && line.subarray(from).every((c) => isDigit(c));
  const signed = (): boolean => digits(line[0] === 0x2d ? 1 : 0);
  switch (b[0]) {
    case 0x2b: // + simple string
    case 0x2d: // - error: an upper-case code by convention ("ERR", "WRONGTYPE", "NOAUTH")
      return b[0] === 0x2b || (line[0] !== undefined && line[0] >= 0x41 && line[0] <= 0x5a);
    case 0x3a: // : integer
    case 0x28: // ( big number
      return signed();
    case 0x24: // $ bulk
    case 0x2a: // * array
      return digits() || (line.length === 2 && line[0] === 0x2d && line[1] === 0x31) || (line.length === 1 && line[0] === 0x3f);
    case 0x25: // % map
    case 0x7e: // ~ set
    case 0x3e: // > push
    case 0x7c: // | attribute
    case 0x21: // ! blob error
    case 0x3d: // = verbatim
      return digits() || (line.length === 1 && line[0] === 0x3f);
    case 0x5f: // _ null
      return line.length === 0 && eol === 1;
    case 0x23: // # boolean
      return line.length === 1 && (line[0] === 0x74 || line[0] === 0x66);
    case 0x2c: // , double
      return line.length > 0 && line.every((c) => isDigit(c) || c === 0x2e || c === 0x2d || c === 0x2b || c === 0x65 || c === 0x45 || c === 0x69 || c === 0x6e || c === 0x66 || c === 0x61);
    default:
      return false;
  }
}
