// Process → OTel resource: one resource per traced process, read from /proc while the process is
// alive (it may be gone by the time its exchanges are exported) and cached, bounded.
import { readFileSync, readlinkSync } from 'node:fs';
import { basename } from 'node:path';
import type { ProcessEvent } from '../model/process.js';
import type { Attributes, ResourceRecord } from '../model/span.js';
import type { Redaction } from '../semconv/redaction.js';
import { redactArgs } from './command-line.js';
import { containerIdFromCgroup, parseCmdline, parseEnviron, serviceNameFromEnv, startTimeFromStat } from './proc.js';

function read(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

export interface ProcessMetadataOptions {
  /** Attributes every resource gets (host.name, OTEL_RESOURCE_ATTRIBUTES of the agent). */
  base: Attributes;
  maxEntries?: number;
  procRoot?: string;
  /** Which query parameters of URLs in command lines are secrets (default: the built-in names). */
  redaction?: Redaction;
}

export class ProcessMetadata {
  readonly #cache = new Map<number, ResourceRecord>();
  readonly #max: number;
  readonly #proc: string;
  #misses = 0;

  constructor(private readonly opts: ProcessMetadataOptions) {
    this.#max = opts.maxEntries ?? 4096;
    this.#proc = opts.procRoot ?? '/proc';
  }

  /**
   * The resource of `pid`, read now if not cached. Never throws: a process already gone gets a
   * minimal resource named after `comm` (the name the kernel reported with its event) if known.
   */
  resource(pid: number, comm?: string): ResourceRecord {
    const hit = this.#cache.get(pid);
    if (hit !== undefined) return hit;
    const r = this.#read(pid, comm);
    if (this.#cache.size >= this.#max) {
      const oldest = this.#cache.keys().next().value;
      if (oldest !== undefined) this.#cache.delete(oldest);
    }
    this.#cache.set(pid, r);
    return r;
  }

  /**
   * The resource of a process event's process, without reading /proc (every process on the host
   * produces these events, most never do anything else Lantern sees): the cached resource its
   * exchanges got, else a minimal one named after the kernel's comm. An exec replaces the program,
   * so the old program's resource is dropped first and the new one is read with its next exchange.
   */
  eventResource(e: ProcessEvent): ResourceRecord {
    if (e.kind === 'exec') this.forget(e.pid);
    return this.#cache.get(e.pid) ?? {
      key: `event:${e.pid}:${e.comm}`,
      attributes: { ...this.opts.base, 'service.name': e.comm, 'process.pid': e.pid },
    };
  }

  /** The process exited or exec'd: its next resource must be read afresh. */
  forget(pid: number): void {
    this.#cache.delete(pid);
  }

  stats(): { cached: number; unreadable: number } {
    return { cached: this.#cache.size, unreadable: this.#misses };
  }

  #read(pid: number, kernelComm?: string): ResourceRecord {
    const dir = `${this.#proc}/${pid}`;
    const comm = read(`${dir}/comm`)?.trim() ?? (kernelComm !== undefined && kernelComm !== '' ? kernelComm : null);
    let exePath: string | null = null;
    try {
      exePath = readlinkSync(`${dir}/exe`);
    } catch {
      // kernel threads, exited processes, or no permission
    }
    const env = parseEnviron(read(`${dir}/environ`) ?? '');
    const args = parseCmdline(read(`${dir}/cmdline`) ?? '');
    const container = containerIdFromCgroup(read(`${dir}/cgroup`) ?? '');
    const start = startTimeFromStat(read(`${dir}/stat`) ?? '');
    if (exePath === null && env.size === 0) this.#misses++;
    const exeName = exePath !== null ? basename(exePath.replace(/ \(deleted\)$/, '')) : comm ?? `pid-${pid}`;
    const attributes: Attributes = {
      ...this.opts.base,
      'service.name': serviceNameFromEnv(env) ?? exeName,
      'process.pid': pid,
      'process.executable.name': exeName,
    };
    if (exePath !== null) attributes['process.executable.path'] = exePath;
    if (args.length > 0) attributes['process.command_args'] = redactArgs(args, this.opts.redaction);
    if (container !== null) attributes['container.id'] = container;
    return { key: `${pid}:${start ?? '?'}`, attributes };
  }
}
