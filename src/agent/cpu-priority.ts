// The agent's CPU priority: applications first while the agent keeps up, its full share when it
// does not. At 10k req/s a traced exchange costs the agent ~15 µs of CPU, more than nginx spends on
// the request; at the same priority the agent's threads, woken by every ring-buffer batch, hold a
// CPU while the application's threads wait: nginx's p99 went from ~0.27 ms to 1.4 ms
// (benchmarks/RESULTS.md). Under any nice value a waking application thread still waits for the
// agent's slice to end (nice 10: 1.4 ms against 2.9); under SCHED_IDLE it preempts the agent at once
// (332 µs). So with `nice: idle` (the default) every thread of the agent runs under SCHED_IDLE once
// start-up is over.
// It yields only while it keeps up: when the events waiting for its JavaScript thread pile up (the
// same pressure the span shedder reads), or its records are handled late for half a second, it takes
// its threads back to the priority it was started with, and yields again after a calm spell, which
// doubles each time it had to come back (a host that stays busy is not made to wait over and over).
// The lag matters on a saturated host (test/agent/flood.test.ts): an idle agent that only just keeps
// up gets enough CPU to drain small batches late, hundreds of ms behind, with few bytes waiting and no
// reason for the guard below to fire. Going back needs CAP_SYS_NICE (root has it): without it the
// agent does not yield at all.
// Beside CPU-bound work an idle thread gets no CPU at all, not even to notice that it is behind (the
// pressure is read on the JS thread): a guard, a native thread never under SCHED_IDLE (libbpf-ts
// IdleGuard), notices from outside: the JS thread waiting for a CPU most of the time, missing its
// heartbeat (this class's tick and each ring batch), or the sockets ring filling. It takes every
// thread back, and the agent counts that as any time it came back. Beside two busy loops the agent
// then exported 94-100 % of the spans (the rest shed whole, RED kept) against ~100 % without yielding.
// Coming back for want of CPU (the guard's, or lagging) says the host has none to spare, when little
// CPU was left idle meanwhile (a scheduler that leaves an idle-policy thread no moment says nothing
// by itself: STARVED_SPELL_MS): every core the agent takes from then on is the applications'. It
// tells the agent (onContended), which holds its spans to a CPU budget (spans.contended_cpu_percent,
// span-shedder.ts) until it has CPU to spare again (a quarter of a core idle over a second on the
// CPUs it may run on, /proc/stat, or half of what it took at its full share when that told of the
// contention (#spareNeeded), and tasks waiting for a CPU less than a fifth of that second, below),
// yielding or not. Held to the budget
// until the next calm spell ended, up to 5 minutes after a busy spell, it would shed the spans of a
// load it could well afford; lifted when it yields, the budget was off again under a load that goes
// on. Coming back for its own backlog (pressure, records lost) says only that it is past its
// capacity. At its full share the agent is never starved, so the host's CPU pressure is read then
// (PSI, /proc/pressure/cpu): tasks waiting for a CPU a fifth of the time over half a second, while
// other processes used half a core and less CPU went idle than the agent took, is the same news.
// Without it a load that began while the agent was back at its full share (a busy spell just over,
// the calm spell before yielding not yet) had the agent take what it wanted until that calm spell
// ended: nginx under wrk, two to five seconds of 40-70 % of a core where the contended budget holds
// 10 % (benchmarks/repeated-load.ts).
// `nice: N` (1-19) yields by a nice value instead: beside a CPU-bound neighbour nice 10 left the agent
// a tenth of a CPU before it came back, and a few exchanges per 200,000 were lost. Nice only weighs
// threads in one scheduling group (one cgroup, or one session's autogroup). In Kubernetes the pod's
// CPU request sets the agent's cgroup weight against the applications' pods as well.
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { parseCpuList, setThreadIdle, threadIsIdle } from 'libbpf-ts';
import { CAP, effectiveCapabilities, hasCapability } from '../host/privileges.js';
import { KeptFile, idleTicksOf, psiSomeTotalOf } from './kept-file.js';
import { ownCpuMicros } from './own-process.js';

