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
	PROF_CTR_OFFCPU_UNSEEN_IN = 10,   /* off-CPU: blocks whose switch-in sched_switch did not report, ended at the thread's last arrival */
	PROF_CTR_OFFCPU_UNDATED = 11,     /* off-CPU: ... whose arrival could not be dated (no rq clock or sched_info): lost */
	PROF_CTR_NUM = 12,
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
	/* The switch-out CPU's rq clock then (0 if unknown): the clock of the thread's sched_info.last_arrival,
	 * which dates a switch-in that sched_switch did not report (profiler.bpf.c, offcpu_switch_in_unseen). */
	__u64 rq_ts;
};

enum profiler_event_type {
	PROF_EV_NEW_PID = 1, /* first sample of a process: read its mappings while it lives */
	PROF_EV_EXEC = 2,    /* a traced process replaced its image */
	PROF_EV_EXIT = 3,    /* a traced process (group leader) exited */
	PROF_EV_UNWIND_MISS = 4, /* CFI unwinding met a PC in none of the process's published mappings */
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

/* CFI unwinding (profiler.unwind: cfi|auto). User space compiles each binary's .eh_frame into rows
 * (src/symbols/cfi-table.ts), stores them in unwind_rows at a range that unwind_tables[table id]
 * names, and publishes each process's executable mappings in unwind_procs[pid]. The perf_event
 * program walks the user stack with them (frame pointers where no row applies) and stores the PCs in
 * cfi_stacks_0/1 under an id with CFI_STACK_ID_FLAG set. */
#define UNWIND_MAX_MAPPINGS 128
#define UNWIND_MAX_FRAMES PROFILER_STACK_DEPTH
#define UNWIND_NO_TABLE 0xffffffff
/* A user stack id that names a cfi_stacks_N entry, not a stack map one (those are < 1 << 22). */
#define CFI_STACK_ID_FLAG (1 << 29)

enum unwind_cfa_type {
	UNWIND_CFA_NONE = 0,        /* no FDE covers the PC: frame pointers */
	UNWIND_CFA_RSP = 1,         /* CFA = rsp + cfa_offset */
	UNWIND_CFA_RBP = 2,         /* CFA = rbp + cfa_offset */
	UNWIND_CFA_UNSUPPORTED = 3, /* an expression, another register, a signal frame: frame pointers */
	UNWIND_CFA_END = 4,         /* return address undefined: the outermost frame */
	UNWIND_CFA_RBP_SWITCH = 5,  /* CFA = rbp + cfa_offset on another stack (Go's asmcgocall: C code runs
	                             * on the system stack, the goroutine's frame pointer kept in rbp) */
};

enum unwind_rbp_type {
	UNWIND_RBP_UNCHANGED = 0,
	UNWIND_RBP_AT_CFA = 1, /* the caller's rbp is saved at CFA + rbp_offset */
	UNWIND_RBP_UNDEFINED = 2,
};

struct unwind_row {
	__u32 pc; /* ELF virtual address from which the row applies */
	__s32 cfa_offset;
	__s16 rbp_offset;
	__u8 cfa_type;
	__u8 rbp_type;
};

/* unwind_tables[id]: the rows of one binary, unwind_rows[start .. start + count), sorted by pc. */
struct unwind_table {
	__u32 start;
	__u32 count;
};

struct unwind_mapping {
	__u64 start;
	__u64 end;
	__u64 bias;  /* PC - bias = the ELF virtual address the rows use */
	__u32 table; /* unwind_tables index, or UNWIND_NO_TABLE */
	__u32 pad;
};

/* unwind_procs[pid]: its executable mappings, sorted by start. */
struct unwind_proc {
	__u32 count;
	__u32 pad;
	struct unwind_mapping m[UNWIND_MAX_MAPPINGS];
};

struct cfi_stack {
	__u64 pcs[UNWIND_MAX_FRAMES]; /* leaf first, up to the first 0 */
};

/* Slots of unwind_counters (a per-CPU array of its own: counters.h has 16 slots in all). */
enum unwind_counter {
	UNW_CTR_STACKS = 0,        /* user stacks walked with CFI tables */
	UNW_CTR_CFI_FRAMES = 1,    /* frames stepped with a CFI row */
	UNW_CTR_FP_FRAMES = 2,     /* frames stepped with frame pointers (no table, no row, unsupported row) */
	UNW_CTR_NO_MAPPING = 3,    /* a PC in no published mapping (JIT code, a new mapping): frame pointers */
	UNW_CTR_UNSUPPORTED = 4,   /* a row the walker cannot use (expression CFA, signal frame) */
	UNW_CTR_READ_FAILED = 5,   /* bpf_probe_read_user of a return address or saved rbp failed: stack cut */
	UNW_CTR_BAD_FRAME = 6,     /* the CFA did not move up the stack, or rbp needed but unknown: stack cut */
	UNW_CTR_TRUNCATED = 7,     /* more than UNWIND_MAX_FRAMES frames: stack cut */
	UNW_CTR_STACK_COLLISION = 8, /* another stack has the same id in cfi_stacks: sample's user stack lost */
	UNW_CTR_STACKS_FULL = 9,   /* cfi_stacks full: sample's user stack lost */
	UNW_CTR_MISS_NOTICES = 10, /* PROF_EV_UNWIND_MISS notices sent */
	UNW_CTR_NUM = 11,
};

#endif
