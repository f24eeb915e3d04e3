package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// ltClient sends the load test's requests, each bounded by timeout.
type ltClient struct {
	base    string
	token   string
	http    *http.Client
	timeout time.Duration
}

func newLTClient(lt loadtest, conns int) *ltClient {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = conns, conns
	// --max-conns: at most that many connections, kept open, as a client pool or a load
	// balancer holds. Without it an open-loop run that got ahead of the server opens a
	// connection per request in flight, and beyond the idle pool closes it again: what
	// many independent clients do, and a connection churn the server pays for.
	tr.MaxConnsPerHost = lt.MaxConns
	if lt.MaxConns > 0 {
		tr.MaxIdleConns, tr.MaxIdleConnsPerHost = lt.MaxConns, lt.MaxConns
	}
	return &ltClient{base: strings.TrimRight(lt.APIURL.String(), "/"), token: lt.Token,
		http: &http.Client{Transport: tr}, timeout: lt.Timeout}
}

// answer is one HTTP answer the load test looks at.
type answer struct {
	status     int
	retryAfter time.Duration
	body       []byte
}

// call sends one request, records it in s (sent at start, which open-loop callers set
// to the instant the request was due, so a late client shows as latency) and decodes a
// 2xx body into out. err is set only when no answer came.
func (c *ltClient) call(ctx context.Context, s *series, start time.Time, method, path string, body, out any) (answer, error) {
	a, err := c.send(ctx, method, path, body)
	label := ""
	if err != nil {
		label = errTransport
		switch {
		case ctx.Err() != nil:
			label = errCanceled
		case errors.Is(err, context.DeadlineExceeded):
			label = errTimeout
		}
	}
	if s != nil {
		s.record(start, a.status, label)
	}
	if err == nil && a.status/100 == 2 && out != nil {
		if derr := json.Unmarshal(a.body, out); derr != nil {
			return a, fmt.Errorf("%s %s: answer %d is not the expected JSON: %w", method, path, a.status, derr)
		}
	}
	return a, err
}

func (c *ltClient) send(ctx context.Context, method, path string, body any) (answer, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return answer{}, err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return answer{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return answer{}, err
	}
	a := answer{status: resp.StatusCode, body: raw}
	if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs > 0 {
		a.retryAfter = time.Duration(secs) * time.Second
	}
	return a, nil
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
	a, err := c.send(ctx, http.MethodGet, "/metrics", nil)
	if err != nil || a.status != http.StatusOK {
		return
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(a.body))
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
