// Continuous CPU profiler: a perf_event program on every CPU (cpu-clock, ~99 Hz) counts samples by
// (pid, tid, user stack, kernel stack, span tag, thread name) into one of two buffers; user space
// flips `buffer_select`, then drains and clears the other buffer (src/collectors/profiler/sampler.ts).
// Off-CPU (optional): tp_btf/sched_switch times traced threads from a blocked switch-out to their
// switch-in and sums the time by the same kind of key (profiler.h, struct offcpu_key).
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "counters.h"
#include "filter.h"
#include "map_choice.h"
#include "profiler.h"
#include "span_tags.h"

char LICENSE[] SEC("license") = "GPL";

#define EFAULT 14
#define EEXIST 17
#define ENOMEM 12
#define PF_KTHREAD 0x00200000 /* include/linux/sched.h */
/* include/linux/sched.h: the states of a thread that waits for something (sleep, I/O, a lock).
 * Stopped and traced threads, and a dying one (TASK_DEAD), are not blocked in that sense. */
#define TASK_INTERRUPTIBLE 0x1
#define TASK_UNINTERRUPTIBLE 0x2
/* A kernel stack taken in the sched_switch program starts with this program and the tracepoint's
 * runner (bpf_prog_<tag>_profiler_sched_switch, bpf_trace_run4): skipped; __traceiter_sched_switch, there
 * when more than one program is on the tracepoint, is dropped in user space (builder.ts). */
#define OFFCPU_KERNEL_SKIP (2 & BPF_F_SKIP_FIELD_MASK)

/* Set by user space before load. The idle task (pid 0) burns no real CPU: off unless asked. */
const volatile bool include_idle = false;
/* Off-CPU: blocks shorter than this are not counted (their stacks were taken all the same); with
 * offcpu_sample_every N > 1, one switch-out in N (at random) is timed and user space scales by N. */
const volatile __u64 offcpu_min_block_ns = 1000000;
const volatile __u32 offcpu_sample_every = 1;
/* User stacks (profiler.unwind): frame pointers through bpf_get_stackid, or a walk with the CFI
 * tables user space publishes (with frame pointers where no table or row applies, unless CFI_ONLY). */
#define UNWIND_MODE_FP 0
#define UNWIND_MODE_CFI 1
#define UNWIND_MODE_CFI_ONLY 2
const volatile __u32 unwind_mode = UNWIND_MODE_FP;

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

/* Off-CPU sums per buffer, and the threads blocked now. Sized by user space before load (1 entry
 * each when off-CPU profiling is off, its program then not loaded). */
#define PROFILER_OFFCPU_MAP(name)                     \
	struct {                                      \
		__uint(type, BPF_MAP_TYPE_HASH);      \
		__uint(max_entries, 16384);           \
		__type(key, struct offcpu_key);       \
		__type(value, struct offcpu_value);   \
	} name SEC(".maps")

PROFILER_OFFCPU_MAP(offcpu_0);
PROFILER_OFFCPU_MAP(offcpu_1);

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PROFILER_OFFCPU_PENDING_MAX);
	__type(key, __u32);
	__type(value, struct offcpu_start);
} offcpu_pending SEC(".maps");


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

/* Announce a process at its first sample (or block) so user space reads its mappings while it
 * lives. The current task is the process's. */
static __always_inline void announce(__u32 tgid)
{
	if (bpf_map_lookup_elem(&seen_pids, &tgid))
		return;
	__u8 one = 1;
	bpf_map_update_elem(&seen_pids, &tgid, &one, BPF_ANY);
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u8 flags = (BPF_CORE_READ(task, flags) & PF_KTHREAD) ? PROF_EV_FLAG_KTHREAD : 0;
	notify(PROF_EV_NEW_PID, flags, tgid);
}

/* --- CFI unwinding (profiler.h: struct unwind_row and what refers to it) ----------------------- */

/* Sized by user space before load (1 entry each with frame pointers only). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1 << 20);
	__type(key, __u32);
	__type(value, struct unwind_row);
} unwind_rows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct unwind_table);
} unwind_tables SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct unwind_proc);
} unwind_procs SEC(".maps");

/* The binary searches keep their bounds in map memory, read back through volatile loads: the
 * verifier does not track map contents, so every iteration looks alike to it and the branch states
 * of each step merge instead of multiplying (bounds kept in registers exceed the 1M-instruction
 * budget). Indexes are masked or checked where they address memory. */
struct unwind_scratch {
	struct cfi_stack st;
	__u32 lo;
	__u32 hi;
};

