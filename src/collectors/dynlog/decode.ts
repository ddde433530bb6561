// dynlog records (bpf/include/dynlog.h struct dl_event) out of a ring-buffer batch, and captured
// bytes back into typed values by the plan's shapes. Pure and total: short records are null, bytes
// that do not match a shape decode to what can be said of them, never an exception.
import type { AttributeValue } from '../../model/span.js';
import type { Shape, ValuePlan } from './plan.js';

export const SLOT_BYTES = 8 + 4 + 4 + 512;
export const EVENT_HEADER_BYTES = 48;
export const FLAG_READ_FAILED = 1;
export const FLAG_TRUNCATED = 2;

export interface DynlogSlot {
  word: bigint;
  stored: Uint8Array;
  flags: number;
}

export interface DynlogEvent {
  tsNs: bigint;
  g: bigint;
  goid: bigint;
  /** The HTTP/1 exchange the thread was serving (profiler span tags), 0n when none. */
  spanTag: bigint;
  pid: number;
  tid: number;
  probeId: number;
  isReturn: boolean;
  slots: DynlogSlot[];
}

export function decodeDynlogEvent(view: DataView, off: number, len: number): DynlogEvent | null {
  if (len < EVENT_HEADER_BYTES) return null;
  const n = view.getUint8(off + 45);
  if (n > 8 || len < EVENT_HEADER_BYTES + n * SLOT_BYTES) return null;
  const slots: DynlogSlot[] = [];
  for (let i = 0; i < n; i++) {
    const s = off + EVENT_HEADER_BYTES + i * SLOT_BYTES;
    const stored = Math.min(view.getUint32(s + 8, true), 512);
    slots.push({ word: view.getBigUint64(s, true), flags: view.getUint32(s + 12, true), stored: new Uint8Array(view.buffer, view.byteOffset + s + 16, stored).slice() });
  }
  return {
    tsNs: view.getBigUint64(off, true), g: view.getBigUint64(off + 8, true), goid: view.getBigUint64(off + 16, true),
    spanTag: view.getBigUint64(off + 24, true), pid: view.getUint32(off + 32, true), tid: view.getUint32(off + 36, true),
    probeId: view.getUint32(off + 40, true), isReturn: view.getUint8(off + 44) !== 0, slots,
  };
}

/** Attributes a value becomes: its own, plus `<attr>.length` / `.truncated` / `.type` where they say something. */
export function decodeValue(plan: ValuePlan, slots: DynlogSlot[], typeName: (address: bigint) => string | undefined): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {};
  const a = plan.attribute;
  const [first, second] = slots;
  if (first === undefined) return out;
  if ((first.flags & FLAG_READ_FAILED) !== 0 && plan.shape.kind !== 'interface') {
    out[a] = plan.shape.kind === 'map' || plan.shape.kind === 'struct' ? 'nil' : '<unreadable>';
    return out;
  }
  const s = plan.shape;
  switch (s.kind) {
    case 'string': {
      out[a] = Buffer.from(first.stored).toString('utf8');
      out[`${a}.length`] = Number(first.word);
      if ((first.flags & FLAG_TRUNCATED) !== 0) out[`${a}.truncated`] = true;
      break;
    }
    case 'slice': {
      out[`${a}.length`] = Number(first.word);
      if (s.elem !== null) out[a] = elements(first.stored, s.elem, s.elemSize, Math.floor(first.stored.length / Math.max(1, s.elemSize)));
      else out[a] = `[]${s.elemName} (${Number(first.word)} elements)`;
      if ((first.flags & FLAG_TRUNCATED) !== 0) out[`${a}.truncated`] = true;
      break;
    }
    case 'map':
      out[a] = `map (${Number(first.word)} entries)`;
      out[`${a}.length`] = Number(first.word);
      break;
    case 'interface': {
      if (first.word === 0n) {
        out[a] = 'nil';
        break;
      }
      const type = typeName(first.word);
      out[`${a}.type`] = type ?? `0x${first.word.toString(16)}`;
      const wrapsMessage = type === '*errors.errorString' || type === '*fmt.wrapError' || type === '*fmt.wrapErrors';
      if (wrapsMessage && second !== undefined && (second.flags & FLAG_READ_FAILED) === 0) out[a] = Buffer.from(second.stored).toString('utf8');
      else out[a] = type ?? 'non-nil';
      break;
    }
    case 'struct':
      out[a] = JSON.stringify(structValue(first.stored, s));
      break;
    case 'array':
      out[a] = s.elem !== null ? elements(first.stored, s.elem, s.elemSize, s.count) : `[${s.count}] (not shown)`;
      break;
    default: {
      // A register's value is stored as its little-endian bytes too.
      const v = scalar(first.stored, s);
      if (v !== undefined) out[a] = v;
    }
  }
  return out;
}

function scalar(bytes: Uint8Array, s: Shape): AttributeValue | undefined {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const need = s.kind === 'int' || s.kind === 'float' ? s.size : s.kind === 'bool' ? 1 : 8;
  if (bytes.length < need) return undefined;
  switch (s.kind) {
    case 'bool': return v.getUint8(0) !== 0;
    case 'float': return s.size === 4 ? v.getFloat32(0, true) : v.getFloat64(0, true);
    case 'pointer': {
      const p = v.getBigUint64(0, true);
      return p === 0n ? 'nil' : `0x${p.toString(16)}`;
    }
    case 'length': return Number(v.getBigInt64(0, true));
    case 'int': {
      let n: bigint;
      if (s.size === 1) n = BigInt(s.signed ? v.getInt8(0) : v.getUint8(0));
      else if (s.size === 2) n = BigInt(s.signed ? v.getInt16(0, true) : v.getUint16(0, true));
      else if (s.size === 4) n = BigInt(s.signed ? v.getInt32(0, true) : v.getUint32(0, true));
      else n = s.signed ? v.getBigInt64(0, true) : v.getBigUint64(0, true);
      // Past 2^53 a number would lose digits: the exact text.
      return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n.toString();
    }
    default: return undefined;
  }
}

function elements(bytes: Uint8Array, elem: Shape, size: number, count: number): string[] | number[] | boolean[] {
  const out: AttributeValue[] = [];
  for (let i = 0; i < count && (i + 1) * size <= bytes.length; i++) {
    const v = scalar(bytes.subarray(i * size, (i + 1) * size), elem);
    if (v !== undefined) out.push(v);
  }
  // OTel arrays hold one type: numbers and booleans stay themselves, anything else becomes text.
  if (out.every((x) => typeof x === 'number')) return out as number[];
  if (out.every((x) => typeof x === 'boolean')) return out as boolean[];
  return out.map(String);
}

function structValue(bytes: Uint8Array, s: Extract<Shape, { kind: 'struct' }>): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {};
  for (const f of s.fields) {
    if (f.shape === null || f.offset + f.size > bytes.length) continue;
    const v = scalar(bytes.subarray(f.offset, f.offset + f.size), f.shape);
    if (v !== undefined) out[f.shape.kind === 'length' ? `${f.name}.length` : f.name] = v;
  }
  return out;
}
