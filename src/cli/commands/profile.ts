// `lantern profile`: a one-shot CPU profile of some processes (or all) to one pprof file.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { baseAttributes } from '../../agent/resource.js';
import { preflight } from '../../agent/preflight.js';
import { ProfilerCollector } from '../../collectors/profiler/collector.js';
import { loadConfig } from '../../config/load.js';
import { setFrequency, setMinBlock } from '../../config/profiler.js';
import { Problems, asPositiveInt, asPositiveNumber } from '../../config/validate.js';
import { LanternError } from '../../errors.js';
import { encodePprofGzipSync, frameName } from '../../export/pprof.js';
import { Logger } from '../../log.js';
import { ProcessMetadata } from '../../metadata/process-metadata.js';
import { KernelClock } from '../../model/clock.js';
import { type ProfileKind, type ProfileRecord, profileKind, sampleNanos, totalSamples } from '../../model/profile.js';
import { type Command, parseOptions } from '../command.js';

const HELP = `Usage: lantern profile [--pid PID ...] [--duration S] [--frequency HZ] [--output FILE.pb.gz]
                       [--off-cpu [--min-block MS]]

Samples the CPU stacks (user and kernel) of the given processes and their descendants, or of every
process, and writes one gzipped pprof profile: sample types samples/count and cpu/nanoseconds,
labels pid, thread_id, thread_name, service_name, container_id. Read it with
\`go tool pprof -top FILE\` or open it in Pyroscope / Grafana. Stops after --duration or on
SIGINT/SIGTERM, writing what was sampled so far. With --off-cpu, also the time threads spent
blocked (sleeping, waiting for I/O or a lock), with the stacks they blocked in, to a second file
(FILE-off-cpu.pb.gz; sample types blocks/count and off_cpu/nanoseconds).

Options:
  --pid PID            profile only this process and its descendants (repeatable)
  --duration SECONDS   how long to sample (default 10)
  --frequency HZ       samples per second on each CPU (default 99)
  --output FILE        where to write (default lantern-cpu-<UTC time>.pb.gz)
  --off-cpu            also profile blocked time (needs tp_btf: a kernel with BTF)
  --min-block MS       with --off-cpu: ignore blocks shorter than this (default 1)
  --top N              print the N functions with the most samples (default 10, 0 for none)
  --log-level LEVEL    debug, info, warn or error (default: warn)
  -h, --help           this help`;

/** Functions by self samples (CPU) or self time blocked in ns (off-CPU), most first. */
export function topFunctions(profiles: readonly ProfileRecord[], n: number): Array<{ name: string; self: number }> {
  const self = new Map<string, number>();
  for (const p of profiles) {
    for (const s of p.samples) {
      const leaf = s.frames[0];
      const name = leaf === undefined ? '[no stack]' : frameName(leaf);
      self.set(name, (self.get(name) ?? 0) + (profileKind(p) === 'cpu' ? s.count : sampleNanos(s, 0)));
    }
  }
  return [...self.entries()].map(([name, v]) => ({ name, self: v })).sort((a, b) => b.self - a.self).slice(0, n);
}

