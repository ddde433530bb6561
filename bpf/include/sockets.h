/* Records of sockets.bpf.c, read in place by src/collectors/sockets/decode.ts. Every record begins
 * with `__u8 type` and uses explicit padding: user space reads them at fixed offsets. */
#ifndef LANTERN_SOCKETS_H
#define LANTERN_SOCKETS_H

enum socket_event_type { SOCK_EV_OPEN = 1, SOCK_EV_DATA = 2, SOCK_EV_CLOSE = 3, SOCK_EV_EXEC = 4, SOCK_EV_PAIR = 5,
			SOCK_EV_SHED = 6 };

enum socket_role { ROLE_UNKNOWN = 0, ROLE_CLIENT = 1, ROLE_SERVER = 2 };

enum socket_direction { DIR_EGRESS = 0, DIR_INGRESS = 1 };

/* Protocols inferred in the kernel from a connection's first bytes. NONE = given up: counters only. */
enum socket_protocol {
	PROTO_UNKNOWN = 0,
	PROTO_HTTP1 = 1,
	PROTO_HTTP2 = 2,
	PROTO_POSTGRES = 3,
	PROTO_MYSQL = 4,
	PROTO_REDIS = 5,
	PROTO_DNS = 6,
	PROTO_TLS = 7,   /* TLS records on the wire: ciphertext, never copied (plaintext comes from uprobes) */
	PROTO_NONE = 255,
};

/* Counter slots (counters.h). */
enum socket_counter {
	SOCK_CTR_RINGBUF_FULL = 0,   /* an event could not be written: ring buffer full */
	SOCK_CTR_ARGS_FULL = 1,      /* in-flight syscall table full: that syscall is not traced */
	SOCK_CTR_CONNS_FULL = 2,     /* connection table update failed */
	SOCK_CTR_READ_FAIL = 3,      /* user memory could not be read (page not present, ...) */
	SOCK_CTR_TRUNCATED = 4,      /* syscalls whose payload exceeded the capture bound */
	SOCK_CTR_DATA_EVENTS = 5,
	SOCK_CTR_CONN_OPENS = 6,
	SOCK_CTR_CONN_CLOSES = 7,
	SOCK_CTR_PROTO_GIVEUP = 8,   /* connections classified as of no interest */
	SOCK_CTR_TLS_CALLS = 9,      /* TLS library reads/writes that returned plaintext */
	SOCK_CTR_TLS_NO_FD = 10,     /* ... whose socket could not be told: plaintext dropped */
	SOCK_CTR_TLS_CALLS_FULL = 11, /* TLS call table full: that call is not traced */
	SOCK_CTR_TLS_UPGRADES = 12,  /* cleartext connections that switched to TLS (SSLRequest, STARTTLS) */
	SOCK_CTR_TLS_FOREIGN_CONN = 13, /* Go TLS over a conn that is not a *net.TCPConn or *net.UnixConn: not traced */
	/* HTTP/1 pairing (pairing.h): exchanges sent as one paired record, and why connections went
	 * back to the plain byte stream (one slot per reason). */
	SOCK_CTR_PAIRED = 14,
	SOCK_CTR_PAIR_PIPELINED = 15,     /* a second request before the response */
	SOCK_CTR_PAIR_SPANNING = 16,      /* the request went on in another syscall (split head, body) */
	SOCK_CTR_PAIR_LARGE = 17,         /* a request over SOCK_HOLD_SIZE, or in several buffers */
	SOCK_CTR_PAIR_INFORMATIONAL = 18, /* a 1xx response (100 Continue, 103 Early Hints) */
	SOCK_CTR_PAIR_UPGRADE = 19,       /* 101 Switching Protocols (h2c, WebSocket) */
	SOCK_CTR_PAIR_NOT_STATUS = 20,    /* response bytes that do not begin with a status line */
	SOCK_CTR_PAIR_CLOSE = 21,         /* closed (or its fd reused) while a request was held */
	SOCK_CTR_PAIR_TLS = 22,           /* switched to TLS */
	SOCK_CTR_PAIR_HOLD_FULL = 23,     /* held-request table full: that request went out unpaired */
	/* Shedding in the kernel (pairing.h): exchanges sent as a summary instead of a paired record,
	 * and the response syscalls of those exchanges that were not captured at all. */
	SOCK_CTR_SHED = 24,
	SOCK_CTR_SHED_SYSCALLS = 25,
	/* Shed exchanges counted in the kernel's RED histograms (pairing.h, shed_red_*), no record sent. */
	SOCK_CTR_SHED_COUNTED = 26,
	/* Exchanges shed because the ring was filling, whatever user space's share (pairing.h, ring_filling). */
	SOCK_CTR_SHED_RING_FILLING = 27,
	/* Exchanges shed because the quarter second's span budget was spent (pairing.h, budget_spent). */
	SOCK_CTR_SHED_BUDGET = 28,
	/* Decisions on an exchange left for its other end, traced on this host (pairing.h, shed_decisions),
	 * and those not left: the other end is elsewhere or not traced (other_end_here). */
	SOCK_CTR_SHED_DECISIONS_LEFT = 29,
	SOCK_CTR_SHED_OTHER_END_AWAY = 30,
	SOCK_CTR_NUM = 31,
};

