// Decodes the records of bpf/sockets.bpf.c (layouts in bpf/include/sockets.h) in place.
import type { KernelClock } from '../../model/clock.js';
import { ipv4Text, ipv6Text } from '../../model/address.js';
import { cString } from '../c-string.js';
import type { ConnectionRole, Direction, TlsInfo } from '../../model/connection.js';
import type { CapturedBytes } from '../../protocols/session.js';

export const SOCK_EV = { OPEN: 1, DATA: 2, CLOSE: 3, EXEC: 4, PAIR: 5, SHED: 6 } as const;
/** enum socket_protocol (bpf/include/sockets.h). */
export const PROTO = { UNKNOWN: 0, HTTP1: 1, HTTP2: 2, POSTGRES: 3, MYSQL: 4, REDIS: 5, DNS: 6, TLS: 7, NONE: 255 } as const;

/** struct socket_open_event */
export const OPEN_EVENT = { size: 88, role: 1, family: 2, protocol: 3, sockType: 4, lport: 6, rport: 8, pid: 12, fd: 16, netns: 20, generation: 24, ts: 32, laddr: 40, raddr: 56, comm: 72 } as const;
/** struct socket_data_header (data follows) */
export const DATA_HEADER = { size: 72, direction: 1, protocol: 2, role: 3, pid: 4, tid: 8, fd: 12, generation: 16, position: 24, ts: 32, len: 40, callLen: 44, peerFamily: 48, peerPort: 50, peerAddr: 52, tls: 68, shedBefore: 69, tlsVersion: 70 } as const;
/**
 * struct socket_pair_event: an HTTP/1 request the kernel held until its response began, and the
 * response's first bytes (bpf/include/pairing.h). Two data headers — the request's at 0 (its type
 * byte SOCK_EV.PAIR), the response's at 72 — then the request's `len` bytes, then the response's.
 * An exchange the kernel shed has the same layout, the type byte SOCK_EV.SHED and the response cut
 * to its status line.
 */
export const PAIR_EVENT = { size: 5264, request: 0, response: 72, data: 144 } as const;
/** struct socket_exec_event */
export const EXEC_EVENT = { size: 32, pid: 4, ts: 8, comm: 16 } as const;
/** struct socket_close_event */
export const CLOSE_EVENT = { size: 48, role: 1, protocol: 2, shedBefore: 3, pid: 4, fd: 8, generation: 16, ts: 24, bytesEgress: 32, bytesIngress: 40 } as const;

export interface SocketOpen {
  type: 'open';
  pid: number;
  fd: number;
  generation: number;
  role: ConnectionRole;
  family: 'ipv4' | 'ipv6' | 'unix' | 'unknown';
  transport: 'tcp' | 'udp' | 'unknown';
  protocol: number;
  local: { address: string; port: number };
  remote: { address: string; port: number };
  /** The socket's network namespace (inode number; 0 when unknown). */
  netns: number;
  /** The process's name when it opened the connection (it may have exited since). */
  comm: string;
  timeNs: bigint;
}

export interface SocketData extends CapturedBytes {
  type: 'data';
  pid: number;
  tid: number;
  fd: number;
  generation: number;
  direction: Direction;
  role: ConnectionRole;
  protocol: number;
  position: number;
  /** Bytes the whole syscall moved; `data` may hold fewer (capture bound). */
  callLen: number;
  /** A view into the batch (made at its first read): copy before keeping it past the batch callback. */
  readonly data: Uint8Array;
  /** `data`'s length, read without making the view. */
  readonly dataLength: number;
  /** Datagrams: the peer address the syscall named (null on connected sockets). */
  peer: { address: string; port: number } | null;
  /** Plaintext a TLS library handled (the wire carried ciphertext); null for cleartext. */
  tls: TlsInfo | null;
  /**
   * HTTP/1 exchanges of this connection the kernel shed and counted since its last record
   * (bpf/include/pairing.h, shed_count): they come only as counts (kernel-red.ts), never as bytes.
   */
  shedBefore: number;
  timeNs: bigint;
}

/** An HTTP/1 request the kernel held until its response began, and that response's first bytes. */
interface HeldTogether {
  request: SocketData;
  response: SocketData;
  /** The request's bytes and the response's, one after the other as the record holds them: one view of both. */
  both: Uint8Array;
}

