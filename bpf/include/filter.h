/* Which processes a Lantern program reports: never the agent itself; then what user space decided
 * (src/selection/: --pid and the `selection` rules), one hash lookup per event. */
#ifndef LANTERN_FILTER_H
#define LANTERN_FILTER_H

#include <bpf/bpf_tracing.h>

/* Set by user space before load. filter_pids: consult listed_pids at all (false: every process but
 * the agent, no lookup). unlisted_traced: what a tgid not in the map is — true when the map lists
 * exclusions (only exclude rules), false when it lists the processes in scope (--pid, include rules). */
const volatile __u32 agent_tgid = 0;
const volatile bool filter_pids = false;
const volatile bool unlisted_traced = false;

/* tgid → 1 traced, 0 not traced. Written by user space (at start, at each exec it sees, after a pod
 * or a listening port changes a decision), copied from parent to child at fork, removed when freed. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u8);
} listed_pids SEC(".maps");

/* tgid → the start time (task->start_time, ns) of the process its listed_pids entry is about, written
 * at every fork the filter sees. A pid is free again once its process is reaped, but the task is
 * freed (sched_process_free) only after an RCU grace period, and with lazy RCU (CONFIG_RCU_LAZY, on
 * this project's kernel) seconds later: by then the pid may be a new process's, whose entry went with
 * the old one's, and the new process went untraced (test/metadata/pid-reuse.test.ts, once in CI).
 * Shared among the objects as listed_pids is (src/selection/process-selection.ts). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u64);
} listed_start SEC(".maps");

static __always_inline bool lantern_traced(__u32 tgid)
{
	if (tgid == agent_tgid)
		return false;
	if (!filter_pids)
		return true;
	__u8 *v = bpf_map_lookup_elem(&listed_pids, &tgid);
	return v ? *v != 0 : unlisted_traced;
}

/* Whether user space should hear of the process at all (its exec, to judge the new program): every
 * process but the agent, or with --pid those in scope (listed, traced or not). */
static __always_inline bool lantern_in_scope(__u32 tgid)
{
	if (tgid == agent_tgid)
		return false;
	return !filter_pids || unlisted_traced || bpf_map_lookup_elem(&listed_pids, &tgid) != NULL;
}

/* A child is what its parent was until it execs (user space judges the new program then): --pid
 * follows descendants as `strace -f` does, and an excluded server's workers stay excluded. Threads
 * share their process's entry (the lookup is by tgid), so only new processes are listed. A child
 * of an unlisted parent has its pid's stale entry (if any) removed. */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(filter_follow_fork, struct task_struct *parent, struct task_struct *child)
{
	if (!filter_pids)
		return 0;
	__u32 pid = child->pid;
	if (pid != (__u32)child->tgid)
		return 0;
	/* (The agent's own children are followed only if its pid was given: a test harness that runs
	 * the agent in-process and traces what it spawns.) */
	__u32 ptgid = parent->tgid;
	__u64 start = child->start_time;
	bpf_map_update_elem(&listed_start, &pid, &start, BPF_ANY);
	__u8 *v = bpf_map_lookup_elem(&listed_pids, &ptgid);
	if (v) {
		__u8 copy = *v;
		bpf_map_update_elem(&listed_pids, &pid, &copy, BPF_ANY);
	} else {
		bpf_map_delete_elem(&listed_pids, &pid);
	}
	return 0;
}

/* Forget a process once it is freed: later than its exit, so programs on sched_process_exit still see
 * it as traced; not when its pid is a newer process's by then (listed_start). */
SEC("tp_btf/sched_process_free")
int BPF_PROG(filter_forget_freed, struct task_struct *p)
{
	if (!filter_pids)
		return 0;
	__u32 pid = p->pid;
	if (pid != (__u32)p->tgid)
		return 0;
	__u64 *start = bpf_map_lookup_elem(&listed_start, &pid);
	if (start && *start != p->start_time)
		return 0;
	bpf_map_delete_elem(&listed_pids, &pid);
	bpf_map_delete_elem(&listed_start, &pid);
	return 0;
}

#endif
