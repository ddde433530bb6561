/* TLS plaintext, part of sockets.bpf.c (it shares the connection table and the ring buffer).
 *
 * OpenSSL (shared libssl, or linked into a binary such as node): uprobes on SSL_read/SSL_write and
 * their _ex forms save the buffer at entry; the uretprobe reads the plaintext. The socket is found
 * without struct offsets by the nested-syscall technique: while a thread is inside an SSL call, the
 * read/write syscall the library makes on the socket names the fd (tls_note_syscall). The
 * SSL* → fd binding is cached, for calls served from OpenSSL's buffer with no syscall. Libraries
 * that use memory BIOs (node) make no syscall inside SSL calls: a call that ends without a socket
 * leaves the SSL* "unbound" on its thread, and that thread's next socket syscall — the flush of
 * what the call produced — binds it.
 *
 * Go crypto/tls: uprobes at the entry of (*Conn).Read/Write and on each of their RET instructions
 * (uretprobes rewrite the return address, which Go's stack copying cannot cope with). Arguments
 * come from Go's register ABI; the fd from the conn's structures with per-binary offsets
 * (struct go_tls_layout, indexed by the attach cookie). State is keyed by the goroutine (its g
 * pointer, in R14 on amd64): a goroutine can move to another thread between entry and return. */
#ifndef LANTERN_TLS_PROBES_H
#define LANTERN_TLS_PROBES_H

#include <bpf/bpf_tracing.h>

#define TLS_MAX_CAPTURE (SOCK_CHUNK_SIZE * SOCK_MAX_CHUNKS)

struct tls_call {
	__u64 ssl;
	__u64 buf;
	__u64 len_ptr;   /* SSL_read_ex/SSL_write_ex: where the byte count is written */
	__s32 fd;        /* named by the nested syscall; -1 until then */
	__u16 version;
	__u8 direction;
	__u8 has_data;   /* 0 for SSL_do_handshake: it only teaches the binding */
};

struct ssl_key {
	__u32 tgid;
	__u32 pad;
	__u64 ssl;
};

struct go_call_key {
	__u32 tgid;
	__u32 pad;
	__u64 g;
};

struct go_call {
	__u64 conn;
	__u64 buf;
	__u32 layout;
	__u8 direction;
	__u8 pad[3];
};

/* A thread's OpenSSL state, in the thread's own BPF storage (as the socket syscall in flight,
 * `calls`): every traced socket syscall's exit asks for it (tls_note_syscall), where two hash maps
 * keyed by pid_tgid took two lookups. */
struct tls_thread {
	struct tls_call call; /* the SSL call in flight (SSL calls do not nest); call.ssl 0: none */
	__u64 unbound_ssl;    /* the SSL* of its last call that ended without naming its socket (memory BIOs); 0: none */
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct tls_thread);
} tls_threads SEC(".maps");

/* SSL* → socket fd, learned from nested syscalls; LRU because SSL_free may be missed. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct ssl_key);
	__type(value, __s32);
} ssl_fds SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct go_call_key);
	__type(value, struct go_call);
} go_tls_calls SEC(".maps");

/* Filled by user space per Go binary it attaches to. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, struct go_tls_layout);
} go_tls_layouts SEC(".maps");

static __always_inline struct tls_thread *tls_thread(__u64 flags)
{
	return bpf_task_storage_get(&tls_threads, bpf_get_current_task_btf(), 0, flags);
}

/* Called at the exit of every traced socket syscall: binds an SSL* to the fd when the thread is
 * inside an SSL call (and then the bytes are ciphertext: returns 1), or when the thread's last
 * SSL call ended unbound. A global function: verified once, and its stack is its own, off the
 * exits' call chains down to emit_segment (whose combined stack is near the verifier's 512 bytes). */
__noinline int tls_note_syscall(__u32 fd)
{
	struct tls_thread *th = tls_thread(0);
	if (!th)
		return 0; /* the thread never made an SSL call */
	struct ssl_key key = { .tgid = bpf_get_current_pid_tgid() >> 32 };
	__s32 sfd = fd;
	if (th->call.ssl != 0) {
		th->call.fd = sfd;
		key.ssl = th->call.ssl;
		bpf_map_update_elem(&ssl_fds, &key, &sfd, BPF_ANY);
		return 1;
	}
	if (th->unbound_ssl != 0) {
		key.ssl = th->unbound_ssl;
		bpf_map_update_elem(&ssl_fds, &key, &sfd, BPF_ANY);
		th->unbound_ssl = 0;
	}
	return 0;
}

