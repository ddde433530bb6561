// ProfileRecords → pprof (https://github.com/google/pprof/blob/main/proto/profile.proto) with
// pprof-format. Bytes only, no I/O.
//
// CPU profiles: sample types `samples/count` and `cpu/nanoseconds` (count × period), period type
// `cpu/nanoseconds` with the period 1e9 / frequency, as Go's CPU profiles have them. Off-CPU
// profiles: `blocks/count` (switch-out to switch-in) and `off_cpu/nanoseconds` (their time), period
// type `off_cpu/nanoseconds` with period 1 (measured, not sampled by time). Labels are
// string labels (Pyroscope reads only those). Every mapping says `has_functions`: symbolization
// happened on the host that ran the code, so pprof must not try again with whatever binaries the
// reading machine has. A frame the symbolizer could not name keeps its mapping and its address (the
// offset in the module's file for user code) and is named `[<module file name>]`.
import { basename } from 'node:path';
import { promisify } from 'node:util';
import { gzip, gzipSync } from 'node:zlib';
import { Function as PprofFunction, Label, Line, Location, Mapping, Profile, Sample, StringTable, ValueType } from 'pprof-format';
import { type ProfileFrame, type ProfileKind, type ProfileRecord, profileKind, sampleNanos } from '../model/profile.js';

const gzipAsync = promisify(gzip);

/** The function name a frame is shown under. */
export function frameName(f: ProfileFrame): string {
  if (f.function !== undefined) return f.function;
  return f.module.startsWith('[') ? f.module : `[${basename(f.module)}]`;
}

interface MappingAcc {
  mapping: Mapping;
  min: bigint;
  max: bigint;
  kernel: boolean;
}

/** Sample types (count, then time) and the period type of each kind of profile. */
export const PPROF_TYPES: Record<ProfileKind, { count: string; time: string }> = {
  cpu: { count: 'samples', time: 'cpu' },
  off_cpu: { count: 'blocks', time: 'off_cpu' },
};

/**
 * Builds one pprof Profile holding every sample of `records` (one service, or many for a one-shot
 * file), which must all be of one kind; `emptyKind` is the kind of a profile with no record (its
 * sample types: an off-CPU file in which nothing blocked is still an off-CPU profile).
 */
