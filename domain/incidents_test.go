package domain

import (
	"reflect"
	"testing"
)

// The incident log is persistent: states made by Evolve share its nodes, yet a later
// open or close never shows in an earlier state, across leaves (16), mid nodes (1,024)
// and the top list; and the Evolve chain ends where a Fold of the same events ends.
func TestIncidentLogKeepsEarlierStatesAcrossLeavesAndNodes(t *testing.T) {
	const opened = 2100
	var events []Event
	for seq := 1; seq <= opened; seq++ {
		events = append(events, IncidentOpened{EventMeta: EventMeta{OccurredAt: t0}, MPNID: mpn, IncidentID: IncidentID(mpn, seq), Plan: PlanPremier, Product: "SQL Server", OpenedBy: uAdmin})
		if seq%3 == 0 { // close an older one: a change inside a shared leaf
			events = append(events, IncidentClosed{EventMeta: EventMeta{OccurredAt: t0}, MPNID: mpn, IncidentID: IncidentID(mpn, seq/2), ClosedBy: uAdmin})
		}
	}
	states := []Partner{{}}
	for _, e := range events {
		states = append(states, Evolve(states[len(states)-1], e))
	}
	for i, s := range states {
		if i%97 != 0 && i < len(states)-3 {
			continue // a sample is enough; every state folded again would be quadratic
		}
		if !reflect.DeepEqual(s.Incidents(), Fold(events[:i]).Incidents()) {
			t.Fatalf("state after %d events was changed by a later one", i)
		}
	}
	last := states[len(states)-1]
	if last.IncidentLog.Len() != opened || !reflect.DeepEqual(last, Fold(events)) {
		t.Fatalf("the Evolve chain (%d incidents) differs from the fold", last.IncidentLog.Len())
	}
	if in, ok := last.Incident(IncidentID(mpn, 999)); !ok || in.Seq != 999 || in.Status() != IncidentStatusClosed {
		t.Fatalf("incident 999: %+v, found %v; want it closed", in, ok)
	}
	for _, id := range []string{IncidentID(mpn, opened+1), IncidentID(mpn, 0), "IN-999999-1", "IN-" + mpn + "-01", "nonsense"} {
		if _, ok := last.Incident(id); ok {
			t.Fatalf("incident %q found", id)
		}
	}
}
