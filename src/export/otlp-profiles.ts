// ProfileRecords → an OTLP ExportProfilesServiceRequest (opentelemetry-proto
// profiles/v1development, the version the Collector's pdata v1.71 / pprofile v0.165 decodes): one
// ResourceProfiles per process (as spans have it), one ScopeProfiles "lantern", one Profile per
// record and process, and one ProfilesDictionary per request that every table index points into.
// Bytes only, no I/O; written in one pass with ProtoWriter (the dictionary is collected while the
// samples are written and comes last: field order does not matter on the wire).
//
// The schema changed between releases (pprofextended, then per-profile tables, then this one:
// a request-wide dictionary, stacks as their own table, one sample type per profile); field
// numbers below are pdata's (internal/generated_proto_*.go, UnmarshalProto):
//   ExportProfilesServiceRequest { 1 resource_profiles, 2 dictionary }
//   ResourceProfiles { 1 resource, 2 scope_profiles }   ScopeProfiles { 1 scope, 2 profiles }
//   Profile { 1 sample_type, 2 samples, 3 time_unix_nano (fixed64), 4 duration_nano, 5 period_type,
//             6 period, 7 profile_id, 11 attribute_indices }
//   Sample { 1 stack_index, 2 attribute_indices, 3 link_index, 4 values, 5 timestamps_unix_nano }
//   ProfilesDictionary { 1 mapping_table, 2 location_table, 3 function_table, 4 link_table,
//                        5 string_table, 6 attribute_table, 7 stack_table }
//   Mapping { 1 memory_start, 2 memory_limit, 3 file_offset, 4 filename_strindex, 5 attribute_indices }
//   Location { 1 mapping_index, 2 address, 3 lines, 4 attribute_indices }   Line { 1 function_index }
//   Function { 1 name_strindex, 2 system_name_strindex, 3 filename_strindex }
//   Link { 1 trace_id, 2 span_id }   KeyValueAndUnit { 1 key_strindex, 2 value, 3 unit_strindex }
//   Stack { 1 location_indices }   ValueType { 1 type_strindex, 2 unit_strindex }
// Index 0 of every table is its zero value ("" for strings), which "unset" indices point at.
//
// CPU profiles: sample type samples/count, period type cpu/nanoseconds, period 1e9 / frequency (as
// the OpenTelemetry eBPF profiler sends them). Off-CPU: off_cpu/nanoseconds (measured), period 1.
// Sample labels become attributes (`thread.id`, `thread.name`, `http.route`, `rpc.method`), a span
// label the sample's link (trace and span id); pid, service and container are the resource's.
import { randomBytes } from 'node:crypto';
import { PROFILE_LABELS, type ProfileFrame, type ProfileRecord, type ProfileSample, profileKind } from '../model/profile.js';
import type { AttributeValue, Attributes } from '../model/span.js';
import { validId } from '../model/hex-id.js';
import { SCOPE_NAME, SCOPE_VERSION, writeAnyValue, writeAttributes } from './otlp-common.js';
import { frameName } from './pprof.js';
import { ProtoWriter } from './proto-writer.js';

/** The resource attributes of a process (service.name and the rest), for its ResourceProfiles. */
export type ProfileResourceOf = (pid: number, service: string) => Attributes;

/** Sample labels that become sample attributes, under their semantic-convention names. */
const SAMPLE_ATTRIBUTES: ReadonlyArray<[label: string, key: string, integer: boolean]> = [
  [PROFILE_LABELS.threadId, 'thread.id', true],
  [PROFILE_LABELS.threadName, 'thread.name', false],
  [PROFILE_LABELS.httpRoute, 'http.route', false],
  [PROFILE_LABELS.rpcMethod, 'rpc.method', false],
];

/** The request-wide tables, each with its zero value at index 0. */
class Dictionary {
  readonly strings = new Map<string, number>([['', 0]]);
  readonly functions = new Map<string, number>([['', 0]]);
  readonly mappings = new Map<string, { index: number; module: string; buildId?: string; kernel: boolean; min: bigint; max: bigint }>();
  readonly locations = new Map<string, { index: number; mapping: number; address: bigint; fn: number; kernel: boolean }>();
  readonly stacks = new Map<string, number>([['', 0]]);
  readonly links = new Map<string, { index: number; traceId: string; spanId: string }>();
  readonly attributes = new Map<string, { index: number; key: number; value: AttributeValue }>();
  /** Frame objects are shared between stacks: each resolved once. */
  readonly byFrame = new Map<ProfileFrame, number>();
  readonly byFrames = new Map<readonly ProfileFrame[], number>();

