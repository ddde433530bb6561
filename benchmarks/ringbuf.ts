// Ring buffer → JS throughput: how many records per second libbpf-ts delivers into JS when the
// native consumer hands over big batches, versus one record per JS call (what a per-event
// callback API costs). Results go to stdout and to benchmarks/RESULTS.md.
//
//   npx tsc -p tsconfig.json && node dist/benchmarks/ringbuf.js [--events N] [--runs N]
//
// Needs root, BTF and tracefs, like the agent itself.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join, relative } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { BpfObject, type BpfMap, type Link, RingBufferConsumer, codec, libbpfVersion } from 'libbpf-ts';

/** dist/benchmarks/ringbuf.js → repo root. */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BPF_SOURCE = join(ROOT, 'benchmarks/bpf/ringbuf_bench.bpf.c');
const BUILD_DIR = join(ROOT, 'benchmarks/.build');
const RESULTS = join(ROOT, 'benchmarks/RESULTS.md');
const SECTION = '## Ring buffer → JS (libbpf-ts)';

/** Must match struct bench_event and the object's defaults. */
const RECORD_BYTES = 64;
const EVENTS_PER_CALL = 64;
const RING_BYTES = 16 << 20;
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
  // Every batch holds exactly one record, so each record costs a JS call. A deep queue keeps the
  // comparison about per-call cost rather than about how soon the queue overflows.
  { name: 'one-by-one', batchBytes: ONE_RECORD_BATCH, maxPendingBatches: 4096, flushMs: 10 },
];

interface RunResult {
  mode: string;
  /** Records the BPF program tried to write (submitted + reserve failures). */
  generated: number;
  delivered: number;
  kernelDrops: number;
  consumerDrops: number;
  batches: number;
  /** First command to the generator → last record reaching JS. */
  elapsedMs: number;
  /** Time the generator spent in its getppid loop: the offered load. */
  generatorMs: number;
  /** User + system CPU of this process (JS thread, consumer thread, GC), generator excluded. */
  cpuMs: number;
  /** Sum of delivered seq numbers matched 0..n-1; null when records were dropped. */
  checksumOk: boolean | null;
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

  constructor() {
    this.#child = spawn(process.execPath, ['-e', GENERATOR_SCRIPT], { stdio: ['pipe', 'pipe', 'inherit'] });
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
  const link = obj.program('on_getppid').attachTracepoint('syscalls', 'sys_enter_getppid');
  return { obj, link, events: obj.map('events'), drops: counter('drops'), emitted: counter('emitted'), nextSeq: counter('next_seq') };
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

async function runOnce(b: Bench, gen: Generator, mode: Mode, calls: number): Promise<RunResult> {
  resetCounters(b);
  let delivered = 0;
  let seqSum = 0;
  let lastDelivery = 0;
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
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const generatorMs = await gen.run(calls);
    await drained(b, consumer, () => delivered);
    const cpu = process.cpuUsage(cpu0);
    const s = consumer.stats();
    const kernelDrops = readCounter(b.drops);
    const generated = readCounter(b.emitted) + kernelDrops;
    const lossless = kernelDrops === 0 && s.droppedRecords === 0;
    return {
      mode: mode.name, generated, delivered, kernelDrops, consumerDrops: s.droppedRecords, batches: s.batches,
      elapsedMs: lastDelivery - t0, generatorMs, cpuMs: (cpu.user + cpu.system) / 1000,
      checksumOk: lossless ? delivered === generated && seqSum === (delivered * (delivered - 1)) / 2 : null,
    };
  } finally {
    await consumer.closeAndFlush();
  }
}

// --- statistics and reporting ----------------------------------------------------------------

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? (s[mid] ?? NaN) : ((s[mid - 1] ?? NaN) + (s[mid] ?? NaN)) / 2;
}

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

function summarize(mode: Mode, all: RunResult[]): Summary {
  const runs = all.filter((r) => r.mode === mode.name);
  const med = (f: (r: RunResult) => number): number => median(runs.map(f));
  return {
    mode, runs, rate: med(rate), offered: med(offered), cpuPerMillion: med(cpuPerMillion),
    kernelDrops: med((r) => r.kernelDrops), consumerDrops: med((r) => r.consumerDrops),
    batches: med((r) => r.batches), elapsedMs: med((r) => r.elapsedMs),
  };
}

const int = (n: number): string => Math.round(n).toLocaleString('en-US');
const millions = (n: number): string => `${(n / 1e6).toFixed(2)} M`;

function table(summaries: Summary[], perRun: number): string {
  const rows = [
    '| Mode | batchBytes | maxPendingBatches | Delivered/s into JS | Offered/s (generator) | Kernel drops | Consumer drops | JS calls (batches) | Wall ms | Agent CPU ms per 1 M delivered |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const s of summaries) {
    rows.push(`| ${s.mode.name} | ${int(s.mode.batchBytes)} | ${s.mode.maxPendingBatches} | ${millions(s.rate)} | ${millions(s.offered)} | `
      + `${int(s.kernelDrops)} | ${int(s.consumerDrops)} | ${int(s.batches)} | ${int(s.elapsedMs)} | ${s.cpuPerMillion.toFixed(0)} |`);
  }
  rows.push('', `Medians over ${summaries[0]?.runs.length ?? 0} runs per mode, ${int(perRun)} records generated per run.`);
  return rows.join('\n');
}

