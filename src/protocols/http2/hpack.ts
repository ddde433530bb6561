// HPACK decoding (RFC 7541) for one direction of one connection: header blocks in, header lists out.
//
// A passive observer may not know the whole dynamic table: the capture began after the connection
// did, or a gap swallowed a header block that inserted entries. The table is then kept as what is
// known for certain — the entries inserted since the observer (re)joined, which are the newest —
// and an "unknown tail" of older entries that may or may not still be there. Indices count from the
// newest entry (§2.3.3), so an index that lands in the known part names exactly that entry whatever
// the tail holds; an index past it is a lost field, never a guess. The tail empties itself: once the
// known entries fill the table so that not even a minimal (32-byte) entry could remain before them,
// the table is known completely again. An entry inserted with an unknown name (a literal naming
// an unknown index) has an unknown size: everything older than it becomes unknown.
//
// Lost fields are counted and left out of the list. A malformed block (truncated string, invalid
// Huffman code, index 0...) stops decoding that block; what it inserted after the error is unknown,
// so the table falls back to unknown-tail mode with no known entries. Nothing here throws on input.
import type { HeaderList } from '../../model/http.js';
import { huffmanDecode, huffmanDecodedBound } from './huffman.js';
import { STATIC_COUNT, STATIC_TABLE } from './hpack-static.js';

export type HpackErrorReason =
  | 'truncated'
  | 'bad-integer'
  | 'bad-huffman'
  | 'index-zero'
  | 'size-update-too-large';

export interface HpackBlock {
  headers: HeaderList;
  /**
   * Fields left out: they referenced table entries the observer cannot know, or came past the
   * header-list bound (decoded for the table's sake, not kept).
   */
  lost: number;
  error: HpackErrorReason | null;
}

export interface HpackOptions {
  /** SETTINGS_HEADER_TABLE_SIZE in force (the encoder's initial table size). Default 4096. */
  tableSize?: number;
  /** Table bytes this decoder keeps at most; a larger table is tracked as partly unknown. 64 KiB. */
  tableMemoryLimit?: number;
  /** Decoded field bytes (name + value + 32 each) kept per block. Default 64 KiB. */
  maxHeaderListBytes?: number;
  /** The connection's earlier header blocks were not seen: start with an unknown table. */
  unknownStart?: boolean;
}

export interface HpackStats {
  blocks: number;
  fields: number;
  /** Fields referencing entries the observer cannot know. */
  lostFields: number;
  /** Fields decoded but not kept (header list bound). */
  droppedFields: number;
  /** Malformed blocks. */
  errors: number;
  /** Times the table became (partly) unknown: a lost block, an error, an unknown insertion. */
  desyncs: number;
  /** Times an unknown tail was proven empty: the table is fully known again. */
  resyncs: number;
  /** Dynamic table size updates (§6.3). */
  sizeUpdates: number;
  /** Size updates that came after a field of the block (§4.2 wants them first); applied anyway. */
  misplacedSizeUpdates: number;
  /** Size updates above any SETTINGS_HEADER_TABLE_SIZE seen; applied anyway. */
  unannouncedSizeUpdates: number;
}

/** §4.2: the initial value of SETTINGS_HEADER_TABLE_SIZE. */
export const DEFAULT_TABLE_SIZE = 4096;
/** A table size no peer uses (SETTINGS values are 32-bit, but tables are kilobytes): garbage. */
const MAX_TABLE_SIZE = 2 ** 24;
const DEFAULT_MEMORY_LIMIT = 64 * 1024;
const DEFAULT_MAX_HEADER_LIST = 64 * 1024;
/** §4.1: an entry's size is its name and value lengths plus 32. */
const ENTRY_OVERHEAD = 32;
/** Integers beyond 2^28 need more than four continuation bytes: nothing legitimate does that. */
const MAX_INTEGER_SHIFT = 28;

/** Huffman scratch space kept between blocks; a larger one is released after use. */
const SCRATCH_RETAINED = 16 * 1024;
const EMPTY = Buffer.alloc(0);