#define SOCK_CHUNK_SIZE 4096        /* bytes per data event */
#define SOCK_MAX_CHUNKS 4           /* data events per syscall: 16 KiB captured at most */
#define SOCK_MAX_SEGMENTS 8         /* iovecs / messages looked at per syscall */
#define SOCK_PAIR_BUFFERS 4         /* a response's buffers (iovecs) a paired record may carry */
#define SOCK_PROBE_ATTEMPTS 8       /* data syscalls inspected before giving up on a protocol */
#define SOCK_HOLD_SIZE 1024         /* HTTP/1 request bytes held in the kernel until the response */
#define SOCK_SHED_RESPONSE 32       /* response bytes in a shed exchange's summary: its status line */

struct socket_open_event {
	__u8 type; /* must be first */
	__u8 role;
	__u8 family;    /* AF_INET 2, AF_INET6 10, AF_UNIX 1 */
	__u8 protocol;  /* enum socket_protocol */
	__u16 sock_type; /* SOCK_STREAM 1, SOCK_DGRAM 2 */
	__u16 lport;
	__u16 rport;
	__u16 pad0;
	__u32 pid;
	__u32 fd;
	/* The socket's network namespace (its inode number): the same loopback addresses in two
	 * namespaces (pods' sidecars) are two different connections. */
	__u32 netns;
	__u64 generation;
	__u64 ts_ns;
	__u8 laddr[16]; /* IPv4 in the first 4 bytes */
	__u8 raddr[16];
	char comm[16];  /* the owning process's name at the time */
};

struct socket_data_header {
	__u8 type; /* must be first */
	__u8 direction;
	__u8 protocol;
	__u8 role;
	__u32 pid;
	__u32 tid;
	__u32 fd;
	__u64 generation;
	__u64 position;  /* offset of data[0] in this direction's byte stream */
	__u64 ts_ns;
	__u32 len;       /* bytes in data[]; 0 = a skip marker */
	__u32 call_len;  /* bytes the whole syscall transferred; for a skip marker, the bytes skipped */
	/* Datagram sockets: the peer this datagram went to or came from (sendto/recvfrom/sendmsg/
	 * recvmsg address), family 0 when the syscall named none (connected sockets). */
	__u16 peer_family;
	__u16 peer_port;
	__u8 peer_addr[16];
	__u8 tls;          /* 1: plaintext from a TLS library (the wire carried ciphertext) */
	/* HTTP/1 exchanges of this connection shed and counted in the kernel (pairing.h, shed_count)
	 * since its last record: user space numbers its exchanges past them and restarts its streams. */
	__u8 shed_before;
	__u16 tls_version; /* 0x0303 = TLS 1.2, 0x0304 = TLS 1.3; 0 when unknown */
};

