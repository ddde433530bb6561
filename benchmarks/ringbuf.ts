// Ring buffer → JS throughput: how many records per second libbpf-ts delivers into JS when the
// native consumer hands over big batches, versus one record per JS call (what a per-event
// callback API costs). Results go to stdout and to benchmarks/RESULTS.md.
//
// Two scenarios, each alternating the two modes run by run:
//  - live: a generator process produces a fixed number of records as fast as it can while the
//    consumer runs, and whatever cannot keep up shows as drops;
//  - drain: the ring is filled first, then the consumer is started and timed alone, with a queue
//    deep enough to drop nothing: the delivery path's own capacity, without contention.
//
//   npx tsc -p tsconfig.json && node dist/benchmarks/ringbuf.js [--events N] [--runs N]
//
// Needs root, BTF and tracefs, like the agent itself.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import os from 'node:os';
import { join, relative } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import v8 from 'node:v8';
import vm from 'node:vm';
import { BpfObject, type BpfMap, type Link, RingBufferConsumer, codec, libbpfVersion, onlineCpus } from 'libbpf-ts';
import { writeResultsSection } from './results-file.js';
import { int, median } from './stats.js';

/** dist/benchmarks/ringbuf.js → repo root. */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BPF_SOURCE = join(ROOT, 'benchmarks/bpf/ringbuf_bench.bpf.c');
const BUILD_DIR = join(ROOT, 'benchmarks/.build');
const SECTION = '## Ring buffer → JS (libbpf-ts)';

/** Must match struct bench_event and the object's defaults. */
const RECORD_BYTES = 64;
const EVENTS_PER_CALL = 64;
const RING_BYTES = 64 << 20;
/** Each record in a batch is `u32 len | u32 ring | payload | pad to 8`. */
const BATCH_HEADER_BYTES = 8;
const ONE_RECORD_BATCH = BATCH_HEADER_BYTES + ((RECORD_BYTES + 7) & ~7);
/** A run that has not drained by then is broken, not slow. */
const DRAIN_TIMEOUT_MS = 30_000;

interface Mode {
  name: string;
  batchBytes: number;
  maxPendingBatches: number;
  flushMs: number;
}

const MODES: readonly [Mode, Mode] = [
  // What the agent uses: the library defaults.
  { name: 'batched', batchBytes: 1 << 20, maxPendingBatches: 16, flushMs: 10 },
  // Every batch holds exactly one record, so each record costs a JS call. The queue is deeper than
  // the default's 16 so that its length is not what decides the outcome.
  { name: 'one-by-one', batchBytes: ONE_RECORD_BATCH, maxPendingBatches: 4096, flushMs: 10 },
];

/**
 * Records for the drain scenario: 90% of what the ring holds (each takes an 8-byte kernel header),
 * a whole number of getppid calls.
 */
const DRAIN_RECORDS = Math.floor((RING_BYTES * 0.9) / (RECORD_BYTES + 8) / EVENTS_PER_CALL) * EVENTS_PER_CALL;

interface Scenario {
  name: 'live' | 'drain';
  title: string;
  /** Generate before starting the consumer (drain) rather than while it runs (live). */
  prefill: boolean;
  records: number;
  modes: readonly [Mode, Mode];
}

function scenarios(liveRecords: number): Scenario[] {
  const [batched, single] = MODES;
  return [
    { name: 'live', title: 'Live: generator and consumer running together', prefill: false, records: liveRecords, modes: MODES },
    {
      name: 'drain', title: 'Drain: a pre-filled ring, consumer alone', prefill: true, records: DRAIN_RECORDS,
      // A 1 ms flush: the whole backlog is in the ring already, so only the last partial batch waits
      // for the timer, and 10 ms of idle waiting would be a third of the batched run. A queue as long
      // as the run: the figure is the cost per JS call, not when the queue overflows.
      modes: [{ ...batched, flushMs: 1, maxPendingBatches: DRAIN_RECORDS }, { ...single, flushMs: 1, maxPendingBatches: DRAIN_RECORDS }],
    },
  ];
}

