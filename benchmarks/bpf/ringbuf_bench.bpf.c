// Ring-buffer throughput benchmark: every getppid(2) of the target process emits `events_per_call`
// fixed-size records, so a cheap syscall loop in user space turns into millions of records per
// second without the syscall itself dominating the cost.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

/* Only the generator process produces records (set before load). */
const volatile __u32 target_tgid = 0;
/* Records per getppid call; bpf_loop takes it at run time, so it can be tuned without recompiling. */
const volatile __u32 events_per_call = 64;

/* 64 bytes: what a small real event (ids, timestamp, a few fields) weighs. */
struct bench_event {
	__u64 seq;
	__u64 ts_ns;
	__u32 tgid;
	__u32 cpu;
	__u8 pad[40];
};

/* 64 MiB: ~900k records of slack, and a backlog big enough to time draining it (ringbuf.ts). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 << 20);
} events SEC(".maps");

/* Reserve failures (ring full): counted, never silent. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

/* Records submitted. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} emitted SEC(".maps");

/* Next sequence number. Records carry seq so user space can check it got each one exactly once. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} next_seq SEC(".maps");

struct loop_ctx {
	__u64 base_seq;
	__u64 ts_ns;
	__u32 tgid;
	__u32 cpu;
	__u64 sent;
	__u64 failed;
};

/* The record of syscalls:sys_enter_getppid (12 bytes, see its tracefs format file). The kernel
 * refuses to attach a program that reads past a tracepoint's record, so the generic
 * trace_event_raw_sys_enter (with args[6]) must not be used for a syscall without arguments. */
struct sys_enter_noargs {
	__u64 common;
	int syscall_nr;
};

static long emit_one(__u32 i, void *data)
{
	struct loop_ctx *c = data;
	struct bench_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		c->failed++;
		return 0; /* keep trying: the consumer may free space mid-loop */
	}
	e->seq = c->base_seq + i;
	e->ts_ns = c->ts_ns;
	e->tgid = c->tgid;
	e->cpu = c->cpu;
	__builtin_memset(e->pad, 0, sizeof(e->pad));
	bpf_ringbuf_submit(e, 0);
	c->sent++;
	return 0;
}

static __always_inline void add(void *map, __u64 n)
{
	__u32 zero = 0;
	__u64 *v = bpf_map_lookup_elem(map, &zero);

	/* No branch on n: that would make the loop's counters precise, and the verifier would then
	 * walk every bpf_loop iteration separately instead of converging (E2BIG at load). */
	if (v)
		__sync_fetch_and_add(v, n);
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int on_getppid(struct sys_enter_noargs *ctx)
{
	__u32 zero = 0;
	__u64 *seqp;
	struct loop_ctx c = {};

	if ((bpf_get_current_pid_tgid() >> 32) != target_tgid)
		return 0;
	seqp = bpf_map_lookup_elem(&next_seq, &zero);
	if (!seqp)
		return 0;
	/* Not atomic on purpose: the generator calls getppid from one thread only, and a fetching
	 * atomic would need -mcpu=v3. A race would only repeat seqs, which the checksum reveals. */
	c.base_seq = *seqp;
	*seqp = c.base_seq + events_per_call;
	c.ts_ns = bpf_ktime_get_ns();
	c.tgid = target_tgid;
	c.cpu = bpf_get_smp_processor_id();
	bpf_loop(events_per_call, emit_one, &c, 0);
	add(&emitted, c.sent);
	add(&drops, c.failed);
	return 0;
}
