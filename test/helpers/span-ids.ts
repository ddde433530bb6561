// Span records a test writes with its ids as text: their words (model/span-ids.ts) read from it, as
// the agent's own records have them.
import type { SpanRecord } from '../../src/model/span.js';
import { type SpanIdWords, parentSpanIdFromHex, spanIdFromHex, traceIdFromHex } from '../../src/model/span-ids.js';

export type SpanWithoutWords = Omit<SpanRecord, keyof SpanIdWords>;

/** `s` with the words of its ids' text (zeros for text that is not an id: a span the encoders refuse). */
export function withIds(s: SpanWithoutWords): SpanRecord {
  const span: SpanRecord = { ...s, traceId0: 0, traceId1: 0, traceId2: 0, traceId3: 0, spanId0: 0, spanId1: 0, parentSpanId0: 0, parentSpanId1: 0 };
  traceIdFromHex(span, s.traceId);
  spanIdFromHex(span, s.spanId);
  if (s.parentSpanId !== undefined) parentSpanIdFromHex(span, s.parentSpanId);
  return span;
}

/** The lowercase hex of words' bytes (each word's low eight bits first): what the encoders write of them. */
export function hexOfWords(...words: number[]): string {
  return words.map((w) => [0, 8, 16, 24].map((shift) => ((w >> shift) & 0xff).toString(16).padStart(2, '0')).join('')).join('');
}