/** Marker for a name or value the observer cannot know. */
const LOST: unique symbol = Symbol('lost');
type Known<T> = T | typeof LOST;

/** The dynamic table's known entries, newest last; the oldest are dropped from the front. */
class DynamicTable {
  names: string[] = [];
  values: string[] = [];
  sizes: number[] = [];
  head = 0;
  /** Bytes of the known entries. */
  size = 0;

  get count(): number {
    return this.names.length - this.head;
  }

  /** Entry `k` counted from the newest (1 = newest). */
  at(k: number): number {
    return this.names.length - k;
  }

  add(name: string, value: string, size: number): void {
    this.names.push(name);
    this.values.push(value);
    this.sizes.push(size);
    this.size += size;
  }

  evictTo(limit: number): void {
    while (this.size > limit && this.head < this.names.length) {
      this.size -= this.sizes[this.head]!;
      this.head++;
    }
    if (this.head > 32 && this.head * 2 > this.names.length) {
      this.names = this.names.slice(this.head);
      this.values = this.values.slice(this.head);
      this.sizes = this.sizes.slice(this.head);
      this.head = 0;
    }
  }

  clear(): void {
    this.names = [];
    this.values = [];
    this.sizes = [];
    this.head = 0;
    this.size = 0;
  }
}

export class HpackDecoder {
  private readonly table = new DynamicTable();
  /** The table's maximum size as the encoder last set it (§4.2). */
  private maxSize: number;
  /** The largest SETTINGS_HEADER_TABLE_SIZE the decoder's side announced (4096 at least). */
  private allowed: number;
  private readonly memoryLimit: number;
  private readonly maxListBytes: number;
  /** Entries older than the known ones may exist. */
  private unknownTail: boolean;
  private scratch = Buffer.allocUnsafe(256);
  private readonly counters: HpackStats = {
    blocks: 0, fields: 0, lostFields: 0, droppedFields: 0, errors: 0, desyncs: 0, resyncs: 0, sizeUpdates: 0, misplacedSizeUpdates: 0,
    unannouncedSizeUpdates: 0,
  };

  // Decoding cursor (one block at a time).
  private buf: Buffer = EMPTY;
  private p = 0;
  private end = 0;
  private err: HpackErrorReason | null = null;

  constructor(opts: HpackOptions = {}) {
    this.maxSize = Math.max(0, Math.floor(opts.tableSize ?? DEFAULT_TABLE_SIZE));
    this.allowed = Math.max(this.maxSize, DEFAULT_TABLE_SIZE);
    this.memoryLimit = Math.max(ENTRY_OVERHEAD, Math.floor(opts.tableMemoryLimit ?? DEFAULT_MEMORY_LIMIT));
    this.maxListBytes = Math.max(0, Math.floor(opts.maxHeaderListBytes ?? DEFAULT_MAX_HEADER_LIST));
    this.unknownTail = opts.unknownStart === true || this.maxSize > this.memoryLimit;
  }

  /** True when every entry of the dynamic table is known. */
  get synced(): boolean {
    return !this.unknownTail;
  }

  /** Entries known (for tests and diagnostics): [name, value], newest first. */
  entries(): HeaderList {
    const out: HeaderList = [];
    for (let k = 1; k <= this.table.count; k++) {
      const i = this.table.at(k);
      out.push([this.table.names[i]!, this.table.values[i]!]);
    }
    return out;
  }

  /** Bytes of the known entries (§4.1). */
  get tableBytes(): number {
    return this.table.size;
  }

  /** The decoder's side announced SETTINGS_HEADER_TABLE_SIZE: the encoder may use up to this (§4.2). */
  allowTableSize(n: number): void {
    if (n >= 0 && n > this.allowed) this.allowed = n;
  }

