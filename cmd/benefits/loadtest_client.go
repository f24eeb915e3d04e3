package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/valyala/fasthttp"

	"ledger/handlers"
)

// ltClient sends the load test's requests, each bounded by timeout. It is built on
// fasthttp rather than net/http because the harness shares the host with the server it
// measures: net/http with a context per request cost the harness about as much CPU per
// request as the server spent answering it, and that CPU was taken from the server.
// fasthttp reuses its requests, responses and buffers, times a request out with the
// connection's deadline instead of a context and a goroutine, and so leaves the cores to
// the server.
type ltClient struct {
	hc      *fasthttp.HostClient
	host    string // Host header
	prefix  string // path of --api-url, before each route
	auth    []byte // "Bearer <token>", built once
	timeout time.Duration
	// pool: without --max-conns, a connection that finds more than this many idle is
	// closed after its answer, as net/http closes those its idle pool has no room for.
	pool  int
	conns *connSet
	// keys, when set, numbers the commands' Idempotency-Keys (--idempotency-keys): one
	// of its own for each command sent, under a prefix unique to the run.
	keys      *atomic.Uint64
	keyPrefix string
}

func newLTClient(ctx context.Context, lt loadtest, pool int) *ltClient {
	u := lt.APIURL
	tls := u.Scheme == "https"
	conns := &connSet{open: map[*trackedConn]struct{}{}}
	// Cancelling the run (Ctrl-C) ends the requests in flight at once, as a cancelled
	// context ends a net/http request: fasthttp has no context, so close their connections.
	context.AfterFunc(ctx, conns.closeAll)
	c := &ltClient{host: u.Host, prefix: strings.TrimRight(u.EscapedPath(), "/"),
		auth: []byte("Bearer " + lt.Token), timeout: lt.Timeout, conns: conns}
	if lt.IdempotencyKeys {
		c.keys, c.keyPrefix = new(atomic.Uint64), fmt.Sprintf("loadtest-%04d-%d-", lt.RunID, time.Now().UnixNano())
	}
	c.hc = &fasthttp.HostClient{
		Addr:  fasthttp.AddMissingPort(u.Host, tls),
		IsTLS: tls,
		// --max-conns: at most that many connections, kept open, as a client pool or a
		// load balancer holds; a request waits for one (within --timeout), its latency
		// still counted from when it was due. Without it an open-loop run that got ahead
		// of the server opens a connection per request in flight: what many independent
		// clients do, and (with pool) a connection churn the server pays for.
		MaxConns:            math.MaxInt32,
		MaxResponseBodySize: maxAnswerBytes,
		DialTimeout:         conns.dial,
		// Retry only what net/http retries: an idempotent request on a kept-open
		// connection the server closed before answering. Anything else is the server's.
		RetryIfErr: func(req *fasthttp.Request, _ int, err error) (bool, bool) {
			return false, req.Header.IsGet() && (errors.Is(err, io.EOF) || errors.Is(err, fasthttp.ErrConnectionClosed))
		},
	}
	if lt.MaxConns > 0 {
		c.hc.MaxConns, c.hc.MaxConnWaitTimeout = lt.MaxConns, lt.Timeout
	} else {
		c.pool = pool
	}
	return c
}

// maxAnswerBytes bounds what one answer may hold in the harness's memory.
const maxAnswerBytes = 1 << 20

// answer is one HTTP answer the load test looks at.
type answer struct {
	status     int
	retryAfter time.Duration
	body       []byte // only of an answer not 2xx, for the error it explains
}

// call sends one request, records it in s (sent at start, which open-loop callers set
// to the instant the request was due, so a late client shows as latency) and decodes a
// 2xx body into out: as JSON, or a copy of the bytes when out is a *[]byte. err is set
// only when no answer came.
func (c *ltClient) call(ctx context.Context, s *series, start time.Time, method, path string, body, out any) (answer, error) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	a, err := c.send(ctx, req, resp, method, path, body)
	if s != nil {
		s.record(start, a.status, c.errLabel(ctx, err))
	}
	if err != nil || a.status/100 != 2 || out == nil {
		return a, err
	}
	if raw, ok := out.(*[]byte); ok {
		*raw = append((*raw)[:0], resp.Body()...)
		return a, nil
	}
	if derr := json.Unmarshal(resp.Body(), out); derr != nil {
		return a, fmt.Errorf("%s %s: answer %d is not the expected JSON: %w", method, path, a.status, derr)
	}
	return a, nil
}

