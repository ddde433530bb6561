/* Which processes a Lantern program reports: never the agent itself; with --pid, only those. */
#ifndef LANTERN_FILTER_H
#define LANTERN_FILTER_H

/* Set by user space before load. */
const volatile __u32 agent_tgid = 0;
const volatile bool filter_pids = false;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u8);
} target_pids SEC(".maps");

static __always_inline bool lantern_traced(__u32 tgid)
{
	if (tgid == agent_tgid)
		return false;
	if (!filter_pids)
		return true;
	return bpf_map_lookup_elem(&target_pids, &tgid) != NULL;
}

/* --pid follows descendants, as `strace -f` does: a server's workers and a script's children are
 * part of what the user pointed at. (Threads add their tid too: harmless, a tid is never a tgid
 * while its thread lives.) */
SEC("tracepoint/sched/sched_process_fork")
int filter_follow_fork(struct trace_event_raw_sched_process_fork *ctx)
{
	if (!filter_pids)
		return 0;
	/* (The agent's own children are followed only if its pid was given: a test harness that runs
	 * the agent in-process and traces what it spawns.) */
	__u32 parent = bpf_get_current_pid_tgid() >> 32;
	if (!bpf_map_lookup_elem(&target_pids, &parent))
		return 0;
	__u32 child = ctx->child_pid;
	__u8 one = 1;
	bpf_map_update_elem(&target_pids, &child, &one, BPF_ANY);
	return 0;
}

/* Forget a task once it is freed: later than its exit, so programs on sched_process_exit still see
 * it as traced. Threads and processes both pass here (a thread's tid, or the process). */
SEC("tracepoint/sched/sched_process_free")
int filter_forget_freed(struct trace_event_raw_sched_process_template *ctx)
{
	if (!filter_pids)
		return 0;
	__u32 pid = ctx->pid;
	bpf_map_delete_elem(&target_pids, &pid);
	return 0;
}

#endif
