// Dynamic logging: one generic uprobe program for every probed Go function. Each attachment's BPF
// cookie names its capture plan (bpf/include/dynlog.h), written by user space from DWARF and Go's
// register ABI: where each argument (at entry) or result (at a RET) is, which pointers to follow,
// how many bytes to keep. No code is generated per probe, so nothing is compiled on the node; the
// verifier checks this one program once.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "counters.h"
#include "filter.h"
#include "profiler.h"
#include "span_tags.h"
#include "dynlog.h"

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, struct dl_plan);
} dl_plans SEC(".maps");

/* 1 MiB (about 250 records of the largest kind): mapped twice into the agent, and loaded even while
 * no probe is set. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} dynlog_events SEC(".maps");

/* Which exchange a thread serves, filled by the socket tracer (span-aware calls); the profiler's map
 * when it runs, this object's own otherwise (bpf/include/profiler.h). */

/* The record is built here (it is larger than the BPF stack), then copied into the ring. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct dl_event);
} dl_scratch SEC(".maps");

/* The registers a plan may name, copied once per hit: a switch over pt_regs fields compiles to a
 * computed context offset, which the verifier refuses. Kept in a map value (bounded index). */
struct dl_regs {
	__u64 r[DL_SP + 1];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct dl_regs);
} dl_regs_scratch SEC(".maps");

static __always_inline __u64 base_value(const struct dl_regs *regs, __u8 base)
{
	return base <= DL_SP ? regs->r[base] : 0;
}

/* The operand's address (mem) or value (!mem) in *out; non-zero when a pointer could not be read. */
static __noinline int operand(const struct dl_regs *regs, const struct dl_operand *o, __u64 *out)
{
	__u64 v = base_value(regs, o->base);
	for (int i = 0; i < DL_MAX_DEREFS; i++) {
		if (i >= o->nderef)
			break;
		if (v == 0 || bpf_probe_read_user(&v, sizeof(v), (void *)(v + o->derefs[i])))
			return -1;
	}
	*out = o->mem ? v + o->off : v;
	return 0;
}

static __always_inline __u64 read_word(const struct dl_regs *regs, const struct dl_operand *o, int *err)
{
	__u64 v = 0;
	if (operand(regs, o, &v)) {
		*err = 1;
		return 0;
	}
	if (!o->mem)
		return v;
	__u64 w = 0;
	if (v == 0 || bpf_probe_read_user(&w, sizeof(w), (void *)v))
		*err = 1;
	return w;
}

static __always_inline void capture(const struct dl_regs *regs, const struct dl_capture *c, struct dl_slot *s)
{
	int err = 0;
	__u32 bound = c->bound > DL_MAX_BYTES ? DL_MAX_BYTES : c->bound;
	s->stored = 0;
	s->flags = 0;
	s->word = 0;
	if (c->kind == DL_SCALAR) {
		__u64 addr = 0;
		if (operand(regs, &c->a, &addr)) {
			s->flags = DL_FLAG_READ_FAILED;
			return;
		}
		if (!c->a.mem) {
			/* A register's value: its bytes are the capture (little-endian, like memory). */
			s->word = addr;
			__builtin_memcpy(s->data, &addr, 8);
			s->stored = c->size > 8 ? 8 : c->size;
			return;
		}
		__u32 n = c->size > bound ? bound : c->size;
		if (n > DL_MAX_BYTES)
			n = DL_MAX_BYTES;
		if (addr == 0 || bpf_probe_read_user(s->data, n, (void *)addr)) {
			s->flags = DL_FLAG_READ_FAILED;
			return;
		}
		__builtin_memcpy(&s->word, s->data, 8);
		s->stored = n;
		if (c->size > n)
			s->flags |= DL_FLAG_TRUNCATED;
		return;
	}
	if (c->kind == DL_BYTES) {
		__u64 ptr = read_word(regs, &c->a, &err);
		__u64 len = read_word(regs, &c->b, &err);
		s->word = len;
		if (err) {
			s->flags = DL_FLAG_READ_FAILED;
			return;
		}
		__u64 total = len * c->size;
		__u32 n = total > bound ? bound : (__u32)total;
		if (total > bound)
			s->flags |= DL_FLAG_TRUNCATED;
		if (n == 0)
			return;
		if (n > DL_MAX_BYTES)
			n = DL_MAX_BYTES;
		if (ptr == 0 || bpf_probe_read_user(s->data, n, (void *)ptr)) {
			s->flags |= DL_FLAG_READ_FAILED;
			return;
		}
		s->stored = n;
	}
}

SEC("uprobe")
int dynlog_probe(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (!lantern_traced(id >> 32))
		return 0;
	lantern_count(DL_CTR_HITS);
	__u64 cookie = bpf_get_attach_cookie(ctx);
	struct dl_plan *plan = bpf_map_lookup_elem(&dl_plans, &cookie);
	if (!plan) {
		lantern_count(DL_CTR_NO_PLAN);
		return 0;
	}
	__u32 zero = 0;
	struct dl_event *e = bpf_map_lookup_elem(&dl_scratch, &zero);
	if (!e)
		return 0;
	e->ts_ns = bpf_ktime_get_ns();
	e->pid = id >> 32;
	e->tid = (__u32)id;
	e->probe_id = plan->probe_id;
	e->is_return = plan->is_return;
	/* Go's register ABI keeps the current goroutine's g in R14. */
	e->g = ctx->r14;
	e->span_tag = span_tag_of(bpf_get_current_task_btf(), e->pid, e->tid);
	e->goid = 0;
	if (e->g != 0)
		bpf_probe_read_user(&e->goid, sizeof(e->goid), (void *)(e->g + plan->goid_offset));
	struct dl_regs *regs = bpf_map_lookup_elem(&dl_regs_scratch, &zero);
	if (!regs)
		return 0;
	regs->r[DL_RAX] = ctx->ax;
	regs->r[DL_RBX] = ctx->bx;
	regs->r[DL_RCX] = ctx->cx;
	regs->r[DL_RDI] = ctx->di;
	regs->r[DL_RSI] = ctx->si;
	regs->r[DL_R8] = ctx->r8;
	regs->r[DL_R9] = ctx->r9;
	regs->r[DL_R10] = ctx->r10;
	regs->r[DL_R11] = ctx->r11;
	regs->r[DL_SP] = ctx->sp;
	__u8 n = plan->ncaptures > DL_MAX_CAPTURES ? DL_MAX_CAPTURES : plan->ncaptures;
	e->ncaptures = n;
	e->pad = 0;
	for (int i = 0; i < DL_MAX_CAPTURES; i++) {
		if (i >= n)
			break;
		capture(regs, &plan->captures[i], &e->slots[i]);
		if (e->slots[i].flags & DL_FLAG_READ_FAILED)
			lantern_count(DL_CTR_READ_FAILED);
	}
	__u64 size = sizeof(*e) - sizeof(e->slots) + (__u64)n * sizeof(struct dl_slot);
	if (size > sizeof(*e))
		size = sizeof(*e);
	if (bpf_ringbuf_output(&dynlog_events, e, size, 0))
		lantern_count(DL_CTR_RINGBUF_FULL);
	return 0;
}
