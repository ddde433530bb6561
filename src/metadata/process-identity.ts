// Which run of which program a pid is right now, from one read of /proc/<pid>/stat (proc(5)):
// - the start time (field 22, clock ticks after boot) tells a new process from a dead one whose pid
//   was reused;
// - where exec(2) put the program (start of code, end of code, start of stack: fields 26, 27, 28)
//   tells a new program from the old one in the same process. Every exec maps a new image: with
//   address-space randomisation (the default) all three move, and without it two programs still
//   differ in the extent of their code. The kernel shows them only to those who may ptrace the
//   process ("1 1 0" otherwise) and a zombie has no memory ("0 0 0"): the image is unknown then.
// - comm (field 2), the kernel's name for it, changed by exec and by prctl(PR_SET_NAME).
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';

export interface ProcessIdentity {
  /** Start time in clock ticks since boot, as the kernel prints it. */
  start: string;
  /** "startcode:endcode:startstack", or null when the kernel does not show them. */
  image: string | null;
  comm: string;
}

/** Parses /proc/<pid>/stat; null when it is not one. comm may contain spaces and ')'. */
export function identityFromStat(text: string): ProcessIdentity | null {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return null;
  // fields[0] is field 3 (state): field n is fields[n - 3].
  const fields = text.slice(close + 2).split(' ');
  const start = fields[19];
  if (start === undefined || !/^\d+$/.test(start)) return null;
  const code = fields[23];
  const codeEnd = fields[24];
  const stack = fields[25];
  const shown = code !== undefined && codeEnd !== undefined && stack !== undefined && /^\d+$/.test(code) && Number(code) > 1;
  return { start, image: shown ? `${code}:${codeEnd}:${stack}` : null, comm: text.slice(open + 1, close) };
}

/** Two identities are one run of one program (an unknown image never says otherwise). */
export function sameProgram(a: ProcessIdentity, b: ProcessIdentity): boolean {
  return a.start === b.start && (a.image === null || b.image === null || a.image === b.image);
}

/**
 * Reads identities with one buffer and no exceptions on the way: validation runs on lookups of
 * busy processes, so it is an open, one read and a close (a few microseconds).
 */
export class IdentityReader {
  // The stat line is at most ~400 bytes even with a 64-byte comm.
  readonly #buf = Buffer.allocUnsafe(1024);

  constructor(private readonly procRoot = '/proc') {}

  /** null: the process is gone (or /proc is not readable). */
  read(pid: number): ProcessIdentity | null {
    let fd: number;
    try {
      fd = openSync(`${this.procRoot}/${pid}/stat`, 'r');
    } catch {
      return null;
    }
    try {
      const n = readSync(fd, this.#buf, 0, this.#buf.length, 0);
      return identityFromStat(this.#buf.toString('utf8', 0, n));
    } catch {
      // ESRCH: it exited between open and read
      return null;
    } finally {
      closeSync(fd);
    }
  }
}

/** Clock ticks per second of /proc/<pid>/stat's times: USER_HZ, 100 in every Linux architecture's ABI. */
const USER_HZ = 100;

/**
 * How old a process is, from its start time: milliseconds since boot (what the start times count)
 * from /proc/uptime read once, advanced by the monotonic clock. Where /proc/uptime is not the
 * host's (lxcfs shows a container's own) the agent's own process would seem to start in the
 * future: ages are unknown (null) then.
 */
export class ProcessAge {
  readonly #bootOffsetMs: number | null;
  readonly #now: () => number;

  constructor(procRoot = '/proc', now: () => number = () => performance.now()) {
    this.#now = now;
    let offset: number | null = null;
    try {
      const uptimeMs = Number.parseFloat(readFileSync(`${procRoot}/uptime`, 'utf8')) * 1000;
      const own = new IdentityReader(procRoot).read(process.pid);
      if (Number.isFinite(uptimeMs) && own !== null && Number(own.start) * (1000 / USER_HZ) <= uptimeMs + 1000) offset = uptimeMs - now();
    } catch {
      // no /proc/uptime: ages unknown
    }
    this.#bootOffsetMs = offset;
  }

  /** ms since the process of `identity` started; null when unknown. */
  of(identity: ProcessIdentity): number | null {
    if (this.#bootOffsetMs === null) return null;
    return Math.max(0, this.#now() + this.#bootOffsetMs - Number(identity.start) * (1000 / USER_HZ));
  }
}
