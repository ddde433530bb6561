// The BPF maps of span tags (bpf/include/span_tags.h), shared by the objects that write and read them:
// the socket tracer tags the thread or goroutine serving a request, the profiler and dynlog read the
// tag at each sample or call. One object owns them (the profiler's, else dynlog's); the others reuse
// their fds before load. The owner also says whether tags are written at all (setSpanTagging): the
// profiler always reads them, dynlog only while it probes a function.
import { type BpfMap, type BpfObject, codec } from 'libbpf-ts';

export const SPAN_TAG_MAP_NAMES = ['thread_tags', 'goroutine_tags', 'go_procs', 'span_tags_on'] as const;

export type SpanTagMapName = (typeof SPAN_TAG_MAP_NAMES)[number];

export type SpanTagMaps = Readonly<Record<SpanTagMapName, BpfMap<unknown, unknown>>>;

/** The span tag maps of a loaded object. */
export function spanTagMapsOf(obj: BpfObject): SpanTagMaps {
  return {
    thread_tags: obj.map('thread_tags'),
    goroutine_tags: obj.map('goroutine_tags'),
    go_procs: obj.map('go_procs'),
    span_tags_on: obj.map('span_tags_on'),
  };
}

/**
 * Whether the socket tracer writes tags (span_tags_on, bpf/include/span_tags.h): off, a request a
 * server reads costs no clock read and no map look-ups for them. Tags written before it went off stay
 * until their thread serves its next request or its connection closes with tagging on.
 */
export function setSpanTagging(maps: SpanTagMaps, on: boolean): void {
  maps.span_tags_on.typed(codec.u32, codec.u32).set(0, on ? 1 : 0);
}

/** Whether tags are written now (setSpanTagging). */
export function spanTagging(maps: SpanTagMaps): boolean {
  return maps.span_tags_on.typed(codec.u32, codec.u32).get(0) === 1;
}

/** Before `obj` loads: its span tag maps become `maps`, another object's. */
export function reuseSpanTagMaps(obj: BpfObject, maps: SpanTagMaps): void {
  for (const name of SPAN_TAG_MAP_NAMES) obj.reuseMap(name, maps[name]);
}

/** tid → tag, as the profiler's tests and tools read it. */
export function threadTagsOf(obj: BpfObject): BpfMap<number, bigint> {
  return obj.map('thread_tags', codec.u32, codec.u64);
}

/** Before `obj` loads, when nothing reads its tags: its span tag maps take no kernel memory to speak of. */
export function shrinkSpanTagMaps(obj: BpfObject): void {
  for (const name of SPAN_TAG_MAP_NAMES) obj.setMapMaxEntries(name, 1);
}
