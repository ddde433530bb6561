// Span-aware profiles: what the profiler asks of whoever tags threads with the exchange they serve.
//
// Kernel side: the profiler object's BPF hash map `thread_tags` (bpf/include/profiler.h), key u32
// tid, value u64 tag (absent or 0: no tag), read at every sample into the count key. Another object
// (the socket tracer) declares the same map with LANTERN_THREAD_TAGS_MAP and reuses the profiler's
// fd before its own load (`BpfObject.reuseMap('thread_tags', profiler.threadTagsMap())`), then sets
// a thread's tag while it serves an exchange. The profiler deletes a tid's tag when the thread exits.
//
// User side: at each drain (seconds after the sample) the profiler asks the resolver what a
// (pid, tag) pair stood for; samples it resolves get the labels `trace_id` and `span_id` (and
// `span_name`, `http_route`, `rpc_method` if given), the rest stay unlabeled. A resolver must
// therefore remember a tag for at least one profiler interval after its exchange ended.

export interface SpanRef {
  /** 32 lowercase hex characters. */
  traceId: string;
  /** 16 lowercase hex characters. */
  spanId: string;
  spanName?: string;
  /** The span's `http.route`, if it has one. */
  httpRoute?: string;
  /** The span's `rpc.method` (gRPC), if it has one. */
  rpcMethod?: string;
}

export interface SpanTagResolver {
  /** `pid` is the thread group id of the sampled thread; `tag` is never 0. Must not throw (counted if it does). */
  resolve(pid: number, tag: bigint): SpanRef | undefined;
}
