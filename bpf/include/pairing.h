/* HTTP/1 request/response pairing in the kernel (included by sockets.bpf.c after its emit helpers).
 *
 * On a keep-alive HTTP/1 connection every exchange used to cost a data record per direction. Here a
 * request that fits one syscall (≤ SOCK_HOLD_SIZE bytes) is held in `held` until the first syscall
 * of the other direction, and both go out as one socket_pair_event carrying the two data headers as
 * they would have been (position, time, thread, call size). User space expands it back into those
 * two data events, so everything after decode sees the same bytes at the same positions.
 *
 * Under load user space sets a share of exchanges to shed (`shed_control`): a shed exchange is
 * counted in the kernel's RED histograms (shed_red_*), or where it cannot be, goes out as a summary
 * (SOCK_EV_SHED: the request and the response's status line); the rest of its response is not
 * captured.
 *
 * Anything that is not one request then one response — pipelining, a request in several syscalls
 * or over the bound, a 1xx or 101 response, response bytes that are not a status line, a close
 * while holding, TLS — replays the held request as the data event it was and puts the connection in
 * stream mode for good (counted per reason). Nothing downstream depends on the pairing being right:
 * a wrong guess only changes how two data events travel, never what they say. */
#ifndef LANTERN_PAIRING_H
#define LANTERN_PAIRING_H

#include "map_choice.h"

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

/* A paired record is built here: 5 KiB, far over the BPF stack. The slack lets the verifier see
 * that a copy of up to a chunk, at any offset below the response's bound, stays inside the value
 * (it does not relate the offset to the size, which pair_more_buffers keeps within the record). */
struct pair_scratch_value {
	struct socket_pair_event ev;
	__u8 slack[SOCK_CHUNK_SIZE];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pair_scratch_value);
} pair_scratch SEC(".maps");

/* Per local port, the connection end (tgid << 32 | fd) of this host that last held a request from or
 * to that port: whether the other end of an exchange is traced here too (other_end_here). An array
 * indexed by port: one lookup, no hash, no lock. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u64);
} port_ends SEC(".maps");

/* This end holds a request: noted under its local port (written only when another end held there
 * last, as a server's connections on one port take turns). One u64 store: never read half written. */
static __always_inline void note_port_end(struct conn_state *c, __u32 tgid, __u32 fd)
{
	__u32 port = c->lport;
	__u64 end = (__u64)tgid << 32 | fd;
	__u64 *last = bpf_map_lookup_elem(&port_ends, &port);
	if (last && *last != end)
		*last = end;
}

/* Whether the other end of c's connection is traced on this host: an end of this host held a request
 * on c's remote port (both ends hold their request, the client at its write, the server at its read,
 * before either decides on the exchange), and a connection of its own is still there on that port
 * (not necessarily this exchange's peer: a server's connections share its port). A client elsewhere
 * (most of a server's traffic), or a process not traced, leaves no such end. Ports alike in other
 * network namespaces or a process that held there and died may answer yes: a decision is then left
 * that nobody takes, as before this check; a false no would need a server connection that held a
 * request after this exchange's and closed before its client's response arrived, and leaves both
 * ends deciding alone, by the same hash. */
static __always_inline bool other_end_here(struct conn_state *c)
{
	__u32 port = c->rport;
	__u64 *last = bpf_map_lookup_elem(&port_ends, &port);
	if (!last || *last == 0)
		return false;
	struct conn_key key = { .tgid = *last >> 32, .fd = (__u32)*last };
	struct conn_state *other = bpf_map_lookup_elem(&conns, &key);
	return other && other->lport == port;
}

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

/* Holds the request whose `n` ≤ SOCK_HOLD_SIZE bytes the scratch event `e` holds already, as the data
 * event it would be. */