/** Pressure (0 … 1: the share of the JS thread's queue taken) at which the agent stops yielding. */
const BEHIND = 0.25;
/** Pressure under which the agent counts as keeping up (at most about one batch waiting). */
const CALM = 0.07;
/**
 * Records handled this late (ms from the kernel's write to the JS thread's batch) for this long count
 * as behind whatever the pressure: a yielding agent that gets some CPU but not enough drains small
 * batches late without many bytes waiting, and what it reads of /proc and remembers of closed
 * connections is judged by how late it is (test/agent/flood.test.ts). A batch's first record waits
 * up to ~50 ms when the agent keeps up (the consumer's 10 ms sweep and the 40 ms flush:
 * sockets/collector.ts, FLUSH_MS); one late batch is no starvation (the records left waiting while
 * start-up ended were ~270 ms old, those of a load's first batches ~200 ms): a backlog handled at
 * full speed is gone in a few batches.
 */
const LAGGING_MS = 200;
const LAGGING_FOR_MS = 500;
/** Lag under which the agent counts as keeping up: what a batch's first record waits then, and a little more. */
const CALM_LAG_MS = 80;
/** How long the agent keeps up before it yields again: the first time, and at most. */
const FIRST_CALM_MS = 5_000;
const MAX_CALM_MS = 300_000;
/** Yielding this long without falling behind forgets past episodes. */
const FORGET_MS = 600_000;
/** How often the JS thread tells the guard it runs, and judges a calm spell without ring batches. */
const TICK_MS = 100;
/** While contended, the host's idle CPU is read this often; this many cores idle over it is CPU to spare. */
const SPARE_CHECK_MS = 1_000;
const SPARE_CORES = 0.25;
/**
 * At its full share and not contended, the host's CPU pressure is read this often; tasks waiting for
 * a CPU this share of the time over it is a host with no CPU to spare, as a starved yield says.
 * (nginx under wrk on 2 CPUs: ~1 % without the agent, 34-75 % with it at its full share. Idle CPU
 * says nothing here: the agent at its full share stalls the two ends of the load in turn, and
 * 0.3-0.45 of a core went idle.)
 */
const BUSY_CHECK_MS = 500;
const BUSY_PRESSURE = 0.2;
/**
 * While yielding, the idle CPU is read with each tick (100 ms), the last few readings kept, so that a
 * return for want of CPU can tell a host without CPU to spare from a scheduler that merely left an
 * idle-policy thread no moment: at 50,000 req/s from a Go load tool (its threads waking all the
 * time), the agent's JS thread under SCHED_IDLE waited for a CPU most of the time with 0.87 of a core
 * idle, and, held to its budget, the agent shed two spans in three. Less than SPARE_CORES idle (or
 * the agent's own: its idle-policy threads run on CPU nobody else wanted) since the last reading at
 * least this old is no CPU to spare; more, and the host is judged at the agent's full share as at
 * any other time (noCpuToSpare). A ring filling is no CPU even for the consumer's thread under a
 * heavy load (wrk): contended at once, as without a reading.
 */
const STARVED_SPELL_MS = 200;
/** Readings kept while yielding (one per tick): enough for one STARVED_SPELL_MS old. */
const YIELD_IDLE_READINGS = 4;
/**
 * Back at its full share (behind, records lost, lagging, or starved with CPU to spare), the host is
 * judged only once the agent's backlog is handled (a batch's records timely again), or after this
 * long: catching up, the agent takes a core and leaves little idle, which read as no CPU to spare
 * (nginx at 50k req/s: contended half a second after such a return, once in eight runs by hand, and
 * after coming back for the file's backlog, once in six).
 */
