/* HTTP/1 request/response pairing in the kernel (included by sockets.bpf.c after its emit helpers).
 *
 * On a keep-alive HTTP/1 connection every exchange used to cost a data record per direction. Here a
 * request that fits one syscall (≤ SOCK_HOLD_SIZE bytes) is held in `held` until the first syscall
 * of the other direction, and both go out as one socket_pair_event carrying the two data headers as
 * they would have been (position, time, thread, call size). User space expands it back into those
 * two data events, so everything after decode sees the same bytes at the same positions.
 *
 * Anything that is not one request then one response — pipelining, a request in several syscalls
 * or over the bound, a 1xx or 101 response, response bytes that are not a status line, a close
 * while holding, TLS — replays the held request as the data event it was and puts the connection in
 * stream mode for good (counted per reason). Nothing downstream depends on the pairing being right:
 * a wrong guess only changes how two data events travel, never what they say. */
#ifndef LANTERN_PAIRING_H
#define LANTERN_PAIRING_H

/* The prefix of a socket_data_event: the held request as the data event it will be, or be part of. */
struct held_request {
	struct socket_data_header h;
	__u8 data[SOCK_HOLD_SIZE];
};

/* Keyed by the connection's generation (unique, unlike (tgid, fd)). Not LRU: an eviction would drop
 * a request unseen; when full, requests go out unpaired (SOCK_CTR_PAIR_HOLD_FULL). Entries of a
 * process that died holding one (exit closes fds without a close syscall) are swept by user space
 * (src/collectors/sockets/held-sweep.ts), which delivers them as ordinary data events. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64);
	__type(value, struct held_request);
} held SEC(".maps");

/* A paired record is built here: 5 KiB, far over the BPF stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct socket_pair_event);
} pair_scratch SEC(".maps");

/* The first bytes of a request line: a method the protocol inference knows (RFC 9112 §3). */
static __always_inline bool http1_request_start(const __u8 *b)
{
	return !http1_status_line(b) && infer_protocol(b, 8) == PROTO_HTTP1;
}

/* Sends the held request as the data event it was. Deleting the entry is the claim: of two threads
 * racing on one connection (a close and a write), only the one whose delete succeeds sends it. */
static __always_inline void pair_replay(__u64 gen)
{
	__u32 zero = 0;
	struct socket_data_event *e = bpf_map_lookup_elem(&scratch, &zero);
	struct held_request *h = bpf_map_lookup_elem(&held, &gen);
	if (!e || !h)
		return;
	__u32 n = h->h.len;
	asm volatile("if %[n] <= %[max] goto +1\n\t%[n] = %[max]" : [n] "+r"(n) : [max] "i"(SOCK_HOLD_SIZE));
	__builtin_memcpy(&e->h, &h->h, sizeof(e->h));
	if (bpf_probe_read_kernel(e->data, n, h->data) != 0)
		return;
	if (bpf_map_delete_elem(&held, &gen) != 0)
		return;
	if (bpf_ringbuf_output(&socket_events, e, sizeof(e->h) + n, wakeup_flag()) != 0)
		lantern_count(SOCK_CTR_RINGBUF_FULL);
	else
		lantern_count(SOCK_CTR_DATA_EVENTS);
}

/* Leaves paired mode for good, replaying a held request first. `reason`: a SOCK_CTR_PAIR_* slot. */
__noinline int pair_leave(struct conn_state *c, __u32 reason)
{
	if (!c || c->pairing == PAIR_STREAM)
		return 0;
	bool holding = c->pairing == PAIR_HOLDING;
	c->pairing = PAIR_STREAM;
	lantern_count(reason);
	if (holding)
		pair_replay(c->generation);
	return 0;
}

/* The connection now carries TLS: its cleartext pairing ends (plaintext is never paired). */
static __always_inline void pair_leave_for_tls(struct conn_state *c)
{
	if (c->protocol == PROTO_HTTP1 && !c->tls)
		pair_leave(c, SOCK_CTR_PAIR_TLS);
}

/* Holds a request of `n` ≤ SOCK_HOLD_SIZE bytes, read from `ubuf`, as the data event it would be. */
static __always_inline bool pair_hold(struct conn_state *c, struct emit_req *r)
{
	__u32 zero = 0;
	struct socket_data_event *e = bpf_map_lookup_elem(&scratch, &zero);
	if (!e)
		return false;
	__u32 n = r->len;
	asm volatile("if %[n] <= %[max] goto +1\n\t%[n] = %[max]" : [n] "+r"(n) : [max] "i"(SOCK_HOLD_SIZE));
	data_header(&e->h, c, r->tgid, r->fd, r->dir, r->position, r->call_len);
	if (bpf_probe_read_user(e->data, n, (const void *)r->ubuf) != 0)
		return false; /* the plain path reads again and counts the failure */
	e->h.len = n;
	__u64 gen = c->generation;
	/* The held entry is the first sizeof(struct held_request) bytes of the scratch event. */
	if (bpf_map_update_elem(&held, &gen, e, BPF_NOEXIST) != 0) {
		lantern_count(SOCK_CTR_PAIR_HOLD_FULL);
		return false;
	}
	return true;
}

