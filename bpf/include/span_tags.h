/* Span tags: which server exchange a thread — in a Go program, a goroutine — is serving, for the
 * profiler's samples and dynlog's calls (src/collectors/profiler/span-tags.ts says what a tag holds).
 *
 * Threads: thread_tags[tid]. Go: a goroutine moves between OS threads (every preemption, every
 * blocking call), so a per-thread tag follows the wrong work: a handler that spins for 500 ms runs on
 * two or three threads, each tagged by whatever request it last read. In a process listed in go_procs
 * (user space lists the Go programs whose runtime.newproc1 it probes) tags are per goroutine, keyed
 * by its g (R14 on amd64, R28 on arm64, from the user registers saved at kernel entry), and a
 * goroutine created while serving inherits its creator's tag: the per-request goroutine a gRPC or
 * HTTP/2 server starts from the connection's reader goroutine carries the request it was started for.
 *
 * The profiler owns these maps (dynlog when no profiler runs); the other objects reuse them by fd
 * before load (src/collectors/span-tag-maps.ts). */
#ifndef LANTERN_SPAN_TAGS_H
#define LANTERN_SPAN_TAGS_H

#include <bpf/bpf_core_read.h>
#include "profiler.h"

#define SPAN_TAG_GOROUTINES_MAX 16384
#define SPAN_TAG_GO_PROCS_MAX 4096

struct goroutine_key {
	__u32 tgid;
	__u32 pad;
	__u64 g;
};

LANTERN_THREAD_TAGS_MAP;

/* LRU: a goroutine that ends with its tag set is forgotten when room is needed. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SPAN_TAG_GOROUTINES_MAX);
	__type(key, struct goroutine_key);
	__type(value, __u64);
} goroutine_tags SEC(".maps");

/* tgid → 1: a Go program whose goroutine creation is probed (set by user space; LRU, and deleted at
 * exec and exit by the profiler, so a reused pid does not keep it). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SPAN_TAG_GO_PROCS_MAX);
	__type(key, __u32);
	__type(value, __u32);
} go_procs SEC(".maps");

/* Whether tags are written at all (index 0: 1 while something reads them: the profiler always, dynlog
 * while a function is probed; src/collectors/span-tag-maps.ts). Tested before a tag's clock read and
 * map look-ups: with dynlog running without probes (its default) every request a server read paid
 * them for nobody (~40 ns of nginx's recvfrom under wrk, bpf_stats). Shared as the maps are. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} span_tags_on SEC(".maps");

static __always_inline bool span_tags_wanted(void)
{
	__u32 zero = 0;
	__u32 *on = bpf_map_lookup_elem(&span_tags_on, &zero);
	return on && *on != 0;
}

/* The goroutine `task` runs (its g), from the user registers saved at its kernel entry; 0 if unknown. */
static __always_inline __u64 go_current_g(struct task_struct *task)
{
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
#if defined(__TARGET_ARCH_x86)
	return BPF_CORE_READ(regs, r14);
#elif defined(__TARGET_ARCH_arm64)
	return BPF_CORE_READ(regs, regs[28]);
#else
	return 0;
#endif
}

static __always_inline bool span_tags_by_goroutine(__u32 tgid)
{
	return bpf_map_lookup_elem(&go_procs, &tgid) != NULL;
}

/* The tag of what `task` (thread `tid` of `tgid`) is serving; 0 for none. */
static __always_inline __u64 span_tag_of(struct task_struct *task, __u32 tgid, __u32 tid)
{
	__u64 *tag;
	if (span_tags_by_goroutine(tgid)) {
		struct goroutine_key k = { .tgid = tgid, .g = go_current_g(task) };
		tag = k.g != 0 ? bpf_map_lookup_elem(&goroutine_tags, &k) : NULL;
	} else {
		tag = bpf_map_lookup_elem(&thread_tags, &tid);
	}
	return tag ? *tag : 0;
}

/* tags[key] = tag. A serving thread (goroutine) has its entry from its last request: written in
 * place. An update of a preallocated hash swaps in a fresh element under the bucket's lock (an LRU's
 * takes it from the LRU lists): the thread's update was the largest kernel symbol of nginx at 10k
 * req/s, every process traced (perf: 4.7 % of its CPU; its read's exit program 1.6 → 1.4 µs). */
static __always_inline void span_tag_put(void *tags, const void *key, __u64 tag)
{
	__u64 *known = bpf_map_lookup_elem(tags, key);
	if (known)
		*known = tag;
	else
		bpf_map_update_elem(tags, key, &tag, BPF_ANY);
}

/* The current thread (and goroutine, in a Go program) now serves `tag`. */
static __always_inline void span_tag_set(__u32 tgid, __u32 tid, __u64 tag)
{
	span_tag_put(&thread_tags, &tid, tag);
	if (!span_tags_by_goroutine(tgid))
		return;
	struct goroutine_key k = { .tgid = tgid, .g = go_current_g(bpf_get_current_task_btf()) };
	if (k.g != 0)
		span_tag_put(&goroutine_tags, &k, tag);
}

/* The connection of `generation` closes: its tag no longer stands for what the current thread (or
 * goroutine) does next. A tag holds the generation's low 32 bits in its high half. */
static __always_inline void span_tag_clear(__u32 tgid, __u32 tid, __u64 generation)
{
	__u32 gen = (__u32)generation;
	__u64 *tag = bpf_map_lookup_elem(&thread_tags, &tid);
	if (tag && (__u32)(*tag >> 32) == gen)
		bpf_map_delete_elem(&thread_tags, &tid);
	if (!span_tags_by_goroutine(tgid))
		return;
	struct goroutine_key k = { .tgid = tgid, .g = go_current_g(bpf_get_current_task_btf()) };
	tag = k.g != 0 ? bpf_map_lookup_elem(&goroutine_tags, &k) : NULL;
	if (tag && (__u32)(*tag >> 32) == gen)
		bpf_map_delete_elem(&goroutine_tags, &k);
}

#endif