#define VLOAD(x) (*(volatile __u32 *)&(x))
#define VSTORE(x, v) (*(volatile __u32 *)&(x) = (v))

/* The PCs of the stack being walked (too big for the BPF stack), and the binary searches' bounds. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct unwind_scratch);
} unwind_scratch SEC(".maps");

#define PROFILER_CFI_STACK_MAP(name)                  \
	struct {                                      \
		__uint(type, BPF_MAP_TYPE_HASH);      \
		__uint(max_entries, 16384);           \
		__uint(map_flags, BPF_F_NO_PREALLOC); \
		__type(key, __u32);                   \
		__type(value, struct cfi_stack);      \
	} name SEC(".maps")

PROFILER_CFI_STACK_MAP(cfi_stacks_0);
PROFILER_CFI_STACK_MAP(cfi_stacks_1);

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, UNW_CTR_NUM);
	__type(key, __u32);
	__type(value, __u64);
} unwind_counters SEC(".maps");

/* pid → when its last PROF_EV_UNWIND_MISS went out: at most one a second per process. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} unwind_miss_sent SEC(".maps");

static __always_inline void unw_count(__u32 slot)
{
	__u64 *v = bpf_map_lookup_elem(&unwind_counters, &slot);
	if (v)
		*v += 1;
}

/* User space ends at 47 bits (x86-64, 4-level paging; 5-level: 56, still far below the kernel's). */
#define USER_ADDR_MAX 0x00ff000000000000ULL

struct unwind_walk {
	__u64 pc;
	__u64 sp;
	__u64 bp;
	__u64 hash;
	__u32 pid;
	__u32 n;
	__u32 missed; /* a PC in no published mapping: ask user space to read the mappings again */
	__u32 pad;
};

/* The mapping holding `pc`: binary search over at most UNWIND_MAX_MAPPINGS (2^7) sorted entries. */
static __always_inline struct unwind_mapping *find_mapping(struct unwind_scratch *s, struct unwind_proc *p, __u64 pc)
{
	__u32 count = p->count;
	VSTORE(s->lo, 0);
	VSTORE(s->hi, count > UNWIND_MAX_MAPPINGS ? UNWIND_MAX_MAPPINGS : count);
	for (int i = 0; i < 8; i++) {
		__u32 lo = VLOAD(s->lo), hi = VLOAD(s->hi);
		if (lo >= hi)
			return NULL;
		__u32 mid = ((lo + hi) / 2) & (UNWIND_MAX_MAPPINGS - 1);
		struct unwind_mapping *m = &p->m[mid];
		if (pc < m->start)
			VSTORE(s->hi, mid);
		else if (pc >= m->end)
			VSTORE(s->lo, mid + 1);
		else
			return m;
	}
	return NULL;
}

/* The last row at or below `addr` of a table: binary search, 21 steps for up to 2^21 rows (user
 * space keeps tables below that). False when the table has no row for it. */
static __always_inline bool find_row(struct unwind_scratch *s, __u32 table, __u64 addr, struct unwind_row *out)
{
	struct unwind_table *t = bpf_map_lookup_elem(&unwind_tables, &table);
	if (!t || addr > 0xffffffffULL)
		return false;
	__u32 start = t->start, count = t->count, pc = addr;
	VSTORE(s->lo, 0);
	VSTORE(s->hi, count);
	for (int i = 0; i < 21; i++) {
		__u32 lo = VLOAD(s->lo), hi = VLOAD(s->hi);
		if (lo >= hi)
			break;
		__u32 mid = lo + (hi - lo) / 2;
		__u32 idx = start + mid;
		struct unwind_row *r = bpf_map_lookup_elem(&unwind_rows, &idx);
		if (!r)
			return false;
		if (r->pc <= pc)
			VSTORE(s->lo, mid + 1);
		else
			VSTORE(s->hi, mid);
	}
	__u32 lo = VLOAD(s->lo);
	if (lo == 0 || lo > count)
		return false;
	__u32 idx = start + lo - 1;
	struct unwind_row *r = bpf_map_lookup_elem(&unwind_rows, &idx);
	if (!r)
		return false;
	*out = *r;
	return true;
}