  /**
   * Header blocks of this direction were lost (a gap): whatever they inserted is unknown, so no
   * known entry keeps its index. Keeps the table's size setting.
   */
  desync(): void {
    this.counters.desyncs++;
    this.table.clear();
    this.unknownTail = true;
  }

  /**
   * The connection began before the capture did: entries older than those decoded so far may
   * exist. The known ones keep their indices (they are the newest).
   */
  assumeUnknownTail(): void {
    this.unknownTail = true;
  }

  stats(): HpackStats {
    return { ...this.counters };
  }

  /** Decodes one complete header block (the HEADERS or PUSH_PROMISE fragment and its CONTINUATIONs). */
  decode(block: Uint8Array): HpackBlock {
    this.counters.blocks++;
    this.buf = Buffer.isBuffer(block) ? block : Buffer.from(block.buffer, block.byteOffset, block.byteLength);
    this.p = 0;
    this.end = this.buf.length;
    this.err = null;
    const headers: HeaderList = [];
    let lost = 0;
    let listBytes = 0;
    let fieldSeen = false;
    while (this.p < this.end && this.err === null) {
      const b = this.buf[this.p]!;
      let name: Known<string>;
      let value: Known<string>;
      if ((b & 0x80) !== 0) {
        // §6.1 Indexed Header Field.
        const index = this.integer(7);
        if (this.err !== null) break;
        if (index === 0) {
          this.err = 'index-zero';
          break;
        }
        name = this.nameAt(index);
        value = this.valueAt(index);
      } else if ((b & 0xe0) === 0x20) {
        // §6.3 Dynamic Table Size Update.
        const size = this.integer(5);
        if (this.err !== null) break;
        if (size > MAX_TABLE_SIZE) {
          this.err = 'size-update-too-large';
          break;
        }
        this.counters.sizeUpdates++;
        // Above the SETTINGS_HEADER_TABLE_SIZE seen: the SETTINGS frame that allowed it was not
        // captured (a server writes its SETTINGS before the kernel has classified the connection).
        // The peer accepted it, or the connection ends: follow the encoder.
        if (size > this.allowed) this.counters.unannouncedSizeUpdates++;
        if (fieldSeen) this.counters.misplacedSizeUpdates++;
        this.setMaxSize(size);
        continue;
      } else {
        // §6.2.1 with incremental indexing (01), §6.2.2 without (0000), §6.2.3 never indexed (0001).
        const indexing = (b & 0x40) !== 0;
        const index = this.integer(indexing ? 6 : 4);
        if (this.err !== null) break;
        name = index === 0 ? this.string() : this.nameAt(index);
        if (this.err !== null) break;
        value = this.string();
        if (this.err !== null) break;
        if (indexing) this.insert(name, value as string);
      }
      fieldSeen = true;
      this.counters.fields++;
      if (name === LOST || value === LOST) {
        lost++;
        this.counters.lostFields++;
        continue;
      }
      listBytes += name.length + value.length + ENTRY_OVERHEAD;
      if (listBytes > this.maxListBytes) {
        lost++;
        this.counters.droppedFields++;
        continue;
      }
      headers.push([name, value]);
    }
    if (this.err !== null) {
      this.counters.errors++;
      this.desync();
    }
    this.buf = EMPTY;
    if (this.scratch.length > SCRATCH_RETAINED) this.scratch = Buffer.allocUnsafe(256);
    return { headers, lost, error: this.err };
  }

  // --- table -----------------------------------------------------------------------------------

  private nameAt(index: number): Known<string> {
    if (index <= STATIC_COUNT) return STATIC_TABLE[index]![0];
    const k = index - STATIC_COUNT;
    if (k > this.table.count) return this.beyondTable();
    return this.table.names[this.table.at(k)]!;
  }

  private valueAt(index: number): Known<string> {
    if (index <= STATIC_COUNT) return STATIC_TABLE[index]![1];
    const k = index - STATIC_COUNT;
    if (k > this.table.count) return LOST;
    return this.table.values[this.table.at(k)]!;
  }

