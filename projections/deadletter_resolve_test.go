package projections

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/uptrace/bun"

	"ledger/infra/eventstore"
	"ledger/infra/paging"
)

// fixable is the test counter whose refusal of poison events can be fixed, as a code
// fix deployed after the event was dead-lettered would: once fixed, a poison event is
// counted like any other.
type fixable struct {
	*counter
	fixed atomic.Bool
}

func (f *fixable) Apply(ctx context.Context, tx bun.Tx, t Tables, batch []eventstore.RecordedEvent) error {
	if !f.fixed.Load() {
		return f.counter.Apply(ctx, tx, t, batch)
	}
	healed := make([]eventstore.RecordedEvent, len(batch))
	for i, ev := range batch {
		if ev.Type == poisonType {
			ev.Type = "TestHappened"
		}
		healed[i] = ev
	}
	return f.counter.Apply(ctx, tx, t, healed)
}

// deadLetterWorld runs a fixable counter live and dead-letters poisonCount events.
type deadLetterWorld struct {
	h       *harness
	p       *fixable
	r       *Runner
	ops     *DeadLetterOps
	poisons []eventstore.Position
}

func newDeadLetterWorld(t *testing.T, h *harness, poisonCount int) *deadLetterWorld {
	h.runForwarder()
	w := &deadLetterWorld{h: h, p: &fixable{counter: newCounter("counter")}}
	w.r = h.runner(nil, w.p)
	h.background("runner", w.r.Run)
	h.appendEvents(4, "TestHappened")
	for range poisonCount {
		w.poisons = append(w.poisons, h.appendEvents(1, poisonType))
	}
	h.waitFor(w.r.Checkpoints(), w.p.Name(), h.appendEvents(4, "TestHappened"))
	w.ops = &DeadLetterOps{DB: h.db, Events: h.store, Projections: []Projection{w.p}}
	return w
}

func (w *deadLetterWorld) list(t *testing.T, status string) []DeadLetterEntry {
	t.Helper()
	page, err := w.ops.List(context.Background(), w.p.Name(), status, paging.Page{})
	if err != nil {
		t.Fatal(err)
	}
	return page.DeadLetters
}

