// BPF objects and their programs: open → configure → load → attach, one cleanup path.
import { type Codec } from './codec.js';
import { Link, LinkGroup } from './link.js';
import { BpfMap } from './map.js';
import { type CookieOption, native, type NativeObject, type ProgramInfo } from './native.js';
import { type PerfEventOptions, closePerfEvent, onlineCpus, openPerfEvent } from './perf.js';

export interface OpenOptions {
  /** BTF to relocate against instead of /sys/kernel/btf/vmlinux (older kernels without BTF). */
  btfCustomPath?: string;
}

export interface UprobeOptions extends CookieOption {
  /** Executable or shared library. */
  binaryPath: string;
  /** Symbol to attach to (resolved by libbpf in .symtab/.dynsym), plus `offset` into it if given. */
  funcName?: string;
  /** File offset of the instruction when no funcName is given, else offset within the function. */
  offset?: number;
  /** Only this process; all processes that map the file when omitted. */
  pid?: number;
  retprobe?: boolean;
}

export interface KprobeOptions extends CookieOption {
  funcName: string;
  offset?: number;
  retprobe?: boolean;
}

export class BpfProgram {
  constructor(
    readonly object: BpfObject,
    readonly info: ProgramInfo,
  ) {}

  get name(): string {
    return this.info.name;
  }

  /** Attach as the section name says (libbpf's auto-attach). */
  attach(): Link {
    return new Link(this.object.native().attach(this.name), `${this.name} (auto)`);
  }

  attachTracepoint(category: string, name: string, opts: CookieOption = {}): Link {
    return new Link(this.object.native().attachTracepoint(this.name, category, name, opts), `tracepoint:${category}:${name}`);
  }

  attachRawTracepoint(name: string): Link {
    return new Link(this.object.native().attachRawTracepoint(this.name, name), `raw_tracepoint:${name}`);
  }

  attachUprobe(opts: UprobeOptions): Link {
    const where = `${opts.binaryPath}:${opts.funcName ?? ''}${opts.offset !== undefined ? `+0x${opts.offset.toString(16)}` : ''}`;
    return new Link(this.object.native().attachUprobe(this.name, opts), `${opts.retprobe === true ? 'uretprobe' : 'uprobe'}:${where}`);
  }

  /** Needs a kernel with kprobes (`kprobesAvailable()`); fails with LIBBPF_ERR_ATTACH otherwise. */
  attachKprobe(opts: KprobeOptions): Link {
    return new Link(this.object.native().attachKprobe(this.name, opts), `${opts.retprobe === true ? 'kretprobe' : 'kprobe'}:${opts.funcName}`);
  }

  /**
   * Opens one perf event per online CPU (system-wide unless `pid`) and attaches this program to
   * each. A CPU that cannot take the event fails the whole call, with what was attached released.
   */
  attachPerfEvent(opts: PerfEventOptions): LinkGroup {
    const links: Link[] = [];
    const cpus = opts.cpus ?? onlineCpus();
    try {
      for (const cpu of cpus) {
        const fd = openPerfEvent(opts.event, cpu, opts.pid);
        try {
          links.push(new Link(this.object.native().attachPerfEvent(this.name, fd, opts), `perf_event:cpu${cpu}`));
        } catch (e) {
          closePerfEvent(fd);
          throw e;
        }
      }
    } catch (e) {
      for (const l of links) l.close();
      throw e;
    }
    return new LinkGroup(links);
  }
}

/**
 * A BPF ELF object. Globals, map sizes and autoload are set between `open` and `load`. Closing the
 * object unloads its programs and maps; links made from it stay until closed themselves.
 */
export class BpfObject {
  #native: NativeObject | null;
  readonly path: string;

  private constructor(path: string, n: NativeObject) {
    this.path = path;
    this.#native = n;
  }

  static open(path: string, opts: OpenOptions = {}): BpfObject {
    return new BpfObject(path, new native.NativeObject(path, opts));
  }

  /** Open and load in one step, for objects with nothing to configure. */
  static load(path: string, opts: OpenOptions = {}): BpfObject {
    const o = BpfObject.open(path, opts);
    try {
      o.load();
    } catch (e) {
      o.close();
      throw e;
    }
    return o;
  }

  /** @internal */
  native(): NativeObject {
    if (this.#native === null) throw new Error(`BPF object ${this.path} is closed`);
    return this.#native;
  }

  get name(): string {
    return this.native().name();
  }

  /** Sets a global (`const volatile` settings live in .rodata) before load. */
  setGlobal(name: string, value: Buffer | number | bigint, size?: number): this {
    this.native().setGlobal(name, encodeScalar(value, size));
    return this;
  }

  setMapMaxEntries(map: string, entries: number): this {
    this.native().setMapMaxEntries(map, entries);
    return this;
  }

  /**
   * Before load: makes this object's map `name` share the kernel map of `map` (a loaded object's
   * BpfMap, or a map fd), as `bpf_map__reuse_fd` does. Both objects' programs then read and write
   * the same elements. The two maps must agree on type, key size and value size (checked here:
   * libbpf would adopt the other map's shape silently); the other map's max_entries wins. The fd is
   * duplicated, so the map lives on while either object holds it.
   */
  reuseMap(name: string, map: BpfMap<unknown, unknown> | number): this {
    this.native().reuseMapFd(name, typeof map === 'number' ? map : map.fd);
    return this;
  }

  setAutoload(program: string, autoload: boolean): this {
    this.native().setAutoload(program, autoload);
    return this;
  }

  /** Loads into the kernel. Throws a LibbpfError carrying libbpf's and the verifier's logs. */
  load(): this {
    this.native().load();
    return this;
  }

  programs(): BpfProgram[] {
    return this.native().programs().map((p) => new BpfProgram(this, p));
  }

  program(name: string): BpfProgram {
    const p = this.programs().find((x) => x.name === name);
    if (p === undefined) throw new Error(`no program named '${name}' in ${this.path}`);
    return p;
  }

  map(name: string): BpfMap;
  map<K, V>(name: string, key: Codec<K>, value: Codec<V>): BpfMap<K, V>;
  map<K, V>(name: string, key?: Codec<K>, value?: Codec<V>): BpfMap<K, V> | BpfMap {
    const info = this.native().maps().find((m) => m.name === name);
    if (info === undefined) throw new Error(`no map named '${name}' in ${this.path}`);
    if (info.fd < 0) throw new Error(`map '${name}' has no fd: load the object first`);
    if (key !== undefined && value !== undefined) return new BpfMap<K, V>(info, key, value);
    return new BpfMap<Buffer, Buffer>(info);
  }

  mapInfos() {
    return this.native().maps();
  }

  close(): void {
    this.#native?.close();
    this.#native = null;
  }
}

function encodeScalar(value: Buffer | number | bigint, size?: number): Buffer {
  if (Buffer.isBuffer(value)) return value;
  const width = size ?? (typeof value === 'bigint' ? 8 : 4);
  const b = Buffer.alloc(width);
  const big = BigInt(value);
  // Little-endian, two's complement for negatives, any width up to 8.
  let v = big < 0n ? (1n << BigInt(width * 8)) + big : big;
  for (let i = 0; i < width; i++) {
    b[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return b;
}
