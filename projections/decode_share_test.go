package projections

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"ledger/domain"
	"ledger/infra/eventstore"
	"ledger/infra/privacy"
)

// countingOpener is the real crypto-shredding of personal data, counting how often an
// event's personal data is opened: once per decode of such an event.
type countingOpener struct {
	*privacy.Shredder
	opens atomic.Int64
}

func (c *countingOpener) Open(typ string, fields []string, data []byte) ([]byte, error) {
	c.opens.Add(1)
	return c.Shredder.Open(typ, fields, data)
}

// usePersonalData seals and opens personal data through the event store's keys for the
// rest of the test, counting the opens.
func usePersonalData(t *testing.T, h *harness) *countingOpener {
	t.Helper()
	keys, err := privacy.OpenKeys(context.Background(), h.store.DB())
	if err != nil {
		t.Fatal(err)
	}
	c := &countingOpener{Shredder: privacy.NewShredder(keys)}
	t.Cleanup(domain.UsePersonalData(c))
	return c
}

// appendEnrolments appends n PartnerEnrolled events, enrolled by by, as the API stores
// them (personal data sealed).
func (h *harness) appendEnrolments(n int, by string) eventstore.Position {
	h.t.Helper()
	var last eventstore.Position
	for i := range n {
		mpn := fmt.Sprintf("MPN%d", i)
		typ, data, err := domain.Encode(domain.PartnerEnrolled{MPNID: mpn, Name: "Partner " + mpn, EnrolledBy: by})
		if err != nil {
			h.t.Fatal(err)
		}
		res, err := h.store.Append(context.Background(), "partner-"+mpn, eventstore.Any(),
			eventstore.EventData{ID: uuid.NewString(), Type: typ, Data: data})
		if err != nil {
			h.t.Fatalf("append: %v", err)
		}
		last = res.Position
	}
	return last
}

// enrolmentRecorder is a read model that folds PartnerEnrolled events the way the five
// read models do (typesOf(...).decode) and keeps what it folded; refuse, when set,
// makes its handler fail on a batch holding that partner.
type enrolmentRecorder struct {
	name   string
	refuse string
	mu     sync.Mutex
	folded []domain.PartnerEnrolled
}

func (e *enrolmentRecorder) Name() string     { return e.name }
func (e *enrolmentRecorder) Version() int     { return 1 }
func (e *enrolmentRecorder) Tables() []string { return []string{e.name + "_rows"} }

func (e *enrolmentRecorder) Create(ctx context.Context, db bun.IDB, t Tables) error {
	_, err := db.NewRaw("CREATE TABLE ? (n INTEGER)", t.Ident(e.name+"_rows")).Exec(ctx)
	return err
}

func (e *enrolmentRecorder) Apply(ctx context.Context, _ bun.Tx, _ Tables, batch []eventstore.RecordedEvent) error {
	events, err := typesOf(domain.PartnerEnrolled{}).decode(ctx, batch)
	if err != nil {
		return err
	}
	var got []domain.PartnerEnrolled
	for _, d := range events {
		pe := d.event.(domain.PartnerEnrolled)
		if e.refuse != "" && pe.MPNID == e.refuse {
			return fmt.Errorf("%s refuses %s", e.name, pe.MPNID)
		}
		got = append(got, pe)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.folded = append(e.folded, got...)
	return nil
}

func (e *enrolmentRecorder) foldedEvents() []domain.PartnerEnrolled {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]domain.PartnerEnrolled(nil), e.folded...)
}

