// What the end-to-end benchmarks share: benchmarks/loadgen (Go) built once per source and cached,
// its JSON result, and the commit the figures come from.
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startNginx } from '../test/helpers/nginx.js';
import { machine } from './stats.js';

const execFileP = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const LOADGEN_SRC = join(ROOT, 'benchmarks/loadgen');

/** benchmarks/loadgen built (cached by a hash of its sources, like the test tools); its path. */
export function buildLoadgen(): string {
  const hash = createHash('sha256');
  for (const f of readdirSync(LOADGEN_SRC).sort()) hash.update(f).update(readFileSync(join(LOADGEN_SRC, f)));
  const cache = process.env.LANTERN_TOOLS_CACHE ?? '/var/cache/lantern-test-tools';
  mkdirSync(cache, { recursive: true });
  const out = join(cache, `loadgen-${hash.digest('hex').slice(0, 16)}`);
  if (existsSync(out)) return out;
  const tmp = `${out}.tmp${process.pid}`;
  const env = { ...process.env, PATH: `${process.env.PATH}:/usr/local/go/bin`, CGO_ENABLED: '0', GOFLAGS: '-mod=mod' };
  execFileSync('go', ['build', '-o', tmp, '.'], { cwd: LOADGEN_SRC, env, stdio: ['ignore', 'inherit', 'inherit'] });
  renameSync(tmp, out);
  return out;
}

/** What loadgen prints (one JSON object) when its run ends. */
export interface LoadResult {
  target_rate: number;
  connections: number;
  sent: number;
  count: number;
  errors: number;
  non_200: number;
  elapsed_s: number;
  rate: number;
  p50_us: number;
  p99_us: number;
  sched_p99_us: number;
  late_over_1ms_pct: number;
  cpu_user_s: number;
  cpu_sys_s: number;
  reconnects: number;
  /** Negotiated version and cipher suite (with -tls). */
  tls?: string;
  first_error?: string;
}

/** loadgen's arguments for `rate` req/s of GET `path` at `addr` (host:port) for `seconds`, over `connections` keep-alive connections. */
export function fixedRateArgs(addr: string, path: string, rate: number, seconds: number, connections = 10): string[] {
  return ['-addr', addr, '-path', path, '-rate', String(rate), '-c', String(connections), '-d', `${seconds}s`];
}

export async function runLoadgen(bin: string, args: string[]): Promise<LoadResult> {
  const { stdout } = await execFileP(bin, args, { maxBuffer: 1 << 20 });
  return JSON.parse(stdout) as LoadResult;
}

/** The short commit of `root`, or a note that the agent's sources differ from it: figures are recorded from a committed state. */
export function committedState(root: string): string {
  try {
    const head = execFileSync('git', ['-C', root, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['-C', root, 'status', '--porcelain', '--', 'src', 'bpf', 'packages', 'bin'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return dirty === '' ? head : `${head} with uncommitted changes to the agent`;
  } catch {
    return 'unknown (not a git checkout)';
  }
}

/** Where a steady-load benchmark runs: loadgen built, a scratch directory, nginx answering `path`. */
export interface LoadTarget {
  loadgen: string;
  dir: string;
  nginxPort: number;
}

/** Runs `fn` against nginx answering GET `path` with 200 "ok" (as root), then removes everything. */
export async function withLoadTarget<T>(path: string, fn: (t: LoadTarget) => Promise<T>): Promise<T> {
  const loadgen = buildLoadgen();
  return withNginx(path, ({ dir, nginxPort }) => fn({ loadgen, dir, nginxPort }));
}

/** The same without loadgen (a benchmark that loads nginx with wrk). */
export async function withNginx<T>(path: string, fn: (t: Omit<LoadTarget, 'loadgen'>) => Promise<T>): Promise<T> {
  if (process.getuid?.() !== 0) throw new Error('run as root: the agent loads BPF programs');
  const dir = mkdtempSync(join(os.tmpdir(), 'lantern-bench-'));
  const nginx = await startNginx({ locations: `location = ${path} { return 200 "ok\\n"; }` });
  try {
    return await fn({ dir, nginxPort: nginx.port });
  } finally {
    await nginx.stop();
    rmSync(dirname(nginx.root), { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface WrkResult {
  rate: number;
  requests: number;
  errors: string | null;
}

/** `wrk -t1 -c16 -dSECONDS URL`: one thread, 16 keep-alive connections, as fast as they answer. */
export async function wrk(url: string, seconds: number): Promise<WrkResult> {
  const { stdout } = await execFileP('wrk', ['-t1', '-c16', `-d${seconds}s`, url]);
  const rate = /Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1];
  const requests = /(\d+) requests in/.exec(stdout)?.[1];
  if (rate === undefined || requests === undefined) throw new Error(`unexpected wrk output:\n${stdout}`);
  const errors = /Socket errors:.*|Non-2xx.*/.exec(stdout)?.[0] ?? null;
  return { rate: Number(rate), requests: Number(requests), errors };
}

/** How this benchmark was started, as RESULTS.md records it (`script`: its path when argv lacks one). */
export function benchCommand(script: string): string {
  return ['node', relative(ROOT, process.argv[1] ?? script), ...process.argv.slice(2)].join(' ');
}

/**
 * What a RESULTS.md section opens with: the heading, the command, the date, the commit and the
 * machine, then `more` lines of the same block (each line but the last ends in a Markdown break).
 */
export function sectionPreamble(heading: string, command: string, more: readonly string[] = []): string[] {
  const block = [
    `Command: \`${command}\` (as root, after \`npm run build\`)`,
    `Date: ${new Date().toISOString().slice(0, 10)}`,
    `Commit: ${committedState(ROOT)}`,
    `Machine: ${machine()}`,
    ...more,
  ];
  return [heading, '', ...block.map((l, i) => (i < block.length - 1 ? `${l}  ` : l)), ''];
}

/** Runs a benchmark's `main`, printing its failure and exiting 1 (a half-written section is never recorded). */
export function runBenchmark(main: () => Promise<void>): void {
  main().catch((e: unknown) => {
    process.stderr.write(`${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
    process.exit(1);
  });
}