static __always_inline bool pair_hold(struct conn_state *c, struct emit_req *r, struct socket_data_event *e, __u32 n)
{
	data_header(&e->h, c, r->tgid, r->fd, r->dir, r->position, r->call_len, r->ts);
	e->h.len = n;
	__u64 gen = c->generation;
	/* The held entry is the first sizeof(struct held_request) bytes of the scratch event. */
	if (bpf_map_update_elem(&held, &gen, e, BPF_NOEXIST) != 0) {
		lantern_count(SOCK_CTR_PAIR_HOLD_FULL);
		return false;
	}
	note_port_end(c, r->tgid, r->fd);
	return true;
}

/* What user space asks of the kernel's shedding (src/collectors/sockets/kernel-shedding.ts), from its
 * span shedder's share. Shedding here is the cheapest stage: a shed exchange costs the ring a summary
 * of ~1 KiB instead of its bytes, and user space a head parse and a histogram point instead of two
 * parses, a span and its export. */
struct shed_control {
	__u32 share;     /* exchanges to shed, out of 65536; 0: none */
	__u32 red_map;   /* the RED histogram map shed exchanges are counted in now: 0 shed_red_0, 1 shed_red_1 */
	__u64 since_ns;  /* when shedding last began (bpf_ktime_get_ns clock) */
	__u64 until_ns;  /* decisions are looked up until then, though share is 0 (ends still to come) */
	__u32 budget;    /* requests kept per quarter second at most (spans.max_per_second / 4); 0: none */
	__u32 pad0;
};

/* The span budget's quarter second, as the kernel counts it: the share comes from user space a ring
 * batch late, and a client faster than that (curl on one keep-alive connection) was kept until it
 * came (CI: of 6,000 exchanges under a budget of 200 spans a second, 3,962 kept and sent). */
#define SHED_BUDGET_WINDOW_NS 250000000ULL
struct shed_budget {
	__u64 window_ns; /* when the quarter second began */
	__u64 kept;      /* requests kept in it */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct shed_budget);
} shed_budget SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct shed_control);
} shed_control SEC(".maps");

/* One exchange as both ends of its TCP stream on this host see it. */
struct shed_key {
	__u16 client_port;
	__u16 server_port;
	__u32 pad0;
	__u64 position; /* the request's position in its stream */
};

/* Decisions of the end that decided first, until the other end asks (it deletes them); an end that
 * is not traced leaves its decisions to age out. Values: 1 shed, 0 kept. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct shed_key);
	__type(value, __u8);
} shed_decisions SEC(".maps");

/* Whether more than half the ring waits unread. User space leaves records in the ring while its JS
 * thread is behind (RingConsumerOptions.leaveInRing): a stall (an agent started into a loaded host,
 * a long GC) would otherwise lose whole batches of exchanges, their RED with them. Every paired
 * exchange is shed then, whatever the share, and counted in the kernel's RED: the half left stays for
 * what cannot be shed (opens, closes, other protocols, summaries). */
static __always_inline bool ring_filling(void)
{
	return bpf_ringbuf_query(&socket_events, BPF_RB_AVAIL_DATA) > bpf_ringbuf_query(&socket_events, BPF_RB_RING_SIZE) / 2;
}

/* Whether this quarter second has kept its `budget` of requests; if not, one more is counted kept.
 * Two CPUs may both start a new quarter (a few requests counted twice or not at all): the budget is
 * a bound for the kernel's bulk, user space's span shedder holds it exactly. */
static __always_inline bool budget_spent(__u32 budget, __u64 now)
{
	__u32 zero = 0;
	struct shed_budget *b = bpf_map_lookup_elem(&shed_budget, &zero);
	if (!b)
		return false;
	if (now - b->window_ns >= SHED_BUDGET_WINDOW_NS) {
		b->window_ns = now;
		b->kept = 0;
	}
	if (b->kept >= budget)
		return true;
	__sync_fetch_and_add(&b->kept, 1);
	return false;
}

/* The decision the other end left for `key`, taken (deleted) into `shed`; false when none waits. */
static __always_inline bool take_decision(struct shed_key *key, __u8 *shed)
{
	__u8 *left = bpf_map_lookup_elem(&shed_decisions, key);
	if (!left)
		return false;
	*shed = *left;
	bpf_map_delete_elem(&shed_decisions, key);
	return true;
}

