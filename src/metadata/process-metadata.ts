// Process → OTel resource: one resource per traced process, read from /proc while the process is
// alive (it may be gone by the time its exchanges are exported) and cached, bounded, checked to be
// still the same program in the same process (pid-cache.ts).
//
// Where each attribute comes from:
//   service.name             the process's OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES, else its
//                            pod's app.kubernetes.io/name label, workload or container name, else the
//                            program it was started as (service-name.ts; program-name.ts: argv[0] as
//                            comm confirms it)
//   process.executable.name  the basename of /proc/<pid>/exe's target, as the semantic conventions
//   process.executable.path  say: the file running (redis-check-rdb for Debian's redis-server)
//   process.command          argv[0], as the semantic conventions say
//   process.command_args     the command line, secrets redacted
//   container.*, k8s.pod.uid /proc/<pid>/cgroup (cgroup.ts)
//   k8s.*, service.namespace the pod of that container, from the Kubernetes API (k8s/), when the
//                            agent runs with it; a resource read before its pod was known is read
//                            again when the pod arrives
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readlinkSync } from 'node:fs';
import { basename } from 'node:path';
import type { ProcessEvent } from '../model/process.js';
import type { Attributes, ResourceRecord } from '../model/span.js';
import type { Redaction } from '../semconv/redaction.js';
import { redactArgs } from './command-line.js';
import { containerAttributes, parseCgroup } from './cgroup.js';
import { PidCache, type PidCacheStats } from './pid-cache.js';
import { IdentityReader, ProcessAge, type ProcessIdentity } from './process-identity.js';
import type { PodMetadataSource } from './k8s/kubernetes-metadata.js';
import { parseCmdline, parseEnviron, serviceNameFromEnv } from './proc.js';
import { programName } from './program-name.js';
import { serviceName } from './service-name.js';

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
  /** How long a cached resource is used without checking the pid's identity again (default 1 s). */
  revalidateMs?: number;
  now?: () => number;
  /** Which query parameters of URLs in command lines are secrets (default: the built-in names). */
  redaction?: Redaction;
  /** Pods, by the container a process's cgroup names (when the agent reads the Kubernetes API). */
  pods?: PodMetadataSource;
}

export class ProcessMetadata {
  readonly #cache: PidCache<ResourceRecord>;
  readonly #proc: string;
  #misses = 0;

  constructor(private readonly opts: ProcessMetadataOptions) {
    this.#proc = opts.procRoot ?? '/proc';
    const identities = new IdentityReader(this.#proc);
    const age = new ProcessAge(this.#proc);
    this.#cache = new PidCache({
      identity: (pid) => identities.read(pid),
      exists: (pid) => existsSync(`${this.#proc}/${pid}`),
      load: (pid, identity, comm) => this.#read(pid, identity, comm),
    }, { maxEntries: opts.maxEntries, revalidateMs: opts.revalidateMs, now: opts.now, ...(opts.now === undefined ? { ageMs: (id: ProcessIdentity) => age.of(id) } : {}) });
    // A pod that arrived (or changed) after its processes' resources were read: they are read again.
    opts.pods?.onChange(({ podUid, containerIds }) => {
      const ids = new Set(containerIds);
      this.#cache.invalidate(({ attributes: a }) => ids.has(a['container.id'] as string) || a['k8s.pod.uid'] === podUid);
    });
  }

  /**
   * The resource of the process holding `pid` now (`comm`: the name a kernel event gave it, which
   * prompts a check when it is new for the pid). Never throws: a process already gone gets a
   * minimal resource named after `comm` if known.
   */
  resource(pid: number, comm?: string): ResourceRecord {
    return this.#cache.get(pid, comm);
  }

  /**
   * The resource of a process event's process. Every process on the host produces these events and
   * most never do anything else Lantern sees, so /proc is read only for processes already cached:
   * an exec gets the new program's resource, an exit the resource its exchanges got; others get a
   * minimal one named after the kernel's comm. Either way the cache learns of the exec or exit.
   */
  eventResource(e: ProcessEvent): ResourceRecord {
    if (e.kind === 'exec') this.#cache.noteExec(e.pid);
    else this.#cache.noteExit(e.pid);
    const known = e.kind === 'exec' ? (this.#cache.has(e.pid) ? this.#cache.get(e.pid, e.comm) : undefined) : this.#cache.peek(e.pid);
    return known ?? {
      key: `event:${e.pid}:${e.comm}`,
      attributes: { ...this.opts.base, 'service.name': e.comm, 'process.pid': e.pid },
    };
  }

  /** The process exec'd (or may have): its resource is checked, and read again if so, before its next use. */
  forget(pid: number): void {
    this.#cache.noteExec(pid);
  }

  stats(): { unreadable: number } & PidCacheStats {
    return { ...this.#cache.stats(), unreadable: this.#misses };
  }

  #read(pid: number, identity: ProcessIdentity | null, kernelComm?: string): ResourceRecord {
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
    const container = parseCgroup(read(`${dir}/cgroup`) ?? '');
    const pod = container !== null ? this.opts.pods?.lookup(container) ?? null : null;
    if (exePath === null && env.size === 0) this.#misses++;
    const exeName = exePath !== null ? basename(exePath.replace(/ \(deleted\)$/, '')) : comm ?? `pid-${pid}`;
    const program = programName({ argv0: args[0], comm, executableName: exeName }) ?? exeName;
    const attributes: Attributes = {
      ...this.opts.base,
      'service.name': serviceName({ env: serviceNameFromEnv(env), ...pod, program }),
      'process.pid': pid,
      'process.executable.name': exeName,
    };
    if (exePath !== null) attributes['process.executable.path'] = exePath;
    if (args[0] !== undefined && args[0] !== '') attributes['process.command'] = args[0];
    if (args.length > 0) attributes['process.command_args'] = redactArgs(args, this.opts.redaction);
    Object.assign(attributes, containerAttributes(container), pod?.attributes);
    return { key: resourceKey(pid, identity, attributes), attributes };
  }
}

/**
 * One key per resource (the exporters group and cache by it, histogram series are kept per key):
 * the process (pid and start time) and a digest of what it says, which tells programs the process
 * exec'd apart and stays the same when one program's resource is read again.
 */
function resourceKey(pid: number, identity: ProcessIdentity | null, attributes: Attributes): string {
  const digest = createHash('sha1').update(JSON.stringify(attributes)).digest('hex').slice(0, 12);
  return `${pid}:${identity?.start ?? '?'}:${digest}`;
}