function stamp(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

export const profileCommand: Command = {
  name: 'profile',
  summary: 'one-shot CPU profile of processes to a pprof file',
  async run(argv) {
    const { values } = parseOptions('profile', argv, {
      pid: { type: 'string', multiple: true },
      duration: { type: 'string' },
      frequency: { type: 'string' },
      output: { type: 'string', short: 'o' },
      top: { type: 'string' },
      'off-cpu': { type: 'boolean' },
      'min-block': { type: 'string' },
      'log-level': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    });
    if (values.help === true) {
      console.log(HELP);
      return 0;
    }
    const config = loadConfig({ pids: values.pid, logLevel: values['log-level'] ?? 'warn', collectors: 'profiler' }, {});
    const problems = new Problems();
    let duration = 10;
    if (values.duration !== undefined) {
      const d = asPositiveNumber(values.duration);
      if (typeof d === 'string') problems.add('command line', '--duration', d);
      else duration = d;
    }
    if (values.frequency !== undefined) setFrequency(config.profiler, values.frequency, 'command line', '--frequency', problems);
    let top = 10;
    if (values.top !== undefined) {
      const n = values.top === '0' ? 0 : asPositiveInt(values.top, 1000);
      if (typeof n === 'string') problems.add('command line', '--top', n);
      else top = n;
    }
    if (values['off-cpu'] === true) config.profiler.offCpu.enabled = true;
    if (values['min-block'] !== undefined) {
      if (values['off-cpu'] !== true) problems.add('command line', '--min-block', 'needs --off-cpu');
      else setMinBlock(config.profiler, values['min-block'], 'command line', '--min-block', problems);
    }
    if (values.output === '') problems.add('command line', '--output', 'expected a file path');
    for (const pid of config.pids) if (!existsSync(`/proc/${pid}`)) problems.add('command line', '--pid', `no process ${pid} is running`);
    if (problems.list.length > 0) throw new LanternError('LANTERN_ERR_USAGE', problems.list.map(String).join('\n'));
    const when = stamp();
    const output = resolve(values.output ?? `lantern-cpu-${when}.pb.gz`);
    const offOutput = values.output === undefined ? resolve(`lantern-off-cpu-${when}.pb.gz`) : `${output.replace(/\.pb\.gz$/, '')}-off-cpu.pb.gz`;
    // Sample the whole run in one interval unless it is long (the stack maps are sized per interval).
    config.profiler.intervalSeconds = Math.min(duration, 10);

    const log = new Logger(config.log.level, false);
    preflight(log);
    const profiles: ProfileRecord[] = [];
    const collector = new ProfilerCollector();
    await collector.start({
      config,
      log,
      clock: new KernelClock(),
      sink: { put: (r) => (r.type === 'profile' ? void profiles.push(r.profile) : undefined) },
      metadata: new ProcessMetadata({ base: baseAttributes(config) }),
    });
    const who = config.pids.length > 0 ? `pids ${config.pids.join(', ')} and their descendants` : 'every process';
    console.error(`lantern profile: sampling ${who} at ${config.profiler.frequencyHz} Hz for ${duration} s`);
    await waitForStop(duration);
    await collector.stop();
    const stats = collector.stats();

    const cpu = profiles.filter((p) => profileKind(p) === 'cpu');
    writeProfile(output, cpu, 'cpu');
    const samples = cpu.reduce((n, p) => n + totalSamples(p), 0);
    const pids = new Set(cpu.flatMap((p) => p.samples.map((s) => s.labels.pid)));
    console.log(`wrote ${output}: ${samples} samples from ${pids.size} process${pids.size === 1 ? '' : 'es'}`);
    const lost = (stats.kernel_stack_collisions ?? 0) + (stats.kernel_stack_map_full ?? 0) + (stats.kernel_counts_map_full ?? 0) + (stats.samples_dropped_cap ?? 0);
    if (lost > 0) console.log(`(${lost} stacks or samples lost: stack map collisions ${stats.kernel_stack_collisions}, stack map full ${stats.kernel_stack_map_full}, count map full ${stats.kernel_counts_map_full}, over the sample cap ${stats.samples_dropped_cap})`);
    if (top > 0 && samples > 0) {
      console.log(`\n${'self'.padStart(8)} ${'self%'.padStart(6)}  function`);
      for (const f of topFunctions(cpu, top)) {
        console.log(`${String(f.self).padStart(8)} ${((100 * f.self) / samples).toFixed(1).padStart(5)}%  ${f.name}`);
      }
    }
    if (config.profiler.offCpu.enabled) {
      const off = profiles.filter((p) => profileKind(p) === 'off_cpu');
      writeProfile(offOutput, off, 'off_cpu');
      const ns = off.reduce((n, p) => n + p.samples.reduce((m, s) => m + sampleNanos(s, 0), 0), 0);
      const offLost = (stats.kernel_offcpu_pending_full ?? 0) + (stats.kernel_offcpu_counts_full ?? 0) + (stats.kernel_offcpu_undated ?? 0) +
        (stats.offcpu_dropped_cap ?? 0);
      console.log(`\nwrote ${offOutput}: ${(ns / 1e6).toFixed(1)} ms blocked in ${off.reduce((n, p) => n + totalSamples(p), 0)} blocks${offLost > 0 ? ` (${offLost} blocks lost)` : ''}`);
      if (top > 0 && ns > 0) {
        console.log(`\n${'self ms'.padStart(10)} ${'self%'.padStart(6)}  function`);
        for (const f of topFunctions(off, top)) {
          console.log(`${(f.self / 1e6).toFixed(1).padStart(10)} ${((100 * f.self) / ns).toFixed(1).padStart(5)}%  ${f.name}`);
        }
      }
    }
    return 0;
  },
};

function writeProfile(file: string, profiles: readonly ProfileRecord[], kind: ProfileKind): void {
  try {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, encodePprofGzipSync(profiles, kind));
  } catch (e) {
    throw new LanternError('LANTERN_ERR_PROFILER', `cannot write ${file}: ${(e as Error).message}`);
  }
}

/** Resolves after `seconds` or on SIGINT/SIGTERM, whichever comes first. */
function waitForStop(seconds: number): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(done, seconds * 1000);
    process.on('SIGINT', done);
    process.on('SIGTERM', done);
  });
}
