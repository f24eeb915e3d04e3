package domain

import (
	"iter"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"
)

// A view that keeps one window of incidents is the full fold in everything but the
// incidents outside the window: same counters, memberships, users, contracts and
// pools' used counts, and the window's incidents with their closures, on random
// sequences of commands (the property test's generator) cut at random points, for
// windows before, across and past the end of the incidents.
func TestFoldSeqKeepingIsTheFullFoldButForIncidentsOutsideTheWindow(t *testing.T) {
	opened, closed := 0, 0 // the walks must open and close incidents, or this proves little
	for seed := range uint64(*propertySeeds) {
		rng := rand.New(rand.NewPCG(seed, 0x5ca1ab1e))
		events := randomWalk(t, rng, 600)
		for _, e := range events {
			switch e.(type) {
			case IncidentOpened:
				opened++
			case IncidentClosed:
				closed++
			}
		}
		for range 12 {
			cut := rng.IntN(len(events) + 1)
			full, _ := FoldSeq(eventSeq(events[:cut]))
			w := IncidentWindow{After: rng.IntN(full.IncidentCount + 3), Keep: []int{0, 1, 2, 5, 101}[rng.IntN(5)]}
			checkKeeping(t, events[:cut], w)
		}
	}
	if opened < 10**propertySeeds || closed < *propertySeeds {
		t.Fatalf("the walks opened %d incidents and closed %d", opened, closed)
	}
	t.Logf("the walks opened %d incidents and closed %d", opened, closed)
}

// The same across the incident log's leaves (16) and mid nodes (1,024), where a view's
// log starts part-way into them.
func TestFoldSeqKeepingAcrossTheIncidentLogsNodes(t *testing.T) {
	var events []Event
	for seq := 1; seq <= 2100; seq++ {
		events = append(events, IncidentOpened{EventMeta: EventMeta{OccurredAt: t0}, MPNID: mpn, IncidentID: IncidentID(mpn, seq), Plan: PlanPremier, Product: "SQL Server", OpenedBy: uAdmin})
		if seq%3 == 0 {
			events = append(events, IncidentClosed{EventMeta: EventMeta{OccurredAt: t0}, MPNID: mpn, IncidentID: IncidentID(mpn, seq/2), ClosedBy: uAdmin})
		}
	}
	for _, w := range []IncidentWindow{{0, 101}, {15, 2}, {1000, 101}, {1023, 1}, {2000, 1001}, {2100, 5}, {5000, 3}} {
		checkKeeping(t, events, w)
	}
}

func checkKeeping(t *testing.T, events []Event, w IncidentWindow) {
	t.Helper()
	full, err := FoldSeq(eventSeq(events))
	if err != nil {
		t.Fatal(err)
	}
	view, err := FoldSeqKeeping(eventSeq(events), w)
	if err != nil {
		t.Fatal(err)
	}
	all := full.Incidents()
	want := all[min(w.After, len(all)):min(w.After+w.Keep, len(all))]
	if got := view.Incidents(); !slices.Equal(got, want) {
		t.Fatalf("window %+v of %d incidents: kept %d incidents, want %d", w, len(all), len(got), len(want))
	}
	for seq := 1; seq <= full.IncidentCount+1; seq++ {
		id := IncidentID(mpn, seq)
		fullIn, _ := full.Incident(id)
		in, ok := view.Incident(id)
		if inWindow := seq > w.After && seq <= w.After+w.Keep; ok != (inWindow && seq <= full.IncidentCount) || (ok && in != fullIn) {
			t.Fatalf("window %+v: incident %d in the view: %v %+v; in the full fold: %+v", w, seq, ok, in, fullIn)
		}
	}
	view.IncidentLog, full.IncidentLog = IncidentLog{}, IncidentLog{}
	if !reflect.DeepEqual(view, full) {
		t.Fatalf("window %+v: beside the incidents the view differs from the full fold:\n%+v\n%+v", w, view, full)
	}
}

// randomWalk records the events of steps random commands (accepted or refused) on a
// partner with one membership, hours apart.
func randomWalk(t *testing.T, rng *rand.Rand, steps int) []Event {
	t.Helper()
	w := newPartner(t, partnerOpts{memberships: []GrantMembership{grant(LevelGold, "Cloud Platform")}})
	for range steps {
		w.now = w.now.Add(time.Duration(rng.IntN(72)) * time.Hour)
		_, _ = w.do(randomCommand(rng, w.s)) // a refusal records nothing
	}
	return w.events
}

func eventSeq(events []Event) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		for _, e := range events {
			if !yield(e, nil) {
				return
			}
		}
	}
}
