// loadgen: a fixed-rate HTTP/1.1 load generator for benchmarks/nginx.ts.
//
// Each of -c keep-alive connections sends GET requests on its own fixed schedule (rate/c per
// second, the connections' schedules staggered), one request in flight per connection. The
// schedule is open-loop: a request that is late (the previous response took longer than the
// interval, or the sleep overshot) is sent at once, and the schedule does not slip, so the
// achieved rate shows whether the server kept up. Two latencies are recorded per request:
// service latency (request written → response read) and latency from the scheduled send time
// (includes waiting behind a slow previous exchange: coordinated omission corrected).
//
// The client is a minimal hand-written HTTP/1.1 one (status line, headers, Content-Length body)
// so that the generator's own CPU per request stays small on a 2-core machine.
//
// With -close every request opens a connection of its own and asks the server to close it
// (`Connection: close`): connection-per-request traffic, the c workers keeping their schedules. The
// dial is then part of the exchange and of its service latency, and no connection is dialled ahead.
//
// With -tls each connection speaks HTTPS (crypto/tls, the server's certificate is not verified:
// benchmarks use a self-signed one). The handshake is made when a connection is dialled, before
// the schedule starts, so that it is paid once per connection and never inside a measured
// exchange (except after a reconnect, which is counted).
//
//	loadgen -addr 127.0.0.1:8080 -path /x -rate 10000 -c 10 -d 10s [-tls] [-close]
//
// prints one JSON object on stdout.
package main

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

type result struct {
	TargetRate    float64 `json:"target_rate"`
	Connections   int     `json:"connections"`
	DurationS     float64 `json:"duration_s"`
	Sent          int64   `json:"sent"`
	Count         int64   `json:"count"`
	Errors        int64   `json:"errors"`
	Non200        int64   `json:"non_200"`
	Reconnects    int64   `json:"reconnects"`
	ElapsedS      float64 `json:"elapsed_s"`
	Rate          float64 `json:"rate"`
	P50Us         float64 `json:"p50_us"`
	P90Us         float64 `json:"p90_us"`
	P99Us         float64 `json:"p99_us"`
	P999Us        float64 `json:"p999_us"`
	MaxUs         float64 `json:"max_us"`
	SchedP50Us    float64 `json:"sched_p50_us"`
	SchedP99Us    float64 `json:"sched_p99_us"`
	LateOver1msPc float64 `json:"late_over_1ms_pct"`
	CPUUserS      float64 `json:"cpu_user_s"`
	CPUSysS       float64 `json:"cpu_sys_s"`
	TLS           string  `json:"tls,omitempty"`
	FirstError    string  `json:"first_error,omitempty"`
}

type connStats struct {
	service    []uint32 // ns, capped at ~4.29 s
	sched      []uint32
	sent       int64
	errors     int64
	non200     int64
	reconnects int64
	late       int64
	lastDone   time.Time
	firstErr   error
}

func clampNs(d time.Duration) uint32 {
	if d < 0 {
		return 0
	}
	if d > math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(d)
}

type client struct {
	addr string
	req  []byte
	// tls is nil for cleartext HTTP.
	tls  *tls.Config
	conn net.Conn
	r    *bufio.Reader
}

func (c *client) dial() error {
	tcp, err := net.Dial("tcp", c.addr)
	if err != nil {
		return err
	}
	if tc, ok := tcp.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	conn := tcp
	if c.tls != nil {
		tc := tls.Client(tcp, c.tls)
		if err := tc.Handshake(); err != nil {
			_ = tcp.Close()
			return fmt.Errorf("TLS handshake: %w", err)
		}
		conn = tc
	}
	c.conn = conn
	c.r = bufio.NewReaderSize(conn, 16<<10)
	return nil
}

func (c *client) close() {
	if c.conn != nil {
		_ = c.conn.Close()
		c.conn = nil
	}
}

// tlsState describes the negotiated TLS session ("TLS 1.3 TLS_AES_128_GCM_SHA256"), "" in cleartext.
func (c *client) tlsState() string {
	tc, ok := c.conn.(*tls.Conn)
	if !ok {
		return ""
	}
	st := tc.ConnectionState()
	return tls.VersionName(st.Version) + " " + tls.CipherSuiteName(st.CipherSuite)
}

