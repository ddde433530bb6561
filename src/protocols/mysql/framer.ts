// MySQL packet framing for one direction of one connection: bytes in, whole packets out.
//
// Every packet is int<3> payload length, int<1> sequence id, payload ("MySQL Packets",
// https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_basic_packets.html). A payload of
// 0xffffff bytes continues in the next packet, up to one shorter than that (possibly empty); the
// framer joins them into one logical packet. Only the first `maxHead` payload bytes are kept (the
// parsers never need more: row data is counted, not read); the rest is counted and skipped.
//
// Resumable: a packet may be split at any byte, many may share one chunk. A packet that lies whole
// in one chunk is handed out as a view of that chunk, with no copy; otherwise its head is copied
// aside, never more than maxHead bytes. The view is valid only during the callback.
//
// A gap of known size inside a payload costs only those payload bytes (the framer stays in step);
// any other gap loses the packet boundaries. MySQL has no sync marker, so the framer then waits
// for a chunk (a syscall's bytes begin a chunk) whose first bytes look like the start of the
// packet its owner expects (`resyncCandidate`), and counts every such search.

import { HEADER_SIZE, MAX_PACKET_PAYLOAD } from './constants.js';

export interface MysqlPacket {
  /** Sequence id of the first physical packet. */
  seq: number;
  /** Sequence id of the last physical packet (differs when the payload spans several). */
  lastSeq: number;
  /** Payload length, all physical packets together. */
  length: number;
  /** The first min(length, maxHead) payload bytes; shorter if a gap fell inside them. */
  head: Uint8Array;
  /** `head` holds the whole payload. */
  complete: boolean;
  /** Time of the chunk that carried the first / last byte. */
  startNs: bigint;
  endNs: bigint;
  /** The first packet found after the framer lost the packet boundaries. */
  resynced: boolean;
}

export interface FramerStats {
  packets: number;
  bytes: number;
  /** Bytes reported missing by gap(). */
  gapBytes: number;
  /** Gaps that lost the packet boundaries. */
  syncLosses: number;
  /** Packet starts found by searching after a lost boundary. */
  resyncs: number;
  /** Bytes discarded while searching, or after stop(). */
  skippedBytes: number;
  /** Packets begun but never finished (end of stream, a gap that lost sync). */
  truncated: number;
}

export interface FramerOptions {
  /** Payload bytes kept per packet. */
  maxHead: number;
  /**
   * After a loss of sync, is this the start of a packet worth believing? `first` is the first
   * payload byte, or -1 for an empty payload.
   */
  resyncCandidate(seq: number, length: number, first: number): boolean;
  onPacket(p: MysqlPacket): void;
}

const HEADER = 0;
const PAYLOAD = 1;
const RESYNC = 2;
const STOPPED = 3;

const EMPTY = new Uint8Array(0);
/** A header and the first payload byte decide a resync candidate. */
const PROBE = HEADER_SIZE + 1;

export class PacketFramer {
  private state: number = HEADER;
  private readonly hdr = new Uint8Array(HEADER_SIZE);
  private hdrLen = 0;
  /** Bytes left of the current physical packet. */
  private left = 0;
  /** The current physical packet is 0xffffff long: another one continues the payload. */
  private continues = false;

  // The logical packet in progress.
  private inPacket = false;
  private seq = 0;
  private lastSeq = 0;
  private total = 0;
  private startNs = 0n;
  private endNs = 0n;
  private head: Uint8Array;
  private headLen = 0;
  /** No byte of the head is missing so far (a gap inside it stops the copy). */
  private headIntact = true;
  private resyncedNext = false;
  /** Time of the chunk that began the header being read. */
  private hdrNs = 0n;

  // Resync probing: the first bytes of a chunk, which may continue into the next chunk when a
  // reader took the 4-byte header in a syscall of its own.
  private readonly probe = new Uint8Array(PROBE);
  private probeLen = 0;
  private probeNs = 0n;
  /** The probe began at a chunk start and may go on into the next chunk. */
  private probing = false;

  private readonly counters: FramerStats = { packets: 0, bytes: 0, gapBytes: 0, syncLosses: 0, resyncs: 0, skippedBytes: 0, truncated: 0 };

  constructor(private readonly opts: FramerOptions) {
    this.head = new Uint8Array(Math.min(opts.maxHead, 256));
  }

  /** The framer no longer knows where packets begin. */
  get lost(): boolean {
    return this.state === RESYNC;
  }

  get stopped(): boolean {
    return this.state === STOPPED;
  }

