// What the OTLP encoders of every signal share: the request envelope (one Resource<Signal> per
// process, one Scope<Signal> "lantern" in it), the Resource message encoded once per process, and
// AnyValue/KeyValue, in protobuf (common/v1/common.proto, resource/v1/resource.proto) and in the
// protobuf JSON mapping (lowerCamelCase, 64-bit integers as strings, ids as hex). The envelopes of
// trace/v1/trace.proto and logs/v1/logs.proto use the same field numbers:
//   Export<Signal>ServiceRequest { repeated Resource<Signal> resource_<signal> = 1; }
//   Resource<Signal> { Resource resource = 1; repeated Scope<Signal> scope_<signal> = 2; }
//   Scope<Signal> { InstrumentationScope scope = 1; repeated <Record> <records> = 2; }
// so one writer serves both; each signal's module writes its own records (otlp-spans.ts, otlp-logs.ts).
// The exporters encode each record on its own as it is handed over (encodeRecord,
// encodeRecordJson) and put a batch's encoded records in their envelope when it is sent.
import type { AttributeValue, Attributes, ResourceRecord } from '../model/span.js';
import { ByteBuffer, setBytes } from './byte-buffer.js';
import { JsonWriter } from './json-writer.js';
import { ProtoWriter, lengthDelimitedSize, putLengthDelimited } from './proto-writer.js';
import type { ReusableBuffers } from './reusable-buffers.js';
import type { ResourceCache, ResourceEntry } from './resource-cache.js';

export const SCOPE_NAME = 'lantern';
export const SCOPE_VERSION = '0.1.0';

/**
 * One record encoded for one destination as soon as it is handed over (the exporters' queues hold
 * these, not the records: a span's object graph then dies young instead of waiting for its batch,
 * which made V8 promote, even pretenure, every span): `arena[start, end)` is the record message
 * with its tag and length (protobuf, field 2 of its Scope<Signal>) or its JSON object.
 */
export interface EncodedRecord {
  resource: ResourceEntry;
  arena: Uint8Array;
  start: number;
  end: number;
}

/**
 * Where one destination's encoded records live: slabs filled one after the other. A slab whose
 * records have all been sent (release) is kept for reuse, up to a full queue's worth; one whose
 * records were dropped on the way is simply left to the garbage collector. Reuse matters: a fresh
 * 256 KiB ArrayBuffer every ~200 spans was a malloc, 64 page faults and external memory that V8
 * answers with young-generation GCs of its own, and a slab that waited in the queue long enough to
 * be promoted was freed only at the next full GC. Records are encoded in place, by the arena's own
 * writers (encodeRecord, encodeRecordJson: begin, write, commit); a record given as bytes (add) is
 * copied in.
 */
export class RecordArena {
  #slab: Uint8Array;
  #pos = 0;
  /** Records in the slab being filled not yet released. */
  #slabUnsent = 0;
  /** The same for the slabs filled before (weakly: a slab of lost records must not stay). */
  readonly #unsent = new WeakMap<Uint8Array, number>();
  readonly #spare: Uint8Array[] = [];
  /** The fewest spares held since the last trimSpares: that many went unused the whole time. */
  #fewestSpare = 0;
  readonly #maxSpare: number;
  #slabsAllocated = 1;
  /** The writers that encode into the slabs, made on first use (a destination uses one of them). */
  #proto: ProtoWriter | null = null;
  #json: JsonWriter | null = null;
  /** Room a slab must have left for a record to be written into it (a sixteenth of a slab). */
  readonly #room: number;

  /**
   * @param slabBytes one slab (a record larger than that gets a slab of its own, never reused)
   * @param maxSpareBytes emptied slabs kept for reuse, at most
   */
  constructor(private readonly slabBytes = 256 * 1024, maxSpareBytes = MAX_SPARE_BYTES) {
    this.#slab = slab(slabBytes);
    this.#room = slabBytes >> 4;
    this.#maxSpare = Math.max(KEPT_AT_REST, Math.floor(maxSpareBytes / slabBytes));
  }

