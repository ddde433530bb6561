// What the socket tracer's BPF object needs of the kernel beyond the ring buffer and the syscall
// tracepoints: each thread's syscall in flight and its OpenSSL state live in the thread's BPF task
// storage (bpf/sockets.bpf.c `calls`, bpf/include/tls_probes.h `tls_threads`), reached through the
// BTF task pointer from tracepoint programs: Linux 5.12 or newer. Asked by the collector before it
// loads the object and by `lantern doctor` (host/capabilities.ts).
import { BpfHelper, helperSupported } from 'libbpf-ts';

/** Whether tracepoint programs may use BPF task storage here (bpf_task_storage_get, bpf_get_current_task_btf). */
export function taskStorageFromTracepoints(): boolean {
  return helperSupported('tracepoint', BpfHelper.task_storage_get) && helperSupported('tracepoint', BpfHelper.get_current_task_btf);
}
