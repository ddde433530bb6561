// The encoded fields that spans alike share, kept per frozen attribute set. Spans of alike exchanges
// share one frozen attribute set (semconv/http.ts), and with it, nearly always, their name, kind,
// status and flags: of a span's encoding only its ids, trace state and times are its own. The
// encoders (otlp-spans.ts) write the ids, then copy the rest of the first span alike they wrote, its
// times included, in one piece, and write this span's times over that span's. Written field by field,
// with the attributes already copied from their own cache, those fields were still a dozen writes per
// span; copied as the pieces around the times (and, in JSON, between them), two or three native
// copies (~30 ns each, whatever the length: byte-buffer.ts) where one does.
import type { Attributes, SpanKind, SpanRecord } from '../model/span.js';

/** One shape of span (name, kind, status, flags) with a given attribute set, and its shared fields encoded. */
interface Shape {
  readonly name: string;
  readonly kind: SpanKind;
  readonly status: SpanRecord['status'];
  readonly flags: number;
  /** The fields after the span's ids (and trace state, and parent), to its end, as the first span of this shape had them. */
  readonly fields: Uint8Array;
  /** Where in `fields` that span's start time lies, [startAt, startEnd), and its end time, [endAt, endEnd). */
  readonly startAt: number;
  readonly startEnd: number;
  readonly endAt: number;
  readonly endEnd: number;
}

/**
 * Shapes kept per attribute set. The spans of one set nearly always have one (its status and flags
 * follow from what the set holds); past this many a span is written field by field.
 */
const MAX_SHAPES_PER_SET = 4;

/** A writer of either encoding (ProtoWriter, JsonWriter), as far as the shared fields need one. */
export interface FieldWriter {
  readonly length: number;
  copyFrom(start: number, end?: number): Uint8Array;
  encoded(bytes: Uint8Array): void;
  /** Writes go on from `pos` (an earlier `length`, or one past bytes written since): bytes after it stay until overwritten. */
  seek(pos: number): void;
}

/** How one encoding writes a span's fields after its ids (and trace state, and parent). */
export interface SpanFieldWriters<W> {
  /** Up to the start time: name, kind. */
  beforeStart(w: W, s: SpanRecord): void;
  /** The start time, as much of it as differs between spans (JSON: its digits, not the quotes around them). */
  start(w: W, s: SpanRecord): void;
  /** What lies between the two times. */
  between(w: W, s: SpanRecord): void;
  /** The end time, as `start`. */
  end(w: W, s: SpanRecord): void;
  /** After the end time, to the span's end: attributes, status, `flags`. */
  afterEnd(w: W, s: SpanRecord, flags: number): void;
}

/** One encoding's shared fields (protobuf or JSON), by attribute set: weakly, they go with their set. */
export class SharedSpanFields<W extends FieldWriter> {
  readonly #bySet = new WeakMap<Attributes, Shape[]>();

  constructor(private readonly fields: SpanFieldWriters<W>) {}

  /** `s`'s fields after its ids: copied from the shared ones when spans alike were written before, else written (and kept). */
  write(w: W, s: SpanRecord, flags: number): void {
    const shape = this.#find(s, flags);
    if (shape !== undefined) return this.#writeOver(w, s, shape);
    const f = this.fields;
    const from = w.length;
    f.beforeStart(w, s);
    const startAt = w.length;
    f.start(w, s);
    const startEnd = w.length;
    f.between(w, s);
    const endAt = w.length;
    f.end(w, s);
    const endEnd = w.length;
    f.afterEnd(w, s, flags);
    this.#keep(s, flags, () => ({
      fields: w.copyFrom(from), startAt: startAt - from, startEnd: startEnd - from, endAt: endAt - from, endEnd: endEnd - from,
    }));
  }

  /**
   * The shape's fields copied, then `s`'s times written over those of the span they were kept from.
   * A time of another length than that one's (in JSON, digits of another era: never two of today's)
   * is written in its place, and what follows it after it, from the shape's fields.
   */
  #writeOver(w: W, s: SpanRecord, shape: Shape): void {
    const f = this.fields;
    const base = w.length;
    w.encoded(shape.fields);
    const end = w.length;
    w.seek(base + shape.startAt);
    f.start(w, s);
    if (w.length !== base + shape.startEnd) {
      w.encoded(shape.fields.subarray(shape.startEnd, shape.endAt));
      f.end(w, s);
      w.encoded(shape.fields.subarray(shape.endEnd));
      return;
    }
    w.seek(base + shape.endAt);
    f.end(w, s);
    if (w.length !== base + shape.endEnd) w.encoded(shape.fields.subarray(shape.endEnd));
    else w.seek(end);
  }

  /** The shared fields of spans shaped as `s` (with `flags`), when they were kept. */
  #find(s: SpanRecord, flags: number): Shape | undefined {
    // A set never kept (not frozen, or not seen) is a quick miss: it has no identity hash to look up.
    const shapes = this.#bySet.get(s.attributes);
    if (shapes === undefined) return undefined;
    for (const shape of shapes) {
      if (shape.name === s.name && shape.kind === s.kind && shape.flags === flags && sameStatus(shape.status, s.status)) return shape;
    }
    return undefined;
  }

  /**
   * Keeps the fields `s` was just written with, when its attribute set is frozen (a set that is not
   * may still change) and has room for another shape. `encoded` makes its copy.
   */
  #keep(s: SpanRecord, flags: number, encoded: () => Omit<Shape, 'name' | 'kind' | 'status' | 'flags'>): void {
    if (!Object.isFrozen(s.attributes)) return;
    let shapes = this.#bySet.get(s.attributes);
    if (shapes === undefined) this.#bySet.set(s.attributes, (shapes = []));
    if (shapes.length >= MAX_SHAPES_PER_SET) return;
    shapes.push({ name: s.name, kind: s.kind, status: s.status, flags, ...encoded() });
  }
}

function sameStatus(a: SpanRecord['status'], b: SpanRecord['status']): boolean {
  return a === b || (a.code === b.code && a.message === b.message);
}
