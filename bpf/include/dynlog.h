/* Dynamic logging: the capture plan one uprobe executes, and the record it emits. Shared with
 * src/collectors/dynlog/layout.ts (offsets checked by a test against these structs' sizes). */
#ifndef LANTERN_DYNLOG_H
#define LANTERN_DYNLOG_H

#define DL_MAX_CAPTURES 8
#define DL_MAX_DEREFS 4
/* Bytes one capture may hold (the configurable bound is at most this). */
#define DL_MAX_BYTES 512

/* Operand bases: a general register, or the stack pointer's value. */
enum dl_base {
	DL_RAX = 0, DL_RBX, DL_RCX, DL_RDI, DL_RSI, DL_R8, DL_R9, DL_R10, DL_R11, DL_SP,
};

/* A word: the base's value, loaded through `nderef` pointers (v = *(u64 *)(v + derefs[i])), then
 * either that value (mem = 0) or the memory at v + off (mem = 1). */
struct dl_operand {
	__u8 base;
	__u8 nderef;
	__u8 mem;
	__u8 pad;
	__s32 off;
	__s32 derefs[DL_MAX_DEREFS];
};

enum dl_capture_kind {
	/* `size` bytes of operand a (≤ 8 for a register value; up to the bound from memory). */
	DL_SCALAR = 1,
	/* A string or slice: operand a is the data pointer, b the length in elements of `size` bytes;
	 * min(length × size, bound) bytes are read from the pointer. */
	DL_BYTES = 2,
};

struct dl_capture {
	__u8 kind;
	__u8 pad[3];
	__u32 size;
	__u32 bound;
	__u32 pad2;
	struct dl_operand a;
	struct dl_operand b;
};

/* One probe site's plan, by BPF cookie. */
struct dl_plan {
	__u32 probe_id;
	__u8 is_return;
	__u8 ncaptures;
	__u16 pad;
	/* runtime.g.goid offset, from DWARF or the per-release table. */
	__u32 goid_offset;
	__u32 pad2;
	struct dl_capture captures[DL_MAX_CAPTURES];
};

/* What one capture produced. */
struct dl_slot {
	/* Scalars: the first 8 bytes; bytes: the length word (elements). */
	__u64 word;
	/* Bytes stored in data. */
	__u32 stored;
	/* DL_FLAG_*. */
	__u32 flags;
	__u8 data[DL_MAX_BYTES];
};

#define DL_FLAG_READ_FAILED 1 /* a pointer on the way was nil or unreadable */
#define DL_FLAG_TRUNCATED 2   /* more bytes than the bound */

struct dl_event {
	__u64 ts_ns;
	__u64 g;
	__u64 goid;
	/* thread_tags[tid] at the hit: the HTTP/1 exchange the thread serves (0: none). */
	__u64 span_tag;
	__u32 pid;
	__u32 tid;
	__u32 probe_id;
	__u8 is_return;
	__u8 ncaptures;
	__u16 pad;
	struct dl_slot slots[DL_MAX_CAPTURES];
};

enum dynlog_counter {
	DL_CTR_HITS = 0,
	DL_CTR_NO_PLAN = 1,
	DL_CTR_RINGBUF_FULL = 2,
	DL_CTR_READ_FAILED = 3,
	DL_CTR_COUNT = 4,
};

#endif
