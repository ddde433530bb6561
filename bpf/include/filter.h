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

#endif
