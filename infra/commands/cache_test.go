package commands

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"ledger/domain"
	"ledger/infra/eventmeta"
	"ledger/infra/eventstore"
	"ledger/infra/sqlstore"
	"ledger/infra/testkit"
)

// interleavingStore lets another writer in just before one append: the executor's
// state is then stale at the moment it appends, as when another process wins a race.
type interleavingStore struct {
	eventstore.Store
	mu           sync.Mutex
	beforeAppend func()
}

func (s *interleavingStore) Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	s.mu.Lock()
	before := s.beforeAppend
	s.beforeAppend = nil
	s.mu.Unlock()
	if before != nil {
		before()
	}
	return s.Store.Append(ctx, stream, expected, events...)
}

// holdNextAppend makes the next append wait until release is called; held is closed
// once that append has begun. Waiting on held, not on the queue's flags, is what tells
// a test that a command is in its append: the flags of the drain before it can still
// read "draining, nothing queued" just after that drain's last answer.
func (s *interleavingStore) holdNextAppend() (held <-chan struct{}, release func()) {
	h, r := make(chan struct{}), make(chan struct{})
	s.mu.Lock()
	s.beforeAppend = func() { close(h); <-r }
	s.mu.Unlock()
	return h, func() { close(r) }
}

func openIncident(mpn string, admin domain.Actor, contract string) domain.OpenIncident {
	return domain.OpenIncident{MPNID: mpn, By: admin, Plan: domain.PlanProductSupport, Product: "SQL Server", Version: "2025", Title: "slow", ContractID: contract}
}

// Guarantee 1 across processes: executor B decides on a state that executor A's append
// made stale; B's append is refused, B reads what it missed and decides again, so the
// pool's last incident is drawn once and no update is lost.
func TestStaleCacheIsCorrectedByTheOtherExecutorsAppend(t *testing.T) {
	store := stores(t)["sqlite"](t)
	ctx := context.Background()
	clock := WithClock(func() time.Time { return now })
	a := New(store, clock)
	admin, contract := actionPackPartner(t, a, "4712001")
	for range 9 { // 9 of the pool of 10
		if _, err := a.Partner(ctx, "4712001", openIncident("4712001", admin, contract), Meta{Actor: admin}); err != nil {
			t.Fatal(err)
		}
	}
	racing := &interleavingStore{Store: store}
	b := New(racing, clock)
	if _, _, err := b.LoadPartner(ctx, "4712001"); err != nil { // B keeps the state with 1 left
		t.Fatal(err)
	}
	var aOut Outcome
	var aErr error
	racing.beforeAppend = func() { // A takes the last incident between B's decision and B's append
		aOut, aErr = a.Partner(ctx, "4712001", openIncident("4712001", admin, contract), Meta{Actor: admin})
	}
	_, bErr := b.Partner(ctx, "4712001", openIncident("4712001", admin, contract), Meta{Actor: admin})
	if aErr != nil || len(aOut.Events) != 1 {
		t.Fatalf("A's command: %d events, err %v", len(aOut.Events), aErr)
	}
	var de *domain.Error
	if !errors.As(bErr, &de) || de.Code != domain.CodePoolExhausted {
		t.Fatalf("B's command on the stale state: %v, want pool_exhausted after reading A's append", bErr)
	}
	fresh := domain.FoldDeciding(readEvents(t, store, domain.PartnerStream("4712001")))
	for name, x := range map[string]*Executor{"A": a, "B": b} {
		kept, _, err := x.LoadPartner(ctx, "4712001")
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(kept, fresh) {
			t.Fatalf("executor %s keeps a state other than the stream's", name)
		}
	}
	if c, _ := fresh.Contract(contract, now); c.Pools[0].Used != 10 || fresh.IncidentCount != 10 {
		t.Fatalf("pool %+v, %d incidents: want exactly 10 drawn", c.Pools[0], fresh.IncidentCount)
	}
}

