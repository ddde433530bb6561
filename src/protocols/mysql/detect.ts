// Recognising MySQL packets from their first bytes: the server's greeting (how the kernel and the
// tracker tell a MySQL connection and its roles), a command, the start of a response. Used to pick
// a role for connections found mid-life and to find packet boundaries again after a lost capture.
import { HANDSHAKE_V10, HEADER_SIZE, MAX_PACKET_PAYLOAD, commandInfo } from './constants.js';

const isDigit = (b: number | undefined): boolean => b !== undefined && b >= 0x30 && b <= 0x39;

/**
 * Initial Handshake v10: int<3> length, sequence 0, protocol version 10, a server version that
 * starts with digits ("8.0.36", "5.5.5-10.11.6-MariaDB"). The same test as the kernel's.
 */
export function looksLikeMysqlGreeting(bytes: Uint8Array): boolean {
  if (bytes.length < HEADER_SIZE + 3) return false;
  const length = bytes[0]! | (bytes[1]! << 8) | (bytes[2]! << 16);
  return length >= 3 && length < 4096 && bytes[3] === 0 && bytes[4] === HANDSHAKE_V10 && isDigit(bytes[5]) && (bytes[6] === 0x2e || isDigit(bytes[6]));
}

/** A command packet of this payload length starting with this byte is plausible. */
export function looksLikeMysqlCommand(length: number, first: number): boolean {
  const info = first < 0 ? undefined : commandInfo(first);
  return info !== undefined && length >= info.minLength && length <= Math.min(info.maxLength, MAX_PACKET_PAYLOAD);
}

/**
 * The first packet of a response (sequence 1): OK (7 bytes or more), ERR (an error code and a
 * message: short), EOF, LOCAL INFILE, AuthSwitchRequest, or a result set's column count, which is
 * a length-encoded integer alone (plus a metadata-follows byte). Used only to resynchronise, so it
 * errs on the side of refusing: COM_STATISTICS text answers are not recognised.
 */
export function looksLikeResponseStart(length: number, first: number): boolean {
  switch (first) {
    case 0x00:
      return length >= 7 && length < 65_536;
    case 0xff:
      return length >= 3 && length <= 1024;
    case 0xfe:
      return length < 65_536;
    case 0xfb:
      return length >= 1 && length < 65_536;
    case 0xfc:
      return length === 3 || length === 4;
    default:
      return first >= 1 && first < 0xfb && (length === 1 || length === 2);
  }
}
