/* Records of process.bpf.c, read in place by src/collectors/process/decode.ts. */
#ifndef LANTERN_PROCESS_H
#define LANTERN_PROCESS_H

enum process_event_type { PROCESS_EXEC = 1, PROCESS_EXIT = 2 };

/* Counter slots (counters.h). */
enum process_counter { PROCESS_CTR_EXEC = 0, PROCESS_CTR_EXIT = 1, PROCESS_CTR_RINGBUF_FULL = 2 };

#define PROCESS_COMM_LEN 16
#define PROCESS_FILENAME_LEN 256

struct process_event {
	__u8 type; /* must be first */
	__u8 pad[3];
	__u32 pid;
	__u32 ppid;
	__s32 exit_code;
	__u64 ts_ns; /* CLOCK_MONOTONIC (bpf_ktime_get_ns) */
	char comm[PROCESS_COMM_LEN];
	char filename[PROCESS_FILENAME_LEN];
};

#endif
