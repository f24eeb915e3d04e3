// Package eventstoretest is the one contract every event-store adapter must pass
// (infra/sqlstore for SQLite and PostgreSQL, infra/esdbstore for EventStoreDB). An
// adapter's test calls Run with a constructor for a fresh store; each case is a named
// subtest, so a failure names the behaviour that broke.
//
// Every case writes to streams with names unique to that case and reads the global log
// from the head it saw before writing, so the suite also runs against a long-lived real
// server (make test-esdb), as long as nothing else writes to it at the same time.
package eventstoretest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"ledger/infra/eventstore"
)

// Bound is how long any case waits for something to happen before it fails. It is a
// hang detector, not a speed target: generous, because the race detector on a loaded
// 2-core machine made the 2,500-event case on EventStoreDB pass 5 s.
const Bound = 30 * time.Second

// Option narrows the contract for an adapter whose database cannot keep one of its
// promises at an acceptable cost; each option says why the promise can be dropped.
type Option func(*contract)

type contract struct {
	idsMayRepeatAcrossStreams bool
}

// IDsMayRepeatAcrossStreams drops the case "duplicate event ID in a different append is
// refused" when that different append is to another stream. EventStoreDB checks event
// ids only within the target stream (IndexWriter.CheckCommit) and has no multi-stream
// transaction in its v4 protocol, so refusing an id stored in another stream costs a
// second write per event (a claim stream per event id), doubling the cost of every
// append and filling the node with one stream per event. Nothing in the ledger needs
// the refusal there: event ids are fresh UUIDs, a re-sent append to the same stream is
// still idempotent (and a partly repeated one still refused), and the forwarder
// deduplicates NATS messages by the event's position in the global log, which is
// unique, not by its id.
func IDsMayRepeatAcrossStreams() Option {
	return func(c *contract) { c.idsMayRepeatAcrossStreams = true }
}

const duplicateIDCase = "duplicate event ID in a different append is refused, nothing stored"

// Run runs every contract case as subtests; newStore returns a fresh, empty store
// (cleaned up with t.Cleanup).
func Run(t *testing.T, newStore func(t *testing.T) eventstore.Store, opts ...Option) {
	var cfg contract
	for _, o := range opts {
		o(&cfg)
	}
	cases := []struct {
		name string
		run  func(t *testing.T, s eventstore.Store)
	}{
		{"expected revision: each kind accepts and refuses", expectedRevisionKinds},
		{"expected revision: concurrent appends at one revision, exactly one wins", concurrentExactAppends},
		{"idempotent re-append of the same IDs returns the same result, no duplicates", idempotentReappend},
		{"guarded append: stored only while the guarded stream is where it expects", guardedAppends},
		{"guarded appends racing the guarded stream are never stored after it moved", guardedAppendsRacingTheGuardedStream},
		{duplicateIDCase, duplicateIDRefused},
		{"revisions start at 0 and the result names the last event", revisionsFromZero},
		{"read stream forwards and backwards with from and limit", readStreamFromLimit},
		{"read of a missing stream is empty, not an error", missingStreamReadsEmpty},
		{"global log keeps append order across streams", globalOrderAcrossStreams},
		{"ReadAll start position is exclusive", readAllExclusiveStart},
		{"ReadAll streams more events than one internal page", readAllManyPages},
		{"Head is Start when empty, then the last appended position", head},
		{"data and metadata bytes round-trip with RecordedAt", dataRoundTrip},
		{"Subscribe: history, exactly one CaughtUp, then live events", subscribeCatchUpThenLive},
		{"Subscribe start position is exclusive", subscribeExclusiveStart},
		{"Subscribe stops on context cancel and returns nil", subscribeStopsOnCancel},
		{"Subscribe returns the handler's error", subscribeReturnsHandlerError},
		{"snapshots: the latest per stream is kept, beside the log, never in it", snapshotsBesideTheLog},
	}
	for _, c := range cases {
		if c.name == duplicateIDCase && cfg.idsMayRepeatAcrossStreams {
			continue // not this adapter's promise: IDsMayRepeatAcrossStreams says why
		}
		t.Run(c.name, func(t *testing.T) { c.run(t, newStore(t)) })
	}
}