/* Whether the exchange whose request was held as `req` is shed. Both ends of a request on this host
 * decide alike, also when the share moves between them: the first to decide leaves its decision
 * for the other. The two ends can decide at the same moment on two CPUs (the client's read returns
 * before the server's write has left its syscall), each finding nothing left yet: the decision is
 * then inserted only if absent, and the end that loses the insert takes the one that won. With no
 * shedding (and no decision pending) it costs an array lookup and two ring queries. `now`:
 * bpf_ktime_get_ns's clock. */
static __always_inline bool pair_shed_decision(struct conn_state *c, struct socket_data_header *req, __u64 now)
{
	__u32 zero = 0;
	struct shed_control *ctl = bpf_map_lookup_elem(&shed_control, &zero);
	if (!ctl)
		return false;
	__u32 share = ctl->share;
	__u32 budget = ctl->budget;
	bool filling = ring_filling();
	if (share == 0 && budget == 0 && !filling && now > ctl->until_ns)
		return false;
	struct shed_key key = {
		.client_port = c->held_dir == DIR_EGRESS ? c->lport : c->rport,
		.server_port = c->held_dir == DIR_EGRESS ? c->rport : c->lport,
		.position = req->position,
	};
	/* With the other end elsewhere (or not traced) no decision waits for this one, and none is left:
	 * one left for nobody stayed in the LRU until evicted, and an insert into a full LRU evicts (a
	 * server traced alone under wrk: ~6 % of its CPU in the LRU's look-ups, inserts and evictions). */
	bool here = other_end_here(c);
	__u8 shed = 0;
	if (here && take_decision(&key, &shed))
		return shed;
	/* A filling ring sheds every exchange. The decision is left for the other end as any other (which,
	 * its ring drained meanwhile and no share set, may not look: it keeps its end, and this one ages
	 * out of the LRU). Otherwise, a request begun before shedding began (or shedding over) is kept,
	 * and said so for the other end, which may have seen it begin after `since_ns` (the server reads
	 * it after the client wrote it). */
	if (filling) {
		shed = 1;
		lantern_count(SOCK_CTR_SHED_RING_FILLING);
	} else if (share != 0 && req->ts_ns >= ctl->since_ns) {
		/* splitmix64's finaliser: every input bit reaches the low 16 bits compared. */
		__u64 x = ((__u64)key.client_port << 16 | key.server_port) ^ (key.position * 0x9E3779B97F4A7C15ULL);
		x ^= x >> 30;
		x *= 0xBF58476D1CE4E5B9ULL;
		x ^= x >> 27;
		x *= 0x94D049BB133111EBULL;
		x ^= x >> 31;
		shed = (x & 0xffff) < share;
	}
	/* Kept by the share: within the quarter second's budget? (A request begun before the budget was
	 * set is kept, as before shedding began.) */
	if (!shed && !filling && budget != 0 && req->ts_ns >= ctl->since_ns && budget_spent(budget, now)) {
		shed = 1;
		lantern_count(SOCK_CTR_SHED_BUDGET);
	}
	if (!here) {
		lantern_count(SOCK_CTR_SHED_OTHER_END_AWAY);
		return shed;
	}
	/* Unless the other end decided meanwhile: its decision stands. */
	if (bpf_map_update_elem(&shed_decisions, &key, &shed, BPF_NOEXIST) != 0)
		take_decision(&key, &shed);
	else
		lantern_count(SOCK_CTR_SHED_DECISIONS_LEFT);
	return shed;
}

/* RED of the exchanges shed here, counted in the kernel instead of sent: past the agent's capacity
 * a summary record per shed exchange still cost the ring and the JS thread a head parse each, and
 * when the JS queue overflowed those records (and their RED) were lost. Counted per request line
 * and status, and per client connection or server port (struct shed_red_key): the duration
 * histogram on the buckets of http.*.request.duration (src/export/histogram-aggregator.ts
 * DURATION_BUCKETS_S, inclusive upper bounds), with the first exchange of each key as its summary
 * record would have been, from which user space reads the attributes (method, route, Host, status;
 * src/collectors/sockets/kernel-red.ts). A client's Host that changes between requests of one
 * connection (a proxy's shared upstream connection) is counted under the first one's.
 *
 * Two maps, one counted in at a time (shed_control.red_map): user space switches to the other and
 * drains this one a period later, when no program still adds to it (an element deleted while a
 * program adds to it would lose that count). When a map is full, or a connection has
 * SHED_MAX_UNREPORTED counted exchanges not yet told, the summary record goes out as before. */
