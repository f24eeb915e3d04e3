package handlers_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"ledger/handlers"
	"ledger/projections"
)

func TestErrorsLeaveAsProblems(t *testing.T) {
	f := newFixture(t)
	auth := bearer(t, "alice")
	cases := []struct {
		name       string
		method     string
		path       string
		wantStatus int
		wantCode   string
	}{
		{"an unknown path is not_found", http.MethodGet, "/v1/nowhere", 404, handlers.CodeNotFound},
		{"a wrong method is method_not_allowed", http.MethodDelete, "/healthz", 405, handlers.CodeMethodNotAllowed},
		{"a panic is internal", http.MethodGet, "/v1/panic", 500, handlers.CodeInternal},
		{"a plain error is internal", http.MethodGet, "/v1/broken", 500, handlers.CodeInternal},
		{"a lost concurrency race is conflict", http.MethodPost, "/v1/race", 409, handlers.CodeConflict},
		{"R1/R2 not_authorized is 403", http.MethodPost, "/v1/refuse/not_authorized", 403, "not_authorized"},
		{"R3 no_benefits_yet is 409", http.MethodPost, "/v1/refuse/no_benefits_yet", 409, "no_benefits_yet"},
		{"R11 product_not_eligible is 422", http.MethodPost, "/v1/refuse/product_not_eligible", 422, "product_not_eligible"},
		{"R12 invalid_access_id is 422", http.MethodPost, "/v1/refuse/invalid_access_id", 422, "invalid_access_id"},
		{"R15 no_cloud_support is 403", http.MethodPost, "/v1/refuse/no_cloud_support", 403, "no_cloud_support"},
		{"R18/R23 contract_expired is 409", http.MethodPost, "/v1/refuse/contract_expired", 409, "contract_expired"},
		{"R22 pool_exhausted is 409", http.MethodPost, "/v1/refuse/pool_exhausted", 409, "pool_exhausted"},
		{"domain validation is 400", http.MethodPost, "/v1/refuse/validation", 400, "validation"},
		{"domain not_found is 404", http.MethodPost, "/v1/refuse/not_found", 404, "not_found"},
		{"a domain code missing from the table is 422, never 500", http.MethodPost, "/v1/refuse/brand_new_rule", 422, "brand_new_rule"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := f.do(tc.method, tc.path, nil, "Authorization", auth)
			if rec.Code != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.wantStatus, rec.Body)
			}
			p := problemOf(t, rec)
			if p.Code != tc.wantCode {
				t.Errorf("code %q, want %q", p.Code, tc.wantCode)
			}
			if p.Instance != strings.SplitN(tc.path, "?", 2)[0] {
				t.Errorf("instance %q, want the request path", p.Instance)
			}
		})
	}
}

func TestInternalErrorsHideTheCauseButLogIt(t *testing.T) {
	f := newFixture(t)
	for _, path := range []string{"/v1/panic", "/v1/broken"} {
		rec := f.do(http.MethodGet, path, nil, "Authorization", bearer(t, "alice"), handlers.HeaderCorrelationID, "corr-"+path[4:])
		body := rec.Body.String()
		if strings.Contains(body, "secret internals") || strings.Contains(body, "hunter2") {
			t.Errorf("%s leaks its cause: %s", path, body)
		}
		if !strings.Contains(f.logs.String(), "corr-"+path[4:]) {
			t.Errorf("%s: log does not name the correlation id: %s", path, f.logs)
		}
	}
	if !strings.Contains(f.logs.String(), "secret internals") || !strings.Contains(f.logs.String(), "hunter2") {
		t.Errorf("the causes are not logged: %s", f.logs)
	}
}

func TestPoolExhaustedCarriesRemaining(t *testing.T) {
	f := newFixture(t)
	rec := f.do(http.MethodPost, "/v1/refuse/pool_exhausted", nil, "Authorization", bearer(t, "alice"))
	p := problemOf(t, rec)
	if rem, ok := p.Extra["remaining"]; !ok || rem != float64(0) {
		t.Errorf("remaining = %v (present %v), want 0 (R22)", rem, ok)
	}
	if p.Detail != "refused by rule" {
		t.Errorf("detail %q, want the domain's message", p.Detail)
	}
}

func TestProblemExtensionsCannotOverwriteStandardMembers(t *testing.T) {
	p := handlers.NewProblem(409, "pool_exhausted", "empty").With("status", 200).With("code", "ok").With("remaining", 0)
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var back handlers.Problem
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Status != 409 || back.Code != "pool_exhausted" || back.Extra["remaining"] != float64(0) {
		t.Errorf("round trip %s -> %+v", b, back)
	}
}

func TestCorrelationID(t *testing.T) {
	f := newFixture(t)
	auth := bearer(t, "alice")
	t.Run("a client's id is echoed and reaches the handler's context", func(t *testing.T) {
		rec := f.do(http.MethodGet, "/v1/whoami", nil, "Authorization", auth, handlers.HeaderCorrelationID, "order-42")
		if got := rec.Header().Get(handlers.HeaderCorrelationID); got != "order-42" {
			t.Errorf("echoed %q", got)
		}
		if got := f.corr[len(f.corr)-1]; got != "order-42" {
			t.Errorf("handler context has %q", got)
		}
	})
	t.Run("a missing id is generated", func(t *testing.T) {
		rec := f.do(http.MethodGet, "/v1/whoami", nil, "Authorization", auth)
		got := rec.Header().Get(handlers.HeaderCorrelationID)
		if len(got) != 36 || got != f.corr[len(f.corr)-1] {
			t.Errorf("generated %q, handler saw %q", got, f.corr[len(f.corr)-1])
		}
	})
	t.Run("an oversized or non-printable id is replaced", func(t *testing.T) {
		for _, bad := range []string{strings.Repeat("x", 129), "a b", "tab\there"} {
			rec := f.do(http.MethodGet, "/v1/whoami", nil, "Authorization", auth, handlers.HeaderCorrelationID, bad)
			if got := rec.Header().Get(handlers.HeaderCorrelationID); got == bad || got == "" {
				t.Errorf("%q echoed as %q", bad, got)
			}
		}
	})
}

