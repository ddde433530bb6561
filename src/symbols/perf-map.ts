// JIT symbol maps, /tmp/perf-<pid>.map (perf's convention, linux/tools/perf/Documentation/jit-interface.txt):
// one "START SIZE name" line per generated function, START and SIZE in hex. Node
// (`--perf-basic-prof`), the JVM (perf-map-agent) and Python 3.12 (`-X perf`) append to the file as
// they compile, and a later line for the same addresses wins (code moved or was replaced). The
// reader keeps its file offset and only reads what was appended; both the bytes read and the
// entries kept are bounded.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { lastAtOrBelow } from './search.js';

export interface PerfMapEntry {
  start: number;
  size: number;
  name: string;
}

/** One line, or undefined when it is not a perf map line. */
export function parsePerfMapLine(line: string): PerfMapEntry | undefined {
  const m = /^\s*(?:0x)?([0-9a-fA-F]{1,16})\s+(?:0x)?([0-9a-fA-F]{1,16})\s+(.+?)\s*$/.exec(line);
  if (!m) return undefined;
  const start = parseInt(m[1]!, 16);
  const size = parseInt(m[2]!, 16);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(size) || size === 0) return undefined;
  return { start, size, name: m[3]! };
}

export interface PerfMapOptions {
  maxEntries?: number;
  maxBytes?: number;
}

export class PerfMap {
  private offset = 0;
  private remainder = '';
  private starts: number[] = [];
  private ends: number[] = [];
  private names: string[] = [];
  /** Order of appearance: on overlap the later line wins. */
  private seqs: number[] = [];
  private pending: PerfMapEntry[] = [];
  private seq = 0;
  private identity = '';
  /** Lines dropped because a bound was reached. */
  truncated = 0;
  private readonly maxEntries: number;
  private readonly maxBytes: number;

  constructor(
    readonly path: string,
    options: PerfMapOptions = {},
  ) {
    this.maxEntries = options.maxEntries ?? 200_000;
    this.maxBytes = options.maxBytes ?? 64 << 20;
  }

  get count(): number {
    return this.names.length + this.pending.length;
  }

  /**
   * Reads what was appended since the last call. A file that shrank or was replaced is read again
   * from the start. Returns false when the file cannot be read (it may not exist yet).
   */
  refresh(): boolean {
    let fd: number;
    try {
      fd = openSync(this.path, 'r');
    } catch {
      return false;
    }
    try {
      const st = fstatSync(fd);
      const identity = `${st.dev}:${st.ino}`;
      if (identity !== this.identity || st.size < this.offset) this.reset(identity);
      const want = Math.min(st.size, this.maxBytes) - this.offset;
      if (want <= 0) {
        if (st.size > this.maxBytes) this.truncated++;
        return true;
      }
      const buf = Buffer.allocUnsafe(want);
      let got = 0;
      while (got < want) {
        const n = readSync(fd, buf, got, want - got, this.offset + got);
        if (n === 0) break;
        got += n;
      }
      this.offset += got;
      this.ingest(buf.toString('utf8', 0, got));
      return true;
    } finally {
      closeSync(fd);
    }
  }

  /** Adds text as if it were appended to the file (also how tests feed it). */
  ingest(text: string): void {
    const all = this.remainder + text;
    const lines = all.split('\n');
    // A line without its newline yet is kept for the next read.
    this.remainder = lines.pop() ?? '';
    for (const line of lines) {
      const e = parsePerfMapLine(line);
      if (!e) continue;
      if (this.count >= this.maxEntries) {
        this.truncated++;
        continue;
      }
      this.pending.push(e);
    }
  }

  lookup(addr: number): string | undefined {
    this.merge();
    const found = lastAtOrBelow(this.starts, addr);
    // Entries may overlap: among the few nearest that contain the address, the newest wins.
    let best = -1;
    for (let i = found; i >= 0 && i > found - 16; i--) {
      if (addr < this.ends[i]! && (best < 0 || this.seqs[i]! > this.seqs[best]!)) best = i;
    }
    return best < 0 ? undefined : this.names[best];
  }

  byteEstimate(): number {
    let bytes = this.count * 40;
    for (const n of this.names) bytes += n.length;
    for (const e of this.pending) bytes += e.name.length;
    return bytes;
  }

  private reset(identity: string): void {
    this.identity = identity;
    this.offset = 0;
    this.remainder = '';
    this.starts = [];
    this.ends = [];
    this.names = [];
    this.seqs = [];
    this.pending = [];
  }

  /** Sorts appended entries into the searchable arrays (once per batch, not per line). */
  private merge(): void {
    if (this.pending.length === 0) return;
    const rows = this.starts.map((start, i) => ({ start, end: this.ends[i]!, name: this.names[i]!, seq: this.seqs[i]! }));
    for (const e of this.pending) rows.push({ start: e.start, end: e.start + e.size, name: e.name, seq: this.seq++ });
    this.pending = [];
    rows.sort((a, b) => a.start - b.start || a.seq - b.seq);
    this.starts = rows.map((r) => r.start);
    this.ends = rows.map((r) => r.end);
    this.names = rows.map((r) => r.name);
    this.seqs = rows.map((r) => r.seq);
  }
}
