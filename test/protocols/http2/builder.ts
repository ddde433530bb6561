// Builds HTTP/2 bytes for tests (RFC 9113 §4.1 frame layout, §6 frame payloads) and HPACK header
// blocks (RFC 7541 §6), including a small encoder with a dynamic table of its own so tests exercise
// indexed references the way real encoders emit them.
import type { ConnectionInfo } from '../../../src/model/connection.js';
import type { Http2Exchange } from '../../../src/model/http2.js';
import { Http2Connection, type Http2ConnectionOptions } from '../../../src/protocols/http2/connection.js';
import { huffmanEncode } from '../../../src/protocols/http2/huffman.js';
import { STATIC_COUNT, STATIC_TABLE } from '../../../src/protocols/http2/hpack-static.js';

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export const T = { DATA: 0, HEADERS: 1, PRIORITY: 2, RST_STREAM: 3, SETTINGS: 4, PUSH_PROMISE: 5, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 } as const;
export const F = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4, PADDED: 0x8, PRIORITY: 0x20 } as const;

export function frame(type: number, flags: number, streamId: number, payload: Uint8Array = Buffer.alloc(0), declaredLength?: number): Buffer {
  const len = declaredLength ?? payload.length;
  const h = Buffer.alloc(9);
  h[0] = (len >>> 16) & 0xff;
  h[1] = (len >>> 8) & 0xff;
  h[2] = len & 0xff;
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(streamId >>> 0, 5);
  return Buffer.concat([h, payload]);
}

export function settings(entries: Array<[number, number]> = [], ack = false): Buffer {
  const p = Buffer.alloc(entries.length * 6);
  entries.forEach(([id, v], i) => {
    p.writeUInt16BE(id, i * 6);
    p.writeUInt32BE(v, i * 6 + 2);
  });
  return frame(T.SETTINGS, ack ? F.ACK : 0, 0, p);
}

export function data(streamId: number, body: Uint8Array | string, opts: { end?: boolean; pad?: number } = {}): Buffer {
  const b = typeof body === 'string' ? Buffer.from(body) : Buffer.from(body);
  let flags = opts.end === true ? F.END_STREAM : 0;
  let payload = b;
  if (opts.pad !== undefined) {
    flags |= F.PADDED;
    payload = Buffer.concat([Buffer.from([opts.pad]), b, Buffer.alloc(opts.pad)]);
  }
  return frame(T.DATA, flags, streamId, payload);
}

export interface HeadersOptions {
  end?: boolean;
  pad?: number;
  priority?: boolean;
  /** Split the block into this many CONTINUATION frames after the HEADERS frame. */
  continuations?: number;
}

/** HEADERS (+ CONTINUATIONs) carrying an already encoded block. */
export function headers(streamId: number, block: Uint8Array, opts: HeadersOptions = {}): Buffer {
  const parts = opts.continuations ?? 0;
  const chunk = Math.ceil(block.length / (parts + 1));
  const first = Buffer.from(block.subarray(0, parts > 0 ? chunk : block.length));
  let flags = (opts.end === true ? F.END_STREAM : 0) | (parts === 0 ? F.END_HEADERS : 0);
  let payload = first;
  if (opts.priority === true) {
    flags |= F.PRIORITY;
    payload = Buffer.concat([Buffer.from([0, 0, 0, 0, 15]), payload]);
  }
  if (opts.pad !== undefined) {
    flags |= F.PADDED;
    payload = Buffer.concat([Buffer.from([opts.pad]), payload, Buffer.alloc(opts.pad)]);
  }
  const out = [frame(T.HEADERS, flags, streamId, payload)];
  for (let i = 1; i <= parts; i++) {
    const piece = block.subarray(i * chunk, Math.min(block.length, (i + 1) * chunk));
    out.push(frame(T.CONTINUATION, i === parts ? F.END_HEADERS : 0, streamId, piece));
  }
  return Buffer.concat(out);
}

export function rst(streamId: number, code: number): Buffer {
  const p = Buffer.alloc(4);
  p.writeUInt32BE(code);
  return frame(T.RST_STREAM, 0, streamId, p);
}

export function goaway(lastStreamId: number, code: number, debug = ''): Buffer {
  const p = Buffer.concat([Buffer.alloc(8), Buffer.from(debug)]);
  p.writeUInt32BE(lastStreamId, 0);
  p.writeUInt32BE(code, 4);
  return frame(T.GOAWAY, 0, 0, p);
}

export function ping(ack = false): Buffer {
  return frame(T.PING, ack ? F.ACK : 0, 0, Buffer.from('12345678'));
}

export function windowUpdate(streamId: number, n: number): Buffer {
  const p = Buffer.alloc(4);
  p.writeUInt32BE(n);
  return frame(T.WINDOW_UPDATE, 0, streamId, p);
}

export function pushPromise(streamId: number, promisedId: number, block: Uint8Array): Buffer {
  const p = Buffer.alloc(4);
  p.writeUInt32BE(promisedId);
  return frame(T.PUSH_PROMISE, F.END_HEADERS, streamId, Buffer.concat([p, block]));
}

/** A gRPC Length-Prefixed-Message. */
export function grpcMessage(body: Uint8Array | string): Buffer {
  const b = typeof body === 'string' ? Buffer.from(body) : Buffer.from(body);
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(b.length, 1);
  return Buffer.concat([prefix, b]);
}