// A snapshot written by code of another state version is ignored: the state is folded
// from the events. One of the current version is used (the control: it is read at all).
func TestSnapshotOfAnotherVersionIsIgnored(t *testing.T) {
	store := stores(t)["sqlite"](t)
	snaps := store.(eventstore.SnapshotStore)
	ctx := context.Background()
	x := New(store, WithClock(func() time.Time { return now }), WithSnapshotEvery(0))
	actionPackPartner(t, x, "4712002")
	stream := domain.PartnerStream("4712002")
	real, position, err := x.LoadPartner(ctx, "4712002")
	if err != nil {
		t.Fatal(err)
	}
	recorded := readEvents(t, store, stream)
	forged := real
	forged.Name = "Forged by an old snapshot"
	data := mustJSON(t, snapshotData{Position: position, LastHash: eventmeta.GenesisHash, Partner: forged})
	last := uint64(len(recorded) - 1)
	for _, version := range []int{domain.PartnerSnapshotVersion - 1, domain.PartnerSnapshotVersion + 1} {
		if err := snaps.SaveSnapshot(ctx, eventstore.Snapshot{Stream: stream, Revision: last, Version: version, Data: data}); err != nil {
			t.Fatal(err)
		}
		cold, _, err := New(store).LoadPartner(ctx, "4712002")
		if err != nil {
			t.Fatal(err)
		}
		if cold.Name != "Contoso" || !reflect.DeepEqual(cold, real) {
			t.Fatalf("a snapshot of version %d was trusted: name %q", version, cold.Name)
		}
	}
	if err := snaps.SaveSnapshot(ctx, eventstore.Snapshot{Stream: stream, Revision: last, Version: domain.PartnerSnapshotVersion, Data: data}); err != nil {
		t.Fatal(err)
	}
	if cold, _, _ := New(store).LoadPartner(ctx, "4712002"); cold.Name != forged.Name {
		t.Fatalf("a snapshot of the current version was not used: name %q", cold.Name)
	}
}

// A snapshot of version 3 holds every incident whole (before the executor kept closed
// ones compacted): a process of this version ignores it and folds the stream into a
// deciding state, and decides on it; the snapshot it then writes is of its own version
// and kind.
func TestSnapshotOfWholeIncidentsIsRefoldedIntoADecidingState(t *testing.T) {
	store := stores(t)["sqlite"](t)
	snaps := store.(eventstore.SnapshotStore)
	ctx := context.Background()
	clock := WithClock(func() time.Time { return now })
	const mpn = "4712009"
	x := New(store, clock, WithSnapshotEvery(0))
	admin, contract := actionPackPartner(t, x, mpn)
	for range 3 {
		if _, err := x.Partner(ctx, mpn, openIncident(mpn, admin, contract), Meta{Actor: admin}); err != nil {
			t.Fatal(err)
		}
	}
	closing := domain.CloseIncident{MPNID: mpn, By: admin, IncidentID: domain.IncidentID(mpn, 2), Resolution: "fixed"}
	if _, err := x.Partner(ctx, mpn, closing, Meta{Actor: admin}); err != nil {
		t.Fatal(err)
	}
	stream := domain.PartnerStream(mpn)
	recorded := readEvents(t, store, stream)
	old := domain.Fold(recorded) // the state as version 3 kept it: every incident whole
	old.Name = "Forged by a version 3 snapshot"
	_, position, _ := x.LoadPartner(ctx, mpn)
	data := mustJSON(t, snapshotData{Position: position, LastHash: eventmeta.GenesisHash, Partner: old})
	if err := snaps.SaveSnapshot(ctx, eventstore.Snapshot{Stream: stream, Revision: uint64(len(recorded) - 1), Version: 3, Data: data}); err != nil {
		t.Fatal(err)
	}
	cold := New(store, clock, WithSnapshotEvery(1))
	t.Cleanup(func() { cold.Close() })
	out, err := cold.Partner(ctx, mpn, closing, Meta{Actor: admin}) // closing a closed incident: nothing
	if err != nil || len(out.Events) != 0 {
		t.Fatalf("closing the closed incident again: %d events, %v", len(out.Events), err)
	}
	if want := domain.FoldDeciding(recorded); out.State.Name != "Contoso" || !reflect.DeepEqual(out.State, want) {
		t.Fatalf("the version 3 snapshot was trusted (name %q), or the state is not the deciding fold", out.State.Name)
	}
	stranger := domain.Actor{UserID: "stranger"}
	if _, err := cold.Partner(ctx, mpn, domain.CloseIncident{MPNID: mpn, By: stranger, IncidentID: closing.IncidentID}, Meta{Actor: stranger}); !errors.Is(err, &domain.Error{Code: domain.CodeNotAuthorized}) {
		t.Fatalf("a stranger closing the closed incident: %v, want not_authorized", err)
	}
	if _, err := cold.Partner(ctx, mpn, openIncident(mpn, admin, contract), Meta{Actor: admin}); err != nil { // an append: a snapshot is due
		t.Fatal(err)
	}
	testkit.Eventually(t, "a snapshot of this version replaces the old one", func() bool {
		snap, found, err := snaps.LoadSnapshot(ctx, stream)
		return err == nil && found && snap.Version == domain.PartnerSnapshotVersion
	})
	snap, _, _ := snaps.LoadSnapshot(ctx, stream)
	if read, err := decodeSnapshot(snap.Data); err != nil || !reflect.DeepEqual(read.Partner, domain.FoldDeciding(readEvents(t, store, stream))) {
		t.Fatalf("the new snapshot is not the deciding state: %v", err)
	}
}

