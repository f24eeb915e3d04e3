package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"ledger/infra/testlog"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"ledger/handlers"
	"ledger/infra/commands"
	"ledger/infra/esdbstore/esdbprotocolserver"
	"ledger/infra/eventstore"
	"ledger/infra/pgtest"
	"ledger/infra/testkit"
	"ledger/projections"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// e2eSecret signs every token of the end-to-end tests.
var e2eSecret = []byte("e2e-secret-0123456789abcdef012345")

// baseTime is where the test clock starts: Windows Server 2022 (N-1) is still in
// mainstream support then, and leaves it on 2026-10-13 (R11).
var baseTime = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

// testClock is the process's clock in the end-to-end tests, so contracts can expire.
type testClock struct{ *testkit.Clock }

// travel moves the clock for the rest of the test and back afterwards.
func (c testClock) travel(t *testing.T, to time.Time) {
	was := c.Now()
	c.Set(to)
	t.Cleanup(func() { c.Set(was) })
}

// system is the whole ledger in this process, serving HTTP on a loopback listener.
type system struct {
	t       testing.TB
	proc    *process
	url     string
	client  *http.Client
	clock   testClock
	stopBG  func()
	lastPos atomic.Pointer[eventstore.Position] // highest position any command answered
}

// testConfig is the embedded default under a fresh data directory.
func testConfig(t testing.TB) Config {
	return Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), EventStore: StoreTarget{Backend: BackendSQLite},
		ReadDB: StoreTarget{Backend: BackendSQLite}, ReadDBMaxConns: 16, Role: RoleAll, QueryWait: 20 * time.Second,
		ShutdownTimeout: 10 * time.Second, LogLevel: slog.LevelWarn, ErasureFollowEvery: time.Second,
		ReadStaleness:  commands.DefaultReadStaleness,             // as serve: queries trust the cached state
		AnswerCacheMiB: projections.DefaultAnswerCacheBytes >> 20} // and serve kept answers
}

// postgresConfig keeps both the events and the read models in PostgreSQL.
func postgresConfig(t testing.TB) Config {
	cfg := testConfig(t)
	cfg.EventStore = StoreTarget{Backend: BackendPostgres, DSN: pgtest.NewDatabase(t)}
	cfg.ReadDB = StoreTarget{Backend: BackendPostgres, DSN: pgtest.NewDatabase(t)}
	return cfg
}

// esdbConfig is the embedded default with EventStoreDB as the event store: the real esdb
// client against the in-process protocol server.
func esdbConfig(t testing.TB) Config {
	cfg := testConfig(t)
	cfg.EventStore = StoreTarget{Backend: BackendESDB, DSN: esdbprotocolserver.Start(t)}
	return cfg
}

// startSystem wires cfg as serve does and serves it until the test ends.
func startSystem(t testing.TB, cfg Config, opts wireOptions) *system {
	t.Helper()
	clock := testClock{testkit.NewClock(baseTime)}
	if opts.now == nil {
		opts.now = clock.Now
	}
	proc, err := wireWith(t.Context(), cfg, testLogger(t), e2eSecret, opts)
	if err != nil {
		t.Fatalf("wire: %v", err)
	}
	if err := proc.deps.Validate(); err != nil {
		proc.close()
		t.Fatalf("deps: %v", err)
	}
	// serve's own http.Server, with cfg's timeouts (none unless the test sets them).
	srv := httptest.NewUnstartedServer(nil)
	srv.Config = newHTTPServer(cfg, proc.httpHandler(), testLogger(t))
	ln, err := listenAPI(cfg, proc) // serve's listener, with cfg's connection bound
	if err != nil {
		proc.close()
		t.Fatal(err)
	}
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	ctx, cancel := context.WithCancel(context.Background())
	var bg sync.WaitGroup
	for _, run := range proc.background {
		bg.Go(func() {
			if err := run(ctx); err != nil {
				t.Errorf("background work failed: %v", err)
			}
		})
	}
	var once sync.Once
	s := &system{t: t, proc: proc, url: srv.URL, clock: clock,
		client: &http.Client{Timeout: time.Minute,
			Transport: &contractCheck{t: t, next: &http.Transport{MaxIdleConnsPerHost: 256}}}}
	s.lastPos.Store(&eventstore.Start)
	s.stopBG = func() {
		once.Do(func() {
			srv.Close()
			cancel()
			bg.Wait()
			if err := proc.close(); err != nil {
				t.Errorf("close: %v", err)
			}
		})
	}
	t.Cleanup(s.stopBG)
	return s
}