interface RunResult {
  scenario: Scenario['name'];
  mode: string;
  /** Records the BPF program tried to write (submitted + reserve failures). */
  generated: number;
  delivered: number;
  kernelDrops: number;
  consumerDrops: number;
  batches: number;
  /** Consumer start (live: it starts with the generator) → last record reaching JS. */
  elapsedMs: number;
  /** Time the generator spent in its getppid loop: the offered load. */
  generatorMs: number;
  /** User + system CPU of this process (JS thread, consumer thread, GC), generator excluded. */
  cpuMs: number;
  /** Sum of delivered seq numbers matched 0..n-1; null when records were dropped. */
  checksumOk: boolean | null;
}

// --- CPU placement ---------------------------------------------------------------------------

interface Placement {
  /** taskset CPU lists; null when not pinned. */
  agent: string | null;
  generator: string | null;
}

/**
 * The generator on the last CPU, this process (JS, consumer thread, GC) on the others. Unpinned,
 * the three busy threads fight over few CPUs and run-to-run spread drowns the comparison; pinned,
 * the setup is the production one: the traced program and the agent on different cores.
 */
function placeCpus(): Placement {
  const cpus = onlineCpus();
  const last = cpus[cpus.length - 1];
  if (cpus.length < 2 || last === undefined) return { agent: null, generator: null };
  const agent = cpus.slice(0, -1).join(',');
  try {
    // -a: every thread that exists now; threads started later (the consumer's) inherit it.
    execFileSync('taskset', ['-a', '-p', '-c', agent, String(process.pid)], { stdio: 'ignore' });
  } catch {
    return { agent: null, generator: null }; // no taskset: measure unpinned, and say so
  }
  return { agent, generator: String(last) };
}

// --- generator -------------------------------------------------------------------------------

/**
 * A child process that calls getppid(2) (Node's process.ppid asks the kernel each time) on
 * command. Running it in a separate process keeps its CPU, and the BPF program's, which the
 * kernel bills to the traced process, out of this process's cpuUsage: what is left is what the
 * agent pays.
 */
const GENERATOR_SCRIPT = `
const rl = require('node:readline').createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const n = Number(line);
  const t0 = process.hrtime.bigint();
  let sink = 0;
  for (let i = 0; i < n; i++) sink += process.ppid;
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  process.stdout.write(ms + ' ' + sink + '\\n');
});
`;

class Generator {
  readonly #child: ChildProcess;
  readonly #lines: AsyncIterator<string>;

