// One run of the real bpftrace binary: JSON output, the script on its standard input, positional
// parameters as arguments, never a shell. bpftrace is started under `setpriv --pdeathsig KILL`
// where util-linux has it, so the kernel kills it if Lantern dies without stopping it (SIGKILL, a
// crash): no orphan keeps its probes attached.
import { type ChildProcessByStdio, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';

export interface BpftraceProcessOptions {
  /** The bpftrace binary (PATH is searched for a bare name). */
  binary: string;
  source: string;
  /** $1, $2, … */
  positional: string[];
  /** Longest stdout line kept (a map with many keys prints one long line); longer ones are dropped. */
  maxLineBytes: number;
  onLine(line: string): void;
  /** A stdout line longer than maxLineBytes was dropped. */
  onOversizedLine(): void;
}

export interface BpftraceExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** What bpftrace wrote to stderr (its error messages), last 8 KiB, known noise left out. */
  stderr: string;
}

const SETPRIV = '/usr/bin/setpriv';
const STDERR_KEEP = 8192;
/** bpftrace 0.17 prints this on every start where it cannot raise RLIMIT_MEMLOCK, which kernels
 * since 5.11 do not need (BPF memory is charged to the cgroup): not an error worth showing. */
const NOISE = /^ERROR: Unknown error -1: couldn't set RLIMIT_MEMLOCK.*\n?/gm;

export class BpftraceProcess {
  readonly pid: number | undefined;
  readonly exited: Promise<BpftraceExit>;
  readonly #child: ChildProcessByStdio<Writable, Readable, Readable>;
  #stderr = '';

  constructor(o: BpftraceProcessOptions) {
    const args = ['-f', 'json', '-B', 'none', '-', ...o.positional];
    const [cmd, argv] = existsSync(SETPRIV) ? [SETPRIV, ['--pdeathsig', 'KILL', '--', o.binary, ...args]] : [o.binary, args];
    this.#child = spawn(cmd, argv, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.pid = this.#child.pid;
    this.exited = new Promise((resolve) => {
      let spawnError: Error | null = null;
      this.#child.on('error', (e) => {
        spawnError = e;
      });
      this.#child.on('close', (code, signal) => {
        const stderr = spawnError !== null ? `cannot run ${o.binary}: ${spawnError.message}` : this.#stderr.replace(NOISE, '').trim();
        resolve({ code, signal, stderr });
      });
    });
    this.#child.stdin.on('error', () => undefined); // bpftrace gone before reading its script: seen at exit
    this.#child.stdin.end(o.source);
    this.#child.stderr.setEncoding('utf8');
    this.#child.stderr.on('data', (s: string) => {
      this.#stderr = (this.#stderr + s).slice(-STDERR_KEEP);
    });
    splitLines(this.#child.stdout, o.maxLineBytes, o.onLine, o.onOversizedLine);
  }

  /** SIGINT lets bpftrace print its maps and detach; `kill('SIGKILL')` when it does not. */
  kill(signal: NodeJS.Signals): void {
    try {
      this.#child.kill(signal);
    } catch {
      // already gone
    }
  }
}

/** Lines of a byte stream, each at most `max` bytes: a longer line is skipped up to its newline. */
function splitLines(stream: Readable, max: number, onLine: (line: string) => void, onOversized: () => void): void {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let skipping = false;
  stream.on('data', (chunk: Buffer) => {
    let start = 0;
    for (let nl = chunk.indexOf(10, start); nl !== -1; nl = chunk.indexOf(10, start)) {
      if (!skipping && pendingBytes + nl - start <= max) {
        const line = pending.length === 0 ? chunk.subarray(start, nl) : Buffer.concat([...pending, chunk.subarray(start, nl)]);
        if (line.length > 0) onLine(line.toString('utf8'));
      } else if (!skipping) onOversized();
      pending = [];
      pendingBytes = 0;
      skipping = false;
      start = nl + 1;
    }
    if (start < chunk.length && !skipping) {
      pendingBytes += chunk.length - start;
      if (pendingBytes > max) {
        skipping = true;
        pending = [];
        pendingBytes = 0;
        onOversized();
      } else pending.push(chunk.subarray(start));
    }
  });
}
