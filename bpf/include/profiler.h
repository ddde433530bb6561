/* Layouts of profiler.bpf.c shared with user space (src/collectors/profiler/layout.ts reads them at
 * fixed offsets; test/collectors/profiler-layout.test.ts checks the offsets against this file). */
#ifndef LANTERN_PROFILER_H
#define LANTERN_PROFILER_H

#define PROFILER_COMM_LEN 16
/* PERF_MAX_STACK_DEPTH: frames kept per stack (the kernel's own bound for bpf_get_stackid). */
#define PROFILER_STACK_DEPTH 127
#define PROFILER_THREAD_TAGS_MAX 16384

/* Counter slots (counters.h). */
enum profiler_counter {
	PROF_CTR_SAMPLES = 0,          /* perf samples of traced tasks */
	PROF_CTR_STACK_COLLISION = 1,  /* bpf_get_stackid -EEXIST: another stack holds that bucket */
	PROF_CTR_STACK_FULL = 2,       /* bpf_get_stackid -ENOMEM: every stack slot in use */
	PROF_CTR_STACK_ERROR = 3,      /* other bpf_get_stackid errors (-EFAULT = no stack is not one) */
	PROF_CTR_COUNTS_FULL = 4,      /* the interval's count map is full: sample lost */
	PROF_CTR_EVENTS_FULL = 5,      /* notice ring buffer full: a new pid not announced early */
	PROF_CTR_NUM = 6,
};

/* What one perf sample is counted under. Stack ids are ids in the stack map of the same buffer;
 * a negative id is the bpf_get_stackid error (-EFAULT: no such stack, e.g. no user stack for a
 * kernel thread or no kernel stack for a sample taken in user mode; -EEXIST/-ENOMEM: lost). */
struct profile_key {
	__u32 pid;   /* tgid */
	__u32 tid;
	__s32 user_stack_id;
	__s32 kernel_stack_id;
	__u64 tag;   /* thread_tags[tid] at the sample, 0 when absent */
	char comm[PROFILER_COMM_LEN]; /* the thread's name */
};

enum profiler_event_type {
	PROF_EV_NEW_PID = 1, /* first sample of a process: read its mappings while it lives */
	PROF_EV_EXEC = 2,    /* a traced process replaced its image */
	PROF_EV_EXIT = 3,    /* a traced process (group leader) exited */
};

/* Flags of a PROF_EV_NEW_PID notice. */
#define PROF_EV_FLAG_KTHREAD 1 /* a kernel thread: no user space, no mappings */

struct profiler_event {
	__u8 type; /* must be first */
	__u8 flags;
	__u8 pad[2];
	__u32 pid;
	char comm[PROFILER_COMM_LEN]; /* PROF_EV_NEW_PID: the sampled thread's name (the process's name if it is gone before user space looks) */
};

/* Span tags: tid → u64 tag of the server exchange the thread is serving (0 or absent: none). The
 * profiler owns this map; another object that fills it declares it with this macro and, before
 * load, reuses the profiler's map fd (BpfObject.reuseMap('thread_tags', ...)). */
#define LANTERN_THREAD_TAGS_MAP                              \
	struct {                                             \
		__uint(type, BPF_MAP_TYPE_HASH);             \
		__uint(max_entries, PROFILER_THREAD_TAGS_MAX); \
		__type(key, __u32);                          \
		__type(value, __u64);                        \
	} thread_tags SEC(".maps")

#endif
