// Socket capture: connection lifecycle and payload of the socket syscalls, from syscall tracepoints
// only (no kprobes: many kernels, this one included, lack them).
//
// sys_enter_* saves the arguments of a syscall on a socket (keyed by pid_tgid); sys_exit_* acts once
// the return value says how many bytes moved. Payload is copied only on connections whose first
// bytes look like a protocol we parse; the rest cost a map lookup and two counters.
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include "counters.h"
#include "filter.h"
#include "profiler.h"
#include "span_tags.h"
#include "sockets.h"

char LICENSE[] SEC("license") = "GPL";

#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define AF_UNIX 1
#define AF_INET 2
#define AF_INET6 10
#define EINPROGRESS 115
#define SOCK_DGRAM 2

/* Syscall tracepoint records (see events/syscalls/<name>/format). The kernel refuses programs that
 * read past a record, so each handler reads only the arguments its syscall has. */
struct sys_enter_ctx {
	__u64 common;
	int nr;
	int pad;
	__u64 args[6];
};

struct sys_exit_ctx {
	__u64 common;
	int nr;
	int pad;
	long ret;
};

/* The data calls come first (put_args: kind < CALL_CONNECT). */
enum call_kind { CALL_BUF = 1, CALL_IOV = 2, CALL_MSG = 3, CALL_MMSG = 4, CALL_SIZE_ONLY = 5, CALL_CONNECT = 6, CALL_ACCEPT = 7 };

/* A syscall in flight on a socket, between its enter and exit. */
struct call_args {
	__u64 ptr;     /* buffer, iovec array, msghdr or mmsghdr array */
	__u64 file;    /* struct file * at enter: detects fd reuse */
	__u64 addr;    /* sendto/recvfrom: the user's struct sockaddr *, if any */
	__u32 fd;
	__u32 count;   /* iovcnt / vlen */
	__u8 kind;
	__u8 direction;
	/* Kept from call to call (the slot is the thread's): the thread has written as a client (or
	 * connected), so its writes' enters read the clock (data_ts). */
	__u8 client_writer;
	__u8 pad[5];
	__u64 enter_ns; /* when a client thread's write began (0 for the others, see put_args) */
};

struct conn_key {
	__u32 tgid;
	__u32 fd;
};

/* HTTP/1 pairing (pairing.h): nothing held, a request held, plain stream mode for good, or the
 * response of an exchange shed in the kernel going by uncaptured. */
enum pair_state { PAIR_IDLE = 0, PAIR_HOLDING = 1, PAIR_STREAM = 2, PAIR_SHEDDING = 3 };

struct conn_state {
	__u64 file;
	__u64 generation;
	__u64 pos[2];      /* next stream position per direction (reserved atomically) */
	__u64 bytes[2];
	__u8 role;
	__u8 protocol;
	__u8 probes;       /* data syscalls inspected so far (for the protocol, then for a TLS upgrade) */
	__u8 tls;          /* plaintext comes from a TLS library's probes; the wire is ciphertext */
	__u16 sock_type;
	__u16 lport;
	__u16 rport;
	__u16 tls_version;
	__u16 tag_side;    /* span tags, connection of unknown role: 0 undecided, 1 serving, 2 not */
	__u8 last_dir;     /* 0 none yet, 1 ingress, 2 egress: a read after a write starts a request */
	__u8 pairing;      /* HTTP/1 pairing (pairing.h): enum pair_state */
	__u8 held_dir;     /* while PAIR_HOLDING or PAIR_SHEDDING: the direction of the request */
	__u8 shed_unreported; /* exchanges counted in the kernel since the last record (shed_before) */
	__u8 pad3[6];
};

/* A datagram's peer as the syscall named it. */
struct peer {
	__u16 family;
	__u16 port;
	__u8 addr[16];
};

/* The syscall in flight of each thread, in the thread's own BPF storage: found through the task in
 * a few loads where a hash map keyed by pid_tgid took an update at every enter and a lookup and a
 * delete at every exit, each under a bucket lock (~40 % of an enter program's time). An empty slot
 * has kind 0. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct call_args);
} calls SEC(".maps");

/* LRU: a connection whose close we never see (agent started late, lost event) ages out. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct conn_key);
	__type(value, struct conn_state);
} conns SEC(".maps");

/* 4 MiB: the consumer's native thread drains it into batches every 10 ms (sooner past 512 KiB, see
 * wakeup_flag), and stalls of the JS thread are absorbed by those batches, not here. The kernel maps
 * a ring's pages twice into the agent: a ring costs twice its size of the agent's RSS. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} socket_events SEC(".maps");

/* Scratch space for one data event: too large for the 512-byte BPF stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct socket_data_event);
} scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} generation_counter SEC(".maps");

/* The agent's own connections (OTLP export, Pyroscope) by local port: the receiving end of each, when
 * it runs on this host (a Collector, Jaeger), is left alone. Tracing it would turn every export into
 * more spans to export, a feedback loop that costs more the busier the host is. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u16);
	__type(value, __u8);
} agent_ports SEC(".maps");

/* Span-aware profiles: a thread (a goroutine, in Go) serving a request carries that exchange's tag
 * in the profiler's maps (bpf/include/span_tags.h; reused by fd when both run; set span_tags then). */
const volatile bool span_tags = false;
/* HTTP/1 request/response pairing (pairing.h); off, every syscall is its own record. */
const volatile bool http1_pairing = true;

static __always_inline struct file *fd_file(int fd)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct fdtable *fdt = task->files->fdt;
	if (!fdt || (unsigned int)fd >= fdt->max_fds)
		return NULL;
	struct file *f = NULL;
	bpf_probe_read_kernel(&f, sizeof(f), &fdt->fd[fd]);
	return f;
}