// Snapshots are written every N events, and a process starting cold decides on the
// snapshot plus the events after it, continuing the hash chain.
func TestColdExecutorContinuesFromTheSnapshot(t *testing.T) {
	store := stores(t)["sqlite"](t)
	ctx := context.Background()
	clock := WithClock(func() time.Time { return now })
	x := New(store, clock, WithSnapshotEvery(3))
	admin, contract := actionPackPartner(t, x, "4712003")
	testkit.Eventually(t, "a snapshot is saved after 3 events", func() bool {
		snap, found, err := store.(eventstore.SnapshotStore).LoadSnapshot(ctx, domain.PartnerStream("4712003"))
		if err != nil {
			t.Fatal(err)
		}
		return found && snap.Revision >= 2
	})
	if _, err := New(store, clock).Partner(ctx, "4712003", openIncident("4712003", admin, contract), Meta{Actor: admin}); err != nil {
		t.Fatal(err)
	}
	prev := eventmeta.GenesisHash
	recorded, _ := store.ReadStream(ctx, domain.PartnerStream("4712003"), eventstore.ReadStreamOptions{})
	for _, r := range recorded {
		found, computed, prevHash, err := eventmeta.Check(r.Type, r.Data, r.Metadata, r.Revision)
		if err != nil || found != computed || prevHash != prev {
			t.Fatalf("revision %d breaks the hash chain (err %v)", r.Revision, err)
		}
		prev = found
	}
}

