// Socket records laid out as bpf/sockets.bpf.c writes them (bpf/include/sockets.h), 8-byte aligned
// as in a ring-buffer batch: for decode tests and the hot-path benchmark.
import { CLOSE_EVENT, DATA_HEADER, OPEN_EVENT, PAIR_EVENT, PROTO, SOCK_EV } from '../../src/collectors/sockets/decode.js';

export interface RecordConn { pid: number; fd: number; generation: number; role: 0 | 1 | 2; lport: number; rport: number }

/** One data event's header fields and bytes (call_len defaults to the bytes' length). */
export interface DataFields {
  conn: RecordConn;
  direction: 0 | 1;
  position: number;
  tsNs: bigint;
  data: Uint8Array;
  tid?: number;
  callLen?: number;
  protocol?: number;
  /** Exchanges shed and counted in the kernel before this record (struct socket_data_header shed_before). */
  shedBefore?: number;
}

/** Writes a struct socket_data_header at `at` for `len` bytes of data. */
export function writeDataHeader(view: DataView, at: number, f: DataFields, len: number): void {
  view.setUint8(at, SOCK_EV.DATA);
  view.setUint8(at + DATA_HEADER.direction, f.direction);
  view.setUint8(at + DATA_HEADER.protocol, f.protocol ?? PROTO.HTTP1);
  view.setUint8(at + DATA_HEADER.role, f.conn.role);
  view.setUint32(at + DATA_HEADER.pid, f.conn.pid, true);
  view.setUint32(at + DATA_HEADER.tid, f.tid ?? f.conn.pid, true);
  view.setUint32(at + DATA_HEADER.fd, f.conn.fd, true);
  view.setBigUint64(at + DATA_HEADER.generation, BigInt(f.conn.generation), true);
  view.setBigUint64(at + DATA_HEADER.position, BigInt(f.position), true);
  view.setBigUint64(at + DATA_HEADER.ts, f.tsNs, true);
  view.setUint32(at + DATA_HEADER.len, len, true);
  view.setUint32(at + DATA_HEADER.callLen, f.callLen ?? f.data.length, true);
  view.setUint8(at + DATA_HEADER.shedBefore, f.shedBefore ?? 0);
}

export class SocketRecordWriter {
  readonly buf: Buffer;
  readonly view: DataView;
  /** [offset, length] of each record, as a batch's forEach gives them. */
  readonly offsets: Array<[number, number]> = [];
  #pos = 0;

  constructor(bytes: number) {
    this.buf = Buffer.alloc(bytes);
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  }

  /** Room for one record of `len` bytes; returns its offset. */
  record(len: number): number {
    const at = this.#pos;
    this.offsets.push([at, len]);
    this.#pos += (len + 7) & ~7;
    return at;
  }

  open(c: RecordConn, tsNs: bigint): void {
    const at = this.record(OPEN_EVENT.size);
    const v = this.view;
    v.setUint8(at, SOCK_EV.OPEN);
    v.setUint8(at + OPEN_EVENT.role, c.role);
    v.setUint8(at + OPEN_EVENT.family, 2);
    v.setUint8(at + OPEN_EVENT.protocol, PROTO.HTTP1);
    v.setUint16(at + OPEN_EVENT.sockType, 1, true);
    v.setUint16(at + OPEN_EVENT.lport, c.lport, true);
    v.setUint16(at + OPEN_EVENT.rport, c.rport, true);
    v.setUint32(at + OPEN_EVENT.pid, c.pid, true);
    v.setUint32(at + OPEN_EVENT.fd, c.fd, true);
    v.setBigUint64(at + OPEN_EVENT.generation, BigInt(c.generation), true);
    v.setBigUint64(at + OPEN_EVENT.ts, tsNs, true);
    this.buf.set([127, 0, 0, 1], at + OPEN_EVENT.laddr);
    this.buf.set([127, 0, 0, 1], at + OPEN_EVENT.raddr);
    this.buf.write('bench', at + OPEN_EVENT.comm, 'latin1');
  }

  /** A struct socket_close_event (byte totals 0: unknown). */
  close(c: RecordConn, tsNs: bigint): void {
    const at = this.record(CLOSE_EVENT.size);
    const v = this.view;
    v.setUint8(at, SOCK_EV.CLOSE);
    v.setUint32(at + CLOSE_EVENT.pid, c.pid, true);
    v.setUint32(at + CLOSE_EVENT.fd, c.fd, true);
    v.setBigUint64(at + CLOSE_EVENT.generation, BigInt(c.generation), true);
    v.setBigUint64(at + CLOSE_EVENT.ts, tsNs, true);
  }

  /** A struct socket_data_event. */
  data(f: DataFields): void {
    const at = this.record(DATA_HEADER.size + f.data.length);
    writeDataHeader(this.view, at, f, f.data.length);
    this.buf.set(f.data, at + DATA_HEADER.size);
  }

  /**
   * A struct socket_pair_event: the held request and the response's first bytes; with SOCK_EV.SHED,
   * an exchange shed in the kernel (the response's bytes are then its status line).
   */
  pair(request: DataFields, response: DataFields, type: number = SOCK_EV.PAIR): void {
    const at = this.record(PAIR_EVENT.data + request.data.length + response.data.length);
    writeDataHeader(this.view, at + PAIR_EVENT.request, request, request.data.length);
    this.view.setUint8(at, type);
    writeDataHeader(this.view, at + PAIR_EVENT.response, response, response.data.length);
    this.buf.set(request.data, at + PAIR_EVENT.data);
    this.buf.set(response.data, at + PAIR_EVENT.data + request.data.length);
  }
}