func (c *ltClient) send(ctx context.Context, req *fasthttp.Request, resp *fasthttp.Response, method, path string, body any) (answer, error) {
	if err := ctx.Err(); err != nil {
		return answer{}, err
	}
	req.Header.SetMethod(method)
	req.SetRequestURI(c.prefix + path)
	req.Header.SetHost(c.host)
	req.Header.SetBytesV(fasthttp.HeaderAuthorization, c.auth)
	if c.keys != nil && method != http.MethodGet {
		req.Header.Set(handlers.HeaderIdempotencyKey, c.keyPrefix+strconv.FormatUint(c.keys.Add(1), 10))
	}
	if body != nil {
		req.Header.SetContentType("application/json")
		if err := json.NewEncoder(req.BodyWriter()).Encode(body); err != nil {
			return answer{}, err
		}
	}
	if c.pool > 0 && c.hc.ConnsCount()-c.hc.PendingRequests() > c.pool {
		req.SetConnectionClose() // more idle than the pool holds: this one goes after its answer
	}
	deadline := time.Now().Add(c.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	// An answer past maxAnswerBytes still counts by its status, as the truncated body it
	// was before (a body too large for out fails to decode below).
	if err := c.hc.DoDeadline(req, resp, deadline); err != nil && !errors.Is(err, fasthttp.ErrBodyTooLarge) {
		return answer{}, err
	}
	a := answer{status: resp.StatusCode()}
	if a.status/100 != 2 {
		a.body = bytes.Clone(resp.Body())
	}
	if secs, err := fasthttp.ParseUint(resp.Header.Peek(fasthttp.HeaderRetryAfter)); err == nil && secs > 0 {
		a.retryAfter = time.Duration(secs) * time.Second
	}
	return a, nil
}

// errLabel names why no answer came ("" when one did): the run was cancelled, the
// answer (or a free connection under --max-conns) took longer than --timeout, or the
// connection failed.
func (c *ltClient) errLabel(ctx context.Context, err error) string {
	var nerr net.Error
	switch {
	case err == nil:
		return ""
	case ctx.Err() != nil:
		return errCanceled
	case errors.Is(err, fasthttp.ErrTimeout), errors.Is(err, fasthttp.ErrDialTimeout),
		errors.Is(err, fasthttp.ErrNoFreeConns), errors.As(err, &nerr) && nerr.Timeout():
		return errTimeout
	}
	return errTransport
}

// connSet tracks the harness's open connections, so that cancelling the run can close
// the ones waiting for an answer.
type connSet struct {
	mu       sync.Mutex
	open     map[*trackedConn]struct{}
	canceled bool
}

func (s *connSet) dial(addr string, timeout time.Duration) (net.Conn, error) {
	nc, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: nc, set: s}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.canceled {
		nc.Close()
		return nil, context.Canceled
	}
	s.open[tc] = struct{}{}
	return tc, nil
}

func (s *connSet) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.canceled = true
	for tc := range s.open {
		tc.Conn.Close()
	}
}

type trackedConn struct {
	net.Conn
	set *connSet
}

func (tc *trackedConn) Close() error {
	tc.set.mu.Lock()
	delete(tc.set.open, tc)
	tc.set.mu.Unlock()
	return tc.Conn.Close()
}

// setupAttempts bounds the retries of one setup step refused 503 (overloaded, or a
// projection behind): setup must succeed for the measured phase to mean anything.
const setupAttempts = 10

// must sends a setup request until it is answered 2xx, waiting Retry-After (or a second)
// after a 503; any other answer stops the run with what the server said.
func (c *ltClient) must(ctx context.Context, s *series, method, path string, body, out any) error {
	for attempt := 1; ; attempt++ {
		a, err := c.call(ctx, s, time.Now(), method, path, body, out)
		switch {
		case err != nil:
			return fmt.Errorf("%s %s: %w", method, path, err)
		case a.status/100 == 2:
			return nil
		case a.status == http.StatusServiceUnavailable && attempt < setupAttempts:
			if err := sleepCtx(ctx, max(a.retryAfter, time.Second)); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s %s: %d %s", method, path, a.status, bytes.TrimSpace(a.body))
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// serverWatcher scrapes the target's /metrics once a second and keeps the highest
// resident memory it saw and the CPU time the process used between its first and last
// scrape: what the load cost the server, without access to its host. CPU per answered
// request is the figure that survives a shared machine, where throughput and latency
// depend on what else runs.
type serverWatcher struct {
	mu       sync.Mutex
	max      float64
	cpuFirst float64
	cpuLast  float64
	cpuSeen  bool
	stop     func()
	done     chan struct{}
}

func watchServer(ctx context.Context, c *ltClient) *serverWatcher {
	ctx, cancel := context.WithCancel(ctx)
	w := &serverWatcher{stop: cancel, done: make(chan struct{})}
	w.sample(ctx, c) // before the measured phase begins
	go func() {
		defer close(w.done)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			w.sample(ctx, c)
		}
	}()
	return w
}

func (w *serverWatcher) sample(ctx context.Context, c *ltClient) {
	var page []byte
	a, err := c.call(ctx, nil, time.Now(), http.MethodGet, "/metrics", nil, &page)
	if err != nil || a.status != http.StatusOK {
		return
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(page))
	if err != nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if fam, ok := fams["process_resident_memory_bytes"]; ok && len(fam.GetMetric()) > 0 {
		w.max = max(w.max, fam.GetMetric()[0].GetGauge().GetValue())
	}
	if fam, ok := fams["process_cpu_seconds_total"]; ok && len(fam.GetMetric()) > 0 {
		cpu := fam.GetMetric()[0].GetCounter().GetValue()
		if !w.cpuSeen {
			w.cpuFirst, w.cpuSeen = cpu, true
		}
		w.cpuLast = cpu
	}
}

// finish stops the watcher (after one last sample) and returns the highest RSS seen and
// the CPU seconds the server used meanwhile (0 when /metrics did not tell).
func (w *serverWatcher) finish(ctx context.Context, c *ltClient) (maxRSS, cpuSeconds float64) {
	w.stop()
	<-w.done
	w.sample(ctx, c)
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.max, w.cpuLast - w.cpuFirst
}
