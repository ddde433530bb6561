// Runs the real `lantern` CLI as a child process and collects what it says.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { launcherNodeOptions } from '../../src/agent/heap-tuning.js';

export const repoRoot = fileURLToPath(new URL(import.meta.url.includes('/dist/') ? '../../../' : '../../', import.meta.url));
export const lanternBin = `${repoRoot}bin/lantern.js`;
/** The V8 options the launcher's `#!` line gives node: the tests run the agent as users do. */
export const lanternNodeOptions = launcherNodeOptions(readFileSync(lanternBin, 'utf8'));

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunningCli {
  child: ChildProcess;
  /** Resolves once stderr contains `text` (or rejects after `ms`). */
  waitForStderr(text: string | RegExp, ms?: number): Promise<void>;
  done: Promise<CliResult>;
}

export function startCli(args: string[], opts: { env?: NodeJS.ProcessEnv; prefix?: string[]; node?: string } = {}): RunningCli {
  const cmd = opts.prefix ?? [];
  const node = opts.node ?? process.execPath;
  const child = spawn(cmd[0] ?? node, [...cmd.slice(1), ...(cmd.length > 0 ? [node] : []), ...lanternNodeOptions, lanternBin, ...args], {
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = once(child, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null, stdout, stderr }));
  const waitForStderr = async (text: string | RegExp, ms = 15_000): Promise<void> => {
    const until = Date.now() + ms;
    const seen = (): boolean => (typeof text === 'string' ? stderr.includes(text) : text.test(stderr));
    while (!seen()) {
      if (Date.now() > until || child.exitCode !== null) throw new Error(`lantern never said ${String(text)}; stderr:\n${stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  return { child, waitForStderr, done };
}

export async function runCli(args: string[], opts: { env?: NodeJS.ProcessEnv; prefix?: string[] } = {}): Promise<CliResult> {
  return startCli(args, opts).done;
}

/** The log records of an --otlp-file (lines of other signals are skipped). */
export function logRecords(fileText: string): Array<{ resource: Record<string, unknown>; record: Record<string, unknown>; attrs: Record<string, unknown> }> {
  const out: Array<{ resource: Record<string, unknown>; record: Record<string, unknown>; attrs: Record<string, unknown> }> = [];
  const flat = (kvs: Array<{ key: string; value: Record<string, unknown> }>): Record<string, unknown> =>
    Object.fromEntries(kvs.map((kv) => [kv.key, Object.values(kv.value)[0]]));
  for (const line of fileText.split('\n').filter((l) => l !== '')) {
    const req = JSON.parse(line) as { resourceLogs?: Array<{ resource: { attributes: never[] }; scopeLogs: Array<{ logRecords: Array<Record<string, unknown> & { attributes: never[] }> }> }> };
    // The file also holds spans and metrics (one request per line, of any signal).
    for (const rl of req.resourceLogs ?? []) {
      for (const sl of rl.scopeLogs) for (const r of sl.logRecords) out.push({ resource: flat(rl.resource.attributes), record: r, attrs: flat(r.attributes) });
    }
  }
  return out;
}