struct tls_data {
	__u64 buf;
	__u32 len;
	__s32 fd;
	__u32 tgid;
	__u16 version;
	__u8 direction;
	__u8 pad;
};

/* Plaintext of one TLS read or write into the connection's stream. */
static __noinline int tls_emit(struct tls_data *d)
{
	__u32 tgid = d->tgid, len = d->len;
	__s32 fd = d->fd;
	__u8 dir = d->direction & 1;
	if (len == 0)
		return 0;
	struct file *f = socket_file(fd);
	if (!f) {
		lantern_count(SOCK_CTR_TLS_NO_FD);
		return 0;
	}
	struct conn_state *c = conn_for(tgid, fd, f, ROLE_UNKNOWN, false);
	if (!c)
		return 0;
	if (!c->tls) {
		pair_leave_for_tls(c);
		/* First plaintext of a connection not known as an upgrade: what was inferred from the wire
		 * (ciphertext, or nothing) does not describe the stream user space will see. */
		c->tls = 1;
		c->protocol = PROTO_UNKNOWN;
		c->probes = 0;
	}
	if (d->version)
		c->tls_version = d->version;
	lantern_count(SOCK_CTR_TLS_CALLS);
	if (c->protocol == PROTO_UNKNOWN) {
		__u8 p = probe_protocol(d->buf, len);
		if (p != PROTO_UNKNOWN && p != PROTO_TLS) {
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
	tag_serving_thread(c, dir);
	__u64 position = __sync_fetch_and_add(&c->pos[dir], len);
	__u32 budget = len;
	if (budget > TLS_MAX_CAPTURE) {
		budget = TLS_MAX_CAPTURE;
		lantern_count(SOCK_CTR_TRUNCATED);
	}
	__u64 ts = bpf_ktime_get_ns();
	struct emit_req r = { .ubuf = d->buf, .position = position, .len = budget, .budget = budget,
			      .call_len = len, .fd = fd, .tgid = tgid, .dir = dir, .ts = ts };
	emit_segment(c, &r);
	if (len > budget)
		emit_skip(c, tgid, fd, dir, position + budget, len - budget, ts);
	return 0;
}

/* --- OpenSSL ------------------------------------------------------------------------------------- */

static __always_inline int ssl_enter(void *ssl, __u64 buf, __u64 len_ptr, __u8 dir, __u8 has_data)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (!lantern_traced(id >> 32))
		return 0;
	struct tls_call t = { .ssl = (__u64)ssl, .buf = buf, .len_ptr = len_ptr, .fd = -1, .direction = dir, .has_data = has_data };
	/* OpenSSL 1.1 and 3.0/3.1 begin struct ssl_st with `int version`; later layouts fail the range
	 * check and leave the version unknown rather than wrong. */
	__s32 v = 0;
	if (bpf_probe_read_user(&v, sizeof(v), ssl) == 0 && v >= 0x0301 && v <= 0x0304)
		t.version = v;
	struct tls_thread *th = tls_thread(BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (th)
		th->call = t;
	else
		lantern_count(SOCK_CTR_TLS_CALLS_FULL);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(ssl_read_enter, void *ssl, void *buf, int num)
{
	return ssl_enter(ssl, (__u64)buf, 0, DIR_INGRESS, 1);
}

SEC("uprobe")
int BPF_KPROBE(ssl_read_ex_enter, void *ssl, void *buf, __u64 num, __u64 *readbytes)
{
	return ssl_enter(ssl, (__u64)buf, (__u64)readbytes, DIR_INGRESS, 1);
}

SEC("uprobe")
int BPF_KPROBE(ssl_write_enter, void *ssl, const void *buf, int num)
{
	return ssl_enter(ssl, (__u64)buf, 0, DIR_EGRESS, 1);
}

SEC("uprobe")
int BPF_KPROBE(ssl_write_ex_enter, void *ssl, const void *buf, __u64 num, __u64 *written)
{
	return ssl_enter(ssl, (__u64)buf, (__u64)written, DIR_EGRESS, 1);
}

SEC("uprobe")
int BPF_KPROBE(ssl_handshake_enter, void *ssl)
{
	return ssl_enter(ssl, 0, 0, DIR_EGRESS, 0);
}

/* One return probe for every SSL call: SSL_read/SSL_write return the byte count; the _ex forms
 * return 1 and store the count through their last argument. */
SEC("uretprobe")
int BPF_KRETPROBE(ssl_return, long rax)
{
	/* Every one returns an int: the upper half of the register is not part of the value. */
	int ret = (int)rax;
	__u64 id = bpf_get_current_pid_tgid();
	struct tls_thread *th = tls_thread(0);
	if (!th || th->call.ssl == 0)
		return 0;
	struct tls_call call = th->call;
	th->call.ssl = 0;
	struct ssl_key key = { .tgid = id >> 32, .ssl = call.ssl };
	if (call.fd < 0) {
		__s32 *known = bpf_map_lookup_elem(&ssl_fds, &key);
		if (known)
			call.fd = *known;
	}
	if (call.fd < 0)
		th->unbound_ssl = call.ssl;
	if (!call.has_data || ret <= 0)
		return 0;
	__u64 n = ret;
	if (call.len_ptr) {
		n = 0;
		if (ret != 1 || bpf_probe_read_user(&n, sizeof(n), (void *)call.len_ptr) != 0)
			return 0;
	}
	if (call.fd < 0) {
		lantern_count(SOCK_CTR_TLS_NO_FD);
		return 0;
	}
	struct tls_data d = { .buf = call.buf, .len = n > 0x7fffffff ? 0x7fffffff : n, .fd = call.fd,
			      .tgid = id >> 32, .version = call.version, .direction = call.direction };
	return tls_emit(&d);
}

/* A freed SSL*'s address is soon reused by another connection: forget its binding. */
SEC("uprobe")
int BPF_KPROBE(ssl_free_enter, void *ssl)
{
	struct ssl_key key = { .tgid = bpf_get_current_pid_tgid() >> 32, .ssl = (__u64)ssl };
	bpf_map_delete_elem(&ssl_fds, &key);
	return 0;
}

/* --- Go crypto/tls ------------------------------------------------------------------------------- */

/* Go's internal register ABI (Go >= 1.17): integer arguments and results in this order. */
#if defined(__TARGET_ARCH_x86)
#define GO_R0(x) ((x)->ax)
#define GO_R1(x) ((x)->bx)
#define GO_R2(x) ((x)->cx)
#define GO_G(x) ((x)->r14)
#elif defined(__TARGET_ARCH_arm64)
#define GO_R0(x) (((struct user_pt_regs *)(x))->regs[0])
#define GO_R1(x) (((struct user_pt_regs *)(x))->regs[1])
#define GO_R2(x) (((struct user_pt_regs *)(x))->regs[2])
#define GO_G(x) (((struct user_pt_regs *)(x))->regs[28])
#endif

#ifdef GO_G
/* Plaintext of one Read or Write of the *tls.Conn `conn`, to its socket. */
static __always_inline int go_tls_emit(__u64 conn, __u32 layout, __u64 buf, long n, __u8 dir)
{
	if (n <= 0)
		return 0;
	struct go_tls_layout *l = bpf_map_lookup_elem(&go_tls_layouts, &layout);
	if (!l)
		return 0;
	if (l->itab_tcp || l->itab_unix) {
		__u64 itab = 0;
		bpf_probe_read_user(&itab, sizeof(itab), (void *)(conn + l->conn_data - 8));
		if (itab != l->itab_tcp && itab != l->itab_unix) {
			lantern_count(SOCK_CTR_TLS_FOREIGN_CONN);
			return 0;
		}
	}
	/* conn.conn (net.Conn) → its data pointer (*net.TCPConn) → .fd (*net.netFD) → .pfd.Sysfd */
	__u64 tcp = 0, netfd = 0;
	__s64 sysfd = -1;
	if (bpf_probe_read_user(&tcp, sizeof(tcp), (void *)(conn + l->conn_data)) != 0 || !tcp ||
	    bpf_probe_read_user(&netfd, sizeof(netfd), (void *)(tcp + l->tcpconn_fd)) != 0 || !netfd ||
	    bpf_probe_read_user(&sysfd, sizeof(sysfd), (void *)(netfd + l->netfd_sysfd)) != 0 || sysfd < 0 || sysfd > 0x7fffffff) {
		lantern_count(SOCK_CTR_TLS_NO_FD);
		return 0;
	}
	__u16 vers = 0;
	if (l->vers != 0xffffffff)
		bpf_probe_read_user(&vers, sizeof(vers), (void *)(conn + l->vers));
	struct tls_data d = { .buf = buf, .len = n > 0x7fffffff ? 0x7fffffff : n, .fd = sysfd,
			      .tgid = bpf_get_current_pid_tgid() >> 32, .version = vers, .direction = dir };
	return tls_emit(&d);
}

/* func (c *Conn) Read(b []byte) (int, error): the receiver and the slice's pointer are saved for the
 * RET probes, keyed by goroutine. */
SEC("uprobe")
int go_tls_read_enter(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (!lantern_traced(id >> 32))
		return 0;
	struct go_call_key key = { .tgid = id >> 32, .g = GO_G(ctx) };
	struct go_call call = { .conn = GO_R0(ctx), .buf = GO_R1(ctx), .layout = (__u32)bpf_get_attach_cookie(ctx), .direction = DIR_INGRESS };
	if (bpf_map_update_elem(&go_tls_calls, &key, &call, BPF_ANY) != 0)
		lantern_count(SOCK_CTR_TLS_CALLS_FULL);
	return 0;
}

/* func (c *Conn) Write(b []byte) (int, error) writes all of b or fails: its plaintext is taken at
 * entry, before any byte leaves. (At a RET it would race the answer: another goroutine can read
 * the response before this one returns, and a request must reach user space before its response.) */
SEC("uprobe")
int go_tls_write_enter(struct pt_regs *ctx)
{
	if (!lantern_traced(bpf_get_current_pid_tgid() >> 32))
		return 0;
	return go_tls_emit(GO_R0(ctx), (__u32)bpf_get_attach_cookie(ctx), GO_R1(ctx), GO_R2(ctx), DIR_EGRESS);
}

/* Attached at every RET of Read: results (n int, err error) are in the result registers. */
SEC("uprobe")
int go_tls_return(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct go_call_key key = { .tgid = id >> 32, .g = GO_G(ctx) };
	struct go_call *p = bpf_map_lookup_elem(&go_tls_calls, &key);
	if (!p)
		return 0;
	struct go_call call = *p;
	bpf_map_delete_elem(&go_tls_calls, &key);
	return go_tls_emit(call.conn, call.layout, call.buf, GO_R0(ctx), call.direction);
}

/* --- Go goroutine creation: span tags pass from a goroutine to those it starts (span_tags.h) ------- */

/* The creating goroutine of a newproc1 in flight, by thread: newproc1 runs on the system stack
 * (g0), which cannot be rescheduled, so its RET comes on the same thread. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u64);
} go_spawning SEC(".maps");

/* func newproc1(fn *funcval, callergp *g, callerpc uintptr, parked bool, waitreason waitReason) *g */
SEC("uprobe")
int go_newproc1_enter(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (!span_tags || !span_tags_wanted() || !lantern_traced(id >> 32))
		return 0;
	__u32 tid = (__u32)id;
	__u64 parent = GO_R1(ctx);
	bpf_map_update_elem(&go_spawning, &tid, &parent, BPF_ANY);
	return 0;
}

/* At every RET of newproc1, the new g in the first result register: it inherits its creator's tag,
 * or loses the one a previous goroutine left on this (reused) g. */
SEC("uprobe")
int go_newproc1_return(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	__u64 *parent = bpf_map_lookup_elem(&go_spawning, &tid);
	if (!parent)
		return 0;
	struct goroutine_key from = { .tgid = id >> 32, .g = *parent };
	struct goroutine_key to = { .tgid = id >> 32, .g = GO_R0(ctx) };
	bpf_map_delete_elem(&go_spawning, &tid);
	if (to.g == 0)
		return 0;
	__u64 *tag = from.g != 0 ? bpf_map_lookup_elem(&goroutine_tags, &from) : NULL;
	if (tag) {
		__u64 t = *tag;
		bpf_map_update_elem(&goroutine_tags, &to, &t, BPF_ANY);
	} else {
		bpf_map_delete_elem(&goroutine_tags, &to);
	}
	return 0;
}
#endif

/* --- exec: user space looks for TLS libraries in the new image ----------------------------------- */

SEC("tracepoint/sched/sched_process_exec")
int tls_on_exec(void *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	/* In scope, not only traced: process selection judges the new program (filter.h). */
	if (!lantern_in_scope(tgid))
		return 0;
	struct socket_exec_event *e = bpf_ringbuf_reserve(&socket_events, sizeof(*e), 0);
	if (!e) {
		lantern_count(SOCK_CTR_RINGBUF_FULL);
		return 0;
	}
	e->type = SOCK_EV_EXEC;
	e->pad0[0] = e->pad0[1] = e->pad0[2] = 0;
	e->pid = tgid;
	e->ts_ns = bpf_ktime_get_ns();
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
	return 0;
}

#endif
