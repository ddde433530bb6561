// Pure parsers for /proc/<pid>/* files.
import { parseCgroup } from './cgroup.js';
import { identityFromStat } from './process-identity.js';

/** NUL-separated KEY=VALUE pairs of /proc/<pid>/environ. */
export function parseEnviron(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const entry of text.split('\0')) {
    const eq = entry.indexOf('=');
    if (eq > 0) out.set(entry.slice(0, eq), entry.slice(eq + 1));
  }
  return out;
}

/** NUL-separated argv of /proc/<pid>/cmdline. */
export function parseCmdline(text: string): string[] {
  const args = text.split('\0');
  // Programs that rewrite their title (nginx, postgres) leave their old argv area as NULs.
  while (args.length > 0 && args.at(-1) === '') args.pop();
  return args;
}

/** The container id in /proc/<pid>/cgroup (cgroup.ts says which runtimes, and how). */
export function containerIdFromCgroup(text: string): string | null {
  return parseCgroup(text)?.id ?? null;
}

/** Field 22 of /proc/<pid>/stat (start time in clock ticks); the comm field may contain spaces and ')'. */
export function startTimeFromStat(text: string): string | null {
  return identityFromStat(text)?.start ?? null;
}

/** service.name from OTEL_SERVICE_NAME, else from service.name in OTEL_RESOURCE_ATTRIBUTES. */
export function serviceNameFromEnv(env: Map<string, string>): string | null {
  const direct = env.get('OTEL_SERVICE_NAME')?.trim();
  if (direct) return direct;
  const attrs = env.get('OTEL_RESOURCE_ATTRIBUTES') ?? '';
  for (const part of attrs.split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === 'service.name') {
      try {
        const v = decodeURIComponent(part.slice(eq + 1).trim());
        if (v) return v;
      } catch {
        // not percent-encoded properly: ignore, as the SDKs do
      }
    }
  }
  return null;
}

/** One line of /proc/<pid>/maps. */
export interface MemoryMapping {
  start: bigint;
  end: bigint;
  /** "r-xp" */
  perms: string;
  /** Offset in the file of the mapping's first byte. */
  offset: number;
  /** "fd:01" major:minor in hex, as the kernel prints it. */
  dev: string;
  inode: number;
  /** File path, "[vdso]"/"[heap]"/..., or "" for anonymous memory; " (deleted)" stripped. */
  path: string;
  deleted: boolean;
}

/** Parses /proc/<pid>/maps; malformed lines are skipped (the file can change while it is read). */
export function parseProcMaps(text: string): MemoryMapping[] {
  const out: MemoryMapping[] = [];
  for (const line of text.split('\n')) {
    // start-end perms offset dev inode [path]; the path may contain spaces.
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) ([0-9a-f]+) ([0-9a-f]+:[0-9a-f]+) (\d+)\s*(.*)$/.exec(line);
    if (m === null) continue;
    let path = m[7]!;
    const deleted = path.endsWith(' (deleted)');
    if (deleted) path = path.slice(0, -' (deleted)'.length);
    out.push({
      start: BigInt(`0x${m[1]!}`), end: BigInt(`0x${m[2]!}`), perms: m[3]!, offset: parseInt(m[4]!, 16),
      dev: m[5]!, inode: Number(m[6]!), path, deleted,
    });
  }
  return out;
}
