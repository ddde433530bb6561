// Runs the real agent in the test process, scoped to this process's children (and any pids given,
// or those only), and collects the spans it produces.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, type AgentSummary } from '../../src/agent/agent.js';
import { loadConfig } from '../../src/config/load.js';
import { DEFAULT_TOKEN_FILE } from '../../src/config/schema.js';
import { Logger } from '../../src/log.js';
import type { HistogramPoint, SpanRecord } from '../../src/model/span.js';

export interface TestAgent {
  agent: Agent;
  spans: SpanRecord[];
  histograms: HistogramPoint[];
  log: string[];
  /** Where this agent wrote its control API token (a private file unless the configuration names one). */
  tokenFile: string | undefined;
  /** Waits until `count` spans match (or `ms` pass) and returns the matching ones. */
  waitForSpans(match: (s: SpanRecord) => boolean, count: number, ms?: number): Promise<SpanRecord[]>;
  stop(): Promise<AgentSummary>;
}

export interface TestAgentOptions {
  /** Traced besides this process's descendants (e.g. servers started before the agent). */
  pids?: number[];
  /** Trace `pids` only, not this process and its descendants (clients the test runs are then not traced). */
  pidsOnly?: boolean;
  collectors?: string;
  env?: NodeJS.ProcessEnv;
  otlpFile?: string;
  /** A YAML configuration file (profiler settings...). */
  configFile?: string;
}

export async function startTestAgent(opts: TestAgentOptions = {}): Promise<TestAgent> {
  const log: string[] = [];
  const config = loadConfig({
    pids: [...(opts.pidsOnly === true ? [] : [process.pid]), ...(opts.pids ?? [])].map(String),
    collectors: opts.collectors ?? 'sockets',
    port: '0',
    otlpFile: opts.otlpFile,
    config: opts.configFile,
    // The agent runs inside the test's process: it does not lower that process's priority (the
    // priority's own tests: test/agent/cpu-priority.test.ts; `lantern run` children keep the default).
    nice: '0',
  }, opts.env ?? {});
  // Tests run side by side: each agent gets its own token file, not the host's /run/lantern/token.
  let tokenDir: string | undefined;
  if (config.server.tokenFile === DEFAULT_TOKEN_FILE) {
    tokenDir = mkdtempSync(join(tmpdir(), 'lantern-token-'));
    config.server.tokenFile = join(tokenDir, 'token');
  }
  const agent = new Agent(config, new Logger((process.env.DBG ? 'debug' : 'info'), false, { write: (l: string) => log.push(l) }));
  const spans: SpanRecord[] = [];
  const histograms: HistogramPoint[] = [];
  // A loop, not push(...s): a spread of a large batch exceeds the call stack.
  agent.addTelemetrySink({ spans: (s) => { for (const x of s) spans.push(x); }, histograms: (p) => { for (const x of p) histograms.push(x); } });
  await agent.start();
  return {
    agent,
    spans,
    histograms,
    log,
    tokenFile: config.server.tokenFile,
    async waitForSpans(match, count, ms = 10_000) {
      const until = Date.now() + ms;
      while (spans.filter(match).length < count && Date.now() < until) await new Promise((r) => setTimeout(r, 25));
      return spans.filter(match);
    },
    async stop() {
      const summary = await agent.stop();
      if (tokenDir !== undefined) rmSync(tokenDir, { recursive: true, force: true });
      return summary;
    },
  };
}

/** Attribute lookup that reads well in assertions. */
export function attr(s: SpanRecord | undefined, key: string): unknown {
  return s?.attributes[key];
}