struct socket_data_event {
	struct socket_data_header h;
	__u8 data[SOCK_CHUNK_SIZE];
};

/* HTTP/1 pairing (pairing.h): a request held in the kernel until its response began, sent with the
 * response's first bytes as one record. The two headers are the data events the kernel would have
 * sent for each (positions, times, threads, call sizes as they were); user space (decode.ts)
 * expands the record back into those two events. req.type is SOCK_EV_PAIR, resp.type SOCK_EV_DATA;
 * data[] holds req.len bytes of the request, then resp.len bytes of the response. */
/* A shed exchange (pairing.h, pair_send) is the same record with req.type SOCK_EV_SHED and at most
 * SOCK_SHED_RESPONSE bytes of the response (its status line): user space takes its RED metrics from
 * it and builds no span; the rest of that response is never captured. */
struct socket_pair_event {
	struct socket_data_header req; /* type must be first */
	struct socket_data_header resp;
	__u8 data[SOCK_HOLD_SIZE + SOCK_CHUNK_SIZE];
};

/* RED of HTTP/1 exchanges shed in the kernel (pairing.h, shed_count; user space:
 * src/collectors/sockets/kernel-red.ts), keyed per request line, status and client connection or server port. */
#define SHED_RED_BOUNDS 14
#define SHED_RED_SERVER (1ULL << 63)

struct shed_red_key {
	/* A client's connection (its generation), or a server's process and port (SHED_RED_SERVER |
	 * tgid << 16 | port): nothing of a server's connection is in its metrics' attributes, so its
	 * exchanges are counted across its connections; a client's server.address is its connection's
	 * or its Host's. */
	__u64 end;
	__u32 line_hash;   /* request_line_hash */
	__u16 status;      /* the response's status code */
	__u16 pad0;
};

struct shed_red {
	__u64 count;
	__u64 sum_ns;
	__u64 min_ns;      /* min and max are written without atomics: two CPUs adding to one key at */
	__u64 max_ns;      /* once may lose an extreme (never a count) */
	__u64 buckets[SHED_RED_BOUNDS + 1];
	/* The summary record of the key's first exchange: its request, then its status line. */
	struct socket_data_header req;
	struct socket_data_header resp;
	__u8 data[SOCK_HOLD_SIZE + SOCK_SHED_RESPONSE];
};

struct socket_close_event {
	__u8 type; /* must be first */
	__u8 role;
	__u8 protocol;
	/* Exchanges counted in the kernel since the connection's last record (as a data header's
	 * shed_before): their bytes are in the totals below but never came, and no record follows. */
	__u8 shed_before;
	__u32 pid;
	__u32 fd;
	__u32 pad1;
	__u64 generation;
	__u64 ts_ns;
	__u64 bytes_egress;
	__u64 bytes_ingress;
};

/* A process replaced its image: user space looks for TLS libraries in it and judges the new program
 * (SOCK_EV_EXEC). comm: the new program's name, for a process gone before user space reads /proc. */
struct socket_exec_event {
	__u8 type; /* must be first */
	__u8 pad0[3];
	__u32 pid;
	__u64 ts_ns;
	char comm[16];
};

/* Where Go's crypto/tls keeps what the probes need, per traced binary (index = the attach cookie's
 * low 32 bits). Offsets in bytes, from the binary's DWARF or a table per Go version. */
struct go_tls_layout {
	__u32 conn_data;    /* crypto/tls.Conn.conn (net.Conn interface) + 8: its data pointer */
	__u32 tcpconn_fd;   /* net.TCPConn → conn.fd (*net.netFD) */
	__u32 netfd_sysfd;  /* net.netFD → pfd.Sysfd (internal/poll.FD) */
	__u32 vers;         /* crypto/tls.Conn.vers (uint16); 0xffffffff when unknown */
	/* The net.Conn's itab must be one of these (*net.TCPConn, *net.UnixConn) for the fd path to hold:
	 * a wrapper conn would turn it into a wild read. Both 0: not checked (stripped or PIE binary). */
	__u64 itab_tcp;
	__u64 itab_unix;
};

#endif