// --- helpers ---

// names gives stream names unique to one case, so shared servers do not mix cases up.
type names struct{ prefix string }

func newNames() names                  { return names{prefix: "contract-" + uuid.NewString()[:8] + "-"} }
func (n names) stream(s string) string { return n.prefix + s }
func (n names) owns(stream string) bool {
	return strings.HasPrefix(stream, n.prefix)
}

// events makes n events of type typ whose data says which stream and index they are.
func events(n int, label string) []eventstore.EventData {
	out := make([]eventstore.EventData, n)
	for i := range out {
		out[i] = eventstore.EventData{
			ID:       uuid.NewString(),
			Type:     "ContractTested",
			Data:     fmt.Appendf(nil, `{"label":%q,"i":%d}`, label, i),
			Metadata: []byte(`{"actor":"contract-suite"}`),
		}
	}
	return out
}

func bounded(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), Bound)
	t.Cleanup(cancel)
	return ctx
}

func mustAppend(t *testing.T, s eventstore.Store, stream string, exp eventstore.ExpectedRevision, evs ...eventstore.EventData) eventstore.AppendResult {
	t.Helper()
	res, err := s.Append(bounded(t), stream, exp, evs...)
	if err != nil {
		t.Fatalf("append %d events to %s at %s: %v", len(evs), stream, exp, err)
	}
	return res
}

func mustRead(t *testing.T, s eventstore.Store, stream string, opts eventstore.ReadStreamOptions) []eventstore.RecordedEvent {
	t.Helper()
	evs, err := s.ReadStream(bounded(t), stream, opts)
	if err != nil {
		t.Fatalf("read %s %+v: %v", stream, opts, err)
	}
	return evs
}

func mustHead(t *testing.T, s eventstore.Store) eventstore.Position {
	t.Helper()
	p, err := s.Head(bounded(t))
	if err != nil {
		t.Fatalf("head: %v", err)
	}
	return p
}

// readAll collects the global log after from, keeping only this case's streams.
func readAll(t *testing.T, s eventstore.Store, from eventstore.Position, n names) []eventstore.RecordedEvent {
	t.Helper()
	var out []eventstore.RecordedEvent
	for ev, err := range s.ReadAll(bounded(t), from) {
		if err != nil {
			t.Fatalf("ReadAll from %s: %v", from, err)
		}
		if n.owns(ev.Stream) {
			out = append(out, ev)
		}
	}
	return out
}

func revisions(evs []eventstore.RecordedEvent) []uint64 {
	out := make([]uint64, len(evs))
	for i, e := range evs {
		out[i] = e.Revision
	}
	return out
}

func ids(evs []eventstore.RecordedEvent) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}

func dataIDs(evs []eventstore.EventData) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}

func equal[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// inPositionOrder fails unless positions strictly increase.
func inPositionOrder(t *testing.T, evs []eventstore.RecordedEvent) {
	t.Helper()
	for i := 1; i < len(evs); i++ {
		if !evs[i-1].Position.Less(evs[i].Position) {
			t.Fatalf("event %d at %s does not come after event %d at %s", i, evs[i].Position, i-1, evs[i-1].Position)
		}
	}
}

// wantWrongRevision fails unless err is a *WrongExpectedRevisionError for stream
// that reports the given actual state.
func wantWrongRevision(t *testing.T, err error, stream string, exp eventstore.ExpectedRevision, exists bool, actual uint64) {
	t.Helper()
	if !errors.Is(err, eventstore.ErrWrongExpectedRevision) {
		t.Fatalf("append at %s: got %v, want ErrWrongExpectedRevision", exp, err)
	}
	var w *eventstore.WrongExpectedRevisionError
	if !errors.As(err, &w) {
		t.Fatalf("append at %s: %v is not a *WrongExpectedRevisionError", exp, err)
	}
	if w.Stream != stream || w.Expected != exp {
		t.Errorf("error names stream %q expected %s, want %q and %s", w.Stream, w.Expected, stream, exp)
	}
	if w.StreamExists != exists || (exists && w.Actual != actual) {
		t.Errorf("error reports exists=%v actual=%d, want exists=%v actual=%d", w.StreamExists, w.Actual, exists, actual)
	}
}
