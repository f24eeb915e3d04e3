package partition

import (
	"testing"

	"ledger/infra/eventstore"
)

func pos(n uint64) eventstore.Position { return eventstore.Position{Commit: n, Prepare: n} }

// A partition is complete up to the heads' event only once it has applied its own last
// event as of it; until then, only as far as it has applied. Heads of another partition
// count say nothing.
func TestAPartitionIsCompleteUpToTheHeadsOnlyOnceItAppliedItsOwnHead(t *testing.T) {
	h := Heads{pos(7), pos(3), pos(12), pos(0)} // taken at the event at 12, of partition 2
	for _, c := range []struct {
		rule     string
		k, of    int
		applied  eventstore.Position
		wantUpTo eventstore.Position
	}{
		{"an idle partition that applied its last event", 0, 4, pos(7), pos(12)},
		{"a partition that has not applied its last event", 0, 4, pos(5), pos(5)},
		{"a partition with no event yet", 3, 4, eventstore.Start, pos(12)},
		{"the event's own partition once it applied it", 2, 4, pos(12), pos(12)},
		{"the event's own partition before it applied it", 2, 4, pos(10), pos(10)},
		{"a partition already past the heads", 1, 4, pos(20), pos(20)},
		{"heads of another partition count", 0, 2, pos(7), pos(7)},
	} {
		if got := h.Complete(c.k, c.of, c.applied); got != c.wantUpTo {
			t.Errorf("%s: Complete(%d, %d, %s) = %s, want %s", c.rule, c.k, c.of, c.applied, got, c.wantUpTo)
		}
	}
}

func TestHeadsReadBackAsWritten(t *testing.T) {
	h := Heads{pos(7), {Commit: 12, Prepare: 10}, eventstore.Start}
	got, err := ParseHeads(h.String(), 3)
	if err != nil || len(got) != 3 || got[0] != h[0] || got[1] != h[1] || got[2] != h[2] {
		t.Fatalf("ParseHeads(%q) = %v, %v; want %v", h.String(), got, err, h)
	}
	if h.At() != (eventstore.Position{Commit: 12, Prepare: 10}) {
		t.Errorf("At = %s, want the highest", h.At())
	}
	for _, bad := range []string{"1,2", "1,x,3", "1,,3"} {
		if _, err := ParseHeads(bad, 3); err == nil {
			t.Errorf("ParseHeads(%q, 3) accepted", bad)
		}
	}
	if got, err := ParseHeads("", 3); got != nil || err != nil {
		t.Errorf("ParseHeads(\"\") = %v, %v; want none", got, err)
	}
}