/**
 * An HTTP/1 exchange the kernel paired (bpf/include/pairing.h) and kept: the two data events it
 * would have sent without pairing. They travel as one event so that user space can hand both to the
 * protocol session at once (one connection lookup, no stream reassembly when both continue their
 * streams).
 */
export interface SocketPair extends HeldTogether {
  type: 'pair';
}

/**
 * An HTTP/1 exchange the kernel shed: its response's first bytes are the status line only. The rest
 * of that response was not captured: the exchange yields its metrics, no span.
 */
export interface SocketShed extends HeldTogether {
  type: 'shed';
}

/** A process replaced its image (exec): TLS libraries may have appeared. */
export interface SocketExec {
  type: 'exec';
  pid: number;
  /** The new program's name (the kernel's comm): judges a process that is gone before /proc is read. */
  comm: string;
  timeNs: bigint;
}

export interface SocketClose {
  type: 'close';
  pid: number;
  fd: number;
  generation: number;
  bytesEgress: number;
  bytesIngress: number;
  /**
   * HTTP/1 exchanges the kernel counted since the connection's last record: their bytes are in the
   * totals, never sent, and no record of theirs follows (as SocketData.shedBefore).
   */
  shedBefore: number;
  timeNs: bigint;
}

export type SocketEvent = SocketOpen | SocketData | SocketClose | SocketExec | SocketPair | SocketShed;

const ROLES: ConnectionRole[] = ['unknown', 'client', 'server'];

/** TLS 1.0–1.3 wire versions (RFC 8446 §5.1 legacy_record_version numbering). */
const TLS_VERSIONS: Record<number, string> = { 0x0301: '1.0', 0x0302: '1.1', 0x0303: '1.2', 0x0304: '1.3' };

function tlsInfo(wire: number): TlsInfo {
  const version = TLS_VERSIONS[wire];
  return version === undefined ? {} : { version };
}

function role(v: number): ConnectionRole {
  return ROLES[v] ?? 'unknown';
}

/** The address of `family` at `at` (16 bytes of room): an IPv4 one read as a number, no view made. */
function address(view: DataView, at: number, family: number): string {
  if (family === 2) return ipv4Text(view.getUint32(at, false));
  if (family === 10) return ipv6Text(new Uint8Array(view.buffer, view.byteOffset + at, 16));
  return '';
}

function peerOf(view: DataView, off: number): { address: string; port: number } | null {
  const family = view.getUint16(off + DATA_HEADER.peerFamily, true);
  if (family !== 2 && family !== 10) return null;
  return { address: address(view, off + DATA_HEADER.peerAddr, family), port: view.getUint16(off + DATA_HEADER.peerPort, true) };
}

/** A u64 that stays below 2^53 (generations, stream positions, byte counts, durations in ns) as a number, without a BigInt. */
export function u64(view: DataView, at: number): number {
  return view.getUint32(at, true) + view.getUint32(at + 4, true) * 0x1_0000_0000;
}

const EMPTY = new Uint8Array(0);

/**
 * A data event, one object shape for fresh and reused events. Its view of its bytes is made when
 * something first reads `data`: the two of a paired record were ~9 % of what `hot-path.ts --paired
 * --jaeger` allocated, and an HTTP/1 exchange its session replays compares the record's view of both
 * (SocketPair.both) without reading either.
 */
class DataEvent implements SocketData {
  readonly type = 'data';
  pid = 0;
  tid = 0;
  fd = 0;
  generation = 0;
  direction: Direction = 'egress';
  role: ConnectionRole = 'unknown';
  protocol = 0;
  position = 0;
  callLen = 0;
  dataLength = 0;
  peer: { address: string; port: number } | null = null;
  tls: TlsInfo | null = null;
  shedBefore = 0;
  timeNs = 0n;
  #buffer: ArrayBufferLike = EMPTY.buffer;
  #at = 0;
  #view: Uint8Array | null = null;

