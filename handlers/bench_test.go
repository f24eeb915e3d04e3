package handlers_test

import (
	"bytes"
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
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodGet, "/v1/things/t1", nil)
		req.Header.Set("Authorization", auth)
		rec := httptest.NewRecorder()
		f.e.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d", rec.Code)
		}
	}
}