/* One frame: record its PC, then find the caller's pc, sp and rbp. 1 stops the walk (bpf_loop). */
static long unwind_step(__u64 index, void *arg)
{
	struct unwind_walk *w = arg;
	__u32 zero = 0;
	struct unwind_scratch *s = bpf_map_lookup_elem(&unwind_scratch, &zero);
	if (!s)
		return 1;
	__u32 n = w->n;
	if (n >= UNWIND_MAX_FRAMES) {
		unw_count(UNW_CTR_TRUNCATED);
		return 1;
	}
	s->st.pcs[n] = w->pc;
	w->n = n + 1;
	w->hash = (w->hash ^ w->pc) * 0x100000001b3ULL; /* FNV-1a over the PCs */

	/* A return address is just past its call: look the call up (the leaf's PC is itself). */
	__u64 at = n == 0 ? w->pc : w->pc - 1;
	struct unwind_row row = {};
	struct unwind_proc *proc = bpf_map_lookup_elem(&unwind_procs, &w->pid);
	if (!proc)
		return 1;
	struct unwind_mapping *m = find_mapping(s, proc, at);
	if (!m) {
		w->missed = 1;
		unw_count(UNW_CTR_NO_MAPPING);
	} else if (m->table != UNWIND_NO_TABLE) {
		find_row(s, m->table, at - m->bias, &row);
	}

	__u64 cfa;
	switch (row.cfa_type) {
	case UNWIND_CFA_END:
		return 1;
	case UNWIND_CFA_RSP:
		cfa = w->sp + (__s64)row.cfa_offset;
		break;
	case UNWIND_CFA_RBP:
		if (w->bp == 0) {
			unw_count(UNW_CTR_BAD_FRAME);
			return 1;
		}
		cfa = w->bp + (__s64)row.cfa_offset;
		break;
	case UNWIND_CFA_RBP_SWITCH:
		if (w->bp == 0) {
			unw_count(UNW_CTR_BAD_FRAME);
			return 1;
		}
		cfa = w->bp + (__s64)row.cfa_offset;
		w->sp = 0; /* the caller's frame is on the other stack: not above this one */
		break;
	case UNWIND_CFA_UNSUPPORTED:
		unw_count(UNW_CTR_UNSUPPORTED);
		/* fall through */
	default:
		/* Frame pointers: rbp points at the saved rbp, the return address above it. */
		if (unwind_mode == UNWIND_MODE_CFI_ONLY || w->bp == 0)
			return 1;
		cfa = w->bp + 16;
		row.rbp_type = UNWIND_RBP_AT_CFA;
		row.rbp_offset = -16;
		unw_count(UNW_CTR_FP_FRAMES);
		goto step;
	}
	unw_count(UNW_CTR_CFI_FRAMES);
step:
	/* Callers' frames are above (the stack grows down): anything else is garbage, or a loop. */
	if (cfa <= w->sp || cfa >= USER_ADDR_MAX) {
		unw_count(UNW_CTR_BAD_FRAME);
		return 1;
	}
	__u64 ra = 0;
	if (bpf_probe_read_user(&ra, sizeof(ra), (void *)(cfa - 8))) {
		unw_count(UNW_CTR_READ_FAILED);
		return 1;
	}
	if (row.rbp_type == UNWIND_RBP_AT_CFA) {
		if (bpf_probe_read_user(&w->bp, sizeof(w->bp), (void *)(cfa + (__s64)row.rbp_offset))) {
			unw_count(UNW_CTR_READ_FAILED);
			return 1;
		}
	} else if (row.rbp_type == UNWIND_RBP_UNDEFINED) {
		w->bp = 0;
	}
	w->sp = cfa;
	w->pc = ra;
	return ra == 0 || ra >= USER_ADDR_MAX;
}

static __always_inline void unwind_miss(__u32 pid)
{
	__u64 now = bpf_ktime_get_ns();
	__u64 *last = bpf_map_lookup_elem(&unwind_miss_sent, &pid);
	if (last && now - *last < 1000000000ULL)
		return;
	bpf_map_update_elem(&unwind_miss_sent, &pid, &now, BPF_ANY);
	unw_count(UNW_CTR_MISS_NOTICES);
	notify(PROF_EV_UNWIND_MISS, 0, pid);
}

/* The current task's user registers as saved at kernel entry into `w`; false for a kernel thread
 * or no user context. */
static __always_inline bool user_regs_at_entry(struct unwind_walk *w)
{
	struct task_struct *task = bpf_get_current_task_btf();
	if (task->flags & PF_KTHREAD)
		return false;
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
	w->pc = BPF_CORE_READ(regs, ip);
	w->sp = BPF_CORE_READ(regs, sp);
	w->bp = BPF_CORE_READ(regs, bp);
	return w->pc != 0 && w->pc < USER_ADDR_MAX;
}

