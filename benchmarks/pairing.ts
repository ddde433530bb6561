// What the kernel-side HTTP/1 pairing (bpf/include/pairing.h) saves, end to end: one nginx
// (worker_processes 1, `return 200`), a fixed-rate keep-alive load from benchmarks/loadgen, and the
// sockets collector in this process tracing nginx's pids, with pairing off and on, alternating
// (A B A B …). Per phase: records the ring buffer carried per exchange, this process's CPU per
// exchange (the ring-buffer consumer thread, decode, tracker, HTTP/1 parser: no span export), and
// nginx's CPU per request (the BPF programs run in its syscalls and are charged to its system time).
//
//   node dist/benchmarks/pairing.js [--rate N] [--seconds S] [--pairs N]
//
// Needs root (BPF), nginx and Go (loadgen). Prints its figures; it writes nothing to RESULTS.md.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { SocketsCollector } from '../src/collectors/sockets/collector.js';
import { loadConfig } from '../src/config/load.js';
import { Logger } from '../src/log.js';
import { ProcessMetadata } from '../src/metadata/process-metadata.js';
import { KernelClock } from '../src/model/clock.js';
import { protocolHandlers } from '../src/protocols/registry.js';
import { startNginx } from '../test/helpers/nginx.js';
import { buildLoadgen, fixedRateArgs, runLoadgen } from './loadgen-tool.js';
import { median } from './stats.js';

const PATH = '/lantern-bench';

/** utime + stime of a process, in seconds. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // clock ticks (USER_HZ 100)
}

interface Phase { paired: boolean; requests: number; exchanges: number; recordsPerExchange: number; agentUs: number; nginxUs: number; pairedRecords: number }

async function phase(paired: boolean, pids: number[], addr: string, rate: number, seconds: number, loadgen: string): Promise<Phase> {
  const config = loadConfig({ pids: pids.map(String), collectors: 'sockets', port: '0' }, {});
  let exchanges = 0;
  const collector = new SocketsCollector({ handlers: protocolHandlers(), http1Pairing: paired });
  await collector.start({
    config, log: new Logger('error'), clock: new KernelClock(), metadata: new ProcessMetadata({ base: {} }),
    sink: { put: (r) => { if (r.type === 'exchange') exchanges++; } },
  });
  const nginxBefore = pids.reduce((a, p) => a + cpuSeconds(p), 0);
  const agentBefore = process.cpuUsage();
  const load = await runLoadgen(loadgen, fixedRateArgs(addr, PATH, rate, seconds));
  await new Promise((r) => setTimeout(r, 200)); // the last batch
  const agent = process.cpuUsage(agentBefore);
  const nginxS = pids.reduce((a, p) => a + cpuSeconds(p), 0) - nginxBefore;
  const stats = collector.stats();
  await collector.stop();
  return {
    paired, requests: load.count, exchanges, recordsPerExchange: (stats.records_in ?? 0) / Math.max(1, exchanges),
    agentUs: ((agent.user + agent.system) / Math.max(1, exchanges)), nginxUs: (nginxS * 1e6) / Math.max(1, load.count), pairedRecords: stats.kernel_http1_paired ?? 0,
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { rate: { type: 'string' }, seconds: { type: 'string' }, pairs: { type: 'string' } } });
  const rate = Number(values.rate ?? 5000);
  const seconds = Number(values.seconds ?? 5);
  const pairs = Number(values.pairs ?? 3);
  const loadgen = buildLoadgen();
  const nginx = await startNginx({ locations: `location = ${PATH} { return 200 "ok\\n"; }` });
  const phases: Phase[] = [];
  try {
    for (let i = 0; i < pairs; i++) {
      for (const paired of [false, true]) {
        const p = await phase(paired, nginx.pids, `127.0.0.1:${nginx.port}`, rate, seconds, loadgen);
        console.error(`pairing ${paired ? 'on ' : 'off'}: ${p.requests} requests, ${p.exchanges} exchanges, ${p.recordsPerExchange.toFixed(2)} records/exchange (${p.pairedRecords} paired), agent ${p.agentUs.toFixed(2)} µs/exchange, nginx ${p.nginxUs.toFixed(2)} µs/request`);
        phases.push(p);
      }
    }
  } finally {
    await nginx.stop();
  }
  for (const paired of [false, true]) {
    const ps = phases.filter((p) => p.paired === paired);
    console.log(`pairing ${paired ? 'on ' : 'off'}: median ${median(ps.map((p) => p.recordsPerExchange)).toFixed(2)} records/exchange, agent ${median(ps.map((p) => p.agentUs)).toFixed(2)} µs CPU/exchange, nginx ${median(ps.map((p) => p.nginxUs)).toFixed(2)} µs CPU/request (${pairs} phases of ${seconds} s at ${rate} req/s)`);
  }
}

await main();
