package projections

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"ledger/domain"
	"ledger/infra/eventstore"
)

// remainingAt reads goldCSP's remaining incidents as a query route does (answerOf).
func remainingAt(t *testing.T, s *scenario, rm *ReadModels, c *Checkpoints, now time.Time, revealIDs bool) ([]byte, eventstore.Position) {
	t.Helper()
	return answerOf(t, s, rm, c, goldCSP, s.head, now, revealIDs)
}

// answerOf reads mpn's remaining incidents as a query route does: it waits for mpn's
// partition to reach minPosition (WaitForPartner), then reads; it tells where the
// partition stood.
func answerOf(t *testing.T, s *scenario, rm *ReadModels, c *Checkpoints, mpn string, minPosition eventstore.Position, now time.Time, revealIDs bool) ([]byte, eventstore.Position) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	at, err := c.WaitForPartner(ctx, RemainingIncidentsName, mpn, minPosition)
	must(t, err)
	body, err := rm.RemainingIncidentsJSON(ctx, mpn, now, revealIDs)
	must(t, err)
	return body, at
}

// wantDomainAnswer fails unless body is what the domain renders of goldCSP (wantAnswerOf).
func wantDomainAnswer(t *testing.T, s *scenario, body []byte, now time.Time, revealIDs bool, what string) {
	t.Helper()
	wantAnswerOf(t, s, goldCSP, body, now, revealIDs, what)
}

// wantAnswerOf fails unless body is what the domain renders from mpn's folded stream at
// now, with or without the IDs.
func wantAnswerOf(t *testing.T, s *scenario, mpn string, body []byte, now time.Time, revealIDs bool, what string) {
	t.Helper()
	want := RenderRemainingIncidents(s.partnerState(mpn), now)
	if !revealIDs {
		want = want.WithoutContractIDs()
	}
	enc, err := encodeAnswer(want)
	must(t, err)
	if string(body) != string(enc) {
		t.Fatalf("%s: answered\n %s\nthe domain renders\n %s", what, body, enc)
	}
}

// servedKeepingAnswers runs the scenario on h, serves it, and reads it through read
// models that keep answers (the default bound), stamped by the runner's checkpoints.
func servedKeepingAnswers(t *testing.T, h *harness) (*scenario, *Runner, *ReadModels) {
	t.Helper()
	s := newScenario(t, h)
	s.run()
	_, r := s.serve()
	return s, r, NewReadModels(h.db, KeepAnswers(DefaultAnswerCacheBytes, r.Checkpoints()))
}

// A kept answer is served only at the stamp it was read at: the commit of an incident
// of its partner moves the stamp on, and the query that asks for that commit
// (minPosition) gets the new figures, never the kept ones; at the same stamp the kept
// bytes are served, with or without the Contract IDs as asked (R4).
func TestKeptAnswerIsNeverServedPastACommitOfItsPartner(t *testing.T) {
	forEachReadDialect(t, func(t *testing.T, h *harness) {
		s, r, rm := servedKeepingAnswers(t, h)
		before, at := remainingAt(t, s, rm, r.Checkpoints(), t0, true)
		wantDomainAnswer(t, s, before, t0, true, "first read")
		again, _ := remainingAt(t, s, rm, r.Checkpoints(), t0, true)
		redacted, _ := remainingAt(t, s, rm, r.Checkpoints(), t0, false)
		wantDomainAnswer(t, s, redacted, t0, false, "kept, without the IDs")
		if string(again) != string(before) || rm.Answers().Stats().Answers != 1 {
			t.Fatalf("the second read at %s was not the kept answer: %s; %+v", at, again, rm.Answers().Stats())
		}

		admin := user(goldCSP, "admin")
		s.do(admin, domain.OpenIncident{MPNID: goldCSP, By: admin, Plan: domain.PlanProductSupport, Product: "SQL Server", Version: "2025", Title: "after"})
		after, atAfter := remainingAt(t, s, rm, r.Checkpoints(), t0, true)
		if !at.Less(atAfter) {
			t.Fatalf("the partition did not move: %s then %s", at, atAfter)
		}
		wantDomainAnswer(t, s, after, t0, true, "after the commit")
		if string(after) == string(before) {
			t.Fatalf("the answer after the incident is the kept one: %s", after)
		}
	})
}

// Expiry needs no event (R14): at the same stamp, once the clock passes the contract's
// end the kept answer is not served and the contract shows expired, as the domain says.
func TestKeptAnswerFollowsTheClockPastAContractsEnd(t *testing.T) {
	h := newHarness(t, "sqlite", readDialects[0].target(t))
	s, r, rm := servedKeepingAnswers(t, h)
	now, _ := remainingAt(t, s, rm, r.Checkpoints(), t0, true)
	wantDomainAnswer(t, s, now, t0, true, "now")
	later := t0.Add(2 * 365 * 24 * time.Hour)
	expired, _ := remainingAt(t, s, rm, r.Checkpoints(), later, true)
	wantDomainAnswer(t, s, expired, later, true, "two years on")
	if !strings.Contains(string(expired), `"status":"expired"`) {
		t.Fatalf("two years on the contract is not expired: %s", expired)
	}
}