  /** `cpus`: a taskset CPU list to pin it to (taskset execs node, so the pid stays the generator's). */
  constructor(cpus: string | null) {
    const argv = [process.execPath, '-e', GENERATOR_SCRIPT];
    const [cmd, ...args] = cpus === null ? argv : ['taskset', '-c', cpus, ...argv];
    this.#child = spawn(cmd ?? process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] });
    if (this.#child.stdout === null) throw new Error('generator has no stdout');
    this.#lines = createInterface({ input: this.#child.stdout })[Symbol.asyncIterator]();
  }

  get pid(): number {
    const pid = this.#child.pid;
    if (pid === undefined) throw new Error('generator did not start');
    return pid;
  }

  /** Makes `calls` getppid calls; resolves with the milliseconds the loop took. */
  async run(calls: number): Promise<number> {
    this.#child.stdin?.write(`${calls}\n`);
    const line = await this.#lines.next();
    if (line.done === true) throw new Error('generator exited');
    return Number(line.value.split(' ')[0]);
  }

  stop(): void {
    this.#child.stdin?.end();
  }
}

// --- BPF side --------------------------------------------------------------------------------

interface Bench {
  obj: BpfObject;
  link: Link;
  events: BpfMap;
  drops: BpfMap<number, bigint>;
  emitted: BpfMap<number, bigint>;
  nextSeq: BpfMap<number, bigint>;
}

function compile(): string {
  execFileSync(process.execPath, [join(ROOT, 'packages/libbpf-ts/scripts/bpf-cc.mjs'), '--out', BUILD_DIR, BPF_SOURCE],
    { stdio: ['ignore', 'ignore', 'inherit'] });
  return join(BUILD_DIR, 'ringbuf_bench.bpf.o');
}

function loadBench(targetTgid: number): Bench {
  const obj = BpfObject.open(compile());
  obj.setGlobal('target_tgid', targetTgid).setGlobal('events_per_call', EVENTS_PER_CALL).load();
  const counter = (name: string): BpfMap<number, bigint> => obj.map(name, codec.u32, codec.u64);
  const events = obj.map('events');
  if (events.maxEntries !== RING_BYTES) throw new Error(`ring is ${events.maxEntries} bytes, RING_BYTES says ${RING_BYTES}`);
  const link = obj.program('on_getppid').attachTracepoint('syscalls', 'sys_enter_getppid');
  return { obj, link, events, drops: counter('drops'), emitted: counter('emitted'), nextSeq: counter('next_seq') };
}

/** Each run starts from seq 0 with clean counters, so its checksum and drop counts stand alone. */
function resetCounters(b: Bench): void {
  for (const m of [b.drops, b.emitted, b.nextSeq]) m.set(0, 0n);
}

function readCounter(m: BpfMap<number, bigint>): number {
  return Number(m.get(0) ?? 0n);
}

// --- one run ---------------------------------------------------------------------------------

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The global gc() without needing `node --expose-gc` on the command line. */
function gcFunction(): () => void {
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as () => void;
}

const fullGc = gcFunction();

/**
 * One-by-one runs leave hundreds of thousands of external Buffers behind; collected during the
 * next run, they stall its JS thread and take its CPUs (GC helper threads) and skew it.
 */
async function settle(): Promise<void> {
  fullGc();
  await sleep(20); // buffer finalizers run on later turns
  fullGc();
}

/** Waits until every record the kernel accepted was either delivered to JS or counted as dropped. */
async function drained(b: Bench, consumer: RingBufferConsumer, delivered: () => number): Promise<void> {
  const emitted = readCounter(b.emitted);
  const until = Date.now() + DRAIN_TIMEOUT_MS;
  for (;;) {
    const s = consumer.stats();
    if (s.records >= emitted && s.pendingBatches === 0 && delivered() + s.droppedRecords >= s.records) return;
    if (Date.now() > until) {
      throw new Error(`ring not drained after ${DRAIN_TIMEOUT_MS} ms: emitted ${emitted}, ${JSON.stringify(s)}, delivered ${delivered()}`);
    }
    await sleep(2);
  }
}

async function runOnce(b: Bench, gen: Generator, scenario: Scenario, mode: Mode, calls: number): Promise<RunResult> {
  await settle();
  resetCounters(b);
  const prefillMs = scenario.prefill ? await gen.run(calls) : 0;
  let delivered = 0;
  let seqSum = 0;
  let lastDelivery = 0;
  // Timing starts before the consumer exists: its thread drains a pre-filled ring at once.
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const consumer = new RingBufferConsumer([b.events], {
    batchBytes: mode.batchBytes,
    maxPendingBatches: mode.maxPendingBatches,
    flushMs: mode.flushMs,
    onBatch: (batch) => {
      // Read a real field from every record so delivery cannot be optimised into a count. seq stays
      // below 2^32 within a run, so its low half is the whole value and no BigInt is needed.
      batch.forEach((view, off) => {
        seqSum += view.getUint32(off, true);
        delivered++;
      });
      lastDelivery = performance.now();
    },
  });
  try {
    const generatorMs = scenario.prefill ? prefillMs : await gen.run(calls);
    await drained(b, consumer, () => delivered);
    const cpu = process.cpuUsage(cpu0);
    const s = consumer.stats();
    const kernelDrops = readCounter(b.drops);
    const generated = readCounter(b.emitted) + kernelDrops;
    const lossless = kernelDrops === 0 && s.droppedRecords === 0;
    return {
      scenario: scenario.name, mode: mode.name, generated, delivered, kernelDrops, consumerDrops: s.droppedRecords,
      batches: s.batches, elapsedMs: lastDelivery - t0, generatorMs, cpuMs: (cpu.user + cpu.system) / 1000,
      checksumOk: lossless ? delivered === generated && seqSum === (delivered * (delivered - 1)) / 2 : null,
    };
  } finally {
    await consumer.closeAndFlush();
  }
}

// --- statistics and reporting ----------------------------------------------------------------

const rate = (r: RunResult): number => r.delivered / (r.elapsedMs / 1000);
const offered = (r: RunResult): number => r.generated / (r.generatorMs / 1000);
const cpuPerMillion = (r: RunResult): number => (r.cpuMs / r.delivered) * 1e6;

interface Summary {
  mode: Mode;
  runs: RunResult[];
  rate: number;
  offered: number;
  cpuPerMillion: number;
  kernelDrops: number;
  consumerDrops: number;
  batches: number;
  elapsedMs: number;
}

function summarize(scenario: Scenario, mode: Mode, all: RunResult[]): Summary {
  const runs = all.filter((r) => r.scenario === scenario.name && r.mode === mode.name);
  const med = (f: (r: RunResult) => number): number => median(runs.map(f));
  return {
    mode, runs, rate: med(rate), offered: med(offered), cpuPerMillion: med(cpuPerMillion),
    kernelDrops: med((r) => r.kernelDrops), consumerDrops: med((r) => r.consumerDrops),
    batches: med((r) => r.batches), elapsedMs: med((r) => r.elapsedMs),
  };
}

const millions = (n: number): string => `${(n / 1e6).toFixed(2)} M`;
const lossless = (s: Summary): number => s.runs.filter((r) => r.checksumOk !== null).length;
const verdict = (r: RunResult): string => (r.checksumOk === null ? 'lossy' : r.checksumOk ? 'checksum ok' : 'CHECKSUM MISMATCH');

function table(scenario: Scenario, summaries: readonly [Summary, Summary]): string {
  // Offered load only means something when the generator runs alongside the consumer.
  const offeredCell = (s: Summary): string => (scenario.prefill ? '—' : millions(s.offered));
  const rows = [
    `### ${scenario.title}`,
    '',
    '| Mode | batchBytes | maxPendingBatches | flushMs | Delivered/s into JS | Offered/s (generator) | Kernel drops | Consumer drops | Lossless runs | JS calls (batches) | Wall ms | Agent CPU ms per 1 M delivered |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const s of summaries) {
    rows.push(`| ${s.mode.name} | ${int(s.mode.batchBytes)} | ${int(s.mode.maxPendingBatches)} | ${s.mode.flushMs} | ${millions(s.rate)} | ${offeredCell(s)} | `
      + `${int(s.kernelDrops)} | ${int(s.consumerDrops)} | ${lossless(s)}/${s.runs.length} | ${int(s.batches)} | ${int(s.elapsedMs)} | ${s.cpuPerMillion.toFixed(0)} |`);
  }
  const [batched, single] = summaries;
  if (!scenario.prefill) rows.push('', liveNote(batched));
  rows.push(
    '',
    `Medians over ${batched.runs.length} runs per mode, ${int(scenario.records)} records generated per run. `
      + `Per run, delivered/s: ${summaries.map((s) => `${s.mode.name} ${s.runs.map((r) => `${millions(rate(r))} (${verdict(r)})`).join(', ')}`).join('; ')}.`,
    '',
    `**Batched / one-by-one: ${(batched.rate / single.rate).toFixed(1)}× the records per second, `
      + `${(single.cpuPerMillion / batched.cpuPerMillion).toFixed(1)}× less agent CPU per delivered record.**`,
  );
  return rows.join('\n');
}

/** What the live batched figure means depends on whether it kept up. */
function liveNote(batched: Summary): string {
  const n = batched.runs.length;
  const kept = lossless(batched);
  if (kept === n) {
    return 'Batched delivered everything offered in every run: its rate is the generator\'s, a lower bound of what the '
      + 'consumer can take (the drain table measures that).';
  }
  return `Batched delivered everything offered in ${kept} of ${n} runs; in the others the generator outran the `
    + 'consumer and the kernel ring or the batch queue overflowed, so there its rate is the consumer\'s limit under load.';
}

function machine(): string {
  const model = os.cpus()[0]?.model ?? 'unknown CPU';
  // Online CPUs, not availableParallelism(): that follows this process's affinity, pinned by then.
  return `${onlineCpus().length} CPUs online, ${model}, Linux ${os.release()}, Node ${process.version}, libbpf ${libbpfVersion()}`;
}

function pinning(p: Placement): string {
  return p.agent === null ? 'none (one CPU or no taskset): generator and agent share the CPUs'
    : `generator on CPU ${p.generator}, benchmark process on CPU ${p.agent} (taskset)`;
}

function section(command: string, placement: Placement, tables: string[]): string {
  return [
    SECTION,
    '',
    `Command: \`${command}\` (as root, after \`npx tsc -p tsconfig.json\`)  `,
    `Date: ${new Date().toISOString().slice(0, 10)}  `,
    `Machine: ${machine()}  `,
    `Pinning: ${pinning(placement)}`,
    '',
    `A tracepoint on \`syscalls:sys_enter_getppid\` emits ${EVENTS_PER_CALL} records of ${RECORD_BYTES} bytes per getppid call of a`,
    `generator child process into a ${RING_BYTES >> 20} MiB BPF ring buffer; libbpf-ts's RingBufferConsumer drains it on its native`,
    'thread and JS reads the seq field of every record through the batch DataView. *batched* is the library default (1 MiB',
    'batches, a partial one flushed after 10 ms); *one-by-one* makes every batch exactly one record, i.e. one JS call per event.',
    'Delivered/s is records that reached JS divided by the time from starting the consumer to the last record reaching JS.',
    'Agent CPU is `process.cpuUsage()` of the benchmark process (JS thread, consumer thread, GC), including work on records',
    'it later drops; the generator and the BPF program run in the child and are not counted. Modes alternate run by run',
    '(A B A B …); an untimed warm-up run of each comes first, and a full GC before each run. In *live* the generator runs',
    'flat out while the consumer runs, so drops show what cannot keep up; in *drain* the ring is filled first and the',
    'consumer is timed alone, with a queue that cannot overflow and a 1 ms flush (only the last partial batch waits for it).',
    '',
    tables.join('\n\n'),
    '',
  ].join('\n');
}

function writeResults(text: string): void {
  writeResultsSection(SECTION, text);
}

// --- main ------------------------------------------------------------------------------------

function options(): { records: number; runs: number } {
  const { values } = parseArgs({ options: { events: { type: 'string' }, runs: { type: 'string' } } });
  const records = Number(values.events ?? 8_000_000);
  const runs = Number(values.runs ?? 5);
  if (!(records >= EVENTS_PER_CALL) || !(runs >= 1)) throw new RangeError('--events and --runs must be positive');
  return { records, runs };
}

async function measure(bench: Bench, gen: Generator, all: Scenario[], runs: number): Promise<RunResult[]> {
  const results: RunResult[] = [];
  // An untimed run of each mode first, so JIT warm-up and first allocations are not measured.
  for (const scenario of all.slice(0, 1)) {
    for (const mode of scenario.modes) await runOnce(bench, gen, scenario, mode, Math.ceil(DRAIN_RECORDS / EVENTS_PER_CALL));
  }
  for (let i = 0; i < runs; i++) {
    for (const scenario of all) {
      for (const mode of scenario.modes) {
        const r = await runOnce(bench, gen, scenario, mode, Math.ceil(scenario.records / EVENTS_PER_CALL));
        console.error(`run ${i + 1} ${scenario.name} ${mode.name}: ${millions(rate(r))}/s, kernel drops ${r.kernelDrops}, `
          + `consumer drops ${r.consumerDrops}, ${verdict(r)}`);
        results.push(r);
      }
    }
  }
  return results;
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('run as root: the benchmark loads BPF programs');
  const { records, runs } = options();
  const all = scenarios(Math.ceil(records / EVENTS_PER_CALL) * EVENTS_PER_CALL);
  const placement = placeCpus();
  const gen = new Generator(placement.generator);
  let results: RunResult[];
  try {
    const bench = loadBench(gen.pid);
    try {
      results = await measure(bench, gen, all, runs);
    } finally {
      bench.link.close();
      bench.obj.close();
    }
  } finally {
    gen.stop(); // else its open pipes keep this process alive after an error
  }
  const tables = all.map((sc) => table(sc, [summarize(sc, sc.modes[0], results), summarize(sc, sc.modes[1], results)]));
  const command = ['node', relative(ROOT, process.argv[1] ?? 'dist/benchmarks/ringbuf.js'), ...process.argv.slice(2)].join(' ');
  const text = section(command, placement, tables);
  console.log(text);
  writeResults(text);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