/* The user stack walked with CFI from the registers in `w` into `stacks` (a cfi_stacks_N map): its
 * id (CFI_STACK_ID_FLAG set) or a negative error. */
static __always_inline __s32 cfi_walk(struct unwind_walk *wp, void *stacks, __u32 pid)
{
	struct unwind_walk w = *wp;
	w.pid = pid;
	w.hash = 0xcbf29ce484222325ULL;
	unw_count(UNW_CTR_STACKS);
	bpf_loop(UNWIND_MAX_FRAMES + 1, unwind_step, &w, 0);
	if (w.missed)
		unwind_miss(pid);

	__u32 zero = 0;
	struct unwind_scratch *s = bpf_map_lookup_elem(&unwind_scratch, &zero);
	if (!s || w.n == 0)
		return -EFAULT;
	struct cfi_stack *scratch = &s->st;
	/* The terminator after the last PC. (Not `n & (UNWIND_MAX_FRAMES - 1)`: 127 is no power of two,
	 * that mask cleared bit 0 and cut the outermost frame of every stack of odd depth.) */
	__u32 end = w.n;
	if (end < UNWIND_MAX_FRAMES)
		scratch->pcs[end] = 0;
	__u32 id = ((__u32)w.hash ^ (__u32)(w.hash >> 32)) & (CFI_STACK_ID_FLAG - 1);
	id |= CFI_STACK_ID_FLAG;
	long err = bpf_map_update_elem(stacks, &id, scratch, BPF_NOEXIST);
	if (err == 0)
		return id;
	if (err != -EEXIST) {
		unw_count(UNW_CTR_STACKS_FULL);
		return -ENOMEM;
	}
	/* The same id: the same stack, unless two stacks hash alike (then this sample's is lost). */
	struct cfi_stack *have = bpf_map_lookup_elem(stacks, &id);
	if (!have)
		return -ENOMEM;
	for (int i = 0; i < UNWIND_MAX_FRAMES; i++) {
		if (have->pcs[i] != scratch->pcs[i]) {
			unw_count(UNW_CTR_STACK_COLLISION);
			return -EEXIST;
		}
		if (scratch->pcs[i] == 0)
			break;
	}
	return id;
}

/* The sampled user stack by CFI: its id, a negative error, or 0 when this process has no published
 * mappings (use bpf_get_stackid). */
static __always_inline __s32 cfi_user_stack(struct bpf_perf_event_data *ctx, void *stacks, __u32 pid)
{
	if (!bpf_map_lookup_elem(&unwind_procs, &pid))
		return 0;
	struct unwind_walk w = {};
	w.pc = ctx->regs.ip;
	w.sp = ctx->regs.sp;
	w.bp = ctx->regs.bp;
	/* Sampled in the kernel: the user registers are those saved at kernel entry. */
	if (w.pc >= USER_ADDR_MAX && !user_regs_at_entry(&w))
		return -EFAULT;
	return cfi_walk(&w, stacks, pid);
}

/* A thread blocking (sched_switch, prev is current): its user stack by CFI from the registers saved
 * at its kernel entry; 0 as cfi_user_stack. */
static __always_inline __s32 cfi_blocked_stack(void *stacks, __u32 pid)
{
	if (!bpf_map_lookup_elem(&unwind_procs, &pid))
		return 0;
	struct unwind_walk w = {};
	if (!user_regs_at_entry(&w))
		return -EFAULT;
	return cfi_walk(&w, stacks, pid);
}

static __always_inline __u32 selected_buffer(void)
{
	__u32 zero = 0;
	__u32 *sel = bpf_map_lookup_elem(&buffer_select, &zero);
	return sel ? (*sel & 1) : 0;
}

/* The clock of the run queue `task` is on, 0 if unknown. For the task switching out in sched_switch it
 * is now (__schedule updated it a moment before), in the clock the scheduler dates each switch-in
 * with (sched_info.last_arrival). Reached through the task's cfs_rq (CONFIG_FAIR_GROUP_SCHED): the
 * per-CPU `runqueues` is no ksym a program can use on kernels without CONFIG_KALLSYMS_ALL. */