/* Sends the held request and the first chunk of the response's first buffer as one record.
 * Returns the response bytes it carried (0: none, the plain path sends them). */
__noinline int pair_emit(struct conn_state *c, struct emit_req *r)
{
	if (!c || !r)
		return 0;
	__u32 zero = 0;
	__u64 gen = c->generation;
	struct socket_pair_event *p = bpf_map_lookup_elem(&pair_scratch, &zero);
	struct held_request *h = bpf_map_lookup_elem(&held, &gen);
	if (!p)
		return 0;
	if (!h) {
		/* Swept by user space (held too long) or replayed by another thread: nothing to pair. */
		c->pairing = PAIR_IDLE;
		return 0;
	}
	__u32 nreq = h->h.len;
	asm volatile("if %[n] <= %[max] goto +1\n\t%[n] = %[max]" : [n] "+r"(nreq) : [max] "i"(SOCK_HOLD_SIZE));
	__builtin_memcpy(&p->req, &h->h, sizeof(p->req));
	if (bpf_probe_read_kernel(p->data, nreq, h->data) != 0)
		return 0;
	__u32 n = r->len;
	if (n > r->budget)
		n = r->budget;
	asm volatile("if %[n] <= %[max] goto +1\n\t%[n] = %[max]" : [n] "+r"(n) : [max] "i"(SOCK_CHUNK_SIZE));
	data_header(&p->resp, c, r->tgid, r->fd, r->dir, r->position, r->call_len);
	if (bpf_probe_read_user(p->data + nreq, n, (const void *)r->ubuf) != 0) {
		/* The plain path reads the response again and counts the failure. */
		c->pairing = PAIR_IDLE;
		pair_replay(gen);
		return 0;
	}
	if (bpf_map_delete_elem(&held, &gen) != 0)
		return 0; /* another thread sent it */
	c->pairing = PAIR_IDLE;
	p->req.type = SOCK_EV_PAIR;
	p->resp.len = n;
	if (bpf_ringbuf_output(&socket_events, p, sizeof(p->req) + sizeof(p->resp) + nreq + n, wakeup_flag()) != 0)
		lantern_count(SOCK_CTR_RINGBUF_FULL);
	else
		lantern_count(SOCK_CTR_PAIRED);
	return n;
}

/* The request's direction: known from the role, or (connection found mid-life) from the bytes. */
static __always_inline bool request_direction(struct conn_state *c, __u8 dir)
{
	if (c->role == ROLE_SERVER)
		return dir == DIR_INGRESS;
	if (c->role == ROLE_CLIENT)
		return dir == DIR_EGRESS;
	return true;
}

/* One syscall of an HTTP/1 connection in paired mode, its stream position reserved. Returns -1 when
 * it was held (nothing more to send), else the bytes of its first buffer a paired record carried. */
static __always_inline int pair_data(struct conn_state *c, struct call_args *a, struct emit_req *r)
{
	__u64 base = 0;
	__u32 len = 0;
	if (!segment(a, 0, &base, &len))
		return 0;
	if (len > r->call_len)
		len = r->call_len;
	/* "HTTP/1.1 200": a status line's first 12 bytes. A shorter first write is not paired. */
	__u8 b[12] = {};
	if (len < sizeof(b) || bpf_probe_read_user(b, sizeof(b), (const void *)base) != 0)
		__builtin_memset(b, 0, sizeof(b));
	bool request = http1_request_start(b);
	r->ubuf = base;
	r->len = len;
	if (c->pairing == PAIR_HOLDING) {
		if (r->dir == c->held_dir) {
			pair_leave(c, request ? SOCK_CTR_PAIR_PIPELINED : SOCK_CTR_PAIR_SPANNING);
			return 0;
		}
		if (!http1_status_line(b) || b[8] != ' ') {
			pair_leave(c, SOCK_CTR_PAIR_NOT_STATUS);
			return 0;
		}
		/* 1xx: the final response is still to come (RFC 9110 §15.2); 101: another protocol follows. */
		if (b[9] == '1') {
			pair_leave(c, b[10] == '0' && b[11] == '1' ? SOCK_CTR_PAIR_UPGRADE : SOCK_CTR_PAIR_INFORMATIONAL);
			return 0;
		}
		return pair_emit(c, r);
	}
	if (!request || !request_direction(c, r->dir))
		return 0;
	if (r->call_len > SOCK_HOLD_SIZE || len < r->call_len) {
		pair_leave(c, SOCK_CTR_PAIR_LARGE);
		return 0;
	}
	if (!pair_hold(c, r))
		return 0;
	c->pairing = PAIR_HOLDING;
	c->held_dir = r->dir;
	return -1;
}

#endif