const CATCH_UP_MAX_MS = 1_000;
/** The guard's reason (libbpf-ts IdleGuard) when the sockets ring filled unread. */
const RING_FILLING = 'ring filling';
/**
 * ... while the other processes used this much CPU (the CPUs it may run on, less their idle time and
 * the agent's own): an agent catching up alone on a backlog makes its own threads wait for one
 * another, which is no application waiting (a flood of connections over, its spans then shed by the
 * budget: test/agent/flood.test.ts).
 */
const BUSY_OTHERS_CORES = 0.5;

/**
 * The idle CPU time so far (idle and iowait, in seconds) of the CPUs this process may run on
 * (`Cpus_allowed_list` of `statusFile`): what is idle on CPUs it may not use (taskset, a cpuset)
 * is no CPU to spare for it. NaN when unreadable.
 */
export function idleSecondsOfAllowedCpus(statFile = '/proc/stat', statusFile = '/proc/self/status'): number {
  return KeptFile.once(statFile, (stat) => allowedCpusIdleReader(stat, statusFile)());
}

/** How long a reader of idleSecondsOfAllowedCpus keeps the CPU list it read. */
const ALLOWED_CPUS_KEPT_MS = 1_000;

/**
 * idleSecondsOfAllowedCpus as a reader that keeps the CPU list for ALLOWED_CPUS_KEPT_MS, and `stat`
 * open (kept-file.ts): it is read with each tick while yielding, and `/proc/self/status` (~60 lines,
 * for one of them) cost as much as `/proc/stat`; the list changes when an operator moves the agent
 * (taskset, a cpuset), seldom.
 */
export function allowedCpusIdleReader(stat = new KeptFile('/proc/stat'), statusFile = '/proc/self/status', now = () => performance.now()): () => number {
  let cpus: ReadonlySet<number> | null = null;
  let readAt = 0;
  return () => {
    try {
      if (cpus === null || now() - readAt >= ALLOWED_CPUS_KEPT_MS) {
        cpus = null; // until read again: a list that is gone or bad is not kept from before
        const allowed = /^Cpus_allowed_list:\s*(\S+)/m.exec(readFileSync(statusFile, 'utf8'));
        if (allowed === null) return Number.NaN;
        cpus = new Set(parseCpuList(allowed[1]!)); // throws on a list that is not one
        readAt = now();
      }
      // USER_HZ: 100 on every architecture Linux exports it for.
      return idleTicksOf(stat.read(), cpus) / 100;
    } catch {
      return Number.NaN;
    }
  };
}

/**
 * The host's CPU pressure so far: seconds during which some runnable task waited for a CPU (PSI's
 * `some total`, µs in the file); NaN when unreadable (a kernel without PSI).
 */
export function cpuPressureSeconds(file = '/proc/pressure/cpu'): number {
  return KeptFile.once(file, (psi) => cpuPressureReader(psi)());
}

/** cpuPressureSeconds, read again and again from `psi` (kept open: read at each host window). */
export function cpuPressureReader(psi = new KeptFile('/proc/pressure/cpu')): () => number {
  return () => {
    try {
      return psiSomeTotalOf(psi.read()) / 1e6;
    } catch {
      return Number.NaN;
    }
  };
}

/** The CPUs the agent may run on over a window, on average. */
interface HostCpu {
  /** Cores idle. */
  idleCores: number;
  /** The share of the time some task waited for a CPU (PSI). */
  waiting: number;
  /** Cores the agent used, every thread. */
  ownCores: number;
  /** Cores busy with anything but the agent. */
  othersCores: number;
}

/** Tasks waited for a CPU while other processes than the agent used a good part of them. */
function othersWaiting(h: HostCpu): boolean {
  return h.waiting >= BUSY_PRESSURE && h.othersCores >= BUSY_OTHERS_CORES;
}