// Commands waiting together on one stream are decided in order and appended in ONE
// append, yet each gets its own outcome, its own causation ID and its own refusal; a
// refused command in the middle adds nothing.
func TestCommandsWaitingOnOneStreamAreAppendedTogether(t *testing.T) {
	base := stores(t)["sqlite"](t).(*sqlstore.Store)
	ctx := context.Background()
	gated := &interleavingStore{Store: base}
	x := New(gated, WithClock(func() time.Time { return now }))
	admin, contract := actionPackPartner(t, x, "4712004")
	stream := domain.PartnerStream("4712004")
	commands := []domain.Command{
		openIncident("4712004", admin, contract),
		openIncident("4712004", admin, contract),
		domain.OpenIncident{MPNID: "4712004", By: admin, Plan: domain.PlanProductSupport, Product: "Exchange Server", Version: "2016", ContractID: contract},
		openIncident("4712004", admin, contract),
	}
	first := make(chan answer, 1)
	held, release := gated.holdNextAppend() // the first command's append waits
	go func() {
		out, err := x.Partner(ctx, "4712004", domain.RegisterUser{MPNID: "4712004", By: platform, UserID: "member@4712004", AccountType: domain.AccountAAD}, Meta{Actor: platform})
		first <- answer{out, err}
	}()
	testkit.Eventually(t, "the first command is appending", closed(held))
	answers := make([]chan answer, len(commands))
	for i, c := range commands {
		answers[i] = make(chan answer, 1)
		go func() {
			out, err := x.Partner(ctx, "4712004", c, Meta{Actor: admin, CorrelationID: "together"})
			answers[i] <- answer{out, err}
		}()
		testkit.Eventually(t, "the command waits in the queue", func() bool { return x.queued(stream) == i+1 })
	}
	before := base.Stats().Appends
	release()
	if a := <-first; a.err != nil {
		t.Fatal(a.err)
	}
	got := make([]answer, len(commands))
	for i := range commands {
		got[i] = <-answers[i]
	}
	if appends := base.Stats().Appends - before; appends != 2 {
		t.Fatalf("%d appends for the first command and the 4 waiting together, want 2", appends)
	}
	var de *domain.Error
	if !errors.As(got[2].err, &de) || de.Code != domain.CodeProductNotEligible || len(got[2].out.Events) != 0 {
		t.Fatalf("the command in the middle: %v, want its own refusal", got[2].err)
	}
	var incidents []string
	for _, i := range []int{0, 1, 3} {
		if got[i].err != nil || len(got[i].out.Events) != 1 {
			t.Fatalf("command %d: %d events, err %v", i, len(got[i].out.Events), got[i].err)
		}
		incidents = append(incidents, got[i].out.Events[0].(domain.IncidentOpened).IncidentID)
	}
	if want := []string{domain.IncidentID("4712004", 1), domain.IncidentID("4712004", 2), domain.IncidentID("4712004", 3)}; !slices.Equal(incidents, want) {
		t.Fatalf("incidents %v, want %v in arrival order", incidents, want)
	}
	recorded, _ := base.ReadStream(ctx, stream, eventstore.ReadStreamOptions{From: got[0].out.Revision})
	causes := map[string]bool{}
	for _, r := range recorded {
		m, _ := eventmeta.Parse(r.Metadata)
		causes[m.CausationID] = true
	}
	if len(recorded) != 3 || len(causes) != 3 {
		t.Fatalf("%d events stored with %d causation IDs, want 3 and 3 (one per accepted command)", len(recorded), len(causes))
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// queued is how many commands wait in the stream's queue (for tests).
func (x *Executor) queued(stream string) int {
	x.queuesMu.Lock()
	defer x.queuesMu.Unlock()
	if q := x.queues[stream]; q != nil {
		return len(q.pending)
	}
	return 0
}

// closed is a condition for testkit.Eventually: c has been closed.
func closed(c <-chan struct{}) func() bool {
	return func() bool {
		select {
		case <-c:
			return true
		default:
			return false
		}
	}
}

// panickingIDs fails the way a broken ID source would.
type panickingIDs struct{}

func (panickingIDs) NewAccessID() string             { panic("ID source broken") }
func (panickingIDs) NewContractID(mpn string) string { panic("ID source broken") }

// A decision that panics in the stream's queue is answered as an error (not a crash of
// the process), stores nothing, and the stream's next command is decided as usual.
func TestPanickingDecisionIsAnsweredAndTheStreamGoesOn(t *testing.T) {
	store := stores(t)["sqlite"](t)
	ctx := context.Background()
	x := New(store, WithClock(func() time.Time { return now }), WithIDs(panickingIDs{}), WithLogger(slog.New(slog.DiscardHandler)))
	mpn := "4712005"
	admin := domain.Actor{UserID: "admin@" + mpn}
	for _, c := range []domain.Command{
		domain.EnrollPartner{MPNID: mpn, By: platform, Name: "Contoso"},
		domain.GrantMembership{MPNID: mpn, By: platform, Level: domain.LevelActionPack, ValidFrom: now.AddDate(0, -1, 0), ValidUntil: now.AddDate(1, 0, 0)},
		domain.RegisterUser{MPNID: mpn, By: platform, UserID: admin.UserID, AccountType: domain.AccountAAD, MPNLinked: true, Roles: []domain.Role{domain.RoleGlobalAdmin}},
	} {
		if _, err := x.Partner(ctx, mpn, c, Meta{Actor: c.(domain.PartnerCommand).Actor()}); err != nil {
			t.Fatal(err)
		}
	}
	head, _ := store.Head(ctx)
	if _, err := x.Partner(ctx, mpn, domain.ActivateBenefit{MPNID: mpn, By: admin}, Meta{Actor: admin}); !errors.Is(err, ErrDecisionFailed) {
		t.Fatalf("activation with a broken ID source: %v, want ErrDecisionFailed", err)
	}
	if after, _ := store.Head(ctx); after != head {
		t.Fatalf("a failed decision stored events: head %v -> %v", head, after)
	}
	out, err := x.Partner(ctx, mpn, domain.PurchaseSupportPlan{MPNID: mpn, By: admin, Plan: domain.PlanPremier, ValidUntil: now.AddDate(1, 0, 0)}, Meta{Actor: admin})
	if err != nil || len(out.Events) != 1 {
		t.Fatalf("the next command on the stream: %d events, %v", len(out.Events), err)
	}
}

// Snapshots come every N events, but a long history waits for a tenth of itself, so the
// work of encoding a state that grows with history stays flat per command.
func TestSnapshotsOfALongHistoryAreSpacedByATenthOfIt(t *testing.T) {
	x := New(stores(t)["sqlite"](t), WithSnapshotEvery(1000))
	at := func(last, snapshotNext uint64) streamState {
		return streamState{streamHead: streamHead{exists: true, revision: last}, snapshotNext: snapshotNext}
	}
	for _, c := range []struct {
		last, snapshotNext uint64
		due                bool
	}{
		{998, 0, false}, {999, 0, true}, // 1,000 events, no snapshot yet
		{2999, 2000, true},                              // a short history: every 1,000
		{50_999, 50_000, false}, {54_999, 50_000, true}, // 50,000 events: every 5,000
	} {
		if got := x.snapshotDue(at(c.last, c.snapshotNext)); got != c.due {
			t.Errorf("last revision %d, snapshot up to %d: due %v, want %v", c.last, c.snapshotNext, got, c.due)
		}
	}
}

// On a hot stream a snapshot finishes after newer commands have moved the cached state
// on. It must still count as saved: otherwise the cached state stays "due" and every
// batch starts another encoding of the whole, growing state (under one hot partner that
// was 46% of the server's CPU, issue 10).
func TestSnapshotSavedBehindTheCachedStateStillCountsAsSaved(t *testing.T) {
	x := New(stores(t)["sqlite"](t), WithSnapshotEvery(4))
	const stream = "partner-5100009"
	at := func(last uint64) streamState {
		return streamState{streamHead: streamHead{exists: true, revision: last}}
	}
	x.states.put(stream, at(9)) // the commands went on while revision 7 was encoded
	x.saveSnapshot(context.Background(), stream, at(7))
	cached, _ := x.states.lookup(stream)
	if cached.revision != 9 {
		t.Fatalf("the cached state went back to revision %d", cached.revision)
	}
	if x.snapshotDue(cached) {
		t.Fatalf("a snapshot up to revision 7 is stored, the cache holds revision 9, every 4 events: due again (snapshot next %d)", cached.snapshotNext)
	}
	next := at(10) // a state decided on the cache before it heard of the snapshot
	x.states.put(stream, next)
	if cached, _ = x.states.lookup(stream); x.snapshotDue(cached) {
		t.Fatalf("a newer state put without the snapshot's mark made it due again (snapshot next %d)", cached.snapshotNext)
	}
}
