// `lantern run` as a benchmark starts it: a child process whose stderr is kept, ready once it says
// `ready`, stopped with SIGTERM (as a user stops it) and waited for.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { launcherNodeOptions } from '../src/agent/heap-tuning.js';

const LANTERN = join(fileURLToPath(new URL('../../', import.meta.url)), 'bin/lantern.js');

/**
 * Node's arguments that start `lantern` (a tree's bin/lantern.js) with `run ARGS` as the launcher's
 * `#!` line starts it (with the V8 options it gives node), then `nodeArgs` (a profiler's, or a
 * setting compared: of two values of one V8 option the later wins): the agent as users run it, and a
 * baseline tree's as its own launcher ran it.
 */
export function agentNodeArgs(lantern: string, args: readonly string[], nodeArgs: readonly string[] = []): string[] {
  return [...launcherNodeOptions(readFileSync(lantern, 'utf8')), ...nodeArgs, lantern, 'run', ...args];
}

/** A checkout whose agent a benchmark runs: its name in the tables and its bin/lantern.js. */
export interface AgentTree {
  label: string;
  lantern: string;
}

/** parseArgs options of a benchmark that may run a baseline checkout's agent beside this one's. */
export const BASELINE_OPTIONS = {
  baseline: { type: 'string' },
  'baseline-label': { type: 'string', default: 'baseline' },
} as const;

/** This checkout's agent, named `label`. */
export function thisTree(label: string): AgentTree {
  return { label, lantern: LANTERN };
}

/** The trees a run measures, alternating: the baseline checkout's first when one is given, then `self`. */
export function treesToMeasure(self: AgentTree, baseline: string | undefined, baselineLabel: string): AgentTree[] {
  return baseline === undefined ? [self] : [{ label: baselineLabel, lantern: join(baseline, 'bin/lantern.js') }, self];
}

/**
 * The command line of a benchmark that loads nginx in rounds, this checkout's agent against an optional
 * baseline's: `--rate` (default 10,000 req/s), `--seconds` per load, `--rounds` (default 3) and BASELINE_OPTIONS,
 * plus the benchmark's own string options `more` (name → default), whose values come back in `more`, and
 * its boolean options `flags`, in `flags`.
 */
export function roundsOptions(defaultSeconds: number, more: Readonly<Record<string, string>> = {}, flags: readonly string[] = []): {
  rate: number; seconds: number; rounds: number; trees: AgentTree[]; more: Record<string, string>; flags: Record<string, boolean>;
} {
  const own = Object.fromEntries(Object.entries(more).map(([name, value]) => [name, { type: 'string' as const, default: value }]));
  const switches = Object.fromEntries(flags.map((name) => [name, { type: 'boolean' as const, default: false }]));
  const { values } = parseArgs({ options: {
    rate: { type: 'string', default: '10000' },
    seconds: { type: 'string', default: String(defaultSeconds) },
    rounds: { type: 'string', default: '3' },
    ...BASELINE_OPTIONS,
    ...own,
    ...switches,
  } });
  const given = values as Record<string, string | boolean | undefined>;
  return {
    rate: Number(values.rate), seconds: Number(values.seconds), rounds: Number(values.rounds),
    trees: treesToMeasure(thisTree('this checkout'), values.baseline, values['baseline-label']),
    more: Object.fromEntries(Object.keys(more).map((name) => [name, (given[name] as string | undefined) ?? more[name]!])),
    flags: Object.fromEntries(flags.map((name) => [name, given[name] === true])),
  };
}

/** The figures of the summary the agent logs at its stop (JSON log), by section. */
export interface StopSummary {
  collectors?: Record<string, Record<string, number>>;
  pipeline?: Record<string, number>;
  process?: Record<string, number>;
}

/** The summary of the agent's `stopped` line in its JSON log (throws when it logged none). */
export function stopSummary(log: string): StopSummary {
  const line = log.split('\n').find((l) => l.includes('"msg":"stopped"'));
  if (line === undefined) throw new Error(`the agent logged no summary at its stop:\n${log.slice(-2000)}`);
  return (JSON.parse(line) as { summary?: StopSummary }).summary ?? {};
}

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
  const child = spawn(process.execPath, agentNodeArgs(lantern, args, nodeArgs), { stdio: ['ignore', 'ignore', 'pipe'] });
  // 'close' comes after 'exit', once its stderr is read to the end (the summary logged at its stop is the last line).
  const closed = once(child, 'close').then(() => undefined, () => undefined);
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
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await closed;
    },
  };
}