/* The file operations of every socket's file (net/socket.c's socket_file_ops: static, no symbol for
 * libbpf to resolve), learned from the first socket told by its inode's mode. A file's f_op is in the
 * struct file the syscall reads anyway (sock_from_file compares it the same way); the inode is
 * another cache line, one a socket's read path never touches: that miss was ~45 ns of each enter of
 * nginx's recvfrom under wrk (perf: copy_from_kernel_nofault, 1.1 % of nginx's time). */
__u64 socket_fops = 0;

static __always_inline struct file *socket_file(int fd)
{
	if (fd < 0)
		return NULL;
	struct file *f = fd_file(fd);
	if (!f)
		return NULL;
	__u64 fops = (__u64)BPF_CORE_READ(f, f_op);
	if (fops != 0 && fops == socket_fops)
		return f;
	umode_t mode = BPF_CORE_READ(f, f_inode, i_mode);
	if ((mode & S_IFMT) != S_IFSOCK)
		return NULL;
	socket_fops = fops;
	return f;
}

/* The struct sock behind a socket's file (NULL when there is none). */
static __always_inline struct sock *file_sock(struct file *f)
{
	struct socket *sock = BPF_CORE_READ(f, private_data);
	return BPF_CORE_READ(sock, sk);
}

/* Tags the current thread with the server exchange it reads a request of: the connection's
 * generation (low 32 bits) << 32 | the time of the read that began the request (CLOCK_MONOTONIC,
 * microseconds, low 32 bits). User space (src/agent/span-tags.ts) finds the server span of that
 * connection that began at that read: no ordinal to keep in step with each protocol's own (startup
 * and login messages, pipelining). Request/response protocols (HTTP/1, PostgreSQL, MySQL, Redis;
 * plaintext of TLS too, from tls_emit) retag at a read that follows a write; HTTP/2 at every read,
 * its streams interleave (user space then picks the latest stream open at that time). */
static __always_inline void tag_serving_thread(struct conn_state *c, __u8 dir)
{
	if (!span_tags || c->role == ROLE_CLIENT || !span_tags_wanted())
		return;
	if (c->protocol != PROTO_HTTP1 && c->protocol != PROTO_HTTP2 && c->protocol != PROTO_POSTGRES &&
	    c->protocol != PROTO_MYSQL && c->protocol != PROTO_REDIS)
		return;
	/* Unknown role: accepted by another process (a PostgreSQL backend's connection, accepted by
	 * the postmaster before the fork) or before the agent started. Serving if the first bytes seen
	 * came in (the client speaks first), but for MySQL, whose server greets first. */
	if (c->role != ROLE_SERVER) {
		if (c->tag_side == 0)
			c->tag_side = ((dir == DIR_INGRESS) != (c->protocol == PROTO_MYSQL)) ? 1 : 2;
		if (c->tag_side != 1)
			return;
	}
	if (dir != DIR_INGRESS) {
		c->last_dir = 2;
		return;
	}
	if (c->last_dir == 1 && c->protocol != PROTO_HTTP2)
		return;
	c->last_dir = 1;
	__u64 id = bpf_get_current_pid_tgid();
	__u64 us = bpf_ktime_get_ns() / 1000;
	__u64 tag = (c->generation << 32) | (us & 0xffffffff);
	span_tag_set(id >> 32, (__u32)id, tag);
}

/* Wake the consumer only when a good part of the ring waits. A wake-up per event costs the traced
 * process more than the capture itself (an irq_work self-interrupt; a VM exit in a guest); the
 * consumer sweeps the ring every few milliseconds anyway. */
#define SOCK_WAKEUP_BYTES (512 * 1024)
/* Past the mark, one wake-up per this many bytes written. A consumer that is awake drains the ring
 * anyway, and one that cannot run (starved beside a saturating load, stopped) is woken no better by
 * an interrupt per record, which costs the writer a self-IPI each (a VM exit in a guest): 0.6 % of
 * nginx's time under wrk while the agent was stopped (perf: native_write_msr in bpf_ringbuf_output). */
#define SOCK_WAKEUP_EVERY (128 * 1024)
/* The ring's producer position at the last forced wake-up (written by any CPU: a lost race costs
 * one wake-up more or less). */
__u64 wakeup_prod_pos = 0;

static __always_inline __u64 wakeup_flag(void)
{
	if (bpf_ringbuf_query(&socket_events, BPF_RB_AVAIL_DATA) <= SOCK_WAKEUP_BYTES)
		return BPF_RB_NO_WAKEUP;
	__u64 prod = bpf_ringbuf_query(&socket_events, BPF_RB_PROD_POS);
	if (prod - wakeup_prod_pos < SOCK_WAKEUP_EVERY)
		return BPF_RB_NO_WAKEUP;
	wakeup_prod_pos = prod;
	return BPF_RB_FORCE_WAKEUP;
}

static __always_inline __u64 next_generation(void)
{
	__u32 zero = 0;
	__u64 *g = bpf_map_lookup_elem(&generation_counter, &zero);
	return g ? __sync_fetch_and_add(g, 1) + 1 : 0;
}

static __always_inline bool is_digit(__u8 c)
{
	return c >= '0' && c <= '9';
}

/* "HTTP/1.": the start of a status line (RFC 9112 §4). */
static __always_inline bool http1_status_line(const __u8 *b)
{
	return b[0] == 'H' && b[1] == 'T' && b[2] == 'T' && b[3] == 'P' && b[4] == '/' && b[5] == '1' && b[6] == '.';
}

/* Classifies a connection from the first 8 bytes moved in either direction. Each test names the
 * message that starts that protocol's conversation; user space corrects a wrong guess. */
