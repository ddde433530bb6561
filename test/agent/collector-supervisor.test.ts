// Collector isolation: one collector failing — at start, or later through reportFailure — does not
// stop the others; it is restarted with exponential backoff (1 s doubling to 60 s by default), each
// failure logged and counted (collectors.<name>.restarts, .failures, .state).
import t from 'tap';
import { Agent, flattenSummary } from '../../src/agent/agent.js';
import { DEFAULT_SUPERVISOR_BACKOFF, STATE_CODES, SupervisedCollector } from '../../src/agent/collector-supervisor.js';
import type { Collector, CollectorContext } from '../../src/collectors/collector.js';
import { loadConfig } from '../../src/config/load.js';
import { Logger } from '../../src/log.js';

class FakeCollector implements Collector {
  started = false;
  stopped = false;
  ctx: CollectorContext | null = null;
  constructor(readonly name: string, private readonly failStart: Error | null) {}
  async start(ctx: CollectorContext): Promise<void> {
    if (this.failStart !== null) throw this.failStart;
    this.ctx = ctx;
    this.started = true;
  }
  async stop(): Promise<void> {
    this.stopped = true;
  }
  stats(): Record<string, number> {
    return { events: this.started ? 1 : 0 };
  }
}

function memoryLog(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return { log: new Logger('info', true, { write: (l: string) => lines.push(l) }), lines };
}

t.test('defaults: 1 s doubling to 60 s', async (t) => {
  t.equal(DEFAULT_SUPERVISOR_BACKOFF.initialMs, 1000);
  t.equal(DEFAULT_SUPERVISOR_BACKOFF.maxMs, 60_000);
});

t.test('a collector failing at start is restarted with doubling delays, the others run', async (t) => {
  const config = loadConfig({ collectors: 'process,sockets', port: '0', nice: '0' }, {});
  delete config.server.tokenFile;
  const { log, lines } = memoryLog();
  const made: Record<string, FakeCollector[]> = { process: [], sockets: [] };
  const startTimes: number[] = [];
  // sockets: its BPF object "fails to load" 4 times, then works.
  const agent = new Agent(config, log, {
    supervisorBackoff: { initialMs: 100, maxMs: 400 },
    createCollector: (name) => {
      if (name === 'sockets') startTimes.push(Date.now());
      const fail = name === 'sockets' && made.sockets!.length < 4 ? new Error('bpf_object__load: Invalid argument (-22)') : null;
      const c = new FakeCollector(name, fail);
      made[name]?.push(c);
      return c;
    },
  });
  await agent.start();
  t.teardown(() => agent.stop());
  t.ok(made.process![0]!.started, 'process started although sockets failed');
  let s = flattenSummary(agent.summary());
  t.equal(s['collectors.sockets.failures'], 1, 'the failure is counted');
  t.equal(s['collectors.sockets.state'], STATE_CODES.backoff, 'sockets is backing off');
  t.equal(s['collectors.process.state'], STATE_CODES.running);
  t.match(lines.join('\n'), /collector failed to start.*sockets.*Invalid argument/, 'the failure is logged with its reason');
  const until = Date.now() + 5000;
  while (flattenSummary(agent.summary())['collectors.sockets.state'] !== STATE_CODES.running && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
  s = flattenSummary(agent.summary());
  t.equal(s['collectors.sockets.state'], STATE_CODES.running, 'sockets runs after its restarts');
  t.equal(s['collectors.sockets.restarts'], 4);
  t.equal(s['collectors.sockets.failures'], 4);
  t.equal(s['collectors.sockets.events'], 1, 'the running instance\'s own counters');
  const gaps = startTimes.slice(1).map((v, i) => v - startTimes[i]!);
  // 100, 200, 400, 400 (capped): each within timer slack.
  for (const [i, want] of [100, 200, 400, 400].entries()) t.ok(gaps[i]! >= want - 5 && gaps[i]! < want + 150, `delay ${i + 1} ≈ ${want} ms (${gaps[i]})`);
  t.ok(made.sockets!.slice(0, 4).every((c) => c.stopped), 'each failed instance was stopped (half-loaded state released)');
  t.notOk(made.process![0]!.stopped, 'process never stopped meanwhile');
  await agent.stop();
  t.ok(made.sockets![4]!.stopped && made.process![0]!.stopped, 'stop stops them all');
});

t.test('a collector failing while running (reportFailure) is stopped and restarted; repeated reports count once', async (t) => {
  const { log, lines } = memoryLog();
  const made: FakeCollector[] = [];
  const s = new SupervisedCollector({
    name: 'dynlog', log, backoff: { initialMs: 50, maxMs: 1000 },
    ctx: {} as CollectorContext,
    create: () => {
      const c = new FakeCollector('dynlog', null);
      made.push(c);
      return c;
    },
  });
  t.ok(await s.start());
  const first = made[0]!;
  first.ctx!.reportFailure!(new Error('consumer failed 100 times in a row'));
  first.ctx!.reportFailure!(new Error('again'));
  await new Promise((r) => setTimeout(r, 10));
  t.ok(first.stopped, 'the failing instance is stopped');
  t.equal(s.state, 'backoff');
  t.equal(s.stats().failures, 1, 'one failure for repeated reports');
  await new Promise((r) => setTimeout(r, 100));
  t.equal(s.state, 'running');
  t.equal(made.length, 2, 'a new instance');
  first.ctx!.reportFailure!(new Error('late report of the old instance'));
  t.equal(s.state, 'running', 'a report from a replaced instance is ignored');
  t.match(lines.join('\n'), /collector failed while running.*consumer failed 100 times/);
  await s.stop();
  t.equal(s.stats().state, STATE_CODES.stopped);
});

t.test('stop during the backoff: no restart afterwards', async (t) => {
  const made: FakeCollector[] = [];
  const s = new SupervisedCollector({
    name: 'process', log: memoryLog().log, backoff: { initialMs: 30 }, ctx: {} as CollectorContext,
    create: () => {
      const c = new FakeCollector('process', new Error('no'));
      made.push(c);
      return c;
    },
  });
  t.notOk(await s.start());
  await s.stop();
  await new Promise((r) => setTimeout(r, 100));
  t.equal(made.length, 1, 'no restart after stop');
  t.equal(s.state, 'stopped');
});

t.test('every collector failing at start: the agent does not start, and says why', async (t) => {
  const config = loadConfig({ collectors: 'process', port: '0', nice: '0' }, {});
  delete config.server.tokenFile;
  const agent = new Agent(config, memoryLog().log, { createCollector: (name) => new FakeCollector(name, new Error('missing BTF')) });
  await t.rejects(agent.start(), { code: 'LANTERN_ERR_COLLECTOR', message: /collector process: missing BTF/ });
});
