// Keeps TLS uprobes on every library and binary that traced processes run: found by reading
// /proc/<pid>/maps at start, after each exec (the loader maps libraries in the first moments, so
// the new process is looked at again shortly after), and on a slow periodic rescan (dlopen).
//
// Uprobes attach to a file (its inode), for every process that maps it: each file is attached once,
// however many processes use it, and released when none of them is left. Bounded: at most
// `maxFiles` files; what is refused is counted.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { type BpfObject, type Link, codec } from 'libbpf-ts';
import { LinkCloser } from '../link-closer.js';
import type { Logger } from '../../log.js';
import { type MemoryMapping, parseProcMaps } from '../../metadata/proc.js';
import { ElfError } from '../../symbols/elf.js';
import { GoTlsError, type GoTlsTarget, goTlsBpfLayout } from '../../symbols/go-tls.js';
import { type GoTarget, OPENSSL_PROBES, type TlsTarget, tlsTargetOf } from './targets.js';

export interface TlsAttacherOptions {
  /** Trace only these processes and their descendants; empty = every process. */
  pids: number[];
  /**
   * Process selection: a process it excludes is not scanned, so no probe is attached for a file only
   * excluded processes map (a file other processes map too is probed; the kernel filter then skips
   * the excluded ones' calls).
   */
  traced?: (pid: number) => boolean;
  maxFiles?: number;
  rescanMs?: number;
  /**
   * How long a file no process maps keeps its probes (default 10 min): a program run again and again
   * (a CLI, a cron job) is traced from its first call on every run after the first. Files are also
   * released early, oldest first, when `maxFiles` is reached.
   */
  releaseAfterMs?: number;
  /** Extra looks after an exec, in ms: shared libraries are mapped by the loader after the exec. */
  execRescansMs?: number[];
  /** Where system TLS libraries are attached up front (every process: no scan needed). */
  systemLibraryDirs?: string[];
  /** The node binary probed up front too (default: the agent's own, process.execPath); false: none. */
  ownExecutable?: string | false;
  /**
   * Span tags are on: Go programs get probes on goroutine creation and are listed in the `go_procs`
   * map, so their tags follow goroutines rather than threads (bpf/include/span_tags.h).
   */
  goroutineTags?: boolean;
}

interface Attached {
  key: string;
  path: string;
  kind: TlsTarget['kind'];
  links: Link[];
  /** Processes seen mapping it at the last scan. */
  pids: Set<number>;
  /** When a process was last seen mapping it (ms). */
  lastSeenMs: number;
  pinned: boolean;
  /** Go binaries: their slot in the BPF map of struct layouts. */
  goSlot?: number;
  /** Go binaries whose goroutine creation is probed: the processes mapping it are listed in go_procs. */
  goroutineTags?: boolean;
}

const DEFAULT_LIB_DIRS = ['/usr/lib/x86_64-linux-gnu', '/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib', '/lib64'];
/** Files known to hold no TLS library: checked once per inode. */
const MAX_NEGATIVE = 16_384;
/** Longest a scan of every process keeps the JS thread before it lets ring batches in (scanAll). */
const SCAN_SLICE_MS = 10;
/** Entries of go_tls_layouts (bpf/include/tls_probes.h). */
const GO_LAYOUT_SLOTS = 256;