  /** When the packet being read began, or null between packets. */
  get partialSince(): bigint | null {
    if (this.state !== HEADER && this.state !== PAYLOAD) return null;
    if (this.inPacket) return this.startNs;
    return this.hdrLen > 0 ? this.hdrNs : null;
  }

  /** Bytes of one chunk, in stream order. */
  feed(chunk: Uint8Array, timeNs: bigint): void {
    const n = chunk.length;
    if (n === 0) return;
    this.counters.bytes += n;
    if (this.state === STOPPED) {
      this.counters.skippedBytes += n;
      return;
    }
    let i = 0;
    if (this.state === RESYNC) {
      i = this.search(chunk, timeNs);
      if (i < 0) return;
    }
    this.consume(chunk, i, timeNs);
  }

  /**
   * `n` bytes were not captured. Inside a payload whose remaining length covers them the framer
   * stays in step; anywhere else the boundaries are lost.
   */
  gap(n: number, timeNs: bigint): void {
    if (n <= 0) return;
    this.counters.gapBytes += n;
    this.probing = false;
    if (this.state === STOPPED || this.state === RESYNC) return;
    if (this.state === PAYLOAD && n <= this.left) {
      this.left -= n;
      this.total += n;
      this.headIntact = false;
      this.endNs = timeNs;
      if (this.left === 0) this.physicalEnd();
      return;
    }
    this.loseSync();
  }

  /** The owner found the stream makes no sense here: search for the next packet start. */
  resync(): void {
    if (this.state === STOPPED || this.state === RESYNC) return;
    this.loseSync();
  }

  /** Nothing more in this direction is MySQL framing (TLS, compression, a replication stream). */
  stop(): void {
    if (this.inPacket || this.hdrLen > 0) this.counters.truncated++;
    this.clearPacket();
    this.state = STOPPED;
  }

  /** Framing starts again at a packet header (the plaintext after a switch to TLS). */
  restart(): void {
    this.clearPacket();
    this.hdrLen = 0;
    this.probing = false;
    this.state = HEADER;
  }

  /** End of stream: a packet still incomplete is dropped. */
  finish(): void {
    if (this.state !== STOPPED && (this.inPacket || this.hdrLen > 0)) this.counters.truncated++;
    this.clearPacket();
    this.hdrLen = 0;
    this.probing = false;
    if (this.state !== STOPPED) this.state = HEADER;
  }

  stats(): FramerStats {
    return { ...this.counters };
  }

  /** Bytes held between feeds (the copied head of an unfinished packet), for memory tests. */
  get heldBytes(): number {
    return this.head.length + this.probe.length + this.hdr.length;
  }

  private loseSync(): void {
    if (this.inPacket || this.hdrLen > 0) this.counters.truncated++;
    this.counters.syncLosses++;
    this.clearPacket();
    this.hdrLen = 0;
    this.probing = false;
    this.state = RESYNC;
  }

  private clearPacket(): void {
    this.inPacket = false;
    this.left = 0;
    this.continues = false;
    this.total = 0;
    this.headLen = 0;
    this.headIntact = true;
    // A large head buffer is not kept across packets.
    if (this.head.length > 4096) this.head = new Uint8Array(256);
  }

  /**
   * Resync: probes the chunk's first bytes (continuing a probe begun at the previous chunk's start
   * when that chunk was shorter than a header). Returns where framing resumes, or -1.
   */
  private search(chunk: Uint8Array, timeNs: bigint): number {
    const carried = this.probing ? this.probeLen : 0;
    if (!this.probing) {
      this.probeLen = 0;
      this.probeNs = timeNs;
      this.probing = true;
    }
    let i = 0;
    while (this.probeLen < PROBE && i < chunk.length) this.probe[this.probeLen++] = chunk[i++]!;
    const p = this.probe;
    const length = p[0]! | (p[1]! << 8) | (p[2]! << 16);
    if (this.probeLen < PROBE && !(this.probeLen === HEADER_SIZE && length === 0)) {
      // Too short to judge: the next chunk may carry the rest (a header read on its own).
      return -1;
    }
    this.probing = false;
    const first = length === 0 ? -1 : p[HEADER_SIZE]!;
    if (!this.opts.resyncCandidate(p[3]!, length, first)) {
      this.counters.skippedBytes += carried;
      // A probe begun in an earlier chunk failed: this chunk's own start may still be one.
      if (carried > 0) return this.search(chunk, timeNs);
      this.counters.skippedBytes += chunk.length;
      return -1;
    }
    this.counters.resyncs++;
    this.state = HEADER;
    this.hdrLen = 0;
    this.resyncedNext = true;
    // Re-frame the probed bytes (a copy: some may come from the previous chunk), then the chunk.
    this.consume(this.probe.slice(0, this.probeLen), 0, this.probeNs);
    return this.framing() ? i : -1;
  }

