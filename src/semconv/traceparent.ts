// W3C Trace Context (https://www.w3.org/TR/trace-context/): the `traceparent` and `tracestate`
// request headers, parsed strictly. Anything invalid is ignored (the span starts a new trace), never
// "repaired": two parsers that repair differently would disagree about which trace a request is in.
import { isHexId } from '../model/hex-id.js';
import type { HeaderFields } from '../model/http.js';

export interface TraceParent {
  /** Two lowercase hex digits; "00" is the only version defined so far. */
  version: string;
  /** 32 lowercase hex digits, not all zero. */
  traceId: string;
  /** 16 lowercase hex digits, not all zero: the span id of the caller's span. */
  parentId: string;
  /** The trace-flags byte; bit 0 is "sampled". */
  traceFlags: number;
}

/** version "-" trace-id "-" parent-id "-" trace-flags (§3.2.2). */
const V00_LENGTH = 55;

/**
 * One `traceparent` value. Version 00 must be exactly 55 characters. A higher version is parsed the
 * way §3.2.4 asks (its first four fields as version 00, then end of value or "-"); version "ff" is
 * forbidden. Uppercase hex and all-zero ids are invalid (§3.2.2.3, §3.2.2.4).
 */
export function parseTraceparent(raw: string): TraceParent | null {
  // Optional whitespace around a field value is not part of it (RFC 9110 §5.5).
  const value = raw.replace(/^[ \t]+|[ \t]+$/g, '');
  if (value.length < V00_LENGTH) return null;
  const version = value.slice(0, 2);
  if (!isHexId(version, 2, false) || version === 'ff') return null;
  if (version === '00' && value.length !== V00_LENGTH) return null;
  if (value.length > V00_LENGTH && value[V00_LENGTH] !== '-') return null;
  if (value[2] !== '-' || value[35] !== '-' || value[52] !== '-') return null;
  const traceId = value.slice(3, 35);
  const parentId = value.slice(36, 52);
  const flags = value.slice(53, 55);
  if (!isHexId(traceId, 32, true) || !isHexId(parentId, 16, true) || !isHexId(flags, 2, false)) return null;
  return { version, traceId, parentId, traceFlags: Number.parseInt(flags, 16) };
}

// tracestate list members (§3.3.1): key "=" value, keys simple or tenant@system.
const SIMPLE_KEY = /^[a-z][a-z0-9_\-*/]{0,255}$/;
const TENANT_KEY = /^[a-z0-9][a-z0-9_\-*/]{0,240}@[a-z][a-z0-9_\-*/]{0,13}$/;
// value: up to 256 printable ASCII characters except "," and "=", not ending in a space.
const VALUE = /^[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$/;
const MAX_MEMBERS = 32;

/**
 * The `tracestate` header values (repeated headers form one comma-separated list, RFC 9110 §5.3),
 * normalized to "k1=v1,k2=v2". Returns null when absent, empty or malformed: a malformed list (bad
 * member, duplicate key, more than 32 members) is dropped whole, as §3.3.1.1 allows, rather than
 * passed on half-understood.
 */
export function parseTracestate(values: readonly string[]): string | null {
  const members: string[] = [];
  const keys = new Set<string>();
  for (const value of values) {
    for (const part of value.split(',')) {
      const member = part.replace(/^[ \t]+|[ \t]+$/g, '');
      if (member === '') continue; // empty list members are allowed and ignored
      const eq = member.indexOf('=');
      if (eq <= 0) return null;
      const key = member.slice(0, eq);
      const val = member.slice(eq + 1);
      if (!(SIMPLE_KEY.test(key) || TENANT_KEY.test(key)) || !VALUE.test(val)) return null;
      if (keys.has(key)) return null;
      keys.add(key);
      members.push(`${key}=${val}`);
    }
  }
  if (members.length === 0 || members.length > MAX_MEMBERS) return null;
  return members.join(',');
}

export interface TraceContext {
  parent: TraceParent;
  /** Normalized tracestate, only when traceparent is valid (§3.3: never without it). */
  traceState?: string;
}

/**
 * The trace context of a captured request. More than one `traceparent` header is invalid (the
 * field is not a list), so is one that does not parse; either way the request has no context.
 */
export function traceContextFromHeaders(headers: HeaderFields): TraceContext | null {
  // Most requests carry none: one look, nothing made.
  const raw = headers.get('traceparent');
  if (raw === undefined || headers.getAll('traceparent').length > 1) return null;
  const parent = parseTraceparent(raw);
  if (parent === null) return null;
  const traceState = parseTracestate(headers.getAll('tracestate'));
  return traceState === null ? { parent } : { parent, traceState };
}