export class TlsAttacher {
  readonly #attached = new Map<string, Attached>();
  readonly #negative = new Set<string>();
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #closer = new LinkCloser();
  readonly #freeGoSlots = Array.from({ length: GO_LAYOUT_SLOTS }, (_, i) => GO_LAYOUT_SLOTS - 1 - i);
  #rescan: NodeJS.Timeout | null = null;
  /** The scan running (scanAll), if one is. */
  #scan: Promise<void> | null = null;
  #stopped = false;
  readonly #counters = { files_checked: 0, files_attached: 0, files_released: 0, attach_failures: 0, attach_refused_limit: 0,
    elf_errors: 0, open_failures: 0, scans: 0, scan_failures: 0, exec_events: 0, go_binaries: 0, go_unusable: 0, go_spawn_probed: 0, go_procs_listed: 0 };
  readonly #maxFiles: number;

  constructor(private readonly obj: BpfObject, private readonly log: Logger, private readonly opts: TlsAttacherOptions) {
    this.#maxFiles = opts.maxFiles ?? 256;
  }

  /** Probes what is mapped now (resolves once every process in scope was looked at), then rescans periodically. */
  async start(): Promise<void> {
    // Tracing everything: the system's libssl is probed before any process is looked at, so a
    // program is covered from its first call. With --pid only what traced processes map is probed:
    // a probe fires (and costs a trap) in every process that maps the file, traced or not.
    if (this.opts.pids.length === 0) this.#attachSystemLibraries();
    await this.scanAll();
    if (this.#stopped) return;
    this.#rescan = setInterval(() => {
      // A rescan that fails (it should not: every read is guarded) is counted and logged; the next one comes.
      this.scanAll().catch((e: unknown) => {
        this.#counters.scan_failures++;
        if (this.#counters.scan_failures === 1) this.log.warn('tls: a rescan of the processes failed', { error: String(e) });
      });
    }, this.opts.rescanMs ?? 10_000).unref();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    // A scan running ends at its next slice; its failure is counted where it was asked for.
    await this.#scan?.catch(() => undefined);
    if (this.#rescan !== null) clearInterval(this.#rescan);
    this.#rescan = null;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    for (const a of this.#attached.values()) this.#release(a);
    this.#attached.clear();
    await this.#closer.settled();
  }

  /** A traced process exec'd: look at it now and again while its loader maps libraries. */
  onExec(pid: number): void {
    this.#counters.exec_events++;
    this.scanPid(pid);
    for (const ms of this.opts.execRescansMs ?? [50, 250, 1000]) {
      if (this.#timers.size > 1024) break; // an exec storm: the periodic rescan catches up
      const t = setTimeout(() => {
        this.#timers.delete(t);
        this.scanPid(pid);
      }, ms).unref();
      this.#timers.add(t);
    }
  }

  /**
   * Every process in scope; also releases files no live process maps any more. The JS thread is
   * given back between processes every SCAN_SLICE_MS: on a busy host the scan takes hundreds of ms
   * (a binary's symbols, its probes attached), during which ring batches would wait, the shedder
   * would not hear of them, and the queue towards JavaScript could overflow (metrics lost with its
   * records): an agent started into 40k req/s lost 1-3 ring batches in each of 6 starts (~230 ms of
   * scan at once after the tracepoints were attached), 1 in 3 of 13 starts scanning in slices. A
   * scan asked for while one runs is that one.
   */
  scanAll(): Promise<void> {
    this.#scan ??= this.#scanAll().finally(() => (this.#scan = null));
    return this.#scan;
  }

  async #scanAll(): Promise<void> {
    this.#counters.scans++;
    const pids = this.#pidsInScope();
    for (const a of this.#attached.values()) a.pids.clear();
    let sliceStart = Date.now();
    for (const pid of pids) {
      this.scanPid(pid);
      if (Date.now() - sliceStart < SCAN_SLICE_MS) continue;
      await new Promise((resolve) => setImmediate(resolve));
      if (this.#stopped) return;
      sliceStart = Date.now();
    }
    const cutoff = Date.now() - (this.opts.releaseAfterMs ?? 600_000);
    for (const a of [...this.#attached.values()]) if (this.#unused(a) && a.lastSeenMs <= cutoff) this.#drop(a);
  }

  #unused(a: Attached): boolean {
    return !a.pinned && a.pids.size === 0;
  }

  #drop(a: Attached): void {
    this.#release(a);
    this.#attached.delete(a.key);
    this.#counters.files_released++;
  }

  scanPid(pid: number): void {
    if (this.opts.traced?.(pid) === false) return;
    let maps: MemoryMapping[];
    try {
      maps = parseProcMaps(readFileSync(`/proc/${pid}/maps`, 'utf8'));
    } catch {
      return; // gone already
    }
    const seen = new Set<string>();
    for (const m of maps) {
      if (!m.perms.includes('x') || !m.path.startsWith('/') || m.deleted) continue;
      const key = `${m.dev}:${m.inode}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const known = this.#attached.get(key);
      if (known !== undefined) {
        known.pids.add(pid);
        known.lastSeenMs = Date.now();
        if (known.goroutineTags === true) this.#listGoProcess(pid);
        continue;
      }
      if (this.#negative.has(key)) continue;
      // Through the process's root: a container's files are not at the same path on the host.
      this.#consider(key, `/proc/${pid}/root${m.path}`, m.path, pid);
    }
  }

  stats(): Record<string, number> {
    let links = 0;
    for (const a of this.#attached.values()) links += a.links.length;
    return { ...this.#counters, files: this.#attached.size, links };
  }

  #consider(key: string, openPath: string, displayPath: string, pid: number | null): void {
    this.#counters.files_checked++;
    let target: TlsTarget | null;
    try {
      target = tlsTargetOf(openPath, { goroutineTags: this.opts.goroutineTags === true });
    } catch (e) {
      if (e instanceof GoTlsError) {
        // A Go program with crypto/tls that cannot be probed safely: say so once, never guess.
        this.#counters.go_unusable++;
        this.log.warn('tls: Go binary not traced', { path: displayPath, reason: e.reason, error: e.message });
        this.#negative.add(key);
        return;
      }
      if (!(e instanceof ElfError)) {
        // Unreadable now (the process exited, a permission): not a verdict on the file.
        this.#counters.open_failures++;
        this.log.debug('tls: file not readable', { path: openPath, error: String(e) });
        return;
      }
      this.#counters.elf_errors++;
      this.log.debug('tls: not an ELF we can read', { path: displayPath, error: e.message });
      target = null;
    }
    if (target === null) {
      if (this.#negative.size >= MAX_NEGATIVE) this.#negative.clear();
      this.#negative.add(key);
      return;
    }
    if (this.#attached.size >= this.#maxFiles) {
      // Make room from files no process maps any more, the longest unused first.
      const idle = [...this.#attached.values()].filter((a) => this.#unused(a)).sort((a, b) => a.lastSeenMs - b.lastSeenMs)[0];
      if (idle === undefined) {
        this.#counters.attach_refused_limit++;
        return;
      }
      this.#drop(idle);
    }
    const entry: Attached = { key, path: displayPath, kind: target.kind, links: [], pids: new Set(pid === null ? [] : [pid]), pinned: pid === null, lastSeenMs: Date.now() };
    try {
      if (target.kind === 'openssl') this.#attachOpenSsl(entry, openPath, target.offsets);
      else this.#attachGo(entry, openPath, target);
    } catch (e) {
      this.#release(entry);
      this.#counters.attach_failures++;
      this.log.warn('tls: could not attach probes', { path: displayPath, error: String(e) });
      this.#negative.add(key); // do not retry a failing file on every scan
      return;
    }
    this.#attached.set(key, entry);
    this.#counters.files_attached++;
    if (entry.goroutineTags === true && pid !== null) this.#listGoProcess(pid);
    this.log.info('tls: probes attached', { path: displayPath, library: target.kind, probes: entry.links.length });
  }

  #attachOpenSsl(entry: Attached, path: string, offsets: Partial<Record<string, number>>): void {
    for (const p of OPENSSL_PROBES) {
      const offset = offsets[p.fn];
      if (offset === undefined) continue;
      entry.links.push(this.obj.program(p.entry).attachUprobe({ binaryPath: path, offset }));
      if (p.ret) entry.links.push(this.obj.program('ssl_return').attachUprobe({ binaryPath: path, offset, retprobe: true }));
    }
  }

  /** Go: crypto/tls and goroutine creation, each where the binary has it. */
  #attachGo(entry: Attached, path: string, target: GoTarget): void {
    if (target.go !== undefined) this.#attachGoTls(entry, path, target.go);
    if (target.spawn !== undefined) {
      // Entry and every RET, as for Read: never uretprobes on Go.
      entry.links.push(this.obj.program('go_newproc1_enter').attachUprobe({ binaryPath: path, offset: target.spawn.entryOffset }));
      for (const offset of target.spawn.returnOffsets) {
        entry.links.push(this.obj.program('go_newproc1_return').attachUprobe({ binaryPath: path, offset }));
      }
      entry.goroutineTags = true;
      this.#counters.go_spawn_probed++;
    }
  }

  /** The process runs a Go binary whose goroutine creation is probed: its span tags go by goroutine. */
  #listGoProcess(pid: number): void {
    try {
      this.obj.map('go_procs', codec.u32, codec.u32).set(pid, 1);
      this.#counters.go_procs_listed++;
    } catch (e) {
      this.log.debug('tls: go_procs not updated', { pid, error: String(e) });
    }
  }

  /** Entry probes, and one probe per RET instruction of Read (never uretprobes: Go moves its stacks). */
  #attachGoTls(entry: Attached, path: string, go: GoTlsTarget): void {
    this.#counters.go_binaries++;
    if (!go.registerAbi) throw new Error(`${go.goVersion} passes arguments on the stack: Go >= 1.17 is needed`);
    const slot = this.#freeGoSlots.pop();
    if (slot === undefined) throw new Error(`more than ${GO_LAYOUT_SLOTS} Go binaries traced at once`);
    entry.goSlot = slot;
    const l = goTlsBpfLayout(go);
    // struct go_tls_layout (bpf/include/sockets.h)
    const layout = Buffer.alloc(32);
    layout.writeUInt32LE(l.connData, 0);
    layout.writeUInt32LE(l.tcpConnFd, 4);
    layout.writeUInt32LE(l.netFdSysfd, 8);
    layout.writeUInt32LE(l.vers, 12);
    layout.writeBigUInt64LE(BigInt(l.connItabs[0] ?? 0), 16);
    layout.writeBigUInt64LE(BigInt(l.connItabs[1] ?? 0), 24);
    const key = Buffer.alloc(4);
    key.writeUInt32LE(slot);
    this.obj.map('go_tls_layouts').set(key, layout);
    const cookie = slot;
    // Write's plaintext is complete at entry; Read's exists only at each of its RETs.
    entry.links.push(this.obj.program('go_tls_write_enter').attachUprobe({ binaryPath: path, offset: go.write.entryOffset, cookie }));
    entry.links.push(this.obj.program('go_tls_read_enter').attachUprobe({ binaryPath: path, offset: go.read.entryOffset, cookie }));
    for (const offset of go.read.returnOffsets) {
      entry.links.push(this.obj.program('go_tls_return').attachUprobe({ binaryPath: path, offset, cookie }));
    }
    for (const w of go.warnings) this.log.info('tls: Go binary note', { path, note: w });
  }

  #release(a: Attached): void {
    const slot = a.goSlot;
    // A Go slot is reused only once no probe of this binary can fire with its cookie.
    this.#closer.close(a.links, slot === undefined ? undefined : () => this.#freeGoSlots.push(slot));
    a.links = [];
    a.goSlot = undefined;
  }

  /** libssl in the usual directories: attached for every process before any of them is seen. */
  #attachSystemLibraries(): void {
    for (const dir of this.opts.systemLibraryDirs ?? DEFAULT_LIB_DIRS) {
      let names: string[];
      try {
        names = readdirSync(dir);
      } catch {
        continue;
      }
      for (const name of names) if (/^libssl\.so\.[0-9.]+$/.test(name)) this.#considerUpFront(`${dir}/${name}`);
    }
    // The node binary the agent runs on links OpenSSL in, and node programs are common: probed up
    // front too. Otherwise it is probed once a process mapping it is found, milliseconds after that
    // process's exec, and a short-lived program's first connections go by half seen (TLS calls
    // without their socket, responses without their request). The agent's own pid is filtered out
    // in the kernel, as for every probe.
    const own = this.opts.ownExecutable ?? process.execPath;
    if (own !== false) this.#considerUpFront(own);
  }

  /** A file probed before any process that maps it is seen (kept: pinned). */
  #considerUpFront(path: string): void {
    let key: string;
    try {
      const st = statSync(path);
      key = `${devString(st.dev)}:${st.ino}`;
    } catch {
      return;
    }
    if (!this.#attached.has(key) && !this.#negative.has(key)) this.#consider(key, path, path, null);
  }

  /** Pids to scan: all, or the targets and their descendants (by parent links in /proc). */
  #pidsInScope(): number[] {
    const all: number[] = [];
    for (const name of safeReaddir('/proc')) if (/^\d+$/.test(name)) all.push(Number(name));
    const self = process.pid;
    if (this.opts.pids.length === 0) return all.filter((p) => p !== self);
    const parent = new Map<number, number>();
    for (const pid of all) {
      const ppid = parentOf(pid);
      if (ppid !== null) parent.set(pid, ppid);
    }
    const targets = new Set(this.opts.pids);
    return all.filter((pid) => {
      for (let p: number | undefined = pid, depth = 0; p !== undefined && p > 1 && depth < 64; p = parent.get(p), depth++) {
        if (targets.has(p)) return true;
      }
      return false;
    });
  }
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function parentOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ppid = Number(rest[1]);
    return Number.isInteger(ppid) ? ppid : null;
  } catch {
    return null;
  }
}

/** st_dev → the "major:minor" hex form /proc/<pid>/maps prints (Linux's new_encode_dev layout). */
export function devString(dev: number): string {
  const major = ((dev >>> 8) & 0xfff) | (Math.floor(dev / 2 ** 32) & ~0xfff);
  const minor = (dev & 0xff) | ((dev >>> 12) & 0xfff00);
  return `${major.toString(16).padStart(2, '0')}:${minor.toString(16).padStart(2, '0')}`;
}
