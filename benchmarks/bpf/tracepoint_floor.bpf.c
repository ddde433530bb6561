// A program that does nothing, for benchmarks/saturation-breakdown.ts: attached to every syscall
// tracepoint the socket tracer uses, it measures what the tracepoints themselves cost a traced
// process (the kernel's slow syscall path, the perf event, the BPF dispatch), apart from any work.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

SEC("tracepoint")
int nothing(void *ctx)
{
	return 0;
}
