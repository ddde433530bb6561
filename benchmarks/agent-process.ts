// `lantern run` as a benchmark starts it: a child process whose stderr is kept, ready once it says
// `ready`, stopped with SIGTERM (as a user stops it) and waited for.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const LANTERN = join(fileURLToPath(new URL('../../', import.meta.url)), 'bin/lantern.js');

export interface AgentProcess {
  child: ChildProcess;
  pid: number;
  stderr(): string;
  stop(): Promise<void>;
}

/**
 * Starts `lantern run ARGS` and resolves once its log contains `ready` (throws if it exits or takes
 * over `timeoutMs`). `lantern`: another tree's bin/lantern.js (a baseline build), default this one's;
 * `nodeArgs`: Node's own options (a profiler's).
 */
export async function startAgentProcess(args: string[], ready: string, timeoutMs = 30_000, lantern = LANTERN, nodeArgs: readonly string[] = []): Promise<AgentProcess> {
  const child = spawn(process.execPath, [...nodeArgs, lantern, 'run', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const until = Date.now() + timeoutMs;
  while (!err.includes(ready)) {
    if (child.exitCode !== null || Date.now() > until) throw new Error(`the agent did not start:\n${err}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    child,
    pid: child.pid!,
    stderr: () => err,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}