/**
 * At its full share, the host has no CPU to spare: tasks wait (othersWaiting), and less CPU went
 * idle than the agent took: with as much idle beside it, what the agent takes is CPU the
 * applications left, waiting or not. Tasks waiting say little alone where many threads wake at
 * once: nginx at 50,000 req/s from a Go load tool on 2 CPUs, tasks waited 32 % of the time without
 * the agent with 0.87 of a core idle, 43 % beside the agent at its full share (0.26 of a core) with
 * 0.70 idle, and the agent held to its budget shed two spans in three; under wrk, 54 % with 0.30
 * idle beside the agent's 0.69 (0.8 % and 0.03 idle without it).
 */
function noCpuToSpare(h: HostCpu): boolean {
  return othersWaiting(h) && h.idleCores < h.ownCores;
}

/** How the agent yields while it keeps up: its threads at a nicer value, or under SCHED_IDLE. */
export type YieldLevel = number | 'idle';

/** What one change of every thread's priority did: the nice value set, or the policy (`idle`). */
export interface PriorityChange {
  nice?: number;
  idle?: boolean;
  changed: number;
  unchanged: number;
  failed: number;
}

/**
 * Applies `set` to every thread of this process (Linux: a nice value and a scheduling policy are per
 * thread; the threads that exist now — V8's and libuv's, started before the agent — each need it,
 * and threads started later inherit their creator's). `set` says whether it changed the thread, and
 * throws when it could not (a thread that ended meanwhile, or no right to raise it).
 */
function setEveryThread(change: PriorityChange, set: (tid: number) => boolean, taskDir: string, skip?: number): PriorityChange {
  let tids: string[];
  try {
    tids = readdirSync(taskDir);
  } catch {
    tids = [String(process.pid)];
  }
  for (const t of tids) {
    if (Number(t) === skip) continue;
    try {
      if (set(Number(t))) change.changed++;
      else change.unchanged++;
    } catch {
      change.failed++;
    }
  }
  return change;
}

/** Sets every thread of this process to `nice`. */
export function setThreadsNice(nice: number, taskDir = '/proc/self/task'): PriorityChange {
  return setEveryThread({ nice, changed: 0, unchanged: 0, failed: 0 }, (tid) => {
    if (os.getPriority(tid) === nice) return false;
    os.setPriority(tid, nice);
    return true;
  }, taskDir);
}

/**
 * Puts every thread of this process under SCHED_IDLE (`idle`), or back under SCHED_OTHER at its nice
 * value; but `skip` (the guard's thread, which must always run).
 */
export function setThreadsIdle(idle: boolean, taskDir = '/proc/self/task', skip?: number): PriorityChange {
  return setEveryThread({ idle, changed: 0, unchanged: 0, failed: 0 }, (tid) => {
    if (threadIsIdle(tid) === idle) return false;
    const errno = setThreadIdle(tid, idle);
    if (errno !== 0) throw new Error(`sched_setscheduler: errno ${errno}`);
    return true;
  }, taskDir, skip);
}

/** What CpuPriority needs of libbpf-ts's IdleGuard (a fake in tests). */
export interface StarvationGuard {
  readonly tid: number;
  arm(): void;
  disarm(): void;
  beat(): void;
  /** stats().restores alone: asked with every ring batch, the rest only when it changed. */
  restores(): number;
  stats(): { restores: number; threadsRestored: number; lastReason: string };
}

/** Whether this process may lower nice values again (CAP_SYS_NICE). */
export function canRaisePriority(statusFile = '/proc/self/status'): boolean {
  try {
    return hasCapability(effectiveCapabilities(readFileSync(statusFile, 'utf8')), CAP.SYS_NICE);
  } catch {
    return false;
  }
}