  /** A record encoded elsewhere: its bytes copied in. */
  add(resource: ResourceEntry, bytes: Uint8Array): EncodedRecord {
    const n = bytes.length;
    if (this.#pos + n > this.#slab.length) this.#nextSlab(n);
    const start = this.#pos;
    setBytes(this.#slab, bytes, start);
    return this.#added(resource, start, start + n);
  }

  /** The arena's protobuf writer, set to write the next record in place (then commit). */
  protoWriter(): ProtoWriter {
    const w = (this.#proto ??= new ProtoWriter(0));
    this.#begin(w);
    return w;
  }

  /** The arena's JSON writer, set to write the next record in place (then commit). */
  jsonWriter(): JsonWriter {
    const w = (this.#json ??= new JsonWriter(0));
    this.#begin(w);
    return w;
  }

  /**
   * The record `w` wrote since protoWriter() or jsonWriter() handed it out. A record that outgrew
   * the slab's room was moved by the writer to memory of its own (with a copy of the slab's earlier
   * bytes: rare, a record larger than the room left): it is copied in from there, as add() does.
   * A record not committed (it could not be written) takes no room. Its last `trailing` bytes are
   * not the record's, but stay in the slab after it.
   */
  commit(resource: ResourceEntry, w: ProtoWriter | JsonWriter, trailing = 0): EncodedRecord {
    const start = this.#pos;
    const end = w.length - trailing;
    if (w.buffer !== this.#slab) return this.add(resource, w.buffer.subarray(start, end));
    const record = this.#added(resource, start, end);
    this.#pos = w.length; // the `trailing` bytes stay after the record (encodeRecordJson's comma)
    return record;
  }

  #begin(w: ProtoWriter | JsonWriter): void {
    if (this.#slab.length - this.#pos < this.#room) this.#nextSlab(this.#room);
    w.resetAt(this.#slab, this.#pos);
  }

  #added(resource: ResourceEntry, start: number, end: number): EncodedRecord {
    this.#pos = end;
    this.#slabUnsent++;
    return { resource, arena: this.#slab, start, end };
  }

  /** Fills a spare slab, or a new one (one of its own for a record of `n` bytes larger than a slab). */
  #nextSlab(n: number): void {
    if (this.#slabUnsent > 0) this.#unsent.set(this.#slab, this.#slabUnsent);
    this.#slab = (n <= this.slabBytes ? this.#spare.pop() : undefined) ?? this.#newSlab(n);
    if (this.#spare.length < this.#fewestSpare) this.#fewestSpare = this.#spare.length;
    this.#pos = 0;
    this.#slabUnsent = 0;
  }

  /** Records whose bytes were copied out (into a request): their slabs may be reused once empty. */
  release(records: readonly EncodedRecord[]): void {
    for (let i = 0; i < records.length;) {
      const slab = records[i]!.arena;
      let run = 0;
      while (i < records.length && records[i]!.arena === slab) {
        run++;
        i++;
      }
      if (slab === this.#slab) {
        this.#slabUnsent -= run;
        // The slab being filled is empty again: start over in it.
        if (this.#slabUnsent <= 0) this.#pos = this.#slabUnsent = 0;
        continue;
      }
      const left = (this.#unsent.get(slab) ?? run) - run;
      if (left > 0) {
        this.#unsent.set(slab, left);
        continue;
      }
      this.#unsent.delete(slab);
      if (slab.length === this.slabBytes && this.#spare.length < this.#maxSpare) this.#spare.push(slab);
    }
  }

  /**
   * Lets go of the spares that no slab needed since the last call, down to the few kept at rest:
   * after a burst the arena gives back its high-water mark within two calls, while under a steady
   * load the slabs it cycles through stay.
   */
  trimSpares(): void {
    const unused = Math.min(this.#fewestSpare, this.#spare.length - KEPT_AT_REST);
    if (unused > 0) this.#spare.splice(0, unused);
    this.#fewestSpare = this.#spare.length;
  }

  stats(): { slabsAllocated: number; spareSlabs: number } {
    return { slabsAllocated: this.#slabsAllocated, spareSlabs: this.#spare.length };
  }

  #newSlab(n: number): Uint8Array {
    this.#slabsAllocated++;
    return slab(Math.max(this.slabBytes, n));
  }
}

/**
 * A slab of `n` bytes: a plain Uint8Array over memory of its own (allocUnsafeSlow: not the pool's),
 * not a Buffer. Its records are copied out through views of it (subarray), made per record: a
 * Buffer's view is a FastBuffer made in JavaScript (~100 ns), a Uint8Array's the builtin's.
 */
function slab(n: number): Uint8Array {
  const b = Buffer.allocUnsafeSlow(n);
  return new Uint8Array(b.buffer, b.byteOffset, n);
}

/**
 * Emptied slabs kept per arena for reuse: a full span queue's worth (16,384 records of ~1.3 KB of
 * JSON is ~21 MB), so that a queue filling and emptying cycles through the same slabs. With 8 kept
 * (2 MiB), past the agent's capacity (40k req/s asked, file only) ~400 new slabs a second went to
 * the garbage collector, many of them promoted while their records waited, and were freed only at
 * full GCs: the agent's peak RSS was 200–217 MiB, 169–178 with every slab reused
 * (benchmarks/RESULTS.md, "Overload"). What a burst leaves is given back by trimSpares.
 */
const MAX_SPARE_BYTES = 32 << 20;
/** Spares trimSpares keeps: a batch of up to 1.75 MiB (maxBatchBytes) empties 7 slabs at once. */
const KEPT_AT_REST = 8;

interface ResourceGroup {
  resource: ResourceEntry;
  records: EncodedRecord[];
}

/**
 * The encoded records of a batch by resource, in first-seen order. A run of records of one resource
 * (a batch holds a few processes' records, often in runs) joins its group without a lookup, and the
 * lookup makes no closure per record (two `find` callbacks per record were ~4 % of what the hot
 * path allocates).
 */
function byResource(records: readonly EncodedRecord[]): ResourceGroup[] {
  const groups: ResourceGroup[] = [];
  const byKey = new Map<string, ResourceGroup[]>();
  let last: ResourceGroup | undefined;
  for (const r of records) {
    if (last === undefined || last.resource !== r.resource) last = groupOf(byKey, groups, r.resource);
    last.records.push(r);
  }
  return groups;
}

/** The group of `resource` (the same entry, or one alike), made and listed in `groups` when new. */
function groupOf(byKey: Map<string, ResourceGroup[]>, groups: ResourceGroup[], resource: ResourceEntry): ResourceGroup {
  let same = byKey.get(resource.key);
  if (same === undefined) byKey.set(resource.key, (same = []));
  for (const g of same) if (g.resource === resource) return g;
  for (const g of same) if (g.resource.sameAs(resource)) return g;
  const g: ResourceGroup = { resource, records: [] };
  same.push(g);
  groups.push(g);
  return g;
}

// --- protobuf --------------------------------------------------------------------------------

export function writeAnyValue(w: ProtoWriter, field: number, v: AttributeValue): void {
  w.begin(field);
  if (typeof v === 'string') w.string(1, v);
  else if (typeof v === 'boolean') w.bool(2, v);
  else if (typeof v === 'number') {
    if (Number.isSafeInteger(v)) w.varint(3, v);
    else w.double(4, v);
  } else {
    w.begin(5); // ArrayValue
    for (const x of v) writeAnyValue(w, 1, x);
    w.end();
  }
  w.end();
}

/**
 * Per attribute name, its encoding as the start of a KeyValue, made once: names repeat on every
 * record, and are bounded (the semantic conventions' names, plus configured header names); past
 * MAX_KEY_ENCODINGS a name is encoded each time instead of kept.
 */
const MAX_KEY_ENCODINGS = 4096;

function keyEncoding(cache: Map<string, Uint8Array>, key: string, make: (key: string) => Uint8Array): Uint8Array {
  let e = cache.get(key);
  if (e === undefined) {
    e = make(key);
    if (cache.size < MAX_KEY_ENCODINGS) cache.set(key, e);
  }
  return e;
}

/** KeyValue.key (field 1) with its tag and length, as bytes. */
const keyFields = new Map<string, Uint8Array>();
const keyWriter = new ProtoWriter(256);

function makeKeyField(key: string): Uint8Array {
  keyWriter.reset();
  keyWriter.string(1, key);
  return Uint8Array.from(keyWriter.finish());
}

/**
 * Encodings of frozen attribute sets, by object. The conventions give the spans of alike exchanges
 * one frozen set (semconv/http.ts: keep-alive traffic repeats its method, target, status and peer),
 * so a set is encoded once, then copied into each record that has it. Weak: an encoding goes with
 * its set. A set that is not frozen may still change, and is encoded every time.
 */
const frozenProto = new WeakMap<Attributes, { field: number; bytes: Uint8Array }>();
const frozenJson = new WeakMap<Attributes, Uint8Array>();

/** `attrs` as repeated KeyValue field `field`. */
export function writeAttributes(w: ProtoWriter, field: number, attrs: Attributes): void {
  // Looked up before Object.isFrozen (a call into V8's runtime): a set in the table was frozen when
  // it went in, and stays so. A set never frozen is a quick miss (no identity hash to look up).
  const known = frozenProto.get(attrs);
  if (known !== undefined && known.field === field) return w.encoded(known.bytes);
  if (!Object.isFrozen(attrs)) return writeKeyValues(w, field, attrs);
  const start = w.length;
  writeKeyValues(w, field, attrs);
  frozenProto.set(attrs, { field, bytes: w.copyFrom(start) });
}

function writeKeyValues(w: ProtoWriter, field: number, attrs: Attributes): void {
  for (const key in attrs) {
    const v = attrs[key];
    if (v === undefined) continue;
    const keyField = keyEncoding(keyFields, key, makeKeyField);
    if ((typeof v === 'string' || typeof v === 'number') && w.shortKeyValue(field, keyField, v)) continue;
    w.begin(field); // KeyValue
    w.encoded(keyField);
    writeAnyValue(w, 2, v);
    w.end();
  }
}

function resourceProto(entry: ResourceEntry): Uint8Array {
  return entry.encoding('proto', (attributes) => {
    const w = new ProtoWriter(1024);
    writeAttributes(w, 1, attributes);
    return Uint8Array.from(w.finish());
  });
}

/**
 * One record as protobuf: `writeRecord` writes its fields into the open record message. Null when
 * it says the record cannot be written (malformed ids or times): nothing of it reaches the arena.
 */
export function encodeRecord<R>(record: R, resource: ResourceEntry, arena: RecordArena, writeRecord: (w: ProtoWriter, r: R) => boolean): EncodedRecord | null {
  const w = arena.protoWriter();
  w.beginRecord(2);
  if (!writeRecord(w, record)) return null;
  w.endRecord();
  return arena.commit(resource, w);
}

/** The records of a one-off request, each encoded: they must all be writable. */
function encodeAll<R extends { resource: ResourceRecord }>(records: readonly R[], encode: (r: R) => EncodedRecord | null): EncodedRecord[] {
  return records.map((r) => {
    const e = encode(r);
    if (e === null) throw new Error('a record with malformed ids or times cannot be encoded');
    return e;
  });
}

/** Scope<Signal>.scope (field 1: the InstrumentationScope), the same in every request. */
let scopeField: Uint8Array | null = null;

function scopeFieldBytes(): Uint8Array {
  if (scopeField === null) {
    const w = new ProtoWriter(256);
    w.begin(1);
    w.string(1, SCOPE_NAME);
    w.string(2, SCOPE_VERSION);
    w.end();
    scopeField = Uint8Array.from(w.finish());
  }
  return scopeField;
}

/** One Resource<Signal> of a request, its lengths known before it is written. */
interface SizedGroup {
  resource: Uint8Array;
  records: EncodedRecord[];
  /** Resource<Signal>'s body: its resource (field 1) and its one Scope<Signal> (field 2). */
  resourceLength: number;
  /** Scope<Signal>'s body: the scope, then the records. */
  scopeLength: number;
}

/**
 * A request's envelopes sized before a byte of it is written. ProtoWriter gives a sub-message's
 * length one byte and moves the body up when it needs more (end()): a request's two envelopes per
 * resource hold all its records, so each moved nearly the whole request, two passes over up to
 * 1.75 MiB besides the one that copies the records in. With every length known the request is
 * written in one pass, straight into the buffer it leaves from (encodedRequestIn).
 */
function sizedRequest(records: readonly EncodedRecord[]): { groups: SizedGroup[]; bytes: number } {
  const scope = scopeFieldBytes();
  const groups: SizedGroup[] = [];
  let bytes = 0;
  for (const g of byResource(records)) {
    let recordBytes = 0;
    for (const r of g.records) recordBytes += r.end - r.start;
    const resource = resourceProto(g.resource);
    const scopeLength = scope.length + recordBytes;
    const resourceLength = lengthDelimitedSize(1, resource.length) + lengthDelimitedSize(2, scopeLength);
    bytes += lengthDelimitedSize(1, resourceLength);
    groups.push({ resource, records: g.records, resourceLength, scopeLength });
  }
  return { groups, bytes };
}

/** Writes the request sizedRequest measured into `out` (at least its `bytes` long), from its start. */
function writeSizedRequest(groups: readonly SizedGroup[], out: Uint8Array): void {
  const scope = scopeFieldBytes();
  let p = 0;
  for (const g of groups) {
    p = putLengthDelimited(out, p, 1, g.resourceLength); // Resource<Signal>
    p = putLengthDelimited(out, p, 1, g.resource.length);
    setBytes(out, g.resource, p);
    p += g.resource.length;
    p = putLengthDelimited(out, p, 2, g.scopeLength); // Scope<Signal>
    setBytes(out, scope, p);
    p += scope.length;
    // Records that lie one after another in one slab (a process's records encoded in a row,
    // TelemetryExporter) are copied as one: a copy per record cost a view and a call of its own.
    let slab: Uint8Array | null = null;
    let from = 0;
    let to = 0;
    for (const r of g.records) {
      if (r.arena === slab && r.start === to) {
        to = r.end;
        continue;
      }
      if (slab !== null) p = copyRun(out, p, slab, from, to);
      slab = r.arena;
      from = r.start;
      to = r.end;
    }
    if (slab !== null) p = copyRun(out, p, slab, from, to);
  }
}

/** `slab[from, to)` copied into `out` at `p`; the position after it. */
function copyRun(out: Uint8Array, p: number, slab: Uint8Array, from: number, to: number): number {
  setBytes(out, slab.subarray(from, to), p);
  return p + to - from;
}

/** The buffer encodedRequestView writes into, grown as requests need. */
const requestBuffer = new ByteBuffer(64 * 1024);

/**
 * One Export<Signal>ServiceRequest (protobuf) of records encoded by encodeRecord, in the encoder's
 * own buffer: valid until the next request is encoded (copy it to keep it).
 */
export function encodedRequestView(records: readonly EncodedRecord[]): Uint8Array {
  const { groups, bytes } = sizedRequest(records);
  const b = requestBuffer;
  b.pos = 0; // nothing kept from the last request: a buffer grown for this one copies no bytes
  b.ensure(bytes);
  writeSizedRequest(groups, b.buf);
  return b.buf.subarray(0, bytes);
}

/** The same request written straight into a buffer of `bodies` (give it back with `bodies.release`). */
export function encodedRequestIn(records: readonly EncodedRecord[], bodies: ReusableBuffers): Buffer {
  const { groups, bytes } = sizedRequest(records);
  const body = bodies.take(bytes);
  writeSizedRequest(groups, body);
  return body;
}

/** The same request in a buffer of its own: callers may keep it. */
export function encodedRequest(records: readonly EncodedRecord[]): Uint8Array {
  const { groups, bytes } = sizedRequest(records);
  const body = Buffer.alloc(bytes);
  writeSizedRequest(groups, body);
  return body;
}

/** One Export<Signal>ServiceRequest (protobuf) for `records`, encoded at once (tests, one-off bodies). */
export function encodeRequest<R extends { resource: ResourceRecord }>(records: readonly R[], resources: ResourceCache,
  writeRecord: (w: ProtoWriter, r: R) => boolean): Uint8Array {
  const arena = new RecordArena(64 * 1024);
  return encodedRequest(encodeAll(records, (r) => encodeRecord(r, resources.entry(r.resource), arena, writeRecord)));
}

// --- JSON ------------------------------------------------------------------------------------
//
// Written piece by piece into the line's buffer: fixed fragments are bytes made once, short plain
// text is copied in JavaScript, and no string is built per record (joining them made V8 flatten and
// copy every record's text twice).

/** A fixed JSON fragment as UTF-8 bytes, made once. */
export const J = (text: string): Uint8Array => Buffer.from(text, 'utf8');
const J_STRING = J('{"stringValue":');
const J_BOOL_TRUE = J('{"boolValue":true}');
const J_BOOL_FALSE = J('{"boolValue":false}');
const J_INT = J('{"intValue":"');
const J_INT_END = J('"}');
const J_DOUBLE = J('{"doubleValue":');
const J_ARRAY = J('{"arrayValue":{"values":[');
const J_ARRAY_END = J(']}}');
export const J_CLOSE = J('}');
const J_COMMA = J(',');
export const J_QUOTE = J('"');
const J_OPEN_LIST = J('[');
const J_CLOSE_LIST = J(']');

export function writeAnyValueJson(w: JsonWriter, v: AttributeValue): void {
  if (typeof v === 'string') {
    w.bytes(J_STRING).string(v).bytes(J_CLOSE);
  } else if (typeof v === 'boolean') {
    w.bytes(v ? J_BOOL_TRUE : J_BOOL_FALSE);
  } else if (typeof v === 'number') {
    if (Number.isSafeInteger(v)) w.bytes(J_INT).integer(v).bytes(J_INT_END);
    // NaN and ±Infinity are strings in the JSON mapping.
    else w.bytes(J_DOUBLE).raw(Number.isFinite(v) ? String(v) : `"${String(v)}"`).bytes(J_CLOSE);
  } else {
    w.bytes(J_ARRAY);
    for (let i = 0; i < v.length; i++) {
      if (i > 0) w.bytes(J_COMMA);
      writeAnyValueJson(w, v[i]!);
    }
    w.bytes(J_ARRAY_END);
  }
}

/**
 * `{"key":"<name>","value":` per attribute name, as bytes (see keyEncoding); and the same joined
 * with the start of a string or integer AnyValue, the two kinds nearly every attribute is: one copy
 * per attribute instead of two.
 */
const keyPrefixes = new Map<string, Uint8Array>();
const keyStringPrefixes = new Map<string, Uint8Array>();
const keyIntPrefixes = new Map<string, Uint8Array>();
const keyText = (key: string): string => `{"key":${JSON.stringify(key)},"value":`;
const makeKeyPrefix = (key: string): Uint8Array => J(keyText(key));
const makeKeyStringPrefix = (key: string): Uint8Array => J(`${keyText(key)}{"stringValue":`);
const makeKeyIntPrefix = (key: string): Uint8Array => J(`${keyText(key)}{"intValue":"`);
const J_STRING_KV_END = J('}}');
const J_INT_KV_END = J('"}}');

/** A JSON array of KeyValue. */
export function writeAttributesJson(w: JsonWriter, attrs: Attributes): void {
  const known = frozenJson.get(attrs); // before Object.isFrozen, as writeAttributes
  if (known !== undefined) {
    w.bytes(known);
    return;
  }
  if (!Object.isFrozen(attrs)) return writeKeyValuesJson(w, attrs);
  const start = w.length;
  writeKeyValuesJson(w, attrs);
  frozenJson.set(attrs, w.copyFrom(start));
}

function writeKeyValuesJson(w: JsonWriter, attrs: Attributes): void {
  w.bytes(J_OPEN_LIST);
  let first = true;
  for (const key in attrs) {
    const v = attrs[key];
    if (v === undefined) continue;
    if (!first) w.bytes(J_COMMA);
    first = false;
    // The same bytes as the prefix, writeAnyValueJson and J_CLOSE.
    if (typeof v === 'string') {
      w.bytes(keyEncoding(keyStringPrefixes, key, makeKeyStringPrefix)).string(v).bytes(J_STRING_KV_END);
    } else if (typeof v === 'number' && Number.isSafeInteger(v)) {
      w.bytes(keyEncoding(keyIntPrefixes, key, makeKeyIntPrefix)).integer(v).bytes(J_INT_KV_END);
    } else {
      w.bytes(keyEncoding(keyPrefixes, key, makeKeyPrefix));
      writeAnyValueJson(w, v);
      w.bytes(J_CLOSE);
    }
  }
  w.bytes(J_CLOSE_LIST);
}

function resourceJson(entry: ResourceEntry): Uint8Array {
  return entry.encoding('json', (attributes) => {
    const w = new JsonWriter(1024);
    w.raw('{"attributes":');
    writeAttributesJson(w, attributes);
    w.raw(',"droppedAttributesCount":0}');
    return Uint8Array.from(w.finish());
  });
}

const jsonWriter = new JsonWriter();
/** The JSON names of a signal's envelope, e.g. resourceSpans / scopeSpans / spans. */
export interface JsonEnvelope {
  resource: string;
  scope: string;
  records: string;
}

/**
 * How one signal's records are written: a record's protobuf fields, its JSON object, its JSON
 * envelope. A writer returns false for a record that cannot be written (checked as it writes).
 */
export interface SignalEncoding<R> {
  proto(w: ProtoWriter, r: R): boolean;
  json(w: JsonWriter, r: R): boolean;
  envelope: JsonEnvelope;
}

/** One record as a JSON object: `writeRecord` writes it. Null as for encodeRecord. */
export function encodeRecordJson<R>(record: R, resource: ResourceEntry, arena: RecordArena, writeRecord: (w: JsonWriter, r: R) => boolean): EncodedRecord | null {
  const w = arena.jsonWriter();
  if (!writeRecord(w, record)) return null;
  // A comma after the record, not its own: records written one after the other in a slab are then a
  // run of a JSON array's elements, sent from the slab as they are (encodedRequestJsonChunks).
  w.bytes(J_COMMA);
  return arena.commit(resource, w, 1);
}

/**
 * An Export<Signal>ServiceRequest's JSON line around `records`, written into `w` (reset first): the
 * envelope, one Resource<Signal> per process, and each group's records by `writeRecords` (the
 * commas between them its own to write).
 */
function writeJsonLine(names: JsonEnvelope, records: readonly EncodedRecord[], w: JsonWriter, writeRecords: (records: readonly EncodedRecord[]) => void): void {
  w.reset();
  w.raw(`{"${names.resource}":[`);
  let firstGroup = true;
  for (const g of byResource(records)) {
    w.raw(firstGroup ? '{"resource":' : ',{"resource":');
    firstGroup = false;
    w.bytes(resourceJson(g.resource));
    w.raw(`,"${names.scope}":[{"scope":{"name":"${SCOPE_NAME}","version":"${SCOPE_VERSION}"},"${names.records}":[`);
    writeRecords(g.records);
    w.raw(']}]}');
  }
  w.raw(']}\n');
}

/**
 * One Export<Signal>ServiceRequest as one line of OTLP JSON (UTF-8, newline included) of records
 * encoded by encodeRecordJson, written into `w` (by default a writer shared by every caller). The
 * result is that writer's memory, valid until it writes again: copy it to keep it.
 */
export function encodedRequestJsonLine(names: JsonEnvelope, records: readonly EncodedRecord[], w: JsonWriter = jsonWriter): Buffer {
  writeJsonLine(names, records, w, (rs) => {
    for (let i = 0; i < rs.length; i++) {
      if (i > 0) w.bytes(J_COMMA);
      const r = rs[i]!;
      w.range(r.arena, r.start, r.end);
    }
  });
  // The writer's own bytes, no copy: a network body is copied by its caller.
  return w.finish();
}

/**
 * The line encodedRequestJsonLine writes, as chunks to write one after the other: the envelope's text
 * in `w`, and each run of records encoded one after the other (encodeRecordJson's commas between
 * them) as a view of its slab. The file takes them in one writev: a line of 4,096 spans copied into
 * the writer was ~9 % of the JS thread, reading records written a batch's filling before. The slabs
 * must stay as they are until the chunks are written (the caller releases the records then).
 */
export function encodedRequestJsonChunks(names: JsonEnvelope, records: readonly EncodedRecord[], w: JsonWriter): Uint8Array[] {
  const pieces: Array<{ arena: Uint8Array | null; start: number; end: number }> = [];
  let textFrom = 0;
  const text = (): void => {
    if (w.length > textFrom) pieces.push({ arena: null, start: textFrom, end: w.length });
    textFrom = w.length;
  };
  writeJsonLine(names, records, w, (rs) => {
    for (let i = 0; i < rs.length;) {
      if (i > 0) w.bytes(J_COMMA);
      const first = rs[i]!;
      let last = first;
      // The next record right after this one's comma (a record copied in by RecordArena.add has none after it).
      for (i++; i < rs.length && rs[i]!.arena === last.arena && rs[i]!.start === last.end + 1; i++) last = rs[i]!;
      text();
      pieces.push({ arena: first.arena, start: first.start, end: last.end });
    }
  });
  text();
  const written = w.written();
  return pieces.map((p) => (p.arena ?? written).subarray(p.start, p.end));
}

/** One line of OTLP JSON for `records`, encoded at once (tests, one-off bodies); the shared writer's memory. */
export function requestJsonLine<R extends { resource: ResourceRecord }>(names: JsonEnvelope, records: readonly R[], resources: ResourceCache,
  writeRecord: (w: JsonWriter, r: R) => boolean): Buffer {
  const arena = new RecordArena(64 * 1024);
  return encodedRequestJsonLine(names, encodeAll(records, (r) => encodeRecordJson(r, resources.entry(r.resource), arena, writeRecord)));
}