// testLogger shows warnings and errors in the test's output while it runs.
func testLogger(t testing.TB) *slog.Logger { return testlog.New(t, slog.LevelWarn) }

// token is a bearer token for sub with the given system roles.
func bearerFor(t testing.TB, sub string, roles ...handlers.SystemRole) string {
	t.Helper()
	tok, err := handlers.IssueToken(e2eSecret, sub, roles, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// reply is one HTTP answer.
type reply struct {
	status int
	header http.Header
	body   []byte
}

// do sends one request; body is JSON-encoded unless it is a string or []byte.
func (s *system) do(t testing.TB, method, path, tok string, body any, headers ...string) reply {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewBufferString(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, s.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the answer: %v", method, path, err)
	}
	r := reply{status: resp.StatusCode, header: resp.Header, body: raw}
	if method != http.MethodGet && r.status < 300 {
		s.notePosition(t, r)
	}
	return r
}

// notePosition remembers the highest position a command answered, for minPosition.
func (s *system) notePosition(t testing.TB, r reply) {
	var answer struct{ Position string }
	if json.Unmarshal(r.body, &answer) != nil || answer.Position == "" {
		return
	}
	pos, err := eventstore.ParsePosition(answer.Position)
	if err != nil {
		t.Errorf("command answered position %q: %v", answer.Position, err)
		return
	}
	for {
		old := s.lastPos.Load()
		if !old.Less(pos) || s.lastPos.CompareAndSwap(old, &pos) {
			return
		}
	}
}

// post sends a command.
func (s *system) post(t testing.TB, path, tok string, body any) reply {
	t.Helper()
	return s.do(t, http.MethodPost, path, tok, body)
}

// get reads, waiting for every command answered so far (read-your-writes).
func (s *system) get(t testing.TB, path, tok string) reply {
	t.Helper()
	u, err := url.Parse(path)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set(handlers.QueryMinPosition, s.lastPos.Load().String())
	u.RawQuery = q.Encode()
	r := s.do(t, http.MethodGet, u.String(), tok, nil)
	if r.status < 300 && r.header.Get(handlers.HeaderProjectionPosition) == "" {
		t.Errorf("GET %s answered no %s", path, handlers.HeaderProjectionPosition)
	}
	return r
}

// decode reads a JSON answer into v.
func (r reply) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("answer %d %s: %v", r.status, r.body, err)
	}
}

// problem reads an RFC 9457 answer.
func (r reply) problem(t testing.TB) handlers.Problem {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != handlers.ProblemContentType {
		t.Fatalf("status %d with Content-Type %q, want a problem: %s", r.status, ct, r.body)
	}
	var p handlers.Problem
	r.decode(t, &p)
	return p
}

// want fails unless the answer has status.
func (r reply) want(t testing.TB, status int) reply {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	return r
}

// refused fails unless the answer is a problem with status and code.
func (r reply) refused(t testing.TB, status int, code string) handlers.Problem {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d %s: %s", r.status, status, code, r.body)
	}
	p := r.problem(t)
	if p.Code != code {
		t.Fatalf("code %q, want %q: %s", p.Code, code, r.body)
	}
	return p
}

// head is the event store's last position: to prove that a refusal stored nothing.
func (s *system) head(t testing.TB) eventstore.Position {
	t.Helper()
	pos, err := s.proc.store.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return pos
}

func (s *system) String() string { return fmt.Sprintf("system at %s", s.url) }
