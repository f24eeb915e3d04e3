package eventstoretest

import (
	"sync"
	"testing"

	"ledger/infra/eventstore"
)

// guardedAppends: an append guarded by another stream's revision is stored only while
// that stream is exactly there, and a refused one stores nothing and names the guarded
// stream. A store that is no GuardedAppender makes no such promise (its users read the
// guarded stream before deciding instead).
func guardedAppends(t *testing.T, s eventstore.Store) {
	g, ok := s.(eventstore.GuardedAppender)
	if !ok {
		t.Skipf("%T does not guard appends: the executor reads the guarded stream before each decision there", s)
	}
	n := newNames()
	rules, partner := n.stream("rules"), n.stream("partner")
	guarded := func(stream string, expected eventstore.ExpectedRevision, guard eventstore.ExpectedRevision) (eventstore.AppendResult, error) {
		return g.AppendGuarded(bounded(t), stream, expected, eventstore.Guard{Stream: rules, Expected: guard}, events(1, "guarded")...)
	}
	if _, err := guarded(partner, eventstore.NoStream(), eventstore.NoStream()); err != nil {
		t.Fatalf("guarded by a missing stream expected missing: %v", err)
	}
	mustAppend(t, s, rules, eventstore.NoStream(), events(1, "rules v1")...)
	_, err := guarded(partner, eventstore.Exact(0), eventstore.NoStream())
	wantWrongRevision(t, err, rules, eventstore.NoStream(), true, 0)
	if _, err := guarded(partner, eventstore.Exact(0), eventstore.Exact(0)); err != nil {
		t.Fatalf("guarded at the guarded stream's revision: %v", err)
	}
	mustAppend(t, s, rules, eventstore.Exact(0), events(1, "rules v2")...)
	_, err = guarded(partner, eventstore.Exact(1), eventstore.Exact(0))
	wantWrongRevision(t, err, rules, eventstore.Exact(0), true, 1)
	if got := len(mustRead(t, s, partner, eventstore.ReadStreamOptions{})); got != 2 {
		t.Fatalf("the partner stream holds %d events, want 2: a refused guarded append stored something", got)
	}
	if _, err := guarded(partner, eventstore.Exact(2), eventstore.Exact(1)); err == nil {
		t.Fatal("the partner's own expected revision was not checked under a guard that holds")
	}
}

// guardedAppendsRacingTheGuardedStream: guarded appends sent together with an append
// to the guarded stream (one group commit or several) are stored only if they come
// before it in the log: none lands after the guarded stream moved.
func guardedAppendsRacingTheGuardedStream(t *testing.T, s eventstore.Store) {
	g, ok := s.(eventstore.GuardedAppender)
	if !ok {
		t.Skipf("%T does not guard appends: the executor reads the guarded stream before each decision there", s)
	}
	n := newNames()
	rules := n.stream("rules")
	mustAppend(t, s, rules, eventstore.NoStream(), events(1, "rules v1")...)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var accepted []eventstore.Position
	for i := range 40 {
		wg.Go(func() {
			res, err := g.AppendGuarded(bounded(t), n.stream("partner-"+string(rune('a'+i%26))+string(rune('a'+i/26))), eventstore.NoStream(),
				eventstore.Guard{Stream: rules, Expected: eventstore.Exact(0)}, events(1, "guarded")...)
			if err == nil {
				mu.Lock()
				accepted = append(accepted, res.Position)
				mu.Unlock()
			}
		})
		if i == 20 {
			wg.Go(func() { mustAppend(t, s, rules, eventstore.Exact(0), events(1, "rules v2")...) })
		}
	}
	wg.Wait()
	moved := mustRead(t, s, rules, eventstore.ReadStreamOptions{From: 1})
	if len(moved) != 1 {
		t.Fatalf("the guarded stream holds %d events after revision 0, want 1", len(moved))
	}
	for _, p := range accepted {
		if moved[0].Position.Less(p) {
			t.Fatalf("a guarded append was stored at %v, after the guarded stream moved at %v", p, moved[0].Position)
		}
	}
}
