package handlers_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"

	"ledger/handlers"
)

func TestHealthz(t *testing.T) {
	f := newFixture(t, func(d *handlers.Deps) {
		d.Checkers = []handlers.Checker{handlers.CheckFunc("nats", func(context.Context) error { return errors.New("down") })}
	})
	rec := f.do(http.MethodGet, "/healthz", nil)
	if rec.Code != http.StatusOK {
		t.Fatalf("liveness must not depend on checkers: %d %s", rec.Code, rec.Body)
	}
}

func TestReadyz(t *testing.T) {
	ok := handlers.CheckFunc("event store", func(context.Context) error { return nil })
	t.Run("every checker answers: ready", func(t *testing.T) {
		f := newFixture(t, func(d *handlers.Deps) { d.Checkers = []handlers.Checker{ok, ok} })
		rec := f.do(http.MethodGet, "/readyz", nil)
		var body handlers.Readiness
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || rec.Code != http.StatusOK {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		if body.Status != "ready" || len(body.Checks) != 2 {
			t.Errorf("body %+v", body)
		}
	})
	t.Run("one checker fails: 503 not_ready naming it", func(t *testing.T) {
		down := handlers.CheckFunc("nats", func(context.Context) error { return errors.New("connection refused") })
		f := newFixture(t, func(d *handlers.Deps) { d.Checkers = []handlers.Checker{ok, down} })
		rec := f.do(http.MethodGet, "/readyz", nil)
		if rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("status %d", rec.Code)
		}
		p := problemOf(t, rec)
		checks, _ := p.Extra["checks"].([]any)
		if p.Code != handlers.CodeNotReady || len(checks) != 2 || checks[1].(map[string]any)["error"] != "connection refused" {
			t.Errorf("problem %+v", p)
		}
	})
	t.Run("a hanging checker is cut off by the timeout", func(t *testing.T) {
		hang := handlers.CheckFunc("postgres", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
		f := newFixture(t, func(d *handlers.Deps) {
			d.Checkers = []handlers.Checker{hang}
			d.ReadyTimeout = 20_000_000 // 20ms
		})
		if rec := f.do(http.MethodGet, "/readyz", nil); rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("status %d", rec.Code)
		}
	})
}
