// gRPC over HTTP/2 (https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md): what the
// HTTP/2 session needs to know of it — whether a stream is gRPC, its length-prefixed messages, and
// the status it ended with.
import type { HeaderList } from '../../model/http.js';

/** "application/grpc", optionally followed by "+proto", "+json", ";..." (Content-Type, §Requests). */
export function isGrpcContentType(value: string | undefined): boolean {
  if (value === undefined || !value.startsWith('application/grpc')) return false;
  const next = value.charCodeAt(16);
  return Number.isNaN(next) || next === 0x2b /* + */ || next === 0x3b /* ; */;
}

export function headerValue(headers: HeaderList, name: string): string | undefined {
  for (const [n, v] of headers) if (n === name) return v;
  return undefined;
}

/**
 * Counts Length-Prefixed-Messages (Compressed-Flag, 4-byte Message-Length, Message) in one
 * direction of one stream, fed the DATA bytes in order. Only the prefixes are read. A gap that
 * does not fall inside a message body, or a prefix whose flag is neither 0 nor 1, loses the
 * framing: counting stops and `lost` says so.
 */
export class GrpcMessageCounter {
  messages = 0;
  lost = false;
  /** Prefix bytes read of the current prefix (0 between messages). */
  private prefixFill = 0;
  private length = 0;
  /** Message bytes still to come. */
  private left = 0;

  feed(b: Uint8Array, from: number, to: number): void {
    let p = from;
    while (p < to && !this.lost) {
      if (this.left > 0) {
        const n = Math.min(this.left, to - p);
        this.left -= n;
        p += n;
        continue;
      }
      const byte = b[p++]!;
      if (this.prefixFill === 0) {
        if (byte > 1) {
          this.lost = true;
          return;
        }
        this.messages++;
        this.length = 0;
      } else this.length = this.length * 256 + byte;
      this.prefixFill++;
      if (this.prefixFill === 5) {
        this.prefixFill = 0;
        this.left = this.length;
      }
    }
  }

  skip(n: number): void {
    if (this.lost) return;
    if (this.prefixFill === 0 && n <= this.left) this.left -= n;
    else this.lost = true;
  }
}

/** grpc-message is percent-encoded UTF-8 (§Responses: Status-Message). Bad escapes stay as sent. */
export function decodeGrpcMessage(raw: string): string {
  if (!raw.includes('%')) return raw;
  const bytes: number[] = [];
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c === 0x25 && i + 2 < raw.length && /^[0-9a-fA-F]{2}$/.test(raw.slice(i + 1, i + 3))) {
      bytes.push(parseInt(raw.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(c & 0xff);
  }
  return Buffer.from(bytes).toString('utf8');
}