  /**
   * An index past the known entries. With an unknown tail it names an entry from before the
   * observer joined. With a fully known table it is invalid (§2.3.3) — or the table is larger than
   * this decoder believed (a missed size update): the known entries are still the newest, so keep
   * them and treat older ones as unknown from now on.
   */
  private beyondTable(): typeof LOST {
    if (!this.unknownTail) {
      this.unknownTail = true;
      this.counters.desyncs++;
    }
    return LOST;
  }

  /** §4.4: evict from the oldest end until the new entry fits; one larger than the table empties it. */
  private insert(name: Known<string>, value: string): void {
    const limit = Math.min(this.maxSize, this.memoryLimit);
    if (name === LOST) {
      // The entry's size is unknown: every entry older than it may have been evicted or not.
      const atLeast = value.length + ENTRY_OVERHEAD;
      this.table.clear();
      if (atLeast > this.maxSize) {
        // Larger than the table even with an empty name: the table is now known to be empty.
        if (this.unknownTail && this.maxSize <= this.memoryLimit) this.counters.resyncs++;
        this.unknownTail = this.maxSize > this.memoryLimit;
        return;
      }
      if (!this.unknownTail) this.counters.desyncs++;
      this.unknownTail = true; // the new entry itself is unknown (its name is)
      return;
    }
    const size = name.length + value.length + ENTRY_OVERHEAD;
    if (size > limit) {
      this.table.clear();
      if (size <= this.maxSize) {
        // Kept by the real table, not by this bounded copy.
        this.unknownTail = true;
        return;
      }
      if (this.unknownTail && this.maxSize <= this.memoryLimit) this.counters.resyncs++;
      this.unknownTail = this.maxSize > this.memoryLimit;
      return;
    }
    this.table.evictTo(limit - size);
    this.table.add(name, value, size);
    this.checkTailGone();
  }

  private setMaxSize(size: number): void {
    this.maxSize = size;
    this.table.evictTo(Math.min(size, this.memoryLimit));
    if (size > this.memoryLimit) this.unknownTail = true;
    this.checkTailGone();
  }

  /** An unknown older entry would need at least 32 bytes: if they are not left, there is none. */
  private checkTailGone(): void {
    if (this.unknownTail && this.maxSize <= this.memoryLimit && this.table.size + ENTRY_OVERHEAD > this.maxSize) {
      this.unknownTail = false;
      this.counters.resyncs++;
    }
  }

  // --- primitives (§5) -------------------------------------------------------------------------

  /** §5.1: an integer with an N-bit prefix, starting at the current byte. */
  private integer(prefixBits: number): number {
    const mask = (1 << prefixBits) - 1;
    let v = this.buf[this.p++]! & mask;
    if (v < mask) return v;
    let shift = 0;
    for (;;) {
      if (this.p >= this.end) {
        this.err = 'truncated';
        return 0;
      }
      const b = this.buf[this.p++]!;
      v += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return v;
      shift += 7;
      if (shift > MAX_INTEGER_SHIFT) {
        this.err = 'bad-integer';
        return 0;
      }
    }
  }

  /** §5.2: a string literal, raw or Huffman-coded. */
  private string(): string {
    if (this.p >= this.end) {
      this.err = 'truncated';
      return '';
    }
    const huffman = (this.buf[this.p]! & 0x80) !== 0;
    const len = this.integer(7);
    if (this.err !== null) return '';
    if (len > this.end - this.p) {
      this.err = 'truncated';
      return '';
    }
    const from = this.p;
    this.p += len;
    if (!huffman) return this.buf.toString('latin1', from, from + len);
    const bound = huffmanDecodedBound(len);
    if (bound > this.scratch.length) this.scratch = Buffer.allocUnsafe(Math.max(bound, this.scratch.length * 2));
    const n = huffmanDecode(this.buf, from, from + len, this.scratch);
    if (n < 0) {
      this.err = 'bad-huffman';
      return '';
    }
    return this.scratch.toString('latin1', 0, n);
  }
}
