package handlers_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"ledger/handlers"
)

// BenchmarkCommandRequest is the HTTP layer's cost per command: correlation, log line,
// token check, body limit, strict binding and the problem-free answer.
func BenchmarkCommandRequest(b *testing.B) {
	f := newFixture(b)
	auth := bearer(b, "alice", handlers.RolePlatform)
	body := []byte(validGrant)
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/v1/partners/1/grants", bytes.NewReader(body))
		req.Header.Set("Authorization", auth)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		f.e.ServeHTTP(rec, req)
		if rec.Code != http.StatusCreated {
			b.Fatalf("status %d", rec.Code)
		}
	}
}

// BenchmarkBindJSON is the strict binder alone on a typical command body.
func BenchmarkBindJSON(b *testing.B) {
	body := []byte(validGrant)
	b.ReportAllocs()
	for b.Loop() {
		var req grantRequest
		if err := handlers.BindJSON(body, &req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkQueryRequest is the HTTP layer's cost per query: correlation, the access log
// line (JSON, as served), token check, read-your-writes position and the JSON answer.
func BenchmarkQueryRequest(b *testing.B) {
	f := newFixture(b)
	auth := bearer(b, "alice")
	serveQueries(b, f, "/v1/things/t1", auth)
}

// serveQueries runs GET path with auth for b's loop, each answered 200.
func serveQueries(b *testing.B, f *fixture, path, auth string) {
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.Header.Set("Authorization", auth)
		rec := httptest.NewRecorder()
		f.e.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d", rec.Code)
		}
	}
}

// BenchmarkPartnerQueryBound is the per-partner query bound's cost on a query naming its
// partner: the process bound alone, then with the per-partner bound (a lock, a map
// entry made and dropped per query when the partner has no other query in flight).
func BenchmarkPartnerQueryBound(b *testing.B) {
	for _, perPartner := range []int{0, 32} {
		b.Run(fmt.Sprintf("per-partner=%d", perPartner), func(b *testing.B) {
			f := newFixture(b, func(d *handlers.Deps) {
				d.Limits = handlers.InFlightLimits{Queries: 128, PerPartnerQueries: perPartner}
			})
			auth := bearer(b, "alice")
			serveQueries(b, f, "/v1/partners/40001/things", auth)
		})
	}
}