export interface CpuPriorityOptions {
  /** The nice value while yielding, or SCHED_IDLE (config `nice`). */
  nice: YieldLevel;
  /** The nice value the agent was started with, and goes back to when behind (default: the main thread's). */
  started?: number;
  /** Whether going back is allowed (default: CAP_SYS_NICE in CapEff). */
  canRaise?: boolean;
  now?: () => number;
  setNice?: (nice: number) => PriorityChange;
  setIdle?: (idle: boolean) => PriorityChange;
  /** Told of each change (the agent logs it). */
  onChange?: (yielding: boolean, change: PriorityChange, reason: string) => void;
  /** With `idle`: takes the threads back when they are starved (armed while yielding). */
  guard?: StarvationGuard;
  /**
   * Told when the host has no CPU to spare (true: the agent came back for want of CPU, or found tasks
   * waiting for a CPU at its full share), and when it has CPU to spare again (false); with why, and
   * the agent's own CPU (cores) over the time that told of it when that was at its full share.
   */
  onContended?: (contended: boolean, reason: string, ownCores?: number) => void;
  /** The idle CPU so far of the CPUs the agent may run on, seconds (default idleSecondsOfAllowedCpus). */
  idleCpuSeconds?: () => number;
  /** The host's CPU pressure so far, seconds (default cpuPressureSeconds). */
  cpuPressureSeconds?: () => number;
  /** The agent's own CPU so far, seconds, every thread (default own-process.ts ownCpuMicros). */
  ownCpuSeconds?: () => number;
  /** The CPUs the agent may run on (default os.availableParallelism(), which honours its affinity). */
  cores?: number;
}

/** Yields the CPU to applications while the agent keeps up; takes it back when the agent falls behind. */
export class CpuPriority {
  readonly #nice: YieldLevel;
  readonly #started: number;
  readonly #now: () => number;
  /** Yielding, and coming back: by the scheduling policy (`idle`), or by the nice value. */
  readonly #lower: () => PriorityChange;
  readonly #restore: () => PriorityChange;
  readonly #onChange: CpuPriorityOptions['onChange'];
  readonly #onContended: CpuPriorityOptions['onContended'];
  /** Came back for want of CPU (or found tasks waiting for one), and has not found CPU to spare since. */
  #contended = false;
  /**
   * Idle cores that are CPU to spare, while contended: a quarter of a core, or half of what the agent
   * took at its full share when that told of the contention. Held to its budget beside a load that
   * goes on (nginx and wrk), a quarter of a core went idle now and then (the two ends of the load
   * wait on each other): lifted, the agent took its full share back and was contended again half a
   * second later, a burst of its full CPU each time.
   */
  #spareNeeded = SPARE_CORES;
  #contendedEpisodes = 0;
  readonly #idleCpu: () => number;
  readonly #cpuPressure: () => number;
  /** What the default readers keep open (/proc/stat, /proc/pressure/cpu), closed at stop(). */
  readonly #keptFiles: KeptFile[] = [];
  readonly #ownCpu: () => number;
  readonly #cores: number;
  /**
   * The idle seconds of the CPUs the agent may run on, the host's CPU pressure (s), the agent's own
   * CPU (s), and when (ms) they were read last (#hostOver).
   */
  #idleAt = 0;
  #pressureAt = 0;
  #ownAt = 0;
  #hostReadAt = 0;
  /** Whether yielding is on at all: a nicer value than the start's, and the right to come back. */
  readonly #enabled: boolean;
  #yielding = false;
  #since = 0;
  #calmSince: number | null = null;
  #calmMs = FIRST_CALM_MS;
  #raised = 0;
  #starved = 0;
  #failures = 0;
  readonly #guard: StarvationGuard | undefined;
  /** The guard's restores already taken into account. */
  #guardRestores = 0;
  #guardThreads = 0;
  /** The last pressure and lag reported: a tick without ring batches judges the calm spell by them. */
  #lastPressure = 0;
  #lastLagMs = 0;
  /** Back at its full share, not contended: until when (ms) the host is not judged while it catches up (null: judged). */
  #catchingUpUntil: number | null = null;
  /** The last batch reported since that return was timely (its records at most CALM_LAG_MS late). */
  #timely = false;
  /** While yielding: the CPU seconds its CPUs left to it (idle, and its own), and when (ms), the last few readings. */
  #yieldIdle: Array<{ at: number; left: number }> = [];
  /** Since when every batch has been later than LAGGING_MS (null: the last was not). */
  #laggingSince: number | null = null;
  #ticker: NodeJS.Timeout | null = null;