function perRunLines(summaries: Summary[]): string {
  return summaries.map((s) => {
    const runs = s.runs.map((r) => `${millions(rate(r))}/s (${r.checksumOk === null ? 'lossy' : r.checksumOk ? 'checksum ok' : 'CHECKSUM MISMATCH'})`);
    return `- ${s.mode.name}: ${runs.join(', ')}`;
  }).join('\n');
}

function machine(): string {
  const model = os.cpus()[0]?.model ?? 'unknown CPU';
  return `${os.availableParallelism()} CPUs (nproc), ${model}, Linux ${os.release()}, Node ${process.version}, libbpf ${libbpfVersion()}`;
}

function section(command: string, body: string, ratio: { rate: number; cpu: number }): string {
  return [
    SECTION,
    '',
    `Command: \`${command}\` (as root, after \`npx tsc -p tsconfig.json\`)  `,
    `Date: ${new Date().toISOString().slice(0, 10)}  `,
    `Machine: ${machine()}`,
    '',
    `A tracepoint on \`syscalls:sys_enter_getppid\` emits ${EVENTS_PER_CALL} records of ${RECORD_BYTES} bytes per call of a `,
    `generator child process into a ${RING_BYTES >> 20} MiB BPF ring buffer; libbpf-ts's RingBufferConsumer drains it on its native `,
    'thread and JS reads the seq field of every record through the batch DataView. Delivered/s counts records that reached JS ',
    'divided by the time from starting the generator to the last record reaching JS. Agent CPU is `process.cpuUsage()` of the ',
    'benchmark process (JS thread, consumer thread, GC); the generator and the BPF program run in the child and are excluded. ',
    'Modes alternate run by run (A B A B …).',
    '',
    body,
    '',
    `**Batched / one-by-one: ${ratio.rate.toFixed(1)}× the records per second, ${ratio.cpu.toFixed(1)}× less agent CPU per record.**`,
    '',
  ].join('\n');
}

/** Replaces this benchmark's section of RESULTS.md (up to the next `## ` heading), or appends it. */
function writeResults(text: string): void {
  const doc = existsSync(RESULTS) ? readFileSync(RESULTS, 'utf8') : '# Lantern benchmark results\n';
  const lines = doc.split('\n');
  const start = lines.indexOf(SECTION);
  let out: string;
  if (start < 0) {
    out = `${doc.trimEnd()}\n\n${text}`;
  } else {
    const next = lines.findIndex((l, i) => i > start && l.startsWith('## '));
    const after = next < 0 ? [] : lines.slice(next);
    out = [...lines.slice(0, start), ...text.split('\n'), ...after].join('\n');
  }
  writeFileSync(RESULTS, `${out.trimEnd()}\n`);
}

// --- main ------------------------------------------------------------------------------------

function options(): { records: number; runs: number } {
  const { values } = parseArgs({ options: { events: { type: 'string' }, runs: { type: 'string' } } });
  const records = Number(values.events ?? 4_000_000);
  const runs = Number(values.runs ?? 3);
  if (!(records >= EVENTS_PER_CALL) || !(runs >= 1)) throw new RangeError('--events and --runs must be positive');
  return { records, runs };
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('run as root: the benchmark loads BPF programs');
  const { records, runs } = options();
  const calls = Math.ceil(records / EVENTS_PER_CALL);
  const gen = new Generator();
  const bench = loadBench(gen.pid);
  const results: RunResult[] = [];
  try {
    // One small untimed run per mode so JIT warm-up and first allocations are not measured.
    for (const mode of MODES) await runOnce(bench, gen, mode, Math.ceil(calls / 20));
    for (let i = 0; i < runs; i++) {
      for (const mode of MODES) {
        const r = await runOnce(bench, gen, mode, calls);
        console.error(`run ${i + 1} ${mode.name}: ${millions(rate(r))}/s, kernel drops ${r.kernelDrops}, consumer drops ${r.consumerDrops}, checksum ${r.checksumOk ?? 'n/a (lossy)'}`);
        results.push(r);
      }
    }
  } finally {
    bench.link.close();
    bench.obj.close();
    gen.stop();
  }
  const [batched, single] = MODES.map((m) => summarize(m, results)) as [Summary, Summary];
  const ratio = { rate: batched.rate / single.rate, cpu: single.cpuPerMillion / batched.cpuPerMillion };
  const body = `${table([batched, single], calls * EVENTS_PER_CALL)}\n\nPer run (delivered/s):\n\n${perRunLines([batched, single])}`;
  const command = ['node', relative(ROOT, process.argv[1] ?? 'dist/benchmarks/ringbuf.js'), ...process.argv.slice(2)].join(' ');
  const text = section(command, body, ratio);
  console.log(text);
  writeResults(text);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
