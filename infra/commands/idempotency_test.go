package commands

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"ledger/domain"
	"ledger/infra/eventstore"
	"ledger/infra/testkit"
)

// lostAnswerStore stores the next append and then fails it, as a connection that died
// during COMMIT does: the caller is told nothing was acknowledged, yet it was written.
type lostAnswerStore struct {
	eventstore.Store
	mu   sync.Mutex
	lose bool
}

func (s *lostAnswerStore) loseNextAnswer() { s.mu.Lock(); s.lose = true; s.mu.Unlock() }

func (s *lostAnswerStore) Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	res, err := s.Store.Append(ctx, stream, expected, events...)
	s.mu.Lock()
	lose := s.lose
	s.lose = false
	s.mu.Unlock()
	if err == nil && lose {
		return eventstore.AppendResult{}, fmt.Errorf("%w: connection lost during COMMIT", eventstore.ErrUnavailable)
	}
	return res, err
}

func keyed(actor domain.Actor, key, digest string) Meta {
	return Meta{Actor: actor, IdempotencyKey: key, RequestDigest: digest}
}

// incidentsOpened counts the IncidentOpened events of a partner's stream.
func incidentsOpened(t *testing.T, store eventstore.Store, mpn string) []domain.IncidentOpened {
	t.Helper()
	var opened []domain.IncidentOpened
	for _, e := range readEvents(t, store, domain.PartnerStream(mpn)) {
		if o, ok := e.(domain.IncidentOpened); ok {
			opened = append(opened, o)
		}
	}
	return opened
}

// The known hazard the key removes: the first attempt was stored but its answer was
// lost (503 store_unavailable). Retried with its key, the command is answered as
// recorded, with the same incident, and the pool is drawn once, on every store.
func TestIdempotencyKeyRetryAfterALostAnswerRecordsTheIncidentOnce(t *testing.T) {
	for name, open := range everyStore(t) {
		t.Run(name, func(t *testing.T) {
			store := &lostAnswerStore{Store: open(t)}
			x := New(store, WithClock(func() time.Time { return now }))
			admin, contract := actionPackPartner(t, x, "4713001")
			ctx := context.Background()

			store.loseNextAnswer()
			_, err := x.Partner(ctx, "4713001", openIncident("4713001", admin, contract), keyed(admin, "retry-1", "digest-a"))
			if !errors.Is(err, eventstore.ErrUnavailable) {
				t.Fatalf("first attempt: %v, want the store's unavailable error", err)
			}
			stored := incidentsOpened(t, store, "4713001")
			if len(stored) != 1 {
				t.Fatalf("%d incidents stored by the first attempt, want the 1 whose answer was lost", len(stored))
			}

			out, err := x.Partner(ctx, "4713001", openIncident("4713001", admin, contract), keyed(admin, "retry-1", "digest-a"))
			if err != nil {
				t.Fatal(err)
			}
			if !out.Replayed || len(out.Events) != 1 || out.Events[0].(domain.IncidentOpened).IncidentID != stored[0].IncidentID {
				t.Fatalf("retry answered %+v (replayed %v), want the stored incident %s again", out.Events, out.Replayed, stored[0].IncidentID)
			}
			if after := incidentsOpened(t, store, "4713001"); len(after) != 1 {
				t.Fatalf("%d incidents after the retry, want 1", len(after))
			}
			if c, _ := out.State.Contract(contract, now); c.Pools[0].Used != 1 {
				t.Fatalf("pool used %d, want 1", c.Pools[0].Used)
			}
			if head := readRecorded(t, store, "4713001"); out.Position != head[len(head)-1].Position {
				t.Fatalf("replayed position %v, want the stored incident's %v", out.Position, head[len(head)-1].Position)
			}
		})
	}
}