static __always_inline __u8 infer_protocol(const __u8 *b, __u32 len)
{
	if (len < 8)
		return PROTO_UNKNOWN;
	/* TLS: a handshake record (content type 22, legacy version 3.x; RFC 8446 §5.1). Ciphertext is
	 * never copied; the TLS library probes deliver the plaintext. */
	if (b[0] == 0x16 && b[1] == 0x03 && b[2] <= 0x04)
		return PROTO_TLS;
	/* HTTP/2 with prior knowledge: the client connection preface "PRI * HTTP/2.0..." (RFC 9113 §3.4). */
	if (b[0] == 'P' && b[1] == 'R' && b[2] == 'I' && b[3] == ' ' && b[4] == '*' && b[5] == ' ' && b[6] == 'H' && b[7] == 'T')
		return PROTO_HTTP2;
	/* HTTP/1.x: a request line starting with a method, or a status line (RFC 9112 §3, §4). */
	if (http1_status_line(b))
		return PROTO_HTTP1;
	if ((b[0] == 'G' && b[1] == 'E' && b[2] == 'T' && b[3] == ' ') ||
	    (b[0] == 'P' && b[1] == 'O' && b[2] == 'S' && b[3] == 'T' && b[4] == ' ') ||
	    (b[0] == 'P' && b[1] == 'U' && b[2] == 'T' && b[3] == ' ') ||
	    (b[0] == 'H' && b[1] == 'E' && b[2] == 'A' && b[3] == 'D' && b[4] == ' ') ||
	    (b[0] == 'D' && b[1] == 'E' && b[2] == 'L' && b[3] == 'E' && b[4] == 'T' && b[5] == 'E' && b[6] == ' ') ||
	    (b[0] == 'P' && b[1] == 'A' && b[2] == 'T' && b[3] == 'C' && b[4] == 'H' && b[5] == ' ') ||
	    (b[0] == 'O' && b[1] == 'P' && b[2] == 'T' && b[3] == 'I' && b[4] == 'O' && b[5] == 'N' && b[6] == 'S') ||
	    (b[0] == 'C' && b[1] == 'O' && b[2] == 'N' && b[3] == 'N' && b[4] == 'E' && b[5] == 'C' && b[6] == 'T') ||
	    (b[0] == 'T' && b[1] == 'R' && b[2] == 'A' && b[3] == 'C' && b[4] == 'E' && b[5] == ' '))
		return PROTO_HTTP1;
	/* PostgreSQL: StartupMessage (Int32 length, Int32 196608 = protocol 3.0), or SSLRequest /
	 * GSSENCRequest / CancelRequest (Int32 length, Int32 80877103 / 80877104 / 80877102). */
	__u32 len_be = ((__u32)b[0] << 24) | ((__u32)b[1] << 16) | ((__u32)b[2] << 8) | b[3];
	if (len_be >= 8 && len_be <= 10000) {
		if (b[4] == 0x00 && b[5] == 0x03 && b[6] == 0x00 && b[7] == 0x00)
			return PROTO_POSTGRES;
		if (b[4] == 0x04 && b[5] == 0xd2 && b[6] == 0x16 && (b[7] == 0x2e || b[7] == 0x2f || b[7] == 0x30))
			return PROTO_POSTGRES;
	}
	/* MySQL/MariaDB: the server's initial handshake packet: 3-byte length, sequence 0, protocol
	 * version 10, then the server version string ("8.0.x", "5.5.5-10.11.x-MariaDB"). */
	if (b[3] == 0 && b[4] == 0x0a && is_digit(b[5]) && (b[6] == '.' || is_digit(b[6])) && b[2] == 0 && (b[0] | b[1]) != 0)
		return PROTO_MYSQL;
	/* Redis: a RESP array of bulk strings, "*<n>\r\n$<len>\r\n" (how every client sends commands). */
	if (b[0] == '*' && is_digit(b[1])) {
		if (b[2] == '\r' && b[3] == '\n' && b[4] == '$' && is_digit(b[5]))
			return PROTO_REDIS;
		if (is_digit(b[2]) && b[3] == '\r' && b[4] == '\n' && b[5] == '$')
			return PROTO_REDIS;
	}
	return PROTO_UNKNOWN;
}