static __always_inline __u64 rq_clock_of(struct task_struct *task)
{
	if (!bpf_core_field_exists(struct sched_entity, cfs_rq) || !bpf_core_field_exists(struct cfs_rq, rq))
		return 0;
	return BPF_CORE_READ(task, se.cfs_rq, rq, clock);
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
				   void *cfi_stacks, struct profile_key *key)
{
	__s32 user = 0;
	if (unwind_mode != UNWIND_MODE_FP && key->pid != 0)
		user = cfi_user_stack(ctx, cfi_stacks, key->pid);
	key->user_stack_id = user != 0 ? user : bpf_get_stackid(ctx, stacks, BPF_F_USER_STACK);
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

	if (tgid != 0)
		announce(tgid);

	struct profile_key key = {};
	key.pid = tgid;
	key.tid = tid;
	bpf_get_current_comm(key.comm, sizeof(key.comm));
	key.tag = span_tag_of(bpf_get_current_task_btf(), tgid, tid);

	if (selected_buffer())
		record(ctx, &counts_1, &stacks_1, &cfi_stacks_1, &key);
	else
		record(ctx, &counts_0, &stacks_0, &cfi_stacks_0, &key);
	return 0;
}

/* Switch-out of a traced thread into a blocked state: remember when, and its stacks now (the
 * thread is still `current`, so its user and kernel stacks are the ones it blocks in). */
static __always_inline void offcpu_switch_out(void *ctx, struct task_struct *prev, unsigned int prev_state,
					      __u32 sel, __u64 now)
{
	if (!(prev_state & (TASK_INTERRUPTIBLE | TASK_UNINTERRUPTIBLE)))
		return; /* preempted or yielding: runnable, not blocked */
	if (prev->flags & PF_KTHREAD)
		return;
	__u32 tgid = prev->tgid;
	__u32 tid = prev->pid;
	if (tgid == 0 || !lantern_traced(tgid))
		return;
	if (offcpu_sample_every > 1 && bpf_get_prandom_u32() % offcpu_sample_every != 0)
		return;
	announce(tgid);

	struct offcpu_start st = {};
	st.ts = now;
	st.rq_ts = rq_clock_of(prev);
	st.key.base.pid = tgid;
	st.key.base.tid = tid;
	st.key.stack_buf = sel;
	bpf_get_current_comm(st.key.base.comm, sizeof(st.key.base.comm));
	st.key.base.tag = span_tag_of(prev, tgid, tid);
	/* The user stack by CFI like a CPU sample's (the sampler keeps a pending block's cfi_stacks entry
	 * as it keeps its stack map ids), by frame pointers when the process has no published mappings. */
	__s32 user = 0;
	if (sel) {
		if (unwind_mode != UNWIND_MODE_FP)
			user = cfi_blocked_stack(&cfi_stacks_1, tgid);
		st.key.base.user_stack_id = user != 0 ? user : bpf_get_stackid(ctx, &stacks_1, BPF_F_USER_STACK);
		st.key.base.kernel_stack_id = bpf_get_stackid(ctx, &stacks_1, OFFCPU_KERNEL_SKIP);
	} else {
		if (unwind_mode != UNWIND_MODE_FP)
			user = cfi_blocked_stack(&cfi_stacks_0, tgid);
		st.key.base.user_stack_id = user != 0 ? user : bpf_get_stackid(ctx, &stacks_0, BPF_F_USER_STACK);
		st.key.base.kernel_stack_id = bpf_get_stackid(ctx, &stacks_0, OFFCPU_KERNEL_SKIP);
	}
	stack_error(st.key.base.user_stack_id);
	stack_error(st.key.base.kernel_stack_id);
	if (bpf_map_update_elem(&offcpu_pending, &tid, &st, BPF_ANY) == 0)
		lantern_count(PROF_CTR_OFFCPU_BLOCKS);
	else
		lantern_count(PROF_CTR_OFFCPU_PENDING_FULL);
}

static __always_inline void offcpu_add(void *sums, struct offcpu_key *key, __u64 ns)
{
	struct offcpu_value *v = bpf_map_lookup_elem(sums, key);
	if (!v) {
		struct offcpu_value first = { .ns = ns, .count = 1 };
		long err = bpf_map_update_elem(sums, key, &first, BPF_NOEXIST);
		if (err == 0)
			return;
		if (err != -EEXIST) {
			lantern_count(PROF_CTR_OFFCPU_COUNTS_FULL);
			return;
		}
		v = bpf_map_lookup_elem(sums, key); /* another CPU inserted it meanwhile */
		if (!v)
			return;
	}
	__sync_fetch_and_add(&v->ns, ns);
	__sync_fetch_and_add(&v->count, 1);
}

/* Ends thread `tid`'s pending block `st`, `ns` long: counted into the buffer selected now under the
 * key taken at switch-out (unless shorter than the minimum). */
