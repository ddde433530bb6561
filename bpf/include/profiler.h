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
	PROF_CTR_OFFCPU_BLOCKS = 6,    /* off-CPU: traced threads switched out blocked (pending entry made) */
	PROF_CTR_OFFCPU_SHORT = 7,     /* off-CPU: blocks shorter than min_block_ns, not counted */
	PROF_CTR_OFFCPU_PENDING_FULL = 8, /* off-CPU: the pending map is full: a block not tracked */
	PROF_CTR_OFFCPU_COUNTS_FULL = 9,  /* off-CPU: the interval's off-CPU map is full: a block lost */
	PROF_CTR_NUM = 10,
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

/* Off-CPU: threads blocked (sleeping, waiting for I/O) from switch-out to switch-in. The stacks are
 * taken at switch-out, into the stack map of the buffer selected then (`stack_buf`); the block is
 * counted at switch-in into the off-CPU map of the buffer selected then, which may be the other one:
 * the key says which stack map its ids belong to. User space keeps the stacks pending entries still
 * reference when it clears a drained stack map (src/collectors/profiler/sampler.ts). */
#define PROFILER_OFFCPU_PENDING_MAX 16384

struct offcpu_key {
	struct profile_key base; /* the blocked thread, its stacks and span tag at switch-out */
	__u32 stack_buf;         /* 0 or 1: the stack map (stacks_0/1) base's stack ids are ids in */
	__u32 pad;
};

struct offcpu_value {
	__u64 ns;    /* blocked time, summed */
	__u64 count; /* blocks */
};

/* offcpu_pending[tid]: a thread switched out blocked, not yet back on a CPU. */
struct offcpu_start {
	__u64 ts; /* bpf_ktime_get_ns() at switch-out */
	struct offcpu_key key;
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