  constructor(o: CpuPriorityOptions) {
    this.#nice = o.nice;
    this.#started = o.started ?? os.getPriority();
    this.#now = o.now ?? Date.now;
    this.#guard = o.nice === 'idle' ? o.guard : undefined;
    const setNice = o.setNice ?? ((n) => setThreadsNice(n));
    const setIdle = o.setIdle ?? ((idle) => setThreadsIdle(idle, '/proc/self/task', this.#guard?.tid));
    const nice = o.nice;
    this.#lower = nice === 'idle' ? () => setIdle(true) : () => setNice(nice);
    this.#restore = nice === 'idle' ? () => setIdle(false) : () => setNice(this.#started);
    this.#onChange = o.onChange;
    this.#onContended = o.onContended;
    this.#idleCpu = o.idleCpuSeconds ?? allowedCpusIdleReader(this.#kept(new KeptFile('/proc/stat')));
    this.#cpuPressure = o.cpuPressureSeconds ?? cpuPressureReader(this.#kept(new KeptFile('/proc/pressure/cpu')));
    this.#ownCpu = o.ownCpuSeconds ?? (() => ownCpuMicros() / 1e6);
    this.#cores = o.cores ?? os.availableParallelism();
    this.#enabled = (o.nice === 'idle' || o.nice > this.#started) && (o.canRaise ?? canRaisePriority());
  }

  /** Yields from now on (when enabled); returns whether it does. */
  start(): boolean {
    if (!this.#enabled) return false;
    this.#yield('start');
    this.#ticker = setInterval(() => this.tick(), TICK_MS).unref();
    return this.#yielding;
  }

  /** Back to the full share for good (the agent is stopping: its shutdown must not wait for idle CPU). */
  stop(): void {
    if (this.#ticker !== null) clearInterval(this.#ticker);
    this.#ticker = null;
    if (this.#yielding) this.#comeBack(this.#restore(), 'stopping', { episode: false });
    // A read after this opens them again (KeptFile.read): a late pressure report still works.
    for (const f of this.#keptFiles) f.close();
  }

  #kept(file: KeptFile): KeptFile {
    this.#keptFiles.push(file);
    return file;
  }

  /**
   * The JS thread's queue pressure (0 … 1), whether records were lost, and how late the batch's
   * records are (ms), from each ring batch.
   */
  reportPressure(pressure: number, lost = false, lagMs = 0): void {
    if (!this.#enabled) return;
    this.#lastPressure = pressure;
    this.#lastLagMs = lagMs;
    this.#timely = lagMs <= CALM_LAG_MS;
    // A batch handled is the JS thread running, as a tick is: a backlog of batches, handled back to
    // back, holds the timers off for longer than the guard waits.
    this.#guard?.beat();
    this.#judge(pressure, lost, lagMs);
  }

  /**
   * From a timer: tells the guard the JS thread runs, takes in what the guard did, and lets a calm
   * spell end without ring batches (an idle host sends none) by the last pressure reported.
   */
  tick(): void {
    if (!this.#enabled) return;
    this.#guard?.beat();
    if (this.#yielding) this.#noticeGuard();
    else this.#judge(this.#lastPressure, false, this.#lastLagMs);
    if (this.#yielding) this.#yieldIdle = [...this.#yieldIdle.slice(1 - YIELD_IDLE_READINGS), this.#leftIdleNow()];
    if (this.#contended) {
      const host = this.#hostOver(SPARE_CHECK_MS);
      // Idle CPU while applications wait is the agent's stalls of them (BUSY_PRESSURE), not CPU to spare.
      if (host !== undefined && host.idleCores >= this.#spareNeeded && !othersWaiting(host)) this.#setContended(false, 'CPU to spare');
    } else if (!this.#yielding && !this.#catchingUp()) {
      const host = this.#hostOver(BUSY_CHECK_MS);
      if (host !== undefined && noCpuToSpare(host)) this.#setContended(true, 'tasks waiting for a CPU', host.ownCores);
    }
  }

  /** Still catching up after a return (CATCH_UP_MAX_MS); the host's window starts when it is done. */
  #catchingUp(): boolean {
    if (this.#catchingUpUntil === null) return false;
    if (!this.#timely && this.#now() < this.#catchingUpUntil) return true;
    this.#catchingUpUntil = null;
    this.#restartHostWindow();
    return true;
  }

  /**
   * The host since the last reading, once `windowMs` have passed since it (all is then read again);
   * undefined before (NaN where unreadable: no comparison holds).
   */
  #hostOver(windowMs: number): HostCpu | undefined {
    const now = this.#now();
    if (now - this.#hostReadAt < windowMs) return undefined;
    const seconds = (now - this.#hostReadAt) / 1000;
    const [idleAt, pressureAt, ownAt] = [this.#idleAt, this.#pressureAt, this.#ownAt];
    this.#restartHostWindow();
    const idleCores = (this.#idleAt - idleAt) / seconds;
    const ownCores = (this.#ownAt - ownAt) / seconds;
    return { idleCores, waiting: (this.#pressureAt - pressureAt) / seconds, ownCores, othersCores: this.#cores - idleCores - ownCores };
  }

  /** The host's CPU counts from now: what it had to spare before says nothing of now. */
  #restartHostWindow(): void {
    this.#idleAt = this.#idleCpu();
    this.#pressureAt = this.#cpuPressure();
    this.#ownAt = this.#ownCpu();
    this.#hostReadAt = this.#now();
  }

  /**
   * Came back for want of CPU: whether the host had none to spare while the agent yielded (less than
   * SPARE_CORES idle or the agent's own since a reading at least STARVED_SPELL_MS old). Without such
   * a reading, where unreadable, or the ring filling: none, as the guard says.
   */
  #noCpuWhileYielding(ringFilling: boolean): boolean {
    const now = this.#now();
    const since = [...this.#yieldIdle].reverse().find((r) => now - r.at >= STARVED_SPELL_MS);
    this.#yieldIdle = [];
    if (ringFilling || since === undefined) return true;
    return !((this.#leftIdleNow().left - since.left) / ((now - since.at) / 1000) >= SPARE_CORES);
  }

  /**
   * The CPU the applications left so far: idle, and what the agent's own threads took. Its threads
   * under SCHED_IDLE run on CPU that would be idle otherwise (V8's compiler, the ring's consumer):
   * that CPU was to spare as well.
   */
  #leftIdleNow(): { at: number; left: number } {
    return { at: this.#now(), left: this.#idleCpu() + this.#ownCpu() };
  }

  /** Whether to come back (yielding) or to yield (not), by this pressure and lag. */
  #judge(pressure: number, lost: boolean, lagMs: number): void {
    this.#noticeGuard();
    const now = this.#now();
    this.#laggingSince = lagMs <= LAGGING_MS ? null : this.#laggingSince ?? now;
    const lagging = this.#laggingSince !== null && now - this.#laggingSince >= LAGGING_FOR_MS;
    if (this.#yielding) {
      if (pressure < BEHIND && !lost && !lagging) {
        if (now - this.#since >= FORGET_MS) this.#calmMs = FIRST_CALM_MS;
        return;
      }
      const reason = lost ? 'records lost' : pressure >= BEHIND ? 'behind' : 'lagging';
      this.#comeBack(this.#restore(), reason, { wantOfCpu: reason === 'lagging' });
      return;
    }
    if (pressure > CALM || lost || lagMs > CALM_LAG_MS) {
      this.#calmSince = null;
      return;
    }
    this.#calmSince ??= now;
    if (now - this.#calmSince < this.#calmMs) return;
    this.#calmMs = Math.min(MAX_CALM_MS, this.#calmMs * 2);
    this.#yield('keeping up');
  }

  /** The guard took the threads back while the agent yielded: it came back, by the guard's hand. */
  #noticeGuard(): void {
    if (this.#guard === undefined || this.#guard.restores() === this.#guardRestores) return;
    const g = this.#guard.stats();
    const moved = g.threadsRestored - this.#guardThreads;
    this.#guardRestores = g.restores;
    this.#guardThreads = g.threadsRestored;
    if (!this.#yielding) return;
    this.#starved++;
    const change = { idle: false, changed: moved, unchanged: 0, failed: 0 };
    this.#comeBack(change, `starved (${g.lastReason})`, { wantOfCpu: true, ringFilling: g.lastReason === RING_FILLING });
  }

  /**
   * Back to the full share; `episode` (default): because it fell behind (counted in
   * cpu_priority_raised), not because it stops; `wantOfCpu`: because it did not get the CPU it needed
   * (contended, unless CPU was left idle meanwhile); `ringFilling`: the guard saw the ring fill.
   */
  #comeBack(change: PriorityChange, reason: string, why: { episode?: boolean; wantOfCpu?: boolean; ringFilling?: boolean } = {}): void {
    const { episode = true, wantOfCpu = false, ringFilling = false } = why;
    this.#guard?.disarm();
    this.#failures += change.failed;
    this.#yielding = false;
    this.#since = this.#now();
    this.#calmSince = null;
    if (episode) this.#raised++;
    this.#onChange?.(false, change, reason);
    if (wantOfCpu && this.#noCpuWhileYielding(ringFilling)) {
      this.#setContended(true, reason);
      return;
    }
    this.#restartHostWindow();
    if (!episode) return;
    this.#catchingUpUntil = this.#now() + CATCH_UP_MAX_MS;
    this.#timely = false;
  }

  #setContended(contended: boolean, reason: string, ownCores?: number): void {
    if (contended === this.#contended) return;
    this.#contended = contended;
    if (contended) this.#contendedEpisodes++;
    this.#spareNeeded = Math.max(SPARE_CORES, (ownCores ?? 0) / 2);
    this.#restartHostWindow();
    this.#onContended?.(contended, reason, ownCores);
  }

  #yield(reason: string): void {
    const change = this.#lower();
    this.#failures += change.failed;
    this.#yielding = true;
    this.#since = this.#now();
    this.#calmSince = null;
    this.#yieldIdle = [];
    this.#catchingUpUntil = null;
    this.#guard?.arm();
    this.#onChange?.(true, change, reason);
    // Contended stays: what the agent may take is no more than before it yields, and under a load
    // that goes on, the budget lifted here put its full share back for the window before the guard
    // took the threads back, starved again (nginx under wrk: a quarter second at 60 % of a core each
    // time it tried to yield). CPU to spare lifts it (tick), whether yielding or not.
  }

  /**
   * The nice value now, whether under SCHED_IDLE, how often the agent took its priority back (of
   * which the guard, starved), threads it could not set, whether it is back for want of CPU now and
   * how often it came back so.
   */
  stats(): { cpu_nice: number; cpu_sched_idle: number; cpu_priority_raised: number; cpu_priority_starved: number; cpu_priority_failures: number; cpu_contended: number; cpu_contended_episodes: number } {
    const idle = this.#yielding && this.#nice === 'idle';
    return {
      cpu_nice: this.#yielding && this.#nice !== 'idle' ? this.#nice : this.#started, cpu_sched_idle: idle ? 1 : 0,
      cpu_priority_raised: this.#raised, cpu_priority_starved: this.#starved, cpu_priority_failures: this.#failures,
      cpu_contended: this.#contended ? 1 : 0, cpu_contended_episodes: this.#contendedEpisodes,
    };
  }
}