#define SHED_MAX_UNREPORTED 254

#define SHED_RED_MAP(name)                                  \
	struct {                                            \
		__uint(type, BPF_MAP_TYPE_HASH);            \
		__uint(max_entries, 4096);                  \
		__uint(map_flags, BPF_F_NO_PREALLOC);       \
		__type(key, struct shed_red_key);           \
		__type(value, struct shed_red);             \
	} name SEC(".maps")
SHED_RED_MAP(shed_red_0);
SHED_RED_MAP(shed_red_1);

/* A new key's value is built here: 1.4 KiB, over the BPF stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct shed_red);
} shed_red_scratch SEC(".maps");

/* Upper bounds of the duration buckets in ns: 5, 10, 25, 50, 75, 100, 250, 500, 750 ms, 1, 2.5, 5, 7.5, 10 s. */
static __always_inline __u32 shed_red_bucket(__u64 ns)
{
	const __u64 ms = 1000000ULL;
	if (ns <= 5 * ms) return 0;
	if (ns <= 10 * ms) return 1;
	if (ns <= 25 * ms) return 2;
	if (ns <= 50 * ms) return 3;
	if (ns <= 75 * ms) return 4;
	if (ns <= 100 * ms) return 5;
	if (ns <= 250 * ms) return 6;
	if (ns <= 500 * ms) return 7;
	if (ns <= 750 * ms) return 8;
	if (ns <= 1000 * ms) return 9;
	if (ns <= 2500 * ms) return 10;
	if (ns <= 5000 * ms) return 11;
	if (ns <= 7500 * ms) return 12;
	if (ns <= 10000 * ms) return 13;
	return 14;
}

#define FNV_OFFSET 2166136261u
#define FNV_PRIME 16777619u

/* FNV-1a of the request line up to its query (at most 256 bytes) of the `n` request bytes in `b`:
 * the query is not in the metrics' attributes. Ids in the path (/users/1, /users/2) make a key each,
 * though they are one url.template: collapsing them here as src/semconv/url-template.ts does took the
 * verifier past its budget (each byte's branches explored apart), and a full map only means the
 * summary records of before. A global function, as shed_count: verified once per program, where
 * inlined into pair_send every way out of the loop went on through the rest of it (the sockets
 * object took 1.2 s to load instead of 0.4 s). */
__noinline __u32 request_line_hash(struct socket_pair_event *p, __u32 n)
{
	if (!p)
		return 0;
	__u32 h = FNV_OFFSET;
	for (__u32 i = 0; i < 256; i++) {
		if (i >= n || p->data[i] == '\r' || p->data[i] == '?')
			break;
		h = (h ^ p->data[i]) * FNV_PRIME;
	}
	return h;
}