func TestEachRequestIsLoggedWithRouteStatusAndCorrelation(t *testing.T) {
	f := newFixture(t)
	f.do(http.MethodGet, "/v1/things/t1", nil, "Authorization", bearer(t, "alice"), handlers.HeaderCorrelationID, "log-me")
	line := requestLogLine(t, f, "log-me")
	want := map[string]any{"msg": "http request", "level": "INFO", "method": "GET", "route": "/v1/things/:id", "path": "/v1/things/t1",
		"status": float64(200), "correlation_id": "log-me", "user": "alice"}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("log %s = %v, want %v (line %v)", k, line[k], v, line)
		}
	}
	if _, ok := line["latency_ms"].(float64); !ok {
		t.Errorf("no latency in %v", line)
	}
}

// Issue 12: the read models' and the rebuild's errors mean the same over HTTP whichever
// route returns them (problemOf maps them by type; no route maps them itself).
func TestReadModelErrorsAnswerTheirStatusFromAnyRoute(t *testing.T) {
	sentinels := map[string]error{"not-found": projections.ErrNotFound, "unknown": projections.ErrUnknownProjection,
		"running": projections.ErrRebuildRunning}
	f := newFixture(t, func(d *handlers.Deps) {
		d.Routes = append(d.Routes, handlers.Route{Method: http.MethodGet, Path: "/v1/fails/:how", Summary: "fails",
			Handler: func(c echo.Context) error { return fmt.Errorf("reading: %w", sentinels[c.Param("how")]) }})
	})
	for how, want := range map[string]struct {
		status int
		code   string
	}{
		"not-found": {http.StatusNotFound, handlers.CodeNotFound},
		"unknown":   {http.StatusNotFound, handlers.CodeNotFound},
		"running":   {http.StatusConflict, handlers.CodeConflict},
	} {
		p := problemOf(t, f.do(http.MethodGet, "/v1/fails/"+how, nil, "Authorization", bearer(t, "alice")))
		if p.Status != want.status || p.Code != want.code {
			t.Errorf("%s: %d %s, want %d %s", how, p.Status, p.Code, want.status, want.code)
		}
	}
}

// The IDs the server makes for requests that bring none are distinct, also when made
// concurrently, and are UUIDs (version 8: a per-process random prefix and a counter).
func TestGeneratedCorrelationIDsAreDistinctUUIDs(t *testing.T) {
	f := newFixture(t)
	auth := bearer(t, "alice")
	const workers, each = 4, 100
	ids := make(chan string, workers*each)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				ids <- f.do(http.MethodGet, "/v1/whoami", nil, "Authorization", auth).Header().Get(handlers.HeaderCorrelationID)
			}
		})
	}
	wg.Wait()
	close(ids)
	seen := map[string]bool{}
	for id := range ids {
		u, err := uuid.Parse(id)
		if err != nil || u.Variant() != uuid.RFC4122 {
			t.Fatalf("generated %q: not a UUID (%v)", id, err)
		}
		if seen[id] {
			t.Fatalf("generated %q twice", id)
		}
		seen[id] = true
	}
}

// requestLogLine is the access log line of the request with correlation ID corr.
func requestLogLine(t *testing.T, f *fixture, corr string) map[string]any {
	t.Helper()
	for l := range bytes.SplitSeq([]byte(f.logs.String()), []byte("\n")) {
		var line map[string]any
		if bytes.Contains(l, []byte(`"http request"`)) && json.Unmarshal(l, &line) == nil && line["correlation_id"] == corr {
			return line
		}
	}
	t.Fatalf("no request line for %q in %s", corr, f.logs)
	return nil
}

// The access line is stamped with the time it was written and logs a server failure at
// ERROR, so that an operator filtering by level or time finds it.
func TestRequestLogLineIsStampedAndAFailureIsAnError(t *testing.T) {
	f := newFixture(t)
	before := time.Now().Add(-time.Second)
	f.do(http.MethodGet, "/v1/things/t1", nil, "Authorization", bearer(t, "alice"), handlers.HeaderCorrelationID, "fine")
	f.do(http.MethodGet, "/v1/broken", nil, "Authorization", bearer(t, "alice"), handlers.HeaderCorrelationID, "broken")
	after := time.Now().Add(time.Second)
	for corr, level := range map[string]string{"fine": "INFO", "broken": "ERROR"} {
		line := requestLogLine(t, f, corr)
		if line["level"] != level {
			t.Errorf("%s: level %v, want %s", corr, line["level"], level)
		}
		at, err := time.Parse(time.RFC3339Nano, fmt.Sprint(line["time"]))
		if err != nil || at.Before(before) || at.After(after) {
			t.Errorf("%s: time %v (%v), want the time of the request", corr, line["time"], err)
		}
	}
}