  /**
   * A plain view (no copy): a third of the cost of a Buffer's (Buffer.from's checks, a FastBuffer
   * made in JavaScript). The parsers that need Buffer methods wrap it as they start.
   */
  get data(): Uint8Array {
    return (this.#view ??= new Uint8Array(this.#buffer, this.#at, this.dataLength));
  }

  /** The event's bytes: `n` at `at` in `buffer`. */
  bytesAt(buffer: ArrayBufferLike, at: number, n: number): void {
    this.#buffer = buffer;
    this.#at = at;
    this.dataLength = n;
    this.#view = null;
  }
}

/**
 * Events a caller lets decodeSocketRecord fill again record after record, instead of making new
 * ones: what it passes to `emit` is then valid only until `emit` returns (the collector's tracker
 * takes from them what it keeps: bytes, times, numbers). Two data events and the pair around them,
 * made per exchange, were ~13 % of what the agent allocated per exchange.
 */
export class EventScratch {
  readonly data = new DataEvent();
  readonly request = new DataEvent();
  readonly response = new DataEvent();
  readonly pair: SocketPair = { type: 'pair', request: this.request, response: this.response, both: EMPTY };
  readonly shed: SocketShed = { type: 'shed', request: this.request, response: this.response, both: EMPTY };
}

/**
 * `d`, set to the data event of the header at `off` whose `n` bytes are at `dataAt` (bounds checked by
 * the caller); `buffer` and `base`: the view's buffer and offset in it, read once per record (each a
 * builtin call).
 */
function dataEvent(d: DataEvent, view: DataView, off: number, buffer: ArrayBufferLike, base: number, dataAt: number, n: number, clock: KernelClock): SocketData {
  d.pid = view.getUint32(off + DATA_HEADER.pid, true);
  d.tid = view.getUint32(off + DATA_HEADER.tid, true);
  d.fd = view.getUint32(off + DATA_HEADER.fd, true);
  d.generation = u64(view, off + DATA_HEADER.generation);
  d.direction = view.getUint8(off + DATA_HEADER.direction) === 0 ? 'egress' : 'ingress';
  d.role = role(view.getUint8(off + DATA_HEADER.role));
  d.protocol = view.getUint8(off + DATA_HEADER.protocol);
  d.position = u64(view, off + DATA_HEADER.position);
  d.callLen = view.getUint32(off + DATA_HEADER.callLen, true);
  d.bytesAt(buffer, base + dataAt, n);
  d.peer = peerOf(view, off);
  d.tls = view.getUint8(off + DATA_HEADER.tls) === 0 ? null : tlsInfo(view.getUint16(off + DATA_HEADER.tlsVersion, true));
  d.shedBefore = view.getUint8(off + DATA_HEADER.shedBefore);
  d.timeNs = clock.toWallNs(view.getBigUint64(off + DATA_HEADER.ts, true));
  return d;
}

/**
 * Decodes one ring-buffer record into the event it stands for, passed to `emit`: a paired HTTP/1
 * record becomes a SocketPair of the request's data event and the response's (the two the kernel
 * would have sent without pairing), a shed one a SocketShed. Returns false for short or unknown
 * records (counted by the caller as malformed; nothing is emitted then).
 */
export function decodeSocketRecord(view: DataView, off: number, len: number, clock: KernelClock, emit: (e: SocketEvent) => void, scratch?: EventScratch): boolean {
  const type = len < 1 ? 0 : view.getUint8(off);
  if (type !== SOCK_EV.PAIR && type !== SOCK_EV.SHED) {
    const e = decodeSocketEvent(view, off, len, clock, scratch);
    if (e !== null) emit(e);
    return e !== null;
  }
  if (len < PAIR_EVENT.data) return false;
  const nReq = view.getUint32(off + DATA_HEADER.len, true);
  const nResp = view.getUint32(off + PAIR_EVENT.response + DATA_HEADER.len, true);
  // A request is only held when it has bytes; a response chunk of 0 would read as a skip marker.
  if (nReq === 0 || nResp === 0 || PAIR_EVENT.data + nReq + nResp > len) return false;
  const buffer = view.buffer;
  const base = view.byteOffset;
  const request = dataEvent(scratch?.request ?? new DataEvent(), view, off, buffer, base, off + PAIR_EVENT.data, nReq, clock);
  const response = dataEvent(scratch?.response ?? new DataEvent(), view, off + PAIR_EVENT.response, buffer, base, off + PAIR_EVENT.data + nReq, nResp, clock);
  const both = new Uint8Array(buffer, base + off + PAIR_EVENT.data, nReq + nResp);
  if (scratch === undefined) {
    emit({ type: type === SOCK_EV.SHED ? 'shed' : 'pair', request, response, both });
    return true;
  }
  const e = type === SOCK_EV.SHED ? scratch.shed : scratch.pair;
  e.both = both;
  emit(e);
  return true;
}

/**
 * When the kernel wrote the record at `off` (CLOCK_MONOTONIC ns, as `process.hrtime.bigint()`), or
 * null for a short or unknown one: how far behind user space handles its records. A paired exchange
 * is written when its response begins (its request's time is when it was sent, and it may have
 * waited long for the answer).
 */
export function socketRecordWrittenNs(view: DataView, off: number, len: number): bigint | null {
  const type = len < 1 ? 0 : view.getUint8(off);
  const at = type === SOCK_EV.DATA ? DATA_HEADER.ts
    : type === SOCK_EV.PAIR || type === SOCK_EV.SHED ? PAIR_EVENT.response + DATA_HEADER.ts
      : type === SOCK_EV.OPEN ? OPEN_EVENT.ts
        : type === SOCK_EV.CLOSE ? CLOSE_EVENT.ts
          : type === SOCK_EV.EXEC ? EXEC_EVENT.ts : -1;
  return at < 0 || at + 8 > len ? null : view.getBigUint64(off + at, true);
}

/**
 * Returns null for short or unknown records (counted by the caller as malformed); see
 * decodeSocketRecord for paired ones and `scratch`.
 */
export function decodeSocketEvent(view: DataView, off: number, len: number, clock: KernelClock, scratch?: EventScratch): SocketEvent | null {
  if (len < 1) return null;
  const type = view.getUint8(off);
  if (type === SOCK_EV.DATA) {
    if (len < DATA_HEADER.size) return null;
    const n = view.getUint32(off + DATA_HEADER.len, true);
    if (DATA_HEADER.size + n > len) return null;
    return dataEvent(scratch?.data ?? new DataEvent(), view, off, view.buffer, view.byteOffset, off + DATA_HEADER.size, n, clock);
  }
  if (type === SOCK_EV.OPEN) {
    if (len < OPEN_EVENT.size) return null;
    const family = view.getUint8(off + OPEN_EVENT.family);
    const sockType = view.getUint16(off + OPEN_EVENT.sockType, true);
    return {
      type: 'open',
      pid: view.getUint32(off + OPEN_EVENT.pid, true),
      fd: view.getUint32(off + OPEN_EVENT.fd, true),
      generation: u64(view, off + OPEN_EVENT.generation),
      role: role(view.getUint8(off + OPEN_EVENT.role)),
      family: family === 2 ? 'ipv4' : family === 10 ? 'ipv6' : family === 1 ? 'unix' : 'unknown',
      transport: family === 1 ? 'unknown' : sockType === 1 ? 'tcp' : sockType === 2 ? 'udp' : 'unknown',
      protocol: view.getUint8(off + OPEN_EVENT.protocol),
      local: { address: address(view, off + OPEN_EVENT.laddr, family), port: view.getUint16(off + OPEN_EVENT.lport, true) },
      remote: { address: address(view, off + OPEN_EVENT.raddr, family), port: view.getUint16(off + OPEN_EVENT.rport, true) },
      netns: view.getUint32(off + OPEN_EVENT.netns, true),
      comm: cString(new Uint8Array(view.buffer, view.byteOffset + off + OPEN_EVENT.comm, 16)),
      timeNs: clock.toWallNs(view.getBigUint64(off + OPEN_EVENT.ts, true)),
    };
  }
  if (type === SOCK_EV.EXEC) {
    if (len < EXEC_EVENT.size) return null;
    return {
      type: 'exec', pid: view.getUint32(off + EXEC_EVENT.pid, true),
      comm: cString(new Uint8Array(view.buffer, view.byteOffset + off + EXEC_EVENT.comm, 16)),
      timeNs: clock.toWallNs(view.getBigUint64(off + EXEC_EVENT.ts, true)),
    };
  }
  if (type === SOCK_EV.CLOSE) {
    if (len < CLOSE_EVENT.size) return null;
    return {
      type: 'close',
      pid: view.getUint32(off + CLOSE_EVENT.pid, true),
      fd: view.getUint32(off + CLOSE_EVENT.fd, true),
      generation: u64(view, off + CLOSE_EVENT.generation),
      bytesEgress: u64(view, off + CLOSE_EVENT.bytesEgress),
      bytesIngress: u64(view, off + CLOSE_EVENT.bytesIngress),
      shedBefore: view.getUint8(off + CLOSE_EVENT.shedBefore),
      timeNs: clock.toWallNs(view.getBigUint64(off + CLOSE_EVENT.ts, true)),
    };
  }
  return null;
}
