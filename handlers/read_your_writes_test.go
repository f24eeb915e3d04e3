package handlers_test

import (
	"net/http"
	"testing"
	"time"

	"ledger/handlers"
	"ledger/infra/eventstore"
)

func TestQueryWaitsForMinPosition(t *testing.T) {
	auth := bearer(t, "alice")
	t.Run("already reached: answers with the projection position", func(t *testing.T) {
		f := newFixture(t)
		f.board.advance("things", eventstore.Position{Commit: 7, Prepare: 7})
		rec := f.do(http.MethodGet, "/v1/things/t1?minPosition=5", nil, "Authorization", auth)
		if rec.Code != http.StatusOK || rec.Header().Get(handlers.HeaderProjectionPosition) != "7" {
			t.Fatalf("status %d, position %q", rec.Code, rec.Header().Get(handlers.HeaderProjectionPosition))
		}
	})
	t.Run("no minPosition: answers at once and still reports the position", func(t *testing.T) {
		f := newFixture(t)
		rec := f.do(http.MethodGet, "/v1/things/t1", nil, "Authorization", auth)
		if rec.Code != http.StatusOK || rec.Header().Get(handlers.HeaderProjectionPosition) != "0" {
			t.Fatalf("status %d, position %q", rec.Code, rec.Header().Get(handlers.HeaderProjectionPosition))
		}
	})
	t.Run("reached while waiting: answers once the projection catches up", func(t *testing.T) {
		f := newFixture(t)
		f.board.advance("things", eventstore.Position{Commit: 3, Prepare: 3})
		f.board.waiting = make(chan eventstore.Position, 1)
		done := make(chan struct{})
		go func() {
			defer close(done)
			// advance only once the query is waiting: the projection reaches 9 in two steps,
			// and the query waits again after the first
			for i := uint64(8); i <= 9; i++ {
				<-f.board.waiting
				f.board.advance("things", eventstore.Position{Commit: i, Prepare: i})
			}
		}()
		rec := f.do(http.MethodGet, "/v1/things/t1", nil, "Authorization", auth, handlers.HeaderMinPosition, "9")
		if rec.Code != http.StatusOK || rec.Header().Get(handlers.HeaderProjectionPosition) != "9" {
			t.Fatalf("status %d, position %q: %s", rec.Code, rec.Header().Get(handlers.HeaderProjectionPosition), rec.Body)
		}
		<-done
	})
	t.Run("not reached in time: 503 projection_behind with the position it had", func(t *testing.T) {
		f := newFixture(t, func(d *handlers.Deps) { d.QueryWait = 50 * time.Millisecond })
		f.board.advance("things", eventstore.Position{Commit: 4, Prepare: 4})
		rec := f.do(http.MethodGet, "/v1/things/t1?minPosition=10", nil, "Authorization", auth)
		if rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		p := problemOf(t, rec)
		if p.Code != handlers.CodeProjectionBehind || p.Extra["projectionPosition"] != "4" || p.Extra["minPosition"] != "10" {
			t.Errorf("problem %+v", p)
		}
		if rec.Header().Get(handlers.HeaderProjectionPosition) != "4" || rec.Header().Get("Retry-After") == "" {
			t.Errorf("headers %v", rec.Header())
		}
	})
	t.Run("commit/prepare positions are understood", func(t *testing.T) {
		f := newFixture(t)
		f.board.advance("things", eventstore.Position{Commit: 120, Prepare: 118})
		rec := f.do(http.MethodGet, "/v1/things/t1?minPosition=120/118", nil, "Authorization", auth)
		if rec.Code != http.StatusOK || rec.Header().Get(handlers.HeaderProjectionPosition) != "120/118" {
			t.Fatalf("status %d, position %q", rec.Code, rec.Header().Get(handlers.HeaderProjectionPosition))
		}
	})
}

func TestMinPositionMustBeAPosition(t *testing.T) {
	f := newFixture(t)
	auth := bearer(t, "alice")
	cases := []struct {
		name    string
		target  string
		headers []string
	}{
		{"letters", "/v1/things/t1?minPosition=abc", nil},
		{"negative", "/v1/things/t1?minPosition=-1", nil},
		{"trailing junk", "/v1/things/t1?minPosition=12abc", nil},
		{"header junk", "/v1/things/t1", []string{handlers.HeaderMinPosition, "soon"}},
		{"query and header disagree", "/v1/things/t1?minPosition=1", []string{handlers.HeaderMinPosition, "2"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := f.do(http.MethodGet, tc.target, nil, append([]string{"Authorization", auth}, tc.headers...)...)
			if rec.Code != http.StatusBadRequest || problemOf(t, rec).Code != handlers.CodeBadRequest {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
		})
	}
}
