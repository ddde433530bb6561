/* Per-CPU loss and activity counters every Lantern program keeps; user space sums them into
 * self-metrics. Slots are defined per program in its own header. */
#ifndef LANTERN_COUNTERS_H
#define LANTERN_COUNTERS_H

#define LANTERN_MAX_COUNTERS 32

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, LANTERN_MAX_COUNTERS);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

static __always_inline void lantern_count(__u32 slot)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &slot);
	if (v)
		*v += 1; /* per-CPU: no atomics needed */
}

#endif
