// The name a process goes by: the program it was started as. Pure.
//
// Three sources, and what each says:
// - /proc/<pid>/exe: the file mapped, after symlinks. Debian's /usr/bin/redis-server is a symlink
//   to redis-check-rdb (one binary, two behaviours chosen by argv[0]), python3 one to python3.11,
//   busybox serves sh, ls and the rest: the file is not the program the user started.
// - comm: what the kernel named the process at exec — the last component of the path given to
//   execve(2), before symlinks, cut to 15 bytes (TASK_COMM_LEN 16). For a script it is the
//   script's name ("myscript", not "python3"). A program may rename itself (prctl PR_SET_NAME).
// - argv[0]: what the starter passed, whole ("redis-server", "/usr/local/bin/kube-controller-manager",
//   "-bash" for a login shell). Programs that rewrite their title rewrite it too ("nginx: master
//   process /usr/sbin/nginx", "postgres: 16/main: checkpointer", "/usr/bin/redis-server 127.0.0.1:6379").
//   For a script it is the interpreter ("/usr/bin/python3"), and `exec -a name` can make it anything.
//
// So argv[0]'s program name is taken when comm confirms it — equal, or comm is its 15-byte cut —
// which rejects interpreters of scripts, arbitrary `exec -a` names and titles that no longer name
// the program; else comm; else the executable's name.

/** TASK_COMM_LEN - 1: the kernel keeps this many bytes of a name. */
const COMM_BYTES = 15;

/** The program an argv[0] names: its first word if it is a rewritten title, basename, without a login shell's '-'. */
export function argv0Program(argv0: string): string {
  let s = argv0.trim();
  // "nginx: master process …", "/usr/bin/redis-server 127.0.0.1:6379": the first word is the program.
  const space = s.search(/\s/);
  if (space >= 0) s = s.slice(0, space);
  if (s.endsWith(':')) s = s.slice(0, -1);
  s = s.slice(s.lastIndexOf('/') + 1);
  if (s.startsWith('-')) s = s.slice(1);
  return s;
}

/** Does the kernel's comm confirm that `name` is the program's name? */
function commConfirms(name: string, comm: string): boolean {
  if (name === comm) return true;
  // The kernel cuts at 15 bytes, not characters (a cut character reads back as U+FFFD either way).
  const bytes = Buffer.from(name);
  return bytes.length > COMM_BYTES && bytes.subarray(0, COMM_BYTES).toString() === comm;
}

export interface ProgramNameSources {
  /** The first string of /proc/<pid>/cmdline. */
  argv0?: string | undefined;
  /** /proc/<pid>/comm, or the comm a kernel event carried. */
  comm?: string | null | undefined;
  /** The basename of /proc/<pid>/exe's target. */
  executableName?: string | null | undefined;
}

/** The program's name (see the top of this file), null when nothing names it. */
export function programName(src: ProgramNameSources): string | null {
  const comm = src.comm != null && src.comm !== '' ? src.comm : null;
  const fromArgv = src.argv0 !== undefined ? argv0Program(src.argv0) : '';
  if (fromArgv !== '') {
    if (comm !== null ? commConfirms(fromArgv, comm) : fromArgv === src.executableName) return fromArgv;
  }
  return comm ?? (src.executableName != null && src.executableName !== '' ? src.executableName : null);
}