// roundTrip writes one request and reads one response; returns the status code.
func (c *client) roundTrip() (int, error) {
	if _, err := c.conn.Write(c.req); err != nil {
		return 0, err
	}
	line, err := c.r.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	// "HTTP/1.1 200 OK\r\n"
	if len(line) < 12 || string(line[:5]) != "HTTP/" {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	length := -1
	closeAfter := false
	for {
		h, err := c.r.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		if len(h) <= 2 {
			break
		}
		colon := strings.IndexByte(string(h), ':')
		if colon < 0 {
			continue
		}
		name := strings.ToLower(string(h[:colon]))
		value := strings.TrimSpace(string(h[colon+1:]))
		switch name {
		case "content-length":
			if length, err = strconv.Atoi(value); err != nil {
				return 0, fmt.Errorf("bad content-length %q", value)
			}
		case "connection":
			closeAfter = strings.EqualFold(value, "close")
		case "transfer-encoding":
			return 0, errors.New("chunked responses are not supported")
		}
	}
	if length < 0 {
		return 0, errors.New("response without content-length")
	}
	if _, err := c.r.Discard(length); err != nil {
		return 0, err
	}
	if closeAfter {
		c.close()
	}
	return status, nil
}

func percentile(sorted []uint32, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	i = max(0, min(i, len(sorted)-1))
	return float64(sorted[i]) / 1e3
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "host:port")
	path := flag.String("path", "/", "request path")
	rate := flag.Float64("rate", 1000, "requests per second, all connections together")
	conns := flag.Int("c", 10, "connections")
	dur := flag.Duration("d", 10*time.Second, "duration of the schedule")
	useTLS := flag.Bool("tls", false, "HTTPS: TLS on every connection, certificate not verified")
	perRequest := flag.Bool("close", false, "a connection per request (Connection: close), dialled inside the exchange")
	flag.Parse()
	if *rate <= 0 || *conns <= 0 || *dur <= 0 {
		fmt.Fprintln(os.Stderr, "loadgen: -rate, -c and -d must be positive")
		os.Exit(2)
	}
	connection := ""
	if *perRequest {
		connection = "Connection: close\r\n"
	}
	req := []byte("GET " + *path + " HTTP/1.1\r\nHost: " + *addr + "\r\nUser-Agent: lantern-loadgen\r\n" + connection + "\r\n")
	interval := time.Duration(float64(*conns) / *rate * 1e9)
	perConn := int(dur.Seconds() * *rate / float64(*conns))

	var tlsConfig *tls.Config
	if *useTLS {
		// One config for every connection; no session cache: each connection makes one full handshake.
		tlsConfig = &tls.Config{InsecureSkipVerify: true}
	}
	clients := make([]*client, *conns)
	for i := range clients {
		clients[i] = &client{addr: *addr, req: req, tls: tlsConfig}
		if *perRequest {
			continue
		}
		if err := clients[i].dial(); err != nil {
			fmt.Fprintln(os.Stderr, "loadgen:", err)
			os.Exit(1)
		}
	}
	negotiated := ""
	if !*perRequest {
		negotiated = clients[0].tlsState()
	}
	stats := make([]*connStats, *conns)
	var ru0 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	start := time.Now().Add(20 * time.Millisecond)
	var wg sync.WaitGroup
	for i := range clients {
		st := &connStats{service: make([]uint32, 0, perConn), sched: make([]uint32, 0, perConn)}
		stats[i] = st
		wg.Add(1)
		go func(i int, c *client) {
			defer wg.Done()
			defer c.close()
			first := start.Add(interval * time.Duration(i) / time.Duration(*conns))
			for k := 0; k < perConn; k++ {
				at := first.Add(interval * time.Duration(k))
				if d := time.Until(at); d > 0 {
					time.Sleep(d)
				}
				t0 := time.Now()
				if c.conn == nil {
					if !*perRequest {
						st.reconnects++
					}
					if err := c.dial(); err != nil {
						st.errors++
						st.firstErr = cmpErr(st.firstErr, err)
						continue
					}
					if !*perRequest {
						t0 = time.Now() // a reconnect is not the exchange's
					}
				}
				if t0.Sub(at) > time.Millisecond {
					st.late++
				}
				st.sent++
				status, err := c.roundTrip()
				if *perRequest {
					c.close()
				}
				t1 := time.Now()
				if err != nil {
					st.errors++
					st.firstErr = cmpErr(st.firstErr, err)
					c.close()
					continue
				}
				if status != 200 {
					st.non200++
				}
				st.service = append(st.service, clampNs(t1.Sub(t0)))
				st.sched = append(st.sched, clampNs(t1.Sub(at)))
				st.lastDone = t1
			}
		}(i, clients[i])
	}
	wg.Wait()
	var ru1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)

	res := result{TargetRate: *rate, Connections: *conns, DurationS: dur.Seconds(), TLS: negotiated}
	var service, sched []uint32
	last := start
	var late int64
	for _, st := range stats {
		res.Sent += st.sent
		res.Errors += st.errors
		res.Non200 += st.non200
		res.Reconnects += st.reconnects
		late += st.late
		service = append(service, st.service...)
		sched = append(sched, st.sched...)
		if st.lastDone.After(last) {
			last = st.lastDone
		}
		if res.FirstError == "" && st.firstErr != nil {
			res.FirstError = st.firstErr.Error()
		}
	}
	res.Count = int64(len(service))
	res.ElapsedS = last.Sub(start).Seconds()
	if res.ElapsedS > 0 {
		res.Rate = float64(res.Count) / res.ElapsedS
	}
	slices.Sort(service)
	slices.Sort(sched)
	res.P50Us = percentile(service, 50)
	res.P90Us = percentile(service, 90)
	res.P99Us = percentile(service, 99)
	res.P999Us = percentile(service, 99.9)
	res.MaxUs = percentile(service, 100)
	res.SchedP50Us = percentile(sched, 50)
	res.SchedP99Us = percentile(sched, 99)
	if res.Sent > 0 {
		res.LateOver1msPc = 100 * float64(late) / float64(res.Sent)
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	res.CPUUserS = tv(ru1.Utime) - tv(ru0.Utime)
	res.CPUSysS = tv(ru1.Stime) - tv(ru0.Stime)
	enc := json.NewEncoder(os.Stdout)
	if err := enc.Encode(res); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	if errors.Is(err, io.EOF) {
		return errors.New("connection closed by server (EOF)")
	}
	return err
}