func TestEveryReadModelOfAProcessFoldsTheSameEventDecodedOnce(t *testing.T) {
	h := newHarness(t, "sqlite", t.TempDir()+"/read.db")
	opener := usePersonalData(t, h)
	h.runForwarder()
	left, right := &enrolmentRecorder{name: "left"}, &enrolmentRecorder{name: "right"}
	r := h.runner(nil, left, right)
	h.background("runner", r.Run)
	const n = 40
	head := h.appendEnrolments(n, "alice@example.com")
	h.waitFor(r.Checkpoints(), left.Name(), head)
	h.waitFor(r.Checkpoints(), right.Name(), head)

	l, rt := left.foldedEvents(), right.foldedEvents()
	if len(l) != n || !reflect.DeepEqual(l, rt) {
		t.Fatalf("left folded %d events, right %d; want the same %d", len(l), len(rt), n)
	}
	if l[0].EnrolledBy != "alice@example.com" {
		t.Fatalf("folded enrolledBy %q, want the opened plaintext", l[0].EnrolledBy)
	}
	// The forwarder and the store decode nothing: every open is a read model's decode.
	if got := opener.opens.Load(); got != n {
		t.Fatalf("personal data opened %d times for %d events folded by 2 read models; want once per event", got, n)
	}
}

func TestAReadModelWhoseHandlerFailsDoesNotTakeTheEventFromTheOthers(t *testing.T) {
	h := newHarness(t, "sqlite", t.TempDir()+"/read.db")
	usePersonalData(t, h)
	h.runForwarder()
	refusing := &enrolmentRecorder{name: "refusing", refuse: "MPN3"}
	healthy := &enrolmentRecorder{name: "healthy"}
	r := h.runner(nil, refusing, healthy)
	h.background("runner", r.Run)
	head := h.appendEnrolments(8, "bob@example.com")
	h.waitFor(r.Checkpoints(), refusing.Name(), head)
	h.waitFor(r.Checkpoints(), healthy.Name(), head)

	mpns := func(es []domain.PartnerEnrolled) string {
		var ids []string
		for _, e := range es {
			ids = append(ids, e.MPNID+"/"+e.EnrolledBy)
		}
		return strings.Join(ids, " ")
	}
	all := "MPN0/bob@example.com MPN1/bob@example.com MPN2/bob@example.com MPN3/bob@example.com " +
		"MPN4/bob@example.com MPN5/bob@example.com MPN6/bob@example.com MPN7/bob@example.com"
	if got := mpns(healthy.foldedEvents()); got != all {
		t.Fatalf("healthy read model folded %q, want every event: %q", got, all)
	}
	if got, want := mpns(refusing.foldedEvents()), strings.Replace(all, "MPN3/bob@example.com ", "", 1); got != want {
		t.Fatalf("refusing read model folded %q, want all but the refused one: %q", got, want)
	}
	st, err := r.Checkpoints().State(context.Background(), refusing.Name())
	if err != nil {
		t.Fatal(err)
	}
	if st.DeadLetters != 1 {
		t.Fatalf("refusing read model has %d dead letters, want the refused event", st.DeadLetters)
	}
}

func TestAfterAnErasureTheSharedDecodesReadTheSubjectAsErased(t *testing.T) {
	h := newHarness(t, "sqlite", t.TempDir()+"/read.db")
	opener := usePersonalData(t, h)
	head := h.appendEnrolments(1, "carol@example.com")
	var rec eventstore.RecordedEvent
	for ev, err := range h.store.ReadAll(context.Background(), eventstore.Start) {
		if err != nil {
			t.Fatal(err)
		}
		rec = ev
	}
	if rec.Position != head {
		t.Fatalf("read %s, appended %s", rec.Position, head)
	}
	shared := newSharedDecodes()
	shared.keep(&sharedEvent{rec: rec})
	before, err := shared.domainEvent(rec)
	if err != nil || before.(domain.PartnerEnrolled).EnrolledBy != "carol@example.com" {
		t.Fatalf("before the erasure: %+v, %v", before, err)
	}

	if _, err := opener.Keys().Erase(context.Background(), "carol@example.com"); err != nil {
		t.Fatal(err)
	}
	shared.forget()
	after, err := shared.domainEvent(rec)
	if err != nil {
		t.Fatal(err)
	}
	if by := after.(domain.PartnerEnrolled).EnrolledBy; strings.Contains(by, "carol") {
		t.Fatalf("after the erasure and forget the shared decode still reads enrolledBy %q", by)
	}
}
