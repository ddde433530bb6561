// A span's ids held twice: as W3C text (lowercase hex: what the linker, the local view, the profiler's
// span tags and the tests read) and as 32-bit words of their bytes (what the OTLP encoders write).
// Decoding the text into bytes as each span was encoded was the largest single item of the agent's
// JS thread (~6 % over OTLP/gRPC, ~9 % to the file: ids are slices of a random block's hex, read one
// char at a time, ~170 ns a span's three); the words are written in ~15. The two are one id only
// while every change goes through this module: SpanRecord's id fields are readonly for the rest.
import { hexCheck, hexIdValid } from './hex-id.js';

/**
 * The words of a span's ids: each four bytes of an id as an int32, little-endian (byte 4k of the id
 * in the word's low eight bits). Node's 64-bit builds (no pointer compression) give V8 32-bit small
 * integers: the words sit in the record as they are, no number boxed per id.
 */
export interface SpanIdWords {
  /** The trace id's bytes 0-3, 4-7, 8-11 and 12-15; all zero for an id that is not one (never written). */
  readonly traceId0: number;
  readonly traceId1: number;
  readonly traceId2: number;
  readonly traceId3: number;
  /** The span id's bytes 0-3 and 4-7; all zero for an id that is not one. */
  readonly spanId0: number;
  readonly spanId1: number;
  /** The parent span id's, when there is one; zero when there is none, and when its text is not an id. */
  readonly parentSpanId0: number;
  readonly parentSpanId1: number;
}

/** The ids of a span as text and words (SpanRecord's), writable here only. */
interface SpanIds extends SpanIdWords {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
}

type Writable<T> = { -readonly [K in keyof T]: T[K] };

/** The words hexWords read last. */
const words = new Int32Array(4);

/**
 * Reads `hex` as an id of `n` words (8n lowercase hex digits, not all zeros) into `words`, checking
 * it as it decodes (hex-id.ts's check, one pass over the text); false when it is not one.
 */
function hexWords(hex: string, n: number): boolean {
  if (hex.length !== 8 * n) return false;
  let check = 0;
  for (let k = 0; k < n; k++) {
    let w = 0;
    for (let i = 0; i < 4; i++) {
      const hi = hexCheck(hex.charCodeAt(8 * k + 2 * i));
      const lo = hexCheck(hex.charCodeAt(8 * k + 2 * i + 1));
      check |= hi | lo;
      w |= ((hi << 4) | lo) << (8 * i);
    }
    words[k] = w;
  }
  return hexIdValid(check, true);
}

/** Gives `span` the trace id `hex` and its words `w0`..`w3` (the caller vouches that they are one id). */
export function setTraceId(span: SpanIdWords, hex: string, w0: number, w1: number, w2: number, w3: number): void {
  const s = span as Writable<SpanIds>;
  s.traceId = hex;
  s.traceId0 = w0;
  s.traceId1 = w1;
  s.traceId2 = w2;
  s.traceId3 = w3;
}

/** Gives `span` the span id `hex` whose words are `w0` and `w1`. */
export function setSpanId(span: SpanIdWords, hex: string, w0: number, w1: number): void {
  const s = span as Writable<SpanIds>;
  s.spanId = hex;
  s.spanId0 = w0;
  s.spanId1 = w1;
}

/** Gives `span` the parent span id `hex` whose words are `w0` and `w1`. */
export function setParentSpanId(span: SpanIdWords, hex: string, w0: number, w1: number): void {
  const s = span as Writable<SpanIds>;
  s.parentSpanId = hex;
  s.parentSpanId0 = w0;
  s.parentSpanId1 = w1;
}

/**
 * Gives `span` the trace id written as `hex` (read from a request, or a test's): its words read from
 * it, zeros when it is not one.
 */
export function traceIdFromHex(span: SpanIdWords, hex: string): void {
  if (hexWords(hex, 4)) setTraceId(span, hex, words[0]!, words[1]!, words[2]!, words[3]!);
  else setTraceId(span, hex, 0, 0, 0, 0);
}

/** Gives `span` the span id written as `hex` (as traceIdFromHex). */
export function spanIdFromHex(span: SpanIdWords, hex: string): void {
  if (hexWords(hex, 2)) setSpanId(span, hex, words[0]!, words[1]!);
  else setSpanId(span, hex, 0, 0);
}

/** Gives `span` the parent span id written as `hex` (as traceIdFromHex). */
export function parentSpanIdFromHex(span: SpanIdWords, hex: string): void {
  if (hexWords(hex, 2)) setParentSpanId(span, hex, words[0]!, words[1]!);
  else setParentSpanId(span, hex, 0, 0);
}

/** `server` joins `client`'s trace as its child: the client's trace id, and its span id as the parent. */
export function joinAsChild(server: SpanIdWords, client: SpanIds): void {
  setTraceId(server, client.traceId, client.traceId0, client.traceId1, client.traceId2, client.traceId3);
  setParentSpanId(server, client.spanId, client.spanId0, client.spanId1);
}

/** Whether the trace and span ids' words are ids the encoders may write (not all zeros: W3C, invalid). */
export function writableIds(s: SpanIdWords): boolean {
  return (s.traceId0 | s.traceId1 | s.traceId2 | s.traceId3) !== 0 && (s.spanId0 | s.spanId1) !== 0;
}

/**
 * Whether a parent's words are an id. A parent of zeros may be written (an empty parent is what says
 * "root" in OTLP, zeros are not that); words of zeros are either it or text that is not an id, told
 * apart by the text in that rare case.
 */
export function writableParent(s: SpanIdWords & { readonly parentSpanId?: string }): boolean {
  return (s.parentSpanId0 | s.parentSpanId1) !== 0 || s.parentSpanId === ZERO_SPAN_ID;
}

const ZERO_SPAN_ID = '0'.repeat(16);
