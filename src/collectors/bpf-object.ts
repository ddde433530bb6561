// Opening Lantern's own BPF objects with the settings every one of them shares (bpf/include/filter.h).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BpfObject, codec, isLibbpfError } from 'libbpf-ts';
import { LanternError } from '../errors.js';
import type { ProcessSelection } from '../selection/process-selection.js';

/** bpf/.output beside the repository root, from src/ or dist/src/. */
const OUTPUT_DIR = fileURLToPath(new URL(import.meta.url.includes('/dist/src/') ? '../../../bpf/.output/' : '../../bpf/.output/', import.meta.url));

export function bpfObjectPath(name: string): string {
  const path = `${OUTPUT_DIR}${name}.bpf.o`;
  if (!existsSync(path)) {
    throw new LanternError('LANTERN_ERR_BPF_OBJECT', `${path} is missing: build the BPF programs with \`npm run build\``);
  }
  return path;
}

export interface FilterSettings {
  agentPid: number;
  pids: number[];
  /**
   * The agent's process selection (src/selection/): it sets the filter's mode and shares one
   * `listed_pids` map among every object. Without it (one-shot commands, tests): only `pids`.
   */
  selection?: ProcessSelection;
}

/** Opens, applies the pid filter settings, loads, and fills (or shares) the listed pid map. */
export function loadLanternObject(name: string, filter: FilterSettings, configure?: (o: BpfObject) => void): BpfObject {
  const obj = BpfObject.open(bpfObjectPath(name));
  try {
    obj.setGlobal('agent_tgid', filter.agentPid);
    if (filter.selection !== undefined) filter.selection.configure(obj);
    else obj.setGlobal('filter_pids', filter.pids.length > 0 ? 1 : 0, 1);
    configure?.(obj);
    obj.load();
    if (filter.selection !== undefined) filter.selection.register(obj);
    else {
      const targets = obj.map('listed_pids', codec.u32, codec.u8);
      for (const pid of filter.pids) targets.set(pid, 1);
    }
    return obj;
  } catch (e) {
    obj.close();
    if (isLibbpfError(e)) throw new LanternError('LANTERN_ERR_BPF_OBJECT', `${name}: ${e.message}`, { cause: e });
    throw e;
  }
}

/** Sums a per-CPU counters map (bpf/include/counters.h) into one number per slot. */
export function readCounters(obj: BpfObject, slots: number): bigint[] {
  const map = obj.map('counters', codec.u32, codec.u64);
  const out: bigint[] = [];
  for (let i = 0; i < slots; i++) out.push(map.perCpuCounter(i)());
  return out;
}

/**
 * A reader of one slot of the object's counters, summed over the CPUs (one syscall per read), for
 * a slot read with every ring batch. The map is looked up once (`obj.map()` lists every map of the
 * object natively: ~2 % of the agent under load when read per batch), and the slot's reader reads
 * into a buffer of its own: getPerCpu's buffers, views and values per read, in code that runs too
 * seldom for V8 to optimize, cost ~30 µs of the JS thread per read (perf, 10k requests/s).
 */
export function counterReader(obj: BpfObject, slot: number): () => bigint {
  return obj.map('counters', codec.u32, codec.u64).perCpuCounter(slot);
}