  /** Reading packets (the owner may stop or resync the framer from inside a callback). */
  private framing(): boolean {
    return this.state === HEADER || this.state === PAYLOAD;
  }

  private consume(chunk: Uint8Array, from: number, timeNs: bigint): void {
    const n = chunk.length;
    let i = from;
    while (i < n) {
      if (this.state === HEADER) {
        // Fast path: a whole packet in this chunk, nothing pending: hand out a view.
        if (this.hdrLen === 0 && !this.inPacket && n - i >= HEADER_SIZE) {
          const len = chunk[i]! | (chunk[i + 1]! << 8) | (chunk[i + 2]! << 16);
          if (len < MAX_PACKET_PAYLOAD && n - i - HEADER_SIZE >= len) {
            const s = chunk[i + 3]!;
            const start = i + HEADER_SIZE;
            const keep = Math.min(len, this.opts.maxHead);
            this.emit(s, s, len, chunk.subarray(start, start + keep), keep === len, timeNs, timeNs);
            i = start + len;
            if (this.state !== HEADER) break; // the owner stopped or resynced the framer
            continue;
          }
        }
        if (this.hdrLen === 0) this.hdrNs = timeNs;
        while (this.hdrLen < HEADER_SIZE && i < n) this.hdr[this.hdrLen++] = chunk[i++]!;
        if (this.hdrLen < HEADER_SIZE) return;
        this.startPhysical(timeNs);
        if (this.left === 0) this.physicalEnd();
        if (!this.framing()) break;
        continue;
      }
      if (this.state === PAYLOAD) {
        const take = Math.min(this.left, n - i);
        this.appendHead(chunk, i, take);
        i += take;
        this.left -= take;
        this.total += take;
        this.endNs = timeNs;
        if (this.left === 0) this.physicalEnd();
        if (!this.framing()) break;
        continue;
      }
      // RESYNC or STOPPED set by the owner during a callback: the rest of this chunk is skipped.
      break;
    }
    if (i < n && (this.state === RESYNC || this.state === STOPPED)) this.counters.skippedBytes += n - i;
  }

  private startPhysical(timeNs: bigint): void {
    const h = this.hdr;
    const len = h[0]! | (h[1]! << 8) | (h[2]! << 16);
    const s = h[3]!;
    this.hdrLen = 0;
    if (!this.inPacket) {
      this.inPacket = true;
      this.seq = s;
      this.startNs = this.hdrNs;
      this.total = 0;
      this.headLen = 0;
      this.headIntact = true;
    }
    this.lastSeq = s;
    this.endNs = timeNs;
    this.left = len;
    this.continues = len === MAX_PACKET_PAYLOAD;
    this.state = PAYLOAD;
  }

  private physicalEnd(): void {
    this.state = HEADER;
    if (this.continues) return; // the payload goes on in the next physical packet
    const keep = this.headLen;
    const complete = this.headIntact && keep === this.total;
    const view = keep === 0 ? EMPTY : this.head.subarray(0, keep);
    this.inPacket = false;
    this.emit(this.seq, this.lastSeq, this.total, view, complete, this.startNs, this.endNs);
    this.clearPacket();
  }

  private appendHead(chunk: Uint8Array, from: number, n: number): void {
    if (!this.headIntact) return;
    const room = this.opts.maxHead - this.headLen;
    if (room <= 0 || n <= 0) return;
    const take = Math.min(room, n);
    if (this.headLen + take > this.head.length) {
      const grown = new Uint8Array(Math.min(this.opts.maxHead, Math.max(this.headLen + take, this.head.length * 2)));
      grown.set(this.head.subarray(0, this.headLen));
      this.head = grown;
    }
    this.head.set(chunk.subarray(from, from + take), this.headLen);
    this.headLen += take;
  }

  private emit(seq: number, lastSeq: number, length: number, head: Uint8Array, complete: boolean, startNs: bigint, endNs: bigint): void {
    this.counters.packets++;
    const resynced = this.resyncedNext;
    this.resyncedNext = false;
    this.opts.onPacket({ seq, lastSeq, length, head, complete, startNs, endNs, resynced });
  }
}