  str(s: string): number {
    let i = this.strings.get(s);
    if (i === undefined) this.strings.set(s, (i = this.strings.size));
    return i;
  }

  fn(name: string): number {
    let i = this.functions.get(name);
    if (i === undefined) {
      this.str(name);
      this.functions.set(name, (i = this.functions.size));
    }
    return i;
  }

  /** 1-based (0: no mapping), like the locations'. */
  mapping(f: ProfileFrame): number {
    if (f.address === undefined || f.module.startsWith('[lost')) return 0;
    const k = `${f.module}\0${f.buildId ?? ''}`;
    let m = this.mappings.get(k);
    if (m === undefined) {
      this.str(f.module);
      m = { index: this.mappings.size + 1, module: f.module, kernel: f.kernel === true, min: f.address, max: f.address };
      if (f.buildId !== undefined) m.buildId = f.buildId;
      this.mappings.set(k, m);
    }
    if (f.address < m.min) m.min = f.address;
    if (f.address > m.max) m.max = f.address;
    return m.index;
  }

  location(f: ProfileFrame): number {
    let i = this.byFrame.get(f);
    if (i !== undefined) return i;
    const name = frameName(f);
    const mapping = this.mapping(f);
    const address = mapping !== 0 ? f.address ?? 0n : 0n;
    const k = `${mapping}\0${address}\0${name}`;
    let loc = this.locations.get(k);
    if (loc === undefined) {
      loc = { index: this.locations.size + 1, mapping, address, fn: this.fn(name), kernel: f.kernel === true };
      this.locations.set(k, loc);
    }
    this.byFrame.set(f, loc.index);
    return loc.index;
  }

  stack(frames: readonly ProfileFrame[]): number {
    let i = this.byFrames.get(frames);
    if (i !== undefined) return i;
    const k = frames.map((f) => this.location(f)).join(',');
    i = this.stacks.get(k);
    if (i === undefined) this.stacks.set(k, (i = this.stacks.size));
    this.byFrames.set(frames, i);
    return i;
  }

  link(traceId: string, spanId: string): number {
    if (!validId(traceId, 32) || !validId(spanId, 16)) return 0;
    const k = `${traceId}${spanId}`;
    let l = this.links.get(k);
    if (l === undefined) this.links.set(k, (l = { index: this.links.size + 1, traceId, spanId }));
    return l.index;
  }

  attribute(key: string, value: AttributeValue): number {
    const k = `${key}\0${typeof value}\0${String(value)}`;
    let a = this.attributes.get(k);
    if (a === undefined) this.attributes.set(k, (a = { index: this.attributes.size + 1, key: this.str(key), value }));
    return a.index;
  }

  write(w: ProtoWriter): void {
    w.begin(2); // ProfilesDictionary
    w.begin(1); // mapping_table[0]
    w.end();
    const kernelFrame = this.attribute('profile.frame.type', 'kernel');
    const nativeFrame = this.attribute('profile.frame.type', 'native');
    for (const m of this.mappings.values()) {
      w.begin(1);
      w.uint64(1, m.min);
      w.uint64(2, m.max + 1n);
      // User addresses are file offsets: address − start + offset = address (as in pprof.ts).
      if (!m.kernel) w.uint64(3, m.min);
      w.varint(4, this.strings.get(m.module) ?? 0);
      if (m.buildId !== undefined) w.packedVarints(5, [this.attribute('process.executable.build_id.gnu', m.buildId)]);
      w.end();
    }
    w.begin(2); // location_table[0]
    w.end();
    for (const l of this.locations.values()) {
      w.begin(2);
      if (l.mapping !== 0) w.varint(1, l.mapping);
      if (l.address !== 0n) w.uint64(2, l.address);
      w.begin(3); // Line
      w.varint(1, l.fn);
      w.end();
      w.packedVarints(4, [l.kernel ? kernelFrame : nativeFrame]);
      w.end();
    }
    for (const name of this.functions.keys()) {
      w.begin(3); // Function
      const s = this.strings.get(name) ?? 0;
      if (s !== 0) {
        w.varint(1, s);
        w.varint(2, s);
      }
      w.end();
    }
    w.begin(4); // link_table[0]
    w.end();
    for (const l of this.links.values()) {
      w.begin(4);
      w.hexBytes(1, l.traceId);
      w.hexBytes(2, l.spanId);
      w.end();
    }
    w.begin(6); // attribute_table[0]
    w.end();
    for (const a of this.attributes.values()) {
      w.begin(6);
      w.varint(1, a.key);
      writeAnyValue(w, 2, a.value);
      w.end();
    }
    for (const k of this.stacks.keys()) {
      w.begin(7); // Stack
      if (k !== '') w.packedVarints(1, k.split(',').map(Number));
      w.end();
    }
    // Last: the tables above may still have added strings.
    for (const s of this.strings.keys()) w.string(5, s);
    w.end();
  }
}

