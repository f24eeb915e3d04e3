package eventstoretest

import (
	"errors"
	"sync"
	"testing"

	"ledger/infra/eventstore"
)

func expectedRevisionKinds(t *testing.T, s eventstore.Store) {
	n := newNames()
	existing := n.stream("existing") // holds revisions 0..2
	mustAppend(t, s, existing, eventstore.NoStream(), events(3, "existing")...)

	cases := []struct {
		name     string
		stream   string
		expected eventstore.ExpectedRevision
		accepted bool
		nextRev  uint64 // when accepted
		exists   bool   // when refused: the actual state reported
		actual   uint64
	}{
		{"any on a missing stream is accepted", "any-missing", eventstore.Any(), true, 0, false, 0},
		{"any on an existing stream is accepted", "", eventstore.Any(), true, 3, false, 0},
		{"no-stream on a missing stream is accepted", "nostream-missing", eventstore.NoStream(), true, 0, false, 0},
		{"no-stream on an existing stream is refused", "", eventstore.NoStream(), false, 0, true, 3},
		{"stream-exists on an existing stream is accepted", "", eventstore.StreamExists(), true, 4, false, 0},
		{"stream-exists on a missing stream is refused", "exists-missing", eventstore.StreamExists(), false, 0, false, 0},
		{"exact at the last revision is accepted", "", eventstore.Exact(4), true, 5, false, 0},
		{"exact behind the last revision is refused", "", eventstore.Exact(3), false, 0, true, 5},
		{"exact ahead of the last revision is refused", "", eventstore.Exact(9), false, 0, true, 5},
		{"exact 0 on a missing stream is refused", "exact-missing", eventstore.Exact(0), false, 0, false, 0},
	}
	// The cases run in order on purpose: accepted appends move "existing" forward.
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			stream := existing
			if c.stream != "" {
				stream = n.stream(c.stream)
			}
			before := mustRead(t, s, stream, eventstore.ReadStreamOptions{})
			res, err := s.Append(bounded(t), stream, c.expected, events(1, c.name)...)
			after := mustRead(t, s, stream, eventstore.ReadStreamOptions{})
			if c.accepted {
				if err != nil {
					t.Fatalf("append at %s: %v", c.expected, err)
				}
				if res.NextRevision != c.nextRev {
					t.Errorf("next revision %d, want %d", res.NextRevision, c.nextRev)
				}
				if len(after) != len(before)+1 {
					t.Errorf("stream has %d events after an accepted append of one, had %d", len(after), len(before))
				}
				return
			}
			wantWrongRevision(t, err, stream, c.expected, c.exists, c.actual)
			if len(after) != len(before) {
				t.Errorf("refused append changed the stream: %d events, had %d", len(after), len(before))
			}
		})
	}
}

func concurrentExactAppends(t *testing.T, s eventstore.Store) {
	n := newNames()
	stream := n.stream("contended")
	mustAppend(t, s, stream, eventstore.NoStream(), events(1, "first")...)

	const writers = 8
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			_, errs[i] = s.Append(bounded(t), stream, eventstore.Exact(0), events(2, "writer")...)
		})
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case errors.Is(err, eventstore.ErrWrongExpectedRevision):
			wantWrongRevision(t, err, stream, eventstore.Exact(0), true, 2)
		default:
			t.Errorf("append failed with %v, want success or ErrWrongExpectedRevision", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d of %d appends at revision 0 succeeded, want exactly 1", won, writers)
	}
	if got := mustRead(t, s, stream, eventstore.ReadStreamOptions{}); len(got) != 3 {
		t.Fatalf("stream holds %d events, want 3 (one winner of 2 events after the first)", len(got))
	}
}

func idempotentReappend(t *testing.T, s eventstore.Store) {
	n := newNames()
	cases := []struct {
		name     string
		prepare  int // events already in the stream
		expected eventstore.ExpectedRevision
	}{
		{"at no-stream", 0, eventstore.NoStream()},
		{"at an exact revision", 2, eventstore.Exact(1)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			stream := n.stream(c.name)
			if c.prepare > 0 {
				mustAppend(t, s, stream, eventstore.NoStream(), events(c.prepare, "prepare")...)
			}
			batch := events(3, "batch")
			first := mustAppend(t, s, stream, c.expected, batch...)
			again, err := s.Append(bounded(t), stream, c.expected, batch...)
			if err != nil {
				t.Fatalf("re-append of the same IDs at %s: %v", c.expected, err)
			}
			if again != first {
				t.Errorf("re-append answered %+v, first append %+v", again, first)
			}
			got := mustRead(t, s, stream, eventstore.ReadStreamOptions{})
			if len(got) != c.prepare+3 {
				t.Fatalf("stream holds %d events, want %d: the re-append must not duplicate", len(got), c.prepare+3)
			}
			if !equal(ids(got[c.prepare:]), dataIDs(batch)) {
				t.Errorf("stream IDs %v, want %v", ids(got[c.prepare:]), dataIDs(batch))
			}
		})
	}
}

func duplicateIDRefused(t *testing.T, s eventstore.Store) {
	n := newNames()
	first := events(1, "original")
	mustAppend(t, s, n.stream("a"), eventstore.NoStream(), first...)

	other := n.stream("b")
	_, err := s.Append(bounded(t), other, eventstore.Any(), first...)
	if !errors.Is(err, eventstore.ErrDuplicateEventID) {
		t.Fatalf("append of a stored ID to another stream: got %v, want ErrDuplicateEventID", err)
	}
	if got := mustRead(t, s, other, eventstore.ReadStreamOptions{}); len(got) != 0 {
		t.Fatalf("refused append stored %d events", len(got))
	}
}

func revisionsFromZero(t *testing.T, s eventstore.Store) {
	n := newNames()
	stream := n.stream("fresh")
	res := mustAppend(t, s, stream, eventstore.NoStream(), events(3, "fresh")...)
	if res.NextRevision != 2 {
		t.Errorf("three events into a new stream: next revision %d, want 2", res.NextRevision)
	}
	got := mustRead(t, s, stream, eventstore.ReadStreamOptions{})
	if !equal(revisions(got), []uint64{0, 1, 2}) {
		t.Fatalf("revisions %v, want [0 1 2]", revisions(got))
	}
	inPositionOrder(t, got)
	if got[2].Position != res.Position {
		t.Errorf("append answered position %s, last event is at %s", res.Position, got[2].Position)
	}
	for _, ev := range got {
		if ev.Stream != stream {
			t.Errorf("event stream %q, want %q", ev.Stream, stream)
		}
	}
}
