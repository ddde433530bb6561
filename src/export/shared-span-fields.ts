// The encoded fields that spans alike share, kept per frozen attribute set. Spans of alike exchanges
// share one frozen attribute set (semconv/http.ts), and with it, nearly always, their name, kind,
// status and flags: of a span's encoding only its ids, trace state and times are its own. The
// encoders (otlp-spans.ts) write those, and copy the rest as two pieces made once: the fields
// between the ids and the start time (name, kind), and those after the end time (attributes,
// status, flags). Written field by field, with the attributes already copied from their own cache,
// those fields were still a dozen writes per span.
import type { Attributes, SpanKind, SpanRecord } from '../model/span.js';

/** One shape of span (name, kind, status, flags) with a given attribute set, and its shared fields encoded. */
interface Shape {
  readonly name: string;
  readonly kind: SpanKind;
  readonly status: SpanRecord['status'];
  readonly flags: number;
  /** The encoded fields between the span's ids (and trace state) and its start time. */
  readonly beforeStart: Uint8Array;
  /** The encoded fields after the span's end time, to its end. */
  readonly afterEnd: Uint8Array;
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
}

/** How one encoding writes a span's fields after its ids (and trace state, and parent). */
export interface SpanFieldWriters<W> {
  /** Up to the start time: name, kind. */
  beforeStart(w: W, s: SpanRecord): void;
  /** Start and end times, and what lies between them. */
  times(w: W, s: SpanRecord): void;
  /** After the end time, to the span's end: attributes, status, `flags`. */
  afterEnd(w: W, s: SpanRecord, flags: number): void;
}

/** One encoding's shared fields (protobuf or JSON), by attribute set: weakly, they go with their set. */
export class SharedSpanFields<W extends FieldWriter> {
  readonly #bySet = new WeakMap<Attributes, Shape[]>();

  constructor(private readonly fields: SpanFieldWriters<W>) {}

  /** `s`'s fields after its ids: copied from the shared ones when spans alike were written before, else written (and kept). */
  write(w: W, s: SpanRecord, flags: number): void {
    const f = this.fields;
    const shape = this.#find(s, flags);
    if (shape !== undefined) {
      w.encoded(shape.beforeStart);
      f.times(w, s);
      w.encoded(shape.afterEnd);
      return;
    }
    const beforeStart = w.length;
    f.beforeStart(w, s);
    const start = w.length;
    f.times(w, s);
    const afterEnd = w.length;
    f.afterEnd(w, s, flags);
    this.#keep(s, flags, () => ({ beforeStart: w.copyFrom(beforeStart, start), afterEnd: w.copyFrom(afterEnd) }));
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
   * may still change) and has room for another shape. `encoded` makes the two pieces (copies).
   */
  #keep(s: SpanRecord, flags: number, encoded: () => { beforeStart: Uint8Array; afterEnd: Uint8Array }): void {
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