function writeValueType(w: ProtoWriter, field: number, d: Dictionary, type: string, unit: string): void {
  w.begin(field);
  w.varint(1, d.str(type));
  w.varint(2, d.str(unit));
  w.end();
}

function writeSample(w: ProtoWriter, d: Dictionary, s: ProfileSample, value: number): void {
  w.begin(2); // Sample
  const stack = d.stack(s.frames);
  if (stack !== 0) w.varint(1, stack);
  const attrs: number[] = [];
  for (const [label, key, integer] of SAMPLE_ATTRIBUTES) {
    const v = s.labels[label];
    if (v === undefined || v === '') continue;
    attrs.push(d.attribute(key, integer && /^\d+$/.test(v) ? Number(v) : v));
  }
  w.packedVarints(2, attrs);
  const traceId = s.labels[PROFILE_LABELS.traceId];
  const spanId = s.labels[PROFILE_LABELS.spanId];
  if (traceId !== undefined && spanId !== undefined) {
    const link = d.link(traceId, spanId);
    if (link !== 0) w.varint(3, link);
  }
  w.packedVarints(4, [value]);
  w.end();
}

/** Samples by the process they came from (the `pid` label), in first-seen order. */
function byProcess(samples: readonly ProfileSample[]): Map<number, ProfileSample[]> {
  const out = new Map<number, ProfileSample[]>();
  for (const s of samples) {
    const pid = Number(s.labels[PROFILE_LABELS.pid] ?? 0);
    let list = out.get(pid);
    if (list === undefined) out.set(pid, (list = []));
    list.push(s);
  }
  return out;
}

const writer = new ProtoWriter();

/**
 * One ExportProfilesServiceRequest (protobuf) holding `records` (CPU and off-CPU alike), a fresh
 * copy the caller may keep while it sends.
 */
export function encodeProfilesRequest(records: readonly ProfileRecord[], resourceOf: ProfileResourceOf): Uint8Array {
  const w = writer;
  w.reset();
  const d = new Dictionary();
  for (const rec of records) {
    const kind = profileKind(rec);
    for (const [pid, samples] of byProcess(rec.samples)) {
      w.begin(1); // ResourceProfiles
      w.begin(1); // Resource
      writeAttributes(w, 1, resourceOf(pid, rec.service));
      w.end();
      w.begin(2); // ScopeProfiles
      w.begin(1);
      w.string(1, SCOPE_NAME);
      w.string(2, SCOPE_VERSION);
      w.end();
      w.begin(2); // Profile
      if (kind === 'cpu') writeValueType(w, 1, d, 'samples', 'count');
      else writeValueType(w, 1, d, 'off_cpu', 'nanoseconds');
      for (const s of samples) writeSample(w, d, s, kind === 'cpu' ? s.count : s.nanos ?? 0);
      w.fixed64(3, rec.startTimeUnixNano);
      w.varint(4, Number(rec.endTimeUnixNano - rec.startTimeUnixNano));
      if (kind === 'cpu') writeValueType(w, 5, d, 'cpu', 'nanoseconds');
      else writeValueType(w, 5, d, 'off_cpu', 'nanoseconds');
      w.varint(6, kind === 'cpu' ? rec.periodNanos : 1);
      w.bytes(7, randomBytes(16));
      w.end();
      w.end();
      w.end();
    }
  }
  d.write(w);
  return Buffer.copyBytesFrom(w.finish());
}