// appliedAt counts the read model's rows for the event at pos (its primary key makes
// more than one impossible, so a double apply fails the retry instead).
func (w *deadLetterWorld) appliedAt(t *testing.T, pos eventstore.Position) int {
	t.Helper()
	n, err := w.h.db.NewSelect().TableExpr("counter_applied").Where("position = ?", int64(pos.Commit)).Count(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestARetriedDeadLetterIsAppliedExactlyOnceAfterItsCauseIsFixed(t *testing.T) {
	forEachReadDialect(t, func(t *testing.T, h *harness) {
		w := newDeadLetterWorld(t, h, 1)
		ctx, poison := context.Background(), w.poisons[0]

		open := w.list(t, "")
		if len(open) != 1 || open[0].Position != poison.String() || !strings.Contains(open[0].Error, "poison event refused") {
			t.Fatalf("open dead letters = %+v, want the poison event at %s", open, poison)
		}
		detail, err := w.ops.Letter(ctx, w.p.Name(), poison)
		if err != nil || detail.EventType != poisonType || string(detail.Data) != `{"n":0}` {
			t.Fatalf("letter = %+v, %v; want the poison event with its data", detail, err)
		}

		// Before the fix: refused again, nothing changes.
		if _, err := w.ops.Retry(ctx, w.p.Name(), poison, "ops-1"); !errors.Is(err, ErrRetryRefused) || !strings.Contains(err.Error(), "poison event refused") {
			t.Fatalf("retry before the fix: %v, want ErrRetryRefused with the projection's reason", err)
		}
		if len(w.list(t, DeadLettersOpen)) != 1 || w.appliedAt(t, poison) != 0 {
			t.Fatal("a refused retry resolved the letter or applied the event")
		}

		w.p.fixed.Store(true)
		got, err := w.ops.Retry(ctx, w.p.Name(), poison, "ops-1")
		if err != nil {
			t.Fatalf("retry after the fix: %v", err)
		}
		if got.Resolution != ResolutionRetried || got.ResolvedBy != "ops-1" || got.ResolvedAt == nil {
			t.Fatalf("resolution = %+v, want retried by ops-1 with a time", got)
		}
		if n := w.appliedAt(t, poison); n != 1 {
			t.Fatalf("the retried event is in the read model %d times, want once", n)
		}
		if open := w.list(t, DeadLettersOpen); len(open) != 0 {
			t.Fatalf("open dead letters after the retry: %+v", open)
		}
		if hist := w.list(t, DeadLettersResolved); len(hist) != 1 || hist[0].Position != poison.String() || hist[0].Resolution != ResolutionRetried {
			t.Fatalf("history = %+v, want the retried letter", hist)
		}
		st, err := w.r.Checkpoints().State(ctx, w.p.Name())
		if err != nil || st.Status != StatusLive || st.DeadLetters != 0 {
			t.Fatalf("state = %+v, %v; want live without dead letters", st, err)
		}
		if _, err := w.ops.Retry(ctx, w.p.Name(), poison, "ops-1"); !errors.Is(err, ErrDeadLetterNotFound) {
			t.Fatalf("second retry: %v, want ErrDeadLetterNotFound", err)
		}

		// The runner goes on from its checkpoint, which the retry left where it was.
		h.waitFor(w.r.Checkpoints(), w.p.Name(), h.appendEvents(3, "TestHappened"))
		var applied int
		if err := h.db.NewSelect().TableExpr("counter_applied").ColumnExpr("count(*)").Scan(ctx, &applied); err != nil {
			t.Fatal(err)
		}
		if applied != 4+1+4+3 {
			t.Fatalf("%d events applied, want every one of the 12 once", applied)
		}
	})
}

func TestADiscardedDeadLetterRecordsWhoAndWhyAndIsNotApplied(t *testing.T) {
	forEachReadDialect(t, func(t *testing.T, h *harness) {
		w := newDeadLetterWorld(t, h, 1)
		ctx, poison := context.Background(), w.poisons[0]

		for _, reason := range []string{"", "   ", strings.Repeat("x", MaxResolutionReason+1)} {
			var bad *BadResolutionError
			if _, err := w.ops.Discard(ctx, w.p.Name(), poison, "ops-1", reason); !errors.As(err, &bad) || bad.Field != "reason" {
				t.Fatalf("discard with reason %.20q: %v, want refused naming the reason", reason, err)
			}
		}
		if len(w.list(t, DeadLettersOpen)) != 1 {
			t.Fatal("a refused discard resolved the letter")
		}
		got, err := w.ops.Discard(ctx, w.p.Name(), poison, "ops-1", "  test event written by hand; nothing to apply ")
		if err != nil {
			t.Fatal(err)
		}
		hist := w.list(t, DeadLettersResolved)
		if len(hist) != 1 || hist[0].Resolution != ResolutionDiscarded || hist[0].ResolvedBy != "ops-1" ||
			hist[0].Reason != "test event written by hand; nothing to apply" || hist[0].ResolvedAt == nil || got.Reason != hist[0].Reason {
			t.Fatalf("history = %+v, want the discard with who and why", hist)
		}
		if w.appliedAt(t, poison) != 0 || len(w.list(t, DeadLettersOpen)) != 0 {
			t.Fatal("a discarded letter was applied or is still open")
		}
		detail, err := w.ops.Letter(ctx, w.p.Name(), poison)
		if err != nil || detail.Resolution != ResolutionDiscarded || detail.EventID == "" {
			t.Fatalf("the discarded letter reads as %+v, %v", detail, err)
		}
	})
}

func TestDeadLettersArePagedByCursor(t *testing.T) {
	forEachReadDialect(t, func(t *testing.T, h *harness) {
		w := newDeadLetterWorld(t, h, 3)
		ctx, name := context.Background(), w.p.Name()
		first, err := w.ops.List(ctx, name, "", paging.Page{Limit: 2})
		if err != nil || len(first.DeadLetters) != 2 || first.NextCursor == "" {
			t.Fatalf("first page = %+v, %v; want 2 letters and a cursor", first, err)
		}
		second, err := w.ops.List(ctx, name, "", paging.Page{Limit: 2, Cursor: first.NextCursor})
		if err != nil || len(second.DeadLetters) != 1 || second.NextCursor != "" || second.DeadLetters[0].Position != w.poisons[2].String() {
			t.Fatalf("second page = %+v, %v; want the third letter and no cursor", second, err)
		}
		if _, err := w.ops.List(ctx, name, DeadLettersResolved, paging.Page{Cursor: first.NextCursor}); !errors.Is(err, paging.ErrBadCursor) {
			t.Fatalf("an open list's cursor on the history: %v, want ErrBadCursor", err)
		}
		var bad *BadResolutionError
		if _, err := w.ops.List(ctx, name, "all", paging.Page{}); !errors.As(err, &bad) || bad.Field != "status" {
			t.Fatalf("status all: %v, want refused naming status", err)
		}
		if _, err := w.ops.List(ctx, "nope", "", paging.Page{}); !errors.Is(err, ErrUnknownProjection) {
			t.Fatalf("unknown projection: %v", err)
		}
	})
}