static __always_inline void offcpu_end(struct offcpu_start *st, __u32 tid, __u64 ns, __u32 sel)
{
	struct offcpu_key key = st->key;
	bpf_map_delete_elem(&offcpu_pending, &tid);
	if (ns < offcpu_min_block_ns) {
		lantern_count(PROF_CTR_OFFCPU_SHORT);
		return;
	}
	/* A call per map (map_choice.h). */
	if (sel) {
		offcpu_add(&offcpu_1, &key, ns);
		keep_apart();
	} else {
		offcpu_add(&offcpu_0, &key, ns);
	}
}

/* Switch-in of a thread we saw block: its blocked time (including the wait for a CPU after its
 * wake-up). */
static __always_inline void offcpu_switch_in(struct task_struct *next, __u32 sel, __u64 now)
{
	__u32 tid = next->pid;
	struct offcpu_start *st = bpf_map_lookup_elem(&offcpu_pending, &tid);
	if (!st)
		return;
	offcpu_end(st, tid, now - st->ts, sel);
}

/* `task` is on a CPU (switching out, or exiting) with a block still pending: it came back by a
 * context switch that sched_switch did not report. Seen on the Firecracker guests this project runs
 * on: a switch away from a thread of the guest's init process (its tokio workers) never reaches the
 * tracepoint, so the thread that gets the CPU from one returns unseen — about one block in a hundred
 * under load. Left
 * pending, that block was overwritten at the thread's next switch-out (or deleted at its exit) and
 * lost. The scheduler dated the switch-in all the same, in sched_info.last_arrival: in the rq clock
 * rq_ts was read in at switch-out, so the block is exactly as long as a reported switch-in makes it
 * (counted once: the entry goes). */
static __always_inline void offcpu_switch_in_unseen(struct task_struct *task, __u32 sel)
{
	__u32 tid = BPF_CORE_READ(task, pid);
	struct offcpu_start *st = bpf_map_lookup_elem(&offcpu_pending, &tid);
	if (!st)
		return;
	__u64 arrival = 0;
	if (bpf_core_field_exists(task->sched_info)) /* CONFIG_SCHED_INFO */
		arrival = BPF_CORE_READ(task, sched_info.last_arrival);
	if (st->rq_ts == 0 || arrival <= st->rq_ts) {
		lantern_count(PROF_CTR_OFFCPU_UNDATED);
		bpf_map_delete_elem(&offcpu_pending, &tid);
		return;
	}
	lantern_count(PROF_CTR_OFFCPU_UNSEEN_IN);
	offcpu_end(st, tid, arrival - st->rq_ts, sel);
}

/* Loaded only with off-CPU profiling on. tp_btf: typed arguments, including prev_state (which the
 * classic tracepoint's prev_state field mixes with preemption flags on some kernels). */
SEC("tp_btf/sched_switch")
int BPF_PROG(profiler_sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next,
	     unsigned int prev_state)
{
	__u64 now = bpf_ktime_get_ns();
	__u32 sel = selected_buffer();
	/* One more lookup per switch: prev cannot have a block pending unless its switch-in went unseen. */
	offcpu_switch_in_unseen(prev, sel);
	if (!preempt)
		offcpu_switch_out(ctx, prev, prev_state, sel, now);
	offcpu_switch_in(next, sel, now);
	return 0;
}

/* A process that replaced its image: its old mappings no longer describe its new samples. */
SEC("tracepoint/sched/sched_process_exec")
int profiler_exec(void *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	bpf_map_delete_elem(&go_procs, &tgid); /* perhaps no Go program now: user space looks again */
	if (!lantern_traced(tgid))
		return 0;
	bpf_map_delete_elem(&unwind_procs, &tgid); /* its mappings are gone with the old image */
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
	/* Any exiting thread: a stale span tag must not count for whoever gets this tid next; nor a block
	 * still pending, which ended unseen (the thread runs its exit): counted, and gone. */
	bpf_map_delete_elem(&thread_tags, &tid);
	offcpu_switch_in_unseen((struct task_struct *)bpf_get_current_task(), selected_buffer());
	if (tid != tgid)
		return 0;
	bpf_map_delete_elem(&unwind_procs, &tgid);
	bpf_map_delete_elem(&go_procs, &tgid);
	/* Only processes that were announced: a pid is free for reuse once it is gone. */
	if (bpf_map_delete_elem(&seen_pids, &tgid) == 0)
		notify(PROF_EV_EXIT, 0, tgid);
	return 0;
}