export function toPprof(records: ProfileRecord | readonly ProfileRecord[], emptyKind: ProfileKind = 'cpu'): Profile {
  const list = Array.isArray(records) ? (records as readonly ProfileRecord[]) : [records as ProfileRecord];
  const strings = new StringTable();
  const str = (s: string): number => strings.dedup(s);
  const first = list[0];
  const kind = first !== undefined ? profileKind(first) : emptyKind;
  if (list.some((r) => profileKind(r) !== kind)) throw new Error('one pprof profile holds one kind of profile (cpu or off_cpu)');
  const types = PPROF_TYPES[kind];
  const periodNanos = kind === 'cpu' ? first?.periodNanos ?? 0 : 1;
  const mappings = new Map<string, MappingAcc>();
  const functions = new Map<string, PprofFunction>();
  const locations = new Map<string, Location>();
  const samples = new Map<string, Sample>();
  const labelCache = new Map<string, Label>();

  const mappingOf = (f: ProfileFrame): MappingAcc | undefined => {
    if (f.address === undefined || f.module.startsWith('[lost')) return undefined;
    const k = `${f.module}\0${f.buildId ?? ''}`;
    let m = mappings.get(k);
    if (m === undefined) {
      const mapping = new Mapping({
        id: mappings.size + 1,
        filename: str(f.module),
        buildId: f.buildId !== undefined ? str(f.buildId) : 0,
        hasFunctions: true,
      });
      m = { mapping, min: f.address, max: f.address, kernel: f.kernel === true };
      mappings.set(k, m);
    }
    if (f.address < m.min) m.min = f.address;
    if (f.address > m.max) m.max = f.address;
    return m;
  };

  const functionOf = (name: string): PprofFunction => {
    let fn = functions.get(name);
    if (fn === undefined) {
      fn = new PprofFunction({ id: functions.size + 1, name: str(name), systemName: str(name) });
      functions.set(name, fn);
    }
    return fn;
  };

  const locationOf = (f: ProfileFrame): Location => {
    const name = frameName(f);
    const m = mappingOf(f);
    const k = `${m?.mapping.id ?? 0}\0${f.address ?? ''}\0${name}`;
    let loc = locations.get(k);
    if (loc === undefined) {
      loc = new Location({
        id: locations.size + 1,
        mappingId: m?.mapping.id ?? 0,
        address: m !== undefined ? (f.address ?? 0n) : 0n,
        line: [new Line({ functionId: functionOf(name).id })],
      });
      locations.set(k, loc);
    }
    return loc;
  };

  const labelOf = (key: string, value: string): Label => {
    const k = `${key}\0${value}`;
    let l = labelCache.get(k);
    if (l === undefined) {
      l = new Label({ key: str(key), str: str(value) });
      labelCache.set(k, l);
    }
    return l;
  };

  // Frame objects are shared between stacks, and frame arrays between samples of one stack:
  // resolve each once.
  const byFrame = new Map<ProfileFrame, number>();
  const locationId = (f: ProfileFrame): number => {
    let id = byFrame.get(f);
    if (id === undefined) byFrame.set(f, (id = Number(locationOf(f).id)));
    return id;
  };
  const resolved = new Map<readonly ProfileFrame[], number[]>();
  let start: bigint | undefined;
  let end: bigint | undefined;
  for (const rec of list) {
    if (start === undefined || rec.startTimeUnixNano < start) start = rec.startTimeUnixNano;
    if (end === undefined || rec.endTimeUnixNano > end) end = rec.endTimeUnixNano;
    for (const s of rec.samples) {
      let ids = resolved.get(s.frames);
      if (ids === undefined) {
        ids = s.frames.map(locationId);
        resolved.set(s.frames, ids);
      }
      const labelKeys = Object.keys(s.labels).sort();
      const k = `${ids.join(',')}|${labelKeys.map((l) => `${l}=${s.labels[l]}`).join('\0')}`;
      const existing = samples.get(k);
      const nanos = sampleNanos(s, periodNanos);
      if (existing !== undefined) {
        existing.value = [Number(existing.value[0]) + s.count, Number(existing.value[1]) + nanos];
        continue;
      }
      samples.set(k, new Sample({
        locationId: ids,
        value: [s.count, nanos],
        label: labelKeys.map((l) => labelOf(l, s.labels[l] ?? '')),
      }));
    }
  }
  for (const m of mappings.values()) {
    m.mapping.memoryStart = m.min;
    m.mapping.memoryLimit = m.max + 1n;
    // User addresses are file offsets: address − start + offset = address.
    m.mapping.fileOffset = m.kernel ? 0n : m.min;
  }
  return new Profile({
    sampleType: [new ValueType({ type: str(types.count), unit: str('count') }), new ValueType({ type: str(types.time), unit: str('nanoseconds') })],
    sample: [...samples.values()],
    mapping: [...mappings.values()].map((m) => m.mapping),
    location: [...locations.values()],
    function: [...functions.values()],
    stringTable: strings,
    timeNanos: start ?? 0n,
    durationNanos: start !== undefined && end !== undefined ? end - start : 0n,
    periodType: new ValueType({ type: str(types.time), unit: str('nanoseconds') }),
    period: periodNanos,
    defaultSampleType: str(types.time),
  });
}

/** Serialized, uncompressed. */
export function encodePprof(records: ProfileRecord | readonly ProfileRecord[], emptyKind: ProfileKind = 'cpu'): Buffer {
  const bytes = toPprof(records, emptyKind).encode();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Serialized and gzipped (`.pb.gz`), compression on libuv's thread pool. */
export async function encodePprofGzip(records: ProfileRecord | readonly ProfileRecord[]): Promise<Buffer> {
  return gzipAsync(encodePprof(records));
}

export function encodePprofGzipSync(records: ProfileRecord | readonly ProfileRecord[], emptyKind: ProfileKind = 'cpu'): Buffer {
  return gzipSync(encodePprof(records, emptyKind));
}