/* The three digits of a status line's code ("HTTP/1.1 200"); pair_data checked the line's form. */
static __always_inline __u16 status_code(const __u8 *line)
{
	return (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
}

/* The RED map shed exchanges are counted in now (shed_control.red_map): a call per map (map_choice.h). */
static __always_inline struct shed_red *shed_red_find(__u32 which, struct shed_red_key *key)
{
	struct shed_red *v;
	if (which) {
		v = bpf_map_lookup_elem(&shed_red_1, key);
		keep_apart();
	} else {
		v = bpf_map_lookup_elem(&shed_red_0, key);
	}
	return v;
}

static __always_inline void shed_red_insert(__u32 which, struct shed_red_key *key, struct shed_red *fresh)
{
	if (which) {
		bpf_map_update_elem(&shed_red_1, key, fresh, BPF_NOEXIST);
		keep_apart();
	} else {
		bpf_map_update_elem(&shed_red_0, key, fresh, BPF_NOEXIST);
	}
}

/* Adds `p` (a shed exchange's summary record as pair_send built it: `nreq` request bytes, `n` of the
 * status line) to the RED histograms. False: not counted (a map full, too many not yet told, the
 * status line short), the summary goes out instead. Global (see request_line_hash). */
__noinline int shed_count(struct conn_state *c, struct socket_pair_event *p, __u32 nreq, __u32 n)
{
	if (!c || !p)
		return false;
	__u32 zero = 0;
	struct shed_control *ctl = bpf_map_lookup_elem(&shed_control, &zero);
	__u32 before = p->req.shed_before;
	if (!ctl || before >= SHED_MAX_UNREPORTED || n < 12)
		return false;
	asm volatile("if %[n] <= %[max] goto +1\n\t%[n] = %[max]" : [n] "+r"(nreq) : [max] "i"(SOCK_HOLD_SIZE));
	struct shed_red_key key = {
		.end = c->role == ROLE_SERVER ? SHED_RED_SERVER | (__u64)p->req.pid << 16 | c->lport : c->generation,
		.line_hash = request_line_hash(p, nreq),
		.status = status_code(p->data + nreq),
	};
	__u32 which = ctl->red_map;
	struct shed_red *v = shed_red_find(which, &key);
	if (!v) {
		struct shed_red *fresh = bpf_map_lookup_elem(&shed_red_scratch, &zero);
		if (!fresh)
			return false;
		__builtin_memset(fresh, 0, offsetof(struct shed_red, req));
		fresh->min_ns = ~0ULL;
		__u32 size = sizeof(p->req) + sizeof(p->resp) + nreq + n;
		asm volatile("if %[n] <= %[max] goto +1\n\t%[n] = %[max]" : [n] "+r"(size) : [max] "i"(sizeof(struct shed_red) - offsetof(struct shed_red, req)));
		if (bpf_probe_read_kernel(&fresh->req, size, p) != 0)
			return false;
		fresh->req.type = SOCK_EV_SHED;
		fresh->req.shed_before = 0;
		/* Inserted by another CPU meanwhile: added to below. Full: not counted. */
		shed_red_insert(which, &key, fresh);
		v = shed_red_find(which, &key);
		if (!v)
			return false;
	}
	__u64 ns = p->resp.ts_ns > p->req.ts_ns ? p->resp.ts_ns - p->req.ts_ns : 0;
	__u32 b = shed_red_bucket(ns);
	if (b > SHED_RED_BOUNDS)
		return false;
	__sync_fetch_and_add(&v->buckets[b], 1);
	__sync_fetch_and_add(&v->sum_ns, ns);
	if (ns < v->min_ns)
		v->min_ns = ns;
	if (ns > v->max_ns)
		v->max_ns = ns;
	/* The count last: user space reads a key whose count it sees as complete. */
	__sync_fetch_and_add(&v->count, 1);
	c->shed_unreported = before + 1;
	return true;
}

/* While an exchange shed here is answered: the response's syscalls go by uncaptured (counted) until
 * the request side speaks again, which ends the shedding. Returns true when the syscall is dropped. */
static __always_inline bool pair_shedding_drops(struct conn_state *c, __u8 dir)
{
	if (c->pairing != PAIR_SHEDDING)
		return false;
	if (dir != c->held_dir) {
		lantern_count(SOCK_CTR_SHED_SYSCALLS);
		return true;
	}
	c->pairing = PAIR_IDLE;
	return false;
}

/* The response's buffers after its first, appended to the record after its `at` bytes (the first
 * buffer, all of it) when the whole call fits: a server that writes its head and body with one writev
 * (nginx) then answers in the one record, and the exchange is complete without a data record of its
 * own. Returns the response bytes in the record: the call's length, or `at` when it does not fit (its
 * later buffers go as data records, as they would unpaired; the plain path, whose loop skips bytes
 * of the first buffer only, stays as the verifier knows it). A global function: inlined, its stack
 * went on top of pair_send's, and the deepest call chain past the verifier's 512 bytes. */
__noinline __u32 pair_more_buffers(struct pair_scratch_value *s, struct call_args *a, struct emit_req *r, __u32 nreq, __u32 at)
{
	/* writev's iovecs (a msghdr's would take 56 more bytes of stack, over the verifier's 512). */
	if (!s || !a || !r || a->kind != CALL_IOV || r->call_len > SOCK_CHUNK_SIZE || r->call_len > r->budget)
		return at;
	__u32 end = at;
	for (int i = 1; i < SOCK_PAIR_BUFFERS; i++) {
		if (end >= r->call_len || (__u32)i >= a->count)
			break;
		struct iovec iov = {};
		if (bpf_probe_read_user(&iov, sizeof(iov), (const void *)(a->ptr + i * sizeof(struct iovec))) != 0)
			return at;
		__u32 n = r->call_len - end;
		if (iov.iov_len < n)
			n = iov.iov_len;
		if (n == 0)
			continue;
		__u32 off = nreq + end;
		asm volatile("if %[n] <= %[max] goto +1\n\t%[n] = %[max]" : [n] "+r"(off) : [max] "i"(SOCK_HOLD_SIZE + SOCK_CHUNK_SIZE));
		asm volatile("if %[n] <= %[max] goto +1\n\t%[n] = %[max]" : [n] "+r"(n) : [max] "i"(SOCK_CHUNK_SIZE));
		if (bpf_probe_read_user(s->ev.data + off, n, (const void *)iov.iov_base) != 0)
			return at;
		end += n;
	}
	return end == r->call_len ? end : at;
}

/* Sends the held request with the first chunk of the response's first buffer (of all its buffers when
 * they fit, pair_more_buffers) as one record, or,
 * when the exchange is shed, with the response's status line only (its summary; the rest of the
 * response is not captured). Returns the response bytes of its first buffer it accounted for (0:
 * none, the plain path sends them; -1: the whole syscall, nothing more to send). */
__noinline int pair_send(struct conn_state *c, struct call_args *a, struct emit_req *r)
{
	if (!c || !a || !r)
		return 0;
	__u32 zero = 0;
	__u64 gen = c->generation;
	struct pair_scratch_value *s = bpf_map_lookup_elem(&pair_scratch, &zero);
	struct held_request *h = bpf_map_lookup_elem(&held, &gen);
	if (!s)
		return 0;
	struct socket_pair_event *p = &s->ev;
	if (!h) {
		/* Swept by user space (held too long) or replayed by another thread: nothing to pair. */
		c->pairing = PAIR_IDLE;
		return 0;
	}
	/* The response's time (its syscall's exit) stands for now: no second clock read. */
	bool shed = pair_shed_decision(c, &h->h, r->ts);
	__u32 nreq = h->h.len;
	asm volatile("if %[n] <= %[max] goto +1\n\t%[n] = %[max]" : [n] "+r"(nreq) : [max] "i"(SOCK_HOLD_SIZE));
	__builtin_memcpy(&p->req, &h->h, sizeof(p->req));
	if (bpf_probe_read_kernel(p->data, nreq, h->data) != 0)
		return 0;
	__u32 n = r->len;
	if (n > r->budget)
		n = r->budget;
	if (shed && n > SOCK_SHED_RESPONSE)
		n = SOCK_SHED_RESPONSE;
	asm volatile("if %[n] <= %[max] goto +1\n\t%[n] = %[max]" : [n] "+r"(n) : [max] "i"(SOCK_CHUNK_SIZE));
	data_header(&p->resp, c, r->tgid, r->fd, r->dir, r->position, r->call_len, r->ts);
	if (bpf_probe_read_user(p->data + nreq, n, (const void *)r->ubuf) != 0) {
		/* The plain path reads the response again and counts the failure. */
		c->pairing = PAIR_IDLE;
		pair_replay(gen);
		return 0;
	}
	if (!shed && n == r->len && n < r->call_len) {
		n = pair_more_buffers(s, a, r, nreq, n);
		asm volatile("if %[n] <= %[max] goto +1\n\t%[n] = %[max]" : [n] "+r"(n) : [max] "i"(SOCK_CHUNK_SIZE));
	}
	if (bpf_map_delete_elem(&held, &gen) != 0)
		return 0; /* another thread sent it */
	c->pairing = shed ? PAIR_SHEDDING : PAIR_IDLE;
	p->req.type = shed ? SOCK_EV_SHED : SOCK_EV_PAIR;
	p->resp.len = n;
	if (shed && shed_count(c, p, nreq, n)) {
		lantern_count(SOCK_CTR_SHED_COUNTED);
		return -1;
	}
	if (bpf_ringbuf_output(&socket_events, p, sizeof(p->req) + sizeof(p->resp) + nreq + n, wakeup_flag()) != 0)
		lantern_count(SOCK_CTR_RINGBUF_FULL);
	else
		lantern_count(shed ? SOCK_CTR_SHED : SOCK_CTR_PAIRED);
	/* Every byte of the call is in the record (its later buffers too): nothing more to send. */
	return shed || n == r->call_len ? -1 : (int)n;
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

/* A syscall of the request's direction while nothing is held: a request that fits one syscall is held.
 * Its bytes are read once, into the scratch event it is held as (a peek at its first bytes, then
 * their copy, read them twice: ~35 ns of each request a server reads). Returns -1 when it was held.
 * A global function: inlined, its stack went on top of handle_data's, and the deepest call chain
 * (→ pair_send → shed_count → request_line_hash) past the verifier's 512 bytes. */
__noinline int pair_request(struct conn_state *c, struct emit_req *r)
{
	if (!c || !r)
		return 0;
	__u32 zero = 0;
	struct socket_data_event *e = bpf_map_lookup_elem(&scratch, &zero);
	if (!e)
		return 0;
	__u32 n = r->len;
	asm volatile("if %[n] <= %[max] goto +1\n\t%[n] = %[max]" : [n] "+r"(n) : [max] "i"(SOCK_HOLD_SIZE));
	/* Shorter than a request line's start: not paired. Unreadable: the plain path reads again and counts it. */
	if (n < 12 || bpf_probe_read_user(e->data, n, (const void *)r->ubuf) != 0)
		return 0;
	if (!http1_request_start(e->data))
		return 0;
	if (r->call_len > SOCK_HOLD_SIZE || r->len < r->call_len) {
		pair_leave(c, SOCK_CTR_PAIR_LARGE);
		return 0;
	}
	if (!pair_hold(c, r, e, n))
		return 0;
	c->pairing = PAIR_HOLDING;
	c->held_dir = r->dir;
	return -1;
}

/* One syscall of an HTTP/1 connection in paired mode, its stream position reserved. Returns -1 when
 * it was held (nothing more to send), else the bytes of its first buffer a paired record carried. */
static __always_inline int pair_data(struct conn_state *c, struct call_args *a, struct emit_req *r)
{
	if (pair_shedding_drops(c, r->dir))
		return -1;
	__u64 base = 0;
	__u32 len = 0;
	if (!segment(a, 0, &base, &len))
		return 0;
	if (len > r->call_len)
		len = r->call_len;
	r->ubuf = base;
	r->len = len;
	/* Nothing held: only the request's direction can begin an exchange (the other goes as it is). */
	if (c->pairing != PAIR_HOLDING)
		return request_direction(c, r->dir) ? pair_request(c, r) : 0;
	/* "HTTP/1.1 200": a status line's first 12 bytes. A shorter first write is not paired. */
	__u8 b[12] = {};
	if (len < sizeof(b) || bpf_probe_read_user(b, sizeof(b), (const void *)base) != 0)
		__builtin_memset(b, 0, sizeof(b));
	if (r->dir == c->held_dir) {
		pair_leave(c, http1_request_start(b) ? SOCK_CTR_PAIR_PIPELINED : SOCK_CTR_PAIR_SPANNING);
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
	return pair_send(c, a, r);
}

#endif