static __always_inline void emit_open(__u32 tgid, __u32 fd, struct file *f, struct conn_state *c)
{
	struct socket_open_event *e = bpf_ringbuf_reserve(&socket_events, sizeof(*e), 0);
	if (!e) {
		lantern_count(SOCK_CTR_RINGBUF_FULL);
		return;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->type = SOCK_EV_OPEN;
	e->role = c->role;
	e->protocol = c->protocol;
	e->pid = tgid;
	e->fd = fd;
	e->generation = c->generation;
	e->ts_ns = bpf_ktime_get_ns();
	/* The process may be gone before user space reads /proc: its name travels with the event. */
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	struct sock *sk = file_sock(f);
	if (sk) {
		__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
		e->family = family;
		e->sock_type = BPF_CORE_READ(sk, sk_type);
		e->lport = BPF_CORE_READ(sk, __sk_common.skc_num);
		e->rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
		e->netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
		/* Explicit sizes: BPF_CORE_READ_INTO on a byte array would copy one byte. */
		if (family == AF_INET) {
			bpf_core_read(e->laddr, 4, &sk->__sk_common.skc_rcv_saddr);
			bpf_core_read(e->raddr, 4, &sk->__sk_common.skc_daddr);
		} else if (family == AF_INET6) {
			bpf_core_read(e->laddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
			bpf_core_read(e->raddr, 16, &sk->__sk_common.skc_v6_daddr);
		}
	}
	bpf_ringbuf_submit(e, wakeup_flag());
	lantern_count(SOCK_CTR_CONN_OPENS);
}

/* pairing.h: leaves HTTP/1 pairing, replaying a held request (a global function, defined there). */
int pair_leave(struct conn_state *c, __u32 reason);

/* The connection state of (tgid, fd), created (and announced) when new or when the fd now holds
 * another file. `role` is known for connect/accept, unknown for connections found mid-life. */
static __always_inline struct conn_state *conn_for(__u32 tgid, __u32 fd, struct file *f, __u8 role, bool fresh)
{
	struct conn_key key = { .tgid = tgid, .fd = fd };
	struct conn_state *c = bpf_map_lookup_elem(&conns, &key);
	if (c && !fresh && c->file == (__u64)f)
		return c;
	/* The fd now holds another connection (its close unseen): the old one's held request goes first. */
	if (c && c->pairing == PAIR_HOLDING)
		pair_leave(c, SOCK_CTR_PAIR_CLOSE);
	struct conn_state init = {};
	init.file = (__u64)f;
	init.generation = next_generation();
	init.role = role;
	struct sock *sk = file_sock(f);
	if (sk) {
		init.sock_type = BPF_CORE_READ(sk, sk_type);
		init.lport = BPF_CORE_READ(sk, __sk_common.skc_num);
		init.rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
		/* The peer is the agent (its export connection): counters only, like an unknown protocol. */
		if (init.rport != 0 && bpf_map_lookup_elem(&agent_ports, &init.rport))
			init.protocol = PROTO_NONE;
	}
	if (bpf_map_update_elem(&conns, &key, &init, BPF_ANY) != 0) {
		lantern_count(SOCK_CTR_CONNS_FULL);
		return NULL;
	}
	c = bpf_map_lookup_elem(&conns, &key);
	if (c)
		emit_open(tgid, fd, f, c);
	return c;
}

/* One user buffer to copy out (BPF functions take at most five arguments). */
struct emit_req {
	__u64 ubuf;
	__u64 position;
	__u32 len;
	__u32 budget;   /* what the syscall may still capture */
	__u32 call_len;
	__u32 fd;
	__u32 tgid;
	__u8 dir;
	__u8 pad[3];
	struct peer peer;
	__u64 ts;       /* the data event's time (data_ts) */
};

/* A data event's header for `call_len` bytes at `position` (len and the peer are the caller's). */
static __always_inline void data_header(struct socket_data_header *h, struct conn_state *c, __u32 tgid, __u32 fd, __u8 dir,
					__u64 position, __u32 call_len, __u64 ts)
{
	h->type = SOCK_EV_DATA;
	h->direction = dir;
	h->protocol = c->protocol;
	h->role = c->role;
	h->pid = tgid;
	h->tid = (__u32)bpf_get_current_pid_tgid();
	h->fd = fd;
	h->generation = c->generation;
	h->position = position;
	h->ts_ns = ts;
	h->len = 0;
	h->call_len = call_len;
	h->peer_family = 0;
	h->peer_port = 0;
	__builtin_memset(h->peer_addr, 0, 16);
	h->tls = c->tls;
	/* The first record after exchanges counted in the kernel says how many there were. */
	h->shed_before = c->shed_unreported;
	c->shed_unreported = 0;
	h->tls_version = c->tls_version;
}

/* Copies up to SOCK_MAX_CHUNKS chunks of one user buffer into data events. A global function: the
 * verifier checks it once, not once per call site (start-up time is mostly verification). */
__noinline int emit_segment(struct conn_state *c, struct emit_req *r)
{
	if (!c || !r)
		return 0;
	__u64 ubuf = r->ubuf, position = r->position;
	__u32 len = r->len, budget = r->budget, call_len = r->call_len, fd = r->fd, tgid = r->tgid;
	__u64 ts = r->ts;
	__u8 dir = r->dir;
	__u32 zero = 0;
	struct socket_data_event *e = bpf_map_lookup_elem(&scratch, &zero);
	if (!e)
		return 0;
	__u32 done = 0;
	for (int i = 0; i < SOCK_MAX_CHUNKS; i++) {
		if (done >= len || done >= budget)
			break;
		__u32 n = len - done;
		if (n > budget - done)
			n = budget - done;
		if (n > SOCK_CHUNK_SIZE)
			n = SOCK_CHUNK_SIZE;
		data_header(&e->h, c, tgid, fd, dir, position + done, call_len, ts);
		e->h.peer_family = r->peer.family;
		e->h.peer_port = r->peer.port;
		__builtin_memcpy(e->h.peer_addr, r->peer.addr, 16);
		/* The compiler drops a clamp it can prove redundant, and with it the bound the verifier
		 * needs for the copy size: restate it in a form it cannot remove. */
		asm volatile("if %[n] <= %[max] goto +1\n\t%[n] = %[max]" : [n] "+r"(n) : [max] "i"(SOCK_CHUNK_SIZE));
		if (bpf_probe_read_user(e->data, n, (const void *)(ubuf + done)) != 0) {
			lantern_count(SOCK_CTR_READ_FAIL);
			break;
		}
		e->h.len = n;
		if (bpf_ringbuf_output(&socket_events, e, sizeof(e->h) + n, wakeup_flag()) != 0)
			lantern_count(SOCK_CTR_RINGBUF_FULL);
		else
			lantern_count(SOCK_CTR_DATA_EVENTS);
		done += n;
	}
	return done;
}

/* A data event without bytes: `skipped` bytes at `position` were not captured (sendfile, capture
 * bound). User space learns of the gap at once instead of at the next captured chunk. */
static __always_inline void emit_skip(struct conn_state *c, __u32 tgid, __u32 fd, __u8 dir, __u64 position, __u32 skipped, __u64 ts)
{
	struct socket_data_header *h = bpf_ringbuf_reserve(&socket_events, sizeof(*h), 0);
	if (!h) {
		lantern_count(SOCK_CTR_RINGBUF_FULL);
		return;
	}
	data_header(h, c, tgid, fd, dir, position, skipped, ts);
	bpf_ringbuf_submit(h, wakeup_flag());
}

/* Reads the first bytes of a buffer for protocol inference. */
static __always_inline __u8 probe_protocol(__u64 ubuf, __u32 len)
{
	__u8 head[8] = {};
	if (len < 8 || bpf_probe_read_user(head, sizeof(head), (const void *)ubuf) != 0)
		return PROTO_UNKNOWN;
	return infer_protocol(head, 8);
}

/* A data event's time: when its bytes were there. A client's request is there when its write
 * begins: taken at the write's exit, a request could begin after the server had read it (the
 * client preempted between copying its bytes and returning), and its span after its server span
 * (test/protocols/http1-nginx.test.ts saw it). Everything else at the syscall's exit: a read's
 * bytes arrive at its end, and a response is written by its end (a blocking write of a large
 * body may take long). A global function: its caller gets one unknown value, where inlined the two
 * outcomes doubled the verification of everything after it in handle_data (+250 ms at start). */
__noinline __u64 data_ts(struct conn_state *c, struct call_args *a, __u32 dir)
{
	if (c && a && dir == DIR_EGRESS && c->role == ROLE_CLIENT) {
		if (a->enter_ns != 0)
			return a->enter_ns;
		/* The thread's first write as a client (it did not connect): its next ones read the clock. */
		a->client_writer = 1;
	}
	return bpf_ktime_get_ns();
}

/* Resolves segment i of a syscall's payload (a plain buffer, an iovec, or a (m)msghdr's iovec). */
static __always_inline bool segment(struct call_args *a, int i, __u64 *base, __u32 *len)
{
	struct iovec iov = {};
	__u64 iov_ptr = 0;
	__u32 iov_cnt = 0;
	switch (a->kind) {
	case CALL_BUF:
		if (i > 0)
			return false;
		*base = a->ptr;
		*len = 0xffffffff; /* bounded by the syscall's return value */
		return true;
	case CALL_IOV:
		iov_ptr = a->ptr;
		iov_cnt = a->count;
		break;
	case CALL_MSG: {
		struct user_msghdr m = {};
		if (bpf_probe_read_user(&m, sizeof(m), (const void *)a->ptr) != 0)
			return false;
		iov_ptr = (__u64)m.msg_iov;
		iov_cnt = m.msg_iovlen;
		break;
	}
	default:
		return false;
	}
	if ((__u32)i >= iov_cnt)
		return false;
	if (bpf_probe_read_user(&iov, sizeof(iov), (const void *)(iov_ptr + i * sizeof(struct iovec))) != 0)
		return false;
	*base = (__u64)iov.iov_base;
	*len = iov.iov_len > 0xffffffff ? 0xffffffff : iov.iov_len;
	return true;
}

/* Reads a user struct sockaddr (IPv4 or IPv6) into `p`; family 0 when absent or of another kind. */
static __always_inline void read_sockaddr(__u64 uaddr, struct peer *p)
{
	if (!uaddr)
		return;
	struct sockaddr_in6 sa = {};
	if (bpf_probe_read_user(&sa, sizeof(sa), (const void *)uaddr) != 0)
		return;
	if (sa.sin6_family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&sa;
		p->family = AF_INET;
		p->port = bpf_ntohs(in->sin_port);
		__builtin_memcpy(p->addr, &in->sin_addr, 4);
	} else if (sa.sin6_family == AF_INET6) {
		p->family = AF_INET6;
		p->port = bpf_ntohs(sa.sin6_port);
		__builtin_memcpy(p->addr, &sa.sin6_addr, 16);
	}
}

/* The peer a datagram syscall named: sendto/recvfrom's address, or sendmsg/recvmsg's msg_name. */
static __always_inline void datagram_peer(struct call_args *a, struct peer *p)
{
	if (a->kind == CALL_BUF) {
		read_sockaddr(a->addr, p);
	} else if (a->kind == CALL_MSG) {
		struct user_msghdr m = {};
		if (bpf_probe_read_user(&m, sizeof(m), (const void *)a->ptr) == 0 && m.msg_namelen > 0)
			read_sockaddr((__u64)m.msg_name, p);
	}
}

#include "pairing.h"

/* The connection's wire carries TLS records from now on. A protocol recognised in its cleartext start
 * (PostgreSQL SSLRequest, MySQL CLIENT_SSL, STARTTLS) goes on in the plaintext the TLS probes deliver,
 * at the same stream positions; a connection recognised by nothing yet is inferred again from it. */
static __always_inline void switch_to_tls(struct conn_state *c)
{
	pair_leave_for_tls(c);
	if (c->protocol != PROTO_UNKNOWN && c->protocol != PROTO_NONE && c->protocol != PROTO_TLS) {
		c->tls = 1;
		lantern_count(SOCK_CTR_TLS_UPGRADES);
	} else {
		c->protocol = PROTO_TLS;
	}
}

/* A global function too (verified once for every syscall exit that calls it). */
__noinline int handle_data(struct call_args *a, long ret, bool in_tls_call)
{
	if (!a || ret <= 0)
		return 0;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct conn_state *c = conn_for(tgid, a->fd, (struct file *)a->file, ROLE_UNKNOWN, false);
	if (!c)
		return 0;
	__u8 dir = a->direction & 1;
	__sync_fetch_and_add(&c->bytes[dir], ret);
	/* Ciphertext: this connection's payload comes from the TLS library probes (tls_probes.h). */
	if (c->tls || c->protocol == PROTO_TLS)
		return 0;
	if (in_tls_call) {
		/* The library's own syscall: handshake or records. */
		switch_to_tls(c);
		return 0;
	}
	/* The first few syscalls of a recognised connection are checked for a TLS handshake record (an
	 * upgrade the library did outside SSL_read/SSL_write, e.g. in SSL_connect of an old OpenSSL),
	 * before their bytes take stream positions. */
	if (c->protocol != PROTO_UNKNOWN && c->protocol != PROTO_NONE && c->protocol != PROTO_DNS &&
	    c->probes < SOCK_PROBE_ATTEMPTS && a->kind != CALL_SIZE_ONLY) {
		c->probes++;
		__u64 base = 0;
		__u32 len = 0;
		if (segment(a, 0, &base, &len) && probe_protocol(base, ret < len ? ret : len) == PROTO_TLS) {
			switch_to_tls(c);
			return 0;
		}
	}
	__u64 position = __sync_fetch_and_add(&c->pos[dir], ret);
	if (a->kind == CALL_SIZE_ONLY) {
		if (c->protocol != PROTO_UNKNOWN && c->protocol != PROTO_NONE) {
			tag_serving_thread(c, dir);
			if (pair_shedding_drops(c, dir))
				return 0;
			/* No bytes to pair with (sendfile): the held request goes first, as it was. */
			if (c->pairing == PAIR_HOLDING)
				pair_leave(c, dir == c->held_dir ? SOCK_CTR_PAIR_SPANNING : SOCK_CTR_PAIR_NOT_STATUS);
			emit_skip(c, tgid, a->fd, dir, position, ret, data_ts(c, a, dir));
		}
		return 0;
	}
	struct peer peer = {};
	if (c->sock_type == SOCK_DGRAM)
		datagram_peer(a, &peer);
	if (c->protocol == PROTO_UNKNOWN) {
		/* The receiving end of an agent connection can be accepted before the agent's connect has
		 * returned and noted its port (on loopback the handshake completes inside connect); by the
		 * first bytes it has. */
		if (c->rport != 0 && bpf_map_lookup_elem(&agent_ports, &c->rport)) {
			c->protocol = PROTO_NONE;
			return 0;
		}
		__u64 base = 0;
		__u32 len = 0;
		if (!segment(a, 0, &base, &len))
			return 0;
		/* DNS is told by its port (53), not its bytes: a DNS header has no magic. */
		__u8 p = (c->lport == 53 || c->rport == 53 || peer.port == 53) ? PROTO_DNS : probe_protocol(base, ret < len ? ret : len);
		if (p == PROTO_TLS) {
			c->protocol = p;
			return 0;
		}
		if (p != PROTO_UNKNOWN) {
			c->protocol = p;
		} else if (++c->probes >= SOCK_PROBE_ATTEMPTS) {
			c->protocol = PROTO_NONE;
			lantern_count(SOCK_CTR_PROTO_GIVEUP);
			return 0;
		} else {
			return 0;
		}
	}
	if (c->protocol == PROTO_NONE)
		return 0;
	/* Only for syscalls whose bytes go out: the others need no clock read. */
	__u64 ts = data_ts(c, a, dir);
	tag_serving_thread(c, dir);
	__u32 call_len = ret;
	__u32 budget = SOCK_CHUNK_SIZE * SOCK_MAX_CHUNKS;
	if (budget > call_len)
		budget = call_len;
	else
		lantern_count(SOCK_CTR_TRUNCATED);
	/* HTTP/1 pairing: a request may be held, or its response's first bytes go out with it. */
	__u32 paired = 0;
	if (http1_pairing && c->protocol == PROTO_HTTP1 && c->pairing != PAIR_STREAM && c->sock_type != SOCK_DGRAM) {
		struct emit_req pr = { .position = position, .budget = budget, .call_len = call_len, .fd = a->fd, .tgid = tgid, .dir = dir, .ts = ts };
		int n = pair_data(c, a, &pr);
		if (n < 0)
			return 0;
		paired = n;
	}
	__u32 offset = 0;
	for (int i = 0; i < SOCK_MAX_SEGMENTS; i++) {
		if (offset >= call_len)
			break;
		__u64 base = 0;
		__u32 len = 0;
		if (!segment(a, i, &base, &len))
			break;
		if (len > call_len - offset)
			len = call_len - offset;
		/* The first `paired` bytes of buffer 0 went out in a paired record. */
		__u32 skip = 0;
		if (i == 0)
			skip = paired < len ? paired : len;
		if (offset + skip < budget && skip < len) {
			struct emit_req r = { .ubuf = base + skip, .position = position + offset + skip, .len = len - skip,
					      .budget = budget - offset - skip, .call_len = call_len, .fd = a->fd,
					      .tgid = tgid, .dir = dir, .peer = peer, .ts = ts };
			emit_segment(c, &r);
		}
		offset += len;
	}
	if (call_len > budget)
		emit_skip(c, tgid, a->fd, dir, position + budget, call_len - budget, ts);
	return 0;
}

/* sendmmsg/recvmmsg return a count of messages; each mmsghdr says how many bytes its message moved.
 * Each message is handled as one sendmsg/recvmsg (libuv, and so dig and Node, send UDP this way). */
#define SOCK_MAX_MMSG 4
static __always_inline void handle_mmsg(struct call_args *a, long ret, bool in_tls_call)
{
	/* The call's own slot, dropped after this, is rewritten as each message's sendmsg/recvmsg: a copy
	 * of it on this stack put the deepest call chain (→ handle_data → pair_send → shed_count) over the
	 * verifier's 512 bytes. */
	__u64 vec = a->ptr;
	a->kind = CALL_MSG;
	for (int i = 0; i < SOCK_MAX_MMSG; i++) {
		if (i >= ret)
			break;
		__u64 at = vec + i * sizeof(struct mmsghdr);
		__u32 len = 0;
		if (bpf_probe_read_user(&len, sizeof(len), (const void *)(at + offsetof(struct mmsghdr, msg_len))) != 0)
			break;
		a->ptr = at; /* msg_hdr is the first member of struct mmsghdr */
		handle_data(a, len, in_tls_call);
	}
}

#include "tls_probes.h"

/* --- enter: save the arguments of syscalls on sockets ------------------------------------------- */

static __always_inline struct call_args *call_slot(__u64 flags)
{
	return bpf_task_storage_get(&calls, bpf_get_current_task_btf(), 0, flags);
}

/*
 * The current thread's syscall in flight is `a` (what its exit will take). The clock is read only
 * for the data writes of a thread that writes as a client: data_ts uses a client's write's start,
 * nothing else's. Which end a connection is, is known at the exit (its state); the enter has only the
 * thread's past. A server's write read it for nothing: a third of the enter of nginx's writev under
 * wrk (perf: read_tsc). The thread's first client write (on a connection it did not connect) goes by
 * its exit's time, as every write once did.
 */
static __always_inline void put_args(struct call_args *a)
{
	struct call_args *slot = call_slot(BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!slot) {
		lantern_count(SOCK_CTR_ARGS_FULL);
		return;
	}
	a->client_writer = slot->client_writer;
	if (a->client_writer && a->direction == DIR_EGRESS && a->kind < CALL_CONNECT)
		a->enter_ns = bpf_ktime_get_ns();
	*slot = *a;
}

/* Saves the arguments of the current thread's syscall on fd, if fd is a socket, for its exit. */
static __always_inline int put_call(__u32 fd, __u64 ptr, __u32 count, __u8 kind, __u8 dir, __u64 addr)
{
	struct file *f = socket_file(fd);
	if (!f)
		return 0;
	struct call_args a = { .ptr = ptr, .file = (__u64)f, .addr = addr, .fd = fd, .count = count, .kind = kind, .direction = dir };
	put_args(&a);
	return 0;
}

static __always_inline int save_call_addr(__u32 fd, __u64 ptr, __u32 count, __u8 kind, __u8 dir, __u64 addr)
{
	if (!lantern_traced(bpf_get_current_pid_tgid() >> 32))
		return 0;
	return put_call(fd, ptr, count, kind, dir, addr);
}

static __always_inline int save_call(__u32 fd, __u64 ptr, __u32 count, __u8 kind, __u8 dir)
{
	return save_call_addr(fd, ptr, count, kind, dir, 0);
}

static __always_inline struct call_args *take_call(void)
{
	struct call_args *a = call_slot(0);
	return a && a->kind != 0 ? a : NULL;
}

static __always_inline void drop_call(struct call_args *a)
{
	a->kind = 0;
}

#define ENTER(name, kind, dir, ptr_arg, count_arg)                                        \
	SEC("tracepoint/syscalls/sys_enter_" #name)                                        \
	int enter_##name(struct sys_enter_ctx *ctx)                                        \
	{                                                                                  \
		return save_call(ctx->args[0], ctx->args[ptr_arg], count_arg, kind, dir); \
	}

/* The exit of a syscall that moved payload: the saved arguments and the return value to
 * handle_data (or handle_mmsg), once the TLS probes have seen which socket the thread used. Every
 * sys_exit_* program tail-calls one of these two, found in exit_handlers: verified once each. As
 * the exit programs' own code, handle_data and all it calls was verified once per syscall (global
 * functions are verified in every program that calls them): ~40 ms each of the sockets object's
 * load, eleven times. SEC("tracepoint") without a name: loaded, never attached. */
static __always_inline int handle_exit(struct sys_exit_ctx *ctx, bool mmsg)
{
	struct call_args *a = take_call();
	if (!a)
		return 0;
	bool t = tls_note_syscall(a->fd);
	if (mmsg)
		handle_mmsg(a, ctx->ret, t);
	else
		handle_data(a, ctx->ret, t);
	drop_call(a);
	return 0;
}

SEC("tracepoint")
int exit_data(struct sys_exit_ctx *ctx)
{
	return handle_exit(ctx, false);
}

SEC("tracepoint")
int exit_mmsg(struct sys_exit_ctx *ctx)
{
	return handle_exit(ctx, true);
}

enum { EXIT_HANDLER_DATA, EXIT_HANDLER_MMSG };

/* Filled by libbpf at load (it fails the load if it cannot). */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, int(struct sys_exit_ctx *));
} exit_handlers SEC(".maps") = {
	.values = {
		[EXIT_HANDLER_DATA] = (void *)&exit_data,
		[EXIT_HANDLER_MMSG] = (void *)&exit_mmsg,
	},
};

/* sys_exit_*: a syscall whose enter saved its arguments (a socket's) goes to its handler; any other
 * (a file's read or write) ends here, without the tail call. A handler that is not there (it cannot
 * be: the load fills the map) leaves the saved call dropped, as the handler would. */
#define EXIT_WITH(name, handler)                                   \
	SEC("tracepoint/syscalls/sys_exit_" #name)                 \
	int exit_##name(struct sys_exit_ctx *ctx)                  \
	{                                                          \
		struct call_args *a = take_call();                 \
		if (a) {                                           \
			bpf_tail_call(ctx, &exit_handlers, handler); \
			drop_call(a);                              \
		}                                                  \
		return 0;                                          \
	}
#define EXIT_DATA(name) EXIT_WITH(name, EXIT_HANDLER_DATA)
#define EXIT_MMSG(name) EXIT_WITH(name, EXIT_HANDLER_MMSG)

ENTER(read, CALL_BUF, DIR_INGRESS, 1, 0)
ENTER(write, CALL_BUF, DIR_EGRESS, 1, 0)
ENTER(readv, CALL_IOV, DIR_INGRESS, 1, ctx->args[2])
ENTER(writev, CALL_IOV, DIR_EGRESS, 1, ctx->args[2])
/* recvfrom/sendto(fd, buf, len, flags, addr, addrlen): the address names a datagram's peer. */
SEC("tracepoint/syscalls/sys_enter_recvfrom")
int enter_recvfrom(struct sys_enter_ctx *ctx)
{
	return save_call_addr(ctx->args[0], ctx->args[1], 0, CALL_BUF, DIR_INGRESS, ctx->args[4]);
}

SEC("tracepoint/syscalls/sys_enter_sendto")
int enter_sendto(struct sys_enter_ctx *ctx)
{
	return save_call_addr(ctx->args[0], ctx->args[1], 0, CALL_BUF, DIR_EGRESS, ctx->args[4]);
}
ENTER(recvmsg, CALL_MSG, DIR_INGRESS, 1, 0)
ENTER(sendmsg, CALL_MSG, DIR_EGRESS, 1, 0)
ENTER(recvmmsg, CALL_MMSG, DIR_INGRESS, 1, ctx->args[2])
ENTER(sendmmsg, CALL_MMSG, DIR_EGRESS, 1, ctx->args[2])
EXIT_DATA(read)
EXIT_DATA(write)
EXIT_DATA(readv)
EXIT_DATA(writev)
EXIT_DATA(recvfrom)
EXIT_DATA(sendto)
EXIT_DATA(recvmsg)
EXIT_DATA(sendmsg)

EXIT_MMSG(recvmmsg)
EXIT_MMSG(sendmmsg)

/* sendfile(out_fd, in_fd, offset, count): the payload comes from a file; only its size is counted
 * (the stream position still advances, so parsers see the body as a gap of known length). */
SEC("tracepoint/syscalls/sys_enter_sendfile64")
int enter_sendfile64(struct sys_enter_ctx *ctx)
{
	return save_call(ctx->args[0], 0, 0, CALL_SIZE_ONLY, DIR_EGRESS);
}
EXIT_DATA(sendfile64)

/* --- connection lifecycle ------------------------------------------------------------------------ */

SEC("tracepoint/syscalls/sys_enter_connect")
int enter_connect(struct sys_enter_ctx *ctx)
{
	/* The agent is not traced, but its local port is remembered at exit (agent_ports). */
	if ((bpf_get_current_pid_tgid() >> 32) == agent_tgid)
		return put_call(ctx->args[0], 0, 0, CALL_CONNECT, 0, 0);
	return save_call(ctx->args[0], 0, 0, CALL_CONNECT, 0);
}

/* The agent's connect: note its local port (bound by now, also for a non-blocking connect). */
static __always_inline void note_agent_port(struct file *f)
{
	struct sock *sk = file_sock(f);
	if (!sk)
		return;
	__u16 port = BPF_CORE_READ(sk, __sk_common.skc_num);
	__u8 one = 1;
	if (port != 0)
		bpf_map_update_elem(&agent_ports, &port, &one, BPF_ANY);
}

SEC("tracepoint/syscalls/sys_exit_connect")
int exit_connect(struct sys_exit_ctx *ctx)
{
	struct call_args *a = take_call();
	if (!a)
		return 0;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (ctx->ret == 0 || ctx->ret == -EINPROGRESS) {
		if (tgid == agent_tgid)
			note_agent_port((struct file *)a->file);
		else
			conn_for(tgid, a->fd, (struct file *)a->file, ROLE_CLIENT, true);
		/* Its writes read the clock at their enter from now on (data_ts): the first request too. */
		a->client_writer = 1;
	}
	drop_call(a);
	return 0;
}

/* accept's listening fd is a socket; the new fd only exists at exit. */
static __always_inline int enter_accept_common(void)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (!lantern_traced(id >> 32))
		return 0;
	struct call_args a = { .kind = CALL_ACCEPT };
	put_args(&a);
	return 0;
}

static __always_inline int exit_accept_common(long ret)
{
	struct call_args *a = take_call();
	if (!a)
		return 0;
	drop_call(a);
	if (ret < 0)
		return 0;
	struct file *f = socket_file(ret);
	if (f)
		conn_for(bpf_get_current_pid_tgid() >> 32, ret, f, ROLE_SERVER, true);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_accept")
int enter_accept(struct sys_enter_ctx *ctx) { return enter_accept_common(); }
SEC("tracepoint/syscalls/sys_exit_accept")
int exit_accept(struct sys_exit_ctx *ctx) { return exit_accept_common(ctx->ret); }
SEC("tracepoint/syscalls/sys_enter_accept4")
int enter_accept4(struct sys_enter_ctx *ctx) { return enter_accept_common(); }
SEC("tracepoint/syscalls/sys_exit_accept4")
int exit_accept4(struct sys_exit_ctx *ctx) { return exit_accept_common(ctx->ret); }

SEC("tracepoint/syscalls/sys_enter_close")
int enter_close(struct sys_enter_ctx *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (!lantern_traced(tgid))
		return 0;
	struct conn_key key = { .tgid = tgid, .fd = (__u32)ctx->args[0] };
	struct conn_state *c = bpf_map_lookup_elem(&conns, &key);
	if (!c)
		return 0;
	if (span_tags && c->role == ROLE_SERVER && span_tags_wanted()) {
		/* The exchange is over: its tag must not label what the thread does next. */
		span_tag_clear(tgid, (__u32)bpf_get_current_pid_tgid(), c->generation);
	}
	/* A request held for pairing goes out before the close that ends its stream. */
	if (c->pairing == PAIR_HOLDING)
		pair_leave(c, SOCK_CTR_PAIR_CLOSE);
	struct socket_close_event *e = bpf_ringbuf_reserve(&socket_events, sizeof(*e), 0);
	if (e) {
		__builtin_memset(e, 0, sizeof(*e));
		e->type = SOCK_EV_CLOSE;
		e->role = c->role;
		e->protocol = c->protocol;
		e->pid = tgid;
		e->fd = key.fd;
		e->generation = c->generation;
		e->ts_ns = bpf_ktime_get_ns();
		e->bytes_egress = c->bytes[DIR_EGRESS];
		e->bytes_ingress = c->bytes[DIR_INGRESS];
		e->shed_before = c->shed_unreported;
		bpf_ringbuf_submit(e, wakeup_flag());
		lantern_count(SOCK_CTR_CONN_CLOSES);
	} else {
		lantern_count(SOCK_CTR_RINGBUF_FULL);
	}
	bpf_map_delete_elem(&conns, &key);
	return 0;
}