// --- HPACK ---------------------------------------------------------------------------------------

/** §5.1 integer with an N-bit prefix; `first` holds the pattern bits above the prefix. */
export function hpackInt(value: number, prefixBits: number, first = 0): Buffer {
  const max = (1 << prefixBits) - 1;
  if (value < max) return Buffer.from([first | value]);
  const out = [first | max];
  let v = value - max;
  while (v >= 128) {
    out.push((v % 128) + 128);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return Buffer.from(out);
}

export function hpackString(s: string, huffman: boolean): Buffer {
  const raw = Buffer.from(s, 'latin1');
  const body = huffman ? Buffer.from(huffmanEncode(raw)) : raw;
  return Buffer.concat([hpackInt(body.length, 7, huffman ? 0x80 : 0), body]);
}

export interface EncoderOptions {
  huffman?: boolean;
  /** Add literals to the dynamic table (§6.2.1). Default true. */
  index?: boolean;
  tableSize?: number;
}

/** An HPACK encoder that reuses static and dynamic entries like real ones do. */
export class HpackEncoder {
  readonly entries: Array<[string, string]> = [];
  size = 0;
  private pendingUpdate: number | null = null;

  constructor(private maxSize = 4096) {}

  /** Emit a dynamic table size update at the start of the next block (§4.2, §6.3). */
  setTableSize(n: number): void {
    this.maxSize = n;
    this.pendingUpdate = n;
    this.evict(0);
  }

  encode(fields: Array<[string, string]>, opts: EncoderOptions = {}): Buffer {
    const huffman = opts.huffman ?? false;
    const out: Buffer[] = [];
    if (this.pendingUpdate !== null) {
      out.push(hpackInt(this.pendingUpdate, 5, 0x20));
      this.pendingUpdate = null;
    }
    for (const [name, value] of fields) {
      const full = this.find(name, value);
      if (full !== 0) {
        out.push(hpackInt(full, 7, 0x80));
        continue;
      }
      const nameIndex = this.find(name, null);
      const indexing = opts.index ?? true;
      out.push(hpackInt(nameIndex, indexing ? 6 : 4, indexing ? 0x40 : 0));
      if (nameIndex === 0) out.push(hpackString(name, huffman));
      out.push(hpackString(value, huffman));
      if (indexing) this.add(name, value);
    }
    return Buffer.concat(out);
  }

  private find(name: string, value: string | null): number {
    for (let i = 1; i <= STATIC_COUNT; i++) {
      const [n, v] = STATIC_TABLE[i]!;
      if (n === name && (value === null || v === value)) return i;
    }
    for (let k = 0; k < this.entries.length; k++) {
      const [n, v] = this.entries[k]!;
      if (n === name && (value === null || v === value)) return STATIC_COUNT + 1 + k;
    }
    return 0;
  }

  private add(name: string, value: string): void {
    const size = name.length + value.length + 32;
    this.evict(size);
    if (size <= this.maxSize) {
      this.entries.unshift([name, value]);
      this.size += size;
    }
  }

  private evict(room: number): void {
    while (this.size + room > this.maxSize && this.entries.length > 0) {
      const [n, v] = this.entries.pop()!;
      this.size -= n.length + v.length + 32;
    }
  }
}

/** One side's bytes as a list of syscall-sized chunks. */
export function chunks(buf: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < buf.length; i += size) out.push(buf.subarray(i, i + size));
  return out;
}

/** Deterministic PRNG (mulberry32) for property tests. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// --- sessions ------------------------------------------------------------------------------------

export type Step = ['request' | 'response', Buffer] | ['gap', 'request' | 'response', number];

export const CLIENT_CONN: ConnectionInfo = {
  pid: 100, fd: 7, generation: 1, role: 'client', family: 'ipv4', transport: 'tcp',
  local: { address: '127.0.0.1', port: 40000 }, remote: { address: '127.0.0.1', port: 50051 },
};
export const SERVER_CONN: ConnectionInfo = {
  pid: 200, fd: 9, generation: 1, role: 'server', family: 'ipv4', transport: 'tcp',
  local: { address: '127.0.0.1', port: 50051 }, remote: { address: '127.0.0.1', port: 40000 },
};

/** Feeds the steps in order (each step one syscall, times 1, 2, 3...), drains after each. */
export function runSession(steps: Step[], opts: Http2ConnectionOptions = {}, conn: ConnectionInfo = CLIENT_CONN, close = true): { exchanges: Http2Exchange[]; session: Http2Connection } {
  const session = new Http2Connection(conn, opts);
  const exchanges: Http2Exchange[] = [];
  let time = 1n;
  for (const step of steps) {
    if (step[0] === 'gap') session.gap(step[1], step[2], time++);
    else session.data(step[0], step[1], time++);
    exchanges.push(...session.drain());
  }
  if (close) session.close(time);
  exchanges.push(...session.drain());
  return { exchanges, session };
}

/** The exchange without times (which depend on how the bytes were split). */
export function timeless(ex: Http2Exchange): unknown {
  return JSON.parse(JSON.stringify(ex, (k, v: unknown) => (k === 'startNs' || k === 'endNs' ? undefined : typeof v === 'bigint' ? v.toString() : v)));
}
