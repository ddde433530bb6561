// Process lifecycle: exec and exit of traced processes. The smallest Lantern collector, and the one
// others lean on (TLS attaches to new binaries on exec; metadata drops state on exit).
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include "counters.h"
#include "filter.h"
#include "process.h"

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} process_events SEC(".maps");

static __always_inline struct process_event *reserve(__u8 type, __u32 tgid)
{
	struct process_event *e = bpf_ringbuf_reserve(&process_events, sizeof(*e), 0);
	if (!e) {
		lantern_count(PROCESS_CTR_RINGBUF_FULL);
		return NULL;
	}
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	e->type = type;
	e->pad[0] = e->pad[1] = e->pad[2] = 0;
	e->pid = tgid;
	e->ppid = BPF_CORE_READ(task, real_parent, tgid);
	e->exit_code = 0;
	e->ts_ns = bpf_ktime_get_ns();
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	e->filename[0] = 0;
	return e;
}

SEC("tracepoint/sched/sched_process_exec")
int on_exec(struct trace_event_raw_sched_process_exec *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (!lantern_traced(tgid))
		return 0;
	lantern_count(PROCESS_CTR_EXEC);
	struct process_event *e = reserve(PROCESS_EXEC, tgid);
	if (!e)
		return 0;
	/* filename is a __data_loc field: low 16 bits are its offset in the record. */
	__u32 off = ctx->__data_loc_filename & 0xFFFF;
	bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), (void *)ctx + off);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("tracepoint/sched/sched_process_exit")
int on_exit(void *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	/* Threads exit through here too: only the group leader's exit ends the process. */
	if ((__u32)id != tgid || !lantern_traced(tgid))
		return 0;
	lantern_count(PROCESS_CTR_EXIT);
	struct process_event *e = reserve(PROCESS_EXIT, tgid);
	if (!e)
		return 0;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	e->exit_code = BPF_CORE_READ(task, exit_code);
	bpf_ringbuf_submit(e, 0);
	return 0;
}
