// Continuous CPU profiler: a perf_event program on every CPU (cpu-clock, ~99 Hz) counts samples by
// (pid, tid, user stack, kernel stack, span tag, thread name) into one of two buffers; user space
// flips `buffer_select`, then drains and clears the other buffer (src/collectors/profiler/sampler.ts).
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include "counters.h"
#include "filter.h"
#include "profiler.h"

char LICENSE[] SEC("license") = "GPL";

#define EFAULT 14
#define EEXIST 17
#define ENOMEM 12
#define PF_KTHREAD 0x00200000 /* include/linux/sched.h */

/* Set by user space before load. The idle task (pid 0) burns no real CPU: off unless asked. */
const volatile bool include_idle = false;

/* Which buffer (0 or 1) samples go to now. Only user space writes it. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} buffer_select SEC(".maps");

/* One count map and one stack map per buffer: a buffer's stack ids are referenced only by its own
 * counts, so user space can clear a drained stack map whole without touching the live one. Sizes
 * are set by user space before load (the 16384 here is the default). */
#define PROFILER_COUNT_MAP(name)                              \
	struct {                                              \
		__uint(type, BPF_MAP_TYPE_HASH);              \
		__uint(max_entries, 16384);                   \
		__type(key, struct profile_key);              \
		__type(value, __u64);                         \
	} name SEC(".maps")

#define PROFILER_STACK_MAP(name)                                           \
	struct {                                                           \
		__uint(type, BPF_MAP_TYPE_STACK_TRACE);                    \
		__uint(max_entries, 16384);                                \
		__uint(key_size, sizeof(__u32));                           \
		__uint(value_size, PROFILER_STACK_DEPTH * sizeof(__u64)); \
	} name SEC(".maps")

PROFILER_COUNT_MAP(counts_0);
PROFILER_COUNT_MAP(counts_1);
PROFILER_STACK_MAP(stacks_0);
PROFILER_STACK_MAP(stacks_1);

LANTERN_THREAD_TAGS_MAP;

/* Processes already announced to user space (LRU: never full, an evicted pid is announced again,
 * which costs user space one cheap notePid). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, __u8);
} seen_pids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} profiler_events SEC(".maps");

static __always_inline void notify(__u8 type, __u8 flags, __u32 pid)
{
	struct profiler_event *e = bpf_ringbuf_reserve(&profiler_events, sizeof(*e), 0);
	if (!e) {
		lantern_count(PROF_CTR_EVENTS_FULL);
		return;
	}
	e->type = type;
	e->flags = flags;
	e->pad[0] = e->pad[1] = 0;
	e->pid = pid;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
}

static __always_inline void stack_error(__s32 id)
{
	if (id >= 0 || id == -EFAULT)
		return;
	if (id == -EEXIST)
		lantern_count(PROF_CTR_STACK_COLLISION);
	else if (id == -ENOMEM)
		lantern_count(PROF_CTR_STACK_FULL);
	else
		lantern_count(PROF_CTR_STACK_ERROR);
}

/* `counts` and `stacks` are constant at each (inlined) call site, as the verifier wants. */
static __always_inline void record(struct bpf_perf_event_data *ctx, void *counts, void *stacks,
				   struct profile_key *key)
{
	key->user_stack_id = bpf_get_stackid(ctx, stacks, BPF_F_USER_STACK);
	key->kernel_stack_id = bpf_get_stackid(ctx, stacks, 0);
	stack_error(key->user_stack_id);
	stack_error(key->kernel_stack_id);

	__u64 *n = bpf_map_lookup_elem(counts, key);
	if (n) {
		__sync_fetch_and_add(n, 1);
		return;
	}
	__u64 one = 1;
	long err = bpf_map_update_elem(counts, key, &one, BPF_NOEXIST);
	if (err == -EEXIST) {
		/* Another CPU inserted the same key meanwhile. */
		n = bpf_map_lookup_elem(counts, key);
		if (n)
			__sync_fetch_and_add(n, 1);
	} else if (err) {
		lantern_count(PROF_CTR_COUNTS_FULL);
	}
}

SEC("perf_event")
int profile_cpu(struct bpf_perf_event_data *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	__u32 tid = (__u32)id;
	if (tgid == 0 && !include_idle)
		return 0;
	if (!lantern_traced(tgid))
		return 0;
	lantern_count(PROF_CTR_SAMPLES);

	/* Announce a process at its first sample so user space reads its mappings while it lives. */
	if (tgid != 0 && !bpf_map_lookup_elem(&seen_pids, &tgid)) {
		__u8 one = 1;
		bpf_map_update_elem(&seen_pids, &tgid, &one, BPF_ANY);
		struct task_struct *task = (struct task_struct *)bpf_get_current_task();
		__u8 flags = (BPF_CORE_READ(task, flags) & PF_KTHREAD) ? PROF_EV_FLAG_KTHREAD : 0;
		notify(PROF_EV_NEW_PID, flags, tgid);
	}

	struct profile_key key = {};
	key.pid = tgid;
	key.tid = tid;
	bpf_get_current_comm(key.comm, sizeof(key.comm));
	__u64 *tag = bpf_map_lookup_elem(&thread_tags, &tid);
	key.tag = tag ? *tag : 0;

	__u32 zero = 0;
	__u32 *sel = bpf_map_lookup_elem(&buffer_select, &zero);
	if (sel && (*sel & 1))
		record(ctx, &counts_1, &stacks_1, &key);
	else
		record(ctx, &counts_0, &stacks_0, &key);
	return 0;
}

/* A process that replaced its image: its old mappings no longer describe its new samples. */
SEC("tracepoint/sched/sched_process_exec")
int profiler_exec(void *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (!lantern_traced(tgid))
		return 0;
	if (bpf_map_delete_elem(&seen_pids, &tgid) == 0)
		notify(PROF_EV_EXEC, 0, tgid);
	return 0;
}

SEC("tracepoint/sched/sched_process_exit")
int profiler_exit(void *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	__u32 tid = (__u32)id;
	/* Any exiting thread: a stale span tag must not label whoever gets this tid next. */
	bpf_map_delete_elem(&thread_tags, &tid);
	if (tid != tgid)
		return 0;
	/* Only processes that were announced: a pid is free for reuse once it is gone. */
	if (bpf_map_delete_elem(&seen_pids, &tgid) == 0)
		notify(PROF_EV_EXIT, 0, tgid);
	return 0;
}