// The memory the kept answers count never passes the bound: the least recently served
// go first, an answer larger than the bound is not kept, and a slow reader's older
// answer never replaces a newer one.
func TestAnswerCacheHoldsNoMoreThanItsBound(t *testing.T) {
	answer := func(commit uint64) cachedAnswer {
		body := []byte(strings.Repeat("x", 500))
		return cachedAnswer{stamp: eventstore.Position{Commit: commit, Prepare: commit}, read: time.Now(), full: body, redacted: body}
	}
	one := answer(1).size("0000001")
	c := NewAnswerCache(10 * one)
	for i := range 100 {
		c.put(fmt.Sprintf("%07d", i), answer(1))
		if _, ok := c.get("0000000", answer(1).stamp, t0, true); !ok {
			t.Fatalf("after %d answers the most recently served one is gone", i+1)
		}
		if st := c.Stats(); st.Bytes > 10*one {
			t.Fatalf("after %d answers the cache counts %d bytes, bound %d", i+1, st.Bytes, 10*one)
		}
	}
	if st := c.Stats(); st.Answers != 10 {
		t.Fatalf("kept %d answers, want the 10 that fit", st.Answers)
	}
	if _, ok := c.get("0000050", answer(1).stamp, t0, true); ok {
		t.Fatal("an answer long unserved is still kept")
	}

	c.put("0000099", answer(2))
	c.put("0000099", answer(1)) // a reader that began before the commit
	if _, ok := c.get("0000099", answer(2).stamp, t0, true); !ok {
		t.Fatal("an older answer replaced a newer one")
	}

	huge := cachedAnswer{full: make([]byte, 11*one)}
	c.put("huge", huge)
	if _, ok := c.get("huge", huge.stamp, t0, true); ok || c.Stats().Bytes > 10*one {
		t.Fatalf("an answer larger than the bound was kept: %+v", c.Stats())
	}
}

// A retried dead letter changes rows under a checkpoint that does not move: the answers
// this process keeps are forgotten when the retry commits, and an answer whose read
// began before that (maybe the rows from before) is not kept. A refused retry changed
// nothing and forgets nothing.
func TestARetriedDeadLetterRetiresTheKeptAnswers(t *testing.T) {
	h := newHarness(t, "sqlite", readDialects[0].target(t))
	w := newDeadLetterWorld(t, h, 1)
	c := NewAnswerCache(DefaultAnswerCacheBytes)
	w.ops.Answers = c
	stamp := eventstore.Position{Commit: 9, Prepare: 9}
	keep := func(key string, forgets uint64) {
		c.put(key, cachedAnswer{stamp: stamp, read: time.Now(), forgets: forgets, full: []byte("{}"), redacted: []byte("{}")})
	}
	kept := func(key string) bool { _, ok := c.get(key, stamp, t0, true); return ok }
	ctx := context.Background()

	keep("before", c.begin())
	if _, err := w.ops.Retry(ctx, w.p.Name(), w.poisons[0], "ops-1"); err == nil {
		t.Fatal("the retry before the fix applied")
	}
	if !kept("before") {
		t.Fatal("a refused retry forgot the kept answers")
	}
	slowRead := c.begin() // a query reads the rows, then the retry commits, then it keeps them
	w.p.fixed.Store(true)
	if _, err := w.ops.Retry(ctx, w.p.Name(), w.poisons[0], "ops-1"); err != nil {
		t.Fatalf("retry after the fix: %v", err)
	}
	keep("slow", slowRead)
	if kept("before") || kept("slow") {
		t.Fatal("an answer from before the retry is still served")
	}
	keep("after", c.begin())
	if !kept("after") {
		t.Fatal("an answer read after the retry is not kept")
	}
}

// Whatever the stamp says, an answer is served for at most answerMaxAge: a change made
// by another process under an unmoved checkpoint (a retry, a rebuild's swap) shows
// within it.
func TestAKeptAnswerIsServedNoLongerThanItsMaxAge(t *testing.T) {
	c := NewAnswerCache(DefaultAnswerCacheBytes)
	stamp := eventstore.Position{Commit: 3, Prepare: 3}
	c.put("fresh", cachedAnswer{stamp: stamp, read: time.Now(), full: []byte("{}")})
	c.put("old", cachedAnswer{stamp: stamp, read: time.Now().Add(-answerMaxAge), full: []byte("{}")})
	if _, ok := c.get("fresh", stamp, t0, true); !ok {
		t.Fatal("a fresh answer is not served")
	}
	if _, ok := c.get("old", stamp, t0, true); ok {
		t.Fatalf("an answer read %s ago is served", answerMaxAge)
	}
}

// A rebuild swaps new rows in, maybe under the checkpoint the kept answers were read
// at: the answers this process keeps are forgotten once it swapped, so a query after an
// ops rebuild reads the new generation. A dry run swaps nothing and forgets nothing.
func TestARebuildSwapRetiresTheKeptAnswers(t *testing.T) {
	h := newHarness(t, "sqlite", readDialects[0].target(t))
	s, r, rm := servedKeepingAnswers(t, h)
	ops := &Operations{DB: h.db, Store: h.store, Answers: rm.Answers()}
	ctx := context.Background()
	remainingAt(t, s, rm, r.Checkpoints(), t0, true)
	if _, _, err := ops.Rebuild(ctx, RemainingIncidentsName, RebuildOptions{DryRun: true}); err != nil {
		t.Fatal(err)
	}
	if n := rm.Answers().Stats().Answers; n != 1 {
		t.Fatalf("a dry run left %d answers kept, want the 1 read", n)
	}
	if _, _, err := ops.Rebuild(ctx, RemainingIncidentsName, RebuildOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := rm.Answers().Stats().Answers; n != 0 {
		t.Fatalf("%d answers still kept after the rebuild swapped, want 0", n)
	}
}