func readRecorded(t *testing.T, store eventstore.Store, mpn string) []eventstore.RecordedEvent {
	t.Helper()
	recorded, err := store.ReadStream(context.Background(), domain.PartnerStream(mpn), eventstore.ReadStreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return recorded
}

// The key sent again with another request is refused and records nothing; without a
// key, or with a new one, the same request is a new command.
func TestIdempotencyKeyReusedForAnotherRequestIsRefused(t *testing.T) {
	store := stores(t)["sqlite"](t)
	x := New(store, WithClock(func() time.Time { return now }))
	admin, contract := actionPackPartner(t, x, "4713002")
	ctx := context.Background()
	if _, err := x.Partner(ctx, "4713002", openIncident("4713002", admin, contract), keyed(admin, "k", "digest-a")); err != nil {
		t.Fatal(err)
	}
	_, err := x.Partner(ctx, "4713002", openIncident("4713002", admin, contract), keyed(admin, "k", "digest-b"))
	if !errors.Is(err, ErrIdempotencyKeyReused) {
		t.Fatalf("key reused with another digest: %v, want ErrIdempotencyKeyReused", err)
	}
	if n := len(incidentsOpened(t, store, "4713002")); n != 1 {
		t.Fatalf("%d incidents after the refused reuse, want 1", n)
	}
	for _, meta := range []Meta{{Actor: admin}, keyed(admin, "k2", "digest-a")} {
		if out, err := x.Partner(ctx, "4713002", openIncident("4713002", admin, contract), meta); err != nil || out.Replayed {
			t.Fatalf("meta %+v: replayed %v, err %v; want a new incident", meta, out.Replayed, err)
		}
	}
	if n := len(incidentsOpened(t, store, "4713002")); n != 3 {
		t.Fatalf("%d incidents, want 3", n)
	}
}

// The keys travel with the events: another executor on the store (one whose kept state
// is behind, and a cold one starting from a snapshot taken after the keyed command)
// answers the key's retry as recorded instead of recording it again.
func TestIdempotencyKeyHoldsAcrossExecutorsAndFromASnapshot(t *testing.T) {
	store := stores(t)["sqlite"](t)
	ctx := context.Background()
	clock := WithClock(func() time.Time { return now })
	a := New(store, clock, WithSnapshotEvery(0)) // its snapshot is written below, when wanted
	admin, contract := actionPackPartner(t, a, "4713003")
	stale := New(store, clock)
	if _, _, err := stale.LoadPartner(ctx, "4713003"); err != nil { // kept before the keyed command
		t.Fatal(err)
	}
	first, err := a.Partner(ctx, "4713003", openIncident("4713003", admin, contract), keyed(admin, "across", "d"))
	if err != nil {
		t.Fatal(err)
	}
	keyedRevision := first.Revision
	for range 3 { // more commands, so the snapshot is taken past the keyed one
		if _, err := a.Partner(ctx, "4713003", openIncident("4713003", admin, contract), Meta{Actor: admin}); err != nil {
			t.Fatal(err)
		}
	}
	st, kept := a.states.lookup(domain.PartnerStream("4713003"))
	if !kept {
		t.Fatal("executor A keeps no state of the partner")
	}
	if err := a.writeSnapshot(ctx, domain.PartnerStream("4713003"), st); err != nil {
		t.Fatal(err)
	}
	if snap, found, err := store.(eventstore.SnapshotStore).LoadSnapshot(ctx, domain.PartnerStream("4713003")); err != nil || !found || snap.Revision <= keyedRevision {
		t.Fatalf("snapshot %+v found %v err %v: want one past revision %d", snap.Revision, found, err, keyedRevision)
	}
	want := first.Events[0].(domain.IncidentOpened).IncidentID
	for name, x := range map[string]*Executor{"stale": stale, "cold": New(store, clock)} {
		out, err := x.Partner(ctx, "4713003", openIncident("4713003", admin, contract), keyed(admin, "across", "d"))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !out.Replayed || out.Events[0].(domain.IncidentOpened).IncidentID != want || out.Revision != keyedRevision {
			t.Fatalf("%s executor answered %+v at revision %d, want incident %s at %d replayed", name, out.Events, out.Revision, want, keyedRevision)
		}
	}
	if n := len(incidentsOpened(t, store, "4713003")); n != 4 {
		t.Fatalf("%d incidents, want 4 (the keyed one once)", n)
	}
}

// The same key twice in one batch (a client retrying while its first attempt waits in
// the stream's queue): the first is recorded, the second answered as it, in one append.
func TestIdempotencyKeySentTwiceInOneBatchRecordsOnce(t *testing.T) {
	gated := &interleavingStore{Store: stores(t)["sqlite"](t)}
	x := New(gated, WithClock(func() time.Time { return now }))
	admin, contract := actionPackPartner(t, x, "4713004")
	ctx := context.Background()
	stream := domain.PartnerStream("4713004")
	held, release := gated.holdNextAppend()
	blocker := make(chan error, 1)
	go func() {
		_, err := x.Partner(ctx, "4713004", openIncident("4713004", admin, contract), Meta{Actor: admin})
		blocker <- err
	}()
	testkit.Eventually(t, "the first command is appending", closed(held))
	answers := make([]chan answer, 2)
	for i := range answers {
		answers[i] = make(chan answer, 1)
		go func() {
			out, err := x.Partner(ctx, "4713004", openIncident("4713004", admin, contract), keyed(admin, "twice", "d"))
			answers[i] <- answer{out, err}
		}()
		testkit.Eventually(t, "the keyed command waits in the queue", func() bool { return x.queued(stream) == i+1 })
	}
	release()
	if err := <-blocker; err != nil {
		t.Fatal(err)
	}
	a, b := <-answers[0], <-answers[1]
	if a.err != nil || b.err != nil {
		t.Fatalf("errors %v, %v", a.err, b.err)
	}
	if a.out.Replayed || !b.out.Replayed || a.out.Position != b.out.Position ||
		a.out.Events[0].(domain.IncidentOpened).IncidentID != b.out.Events[0].(domain.IncidentOpened).IncidentID {
		t.Fatalf("answers %+v / %+v: want the second to replay the first", a.out, b.out)
	}
	if n := len(incidentsOpened(t, gated, "4713004")); n != 2 {
		t.Fatalf("%d incidents, want 2 (the blocker's and the keyed one once)", n)
	}
}

// Publishing rules is keyed the same way: a lost answer's retry is answered as the
// version published, where without the key it would be refused as a conflict.
func TestIdempotencyKeyRetryOfARulesPublicationIsAnsweredAsPublished(t *testing.T) {
	store := &lostAnswerStore{Store: stores(t)["sqlite"](t)}
	x := New(store, WithClock(func() time.Time { return now }))
	ctx := context.Background()
	book, err := x.RuleBook(ctx)
	if err != nil {
		t.Fatal(err)
	}
	next := book.Latest()
	next.Version++
	next.EffectiveFrom = now.Add(time.Hour)
	cmd := domain.PublishRules{By: platform, Rules: next}
	store.loseNextAnswer()
	if _, err := x.Rules(ctx, cmd, keyed(platform, "rules-1", "d")); !errors.Is(err, eventstore.ErrUnavailable) {
		t.Fatalf("first attempt: %v", err)
	}
	out, err := x.Rules(ctx, cmd, keyed(platform, "rules-1", "d"))
	if err != nil {
		t.Fatal(err)
	}
	if !out.Replayed || len(out.Events) != 1 || out.Events[0].(domain.RulesPublished).Rules.Version != next.Version {
		t.Fatalf("retry answered %+v, want version %d replayed", out, next.Version)
	}
	if _, err := x.Rules(ctx, cmd, Meta{Actor: platform}); err == nil {
		t.Fatal("the same version without the key was published again")
	}
}

// A stream remembers the keys of at least its last KeptIdempotencyKeys keyed commands
// (at most a chunk more), within IdempotencyKeyLifetime of its latest: a retry past
// either is a new command. A window never changes once made.
func TestIdempotencyKeysAreKeptWithinTheirBounds(t *testing.T) {
	var w idempotencyKeys
	add := func(w idempotencyKeys, key string, rev int, at time.Time) idempotencyKeys {
		return w.with(keptKey{Key: key, First: uint64(rev), Last: uint64(rev), RecordedAt: at})
	}
	for i := range KeptIdempotencyKeys {
		w = add(w, fmt.Sprint("k", i), i, now)
	}
	before := w
	for _, k := range []string{"k0", fmt.Sprint("k", KeptIdempotencyKeys-1)} {
		if _, ok := w.find(k); !ok {
			t.Fatalf("%s forgotten within the bound", k)
		}
	}
	for i := range maxSealedChunks*keyChunk + keyChunk {
		w = add(w, fmt.Sprint("more", i), KeptIdempotencyKeys+i, now)
	}
	if _, ok := w.find("k0"); ok {
		t.Fatal("k0 still found after more than the bound's keys")
	}
	if n := len(w.list()); n < KeptIdempotencyKeys || n > KeptIdempotencyKeys+2*keyChunk {
		t.Fatalf("%d keys kept, want %d to %d", n, KeptIdempotencyKeys, KeptIdempotencyKeys+2*keyChunk)
	}
	if _, ok := before.find("k0"); !ok {
		t.Fatal("an older window changed when a newer one was made")
	}
	later := add(w, "late", 10_000, now.Add(IdempotencyKeyLifetime+time.Second))
	if _, ok := later.find("more0"); ok || len(later.list()) != 1 {
		t.Fatalf("%d keys kept a lifetime later, want only the new one", len(later.list()))
	}
	restored := keysOf(w.list())
	if !slices.Equal(restored.list(), w.list()) {
		t.Fatal("the window read back from its list (a snapshot) differs")
	}
	merged := idempotencyKeys{}.with(keptKey{Key: "m", First: 7, Last: 7, RecordedAt: now}, keptKey{Key: "m", First: 8, Last: 8, RecordedAt: now})
	if k, _ := merged.find("m"); len(merged.list()) != 1 || k.First != 7 || k.Last != 8 {
		t.Fatalf("a command's two events read back as %+v, want one key over revisions 7..8", merged.list())
	}
}

// A replay shows the partner's data without deciding anything: it is answered only to a
// caller who may read the partner (domain.CanRead), whoever sent the key first.
func TestIdempotencyKeyReplayIsAnsweredOnlyToWhomMayReadThePartner(t *testing.T) {
	store := stores(t)["sqlite"](t)
	x := New(store, WithClock(func() time.Time { return now }))
	admin, contract := actionPackPartner(t, x, "4713005")
	ctx := context.Background()
	if _, err := x.Partner(ctx, "4713005", openIncident("4713005", admin, contract), keyed(admin, "shared", "d")); err != nil {
		t.Fatal(err)
	}
	stranger := domain.Actor{UserID: "stranger@elsewhere"}
	_, err := x.Partner(ctx, "4713005", openIncident("4713005", stranger, contract), keyed(stranger, "shared", "d"))
	var refusal *domain.Error
	if !errors.As(err, &refusal) || refusal.Code != domain.CodeNotAuthorized {
		t.Fatalf("a stranger's replay: %v, want not_authorized", err)
	}
	if out, err := x.Partner(ctx, "4713005", openIncident("4713005", admin, contract), keyed(admin, "shared", "d")); err != nil || !out.Replayed {
		t.Fatalf("the admin's own retry: replayed %v, err %v", out.Replayed, err)
	}
	if n := len(incidentsOpened(t, store, "4713005")); n != 1 {
		t.Fatalf("%d incidents, want 1", n)
	}
}
