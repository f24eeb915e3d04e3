package domain

import (
	"encoding/json"
	"reflect"
	"testing"

	jsonv2 "github.com/go-json-experiment/json"
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

// A deciding state (FoldDeciding) is persistent as the whole one is: a later open or
// close never shows in an earlier state, and the Evolve chain ends where its fold ends.
// It holds every incident, open or closed, as its opener only, in both JSON engines'
// round trips, and refuses to be read as a view of the incidents.
func TestDecidingStateCompactsIncidentsAndKeepsEarlierStates(t *testing.T) {
	var events []Event
	for seq := 1; seq <= 2100; seq++ {
		opener := []string{uAdmin, uMember, uEngineer}[seq%3]
		events = append(events, IncidentOpened{EventMeta: EventMeta{OccurredAt: t0}, MPNID: mpn, IncidentID: IncidentID(mpn, seq), Plan: PlanPremier, Product: "SQL Server", OpenedBy: opener})
		if seq%3 == 0 {
			events = append(events, IncidentClosed{EventMeta: EventMeta{OccurredAt: t0}, MPNID: mpn, IncidentID: IncidentID(mpn, seq/2), ClosedBy: uAdmin})
		}
	}
	states := []Partner{FoldDeciding(nil)}
	for _, e := range events {
		states = append(states, Evolve(states[len(states)-1], e))
	}
	for i, s := range states {
		if (i%97 == 0 || i >= len(states)-3) && !reflect.DeepEqual(s, FoldDeciding(events[:i])) {
			t.Fatalf("deciding state after %d events was changed by a later one", i)
		}
	}
	last := states[len(states)-1]
	compacted := map[bool]int{} // by open
	for i := range last.IncidentLog.Len() {
		if k := last.IncidentLog.kept.at(i); k.whole == nil {
			compacted[k.open]++
		}
	}
	if compacted[false] != 700 || compacted[true] != 1400 || last.IncidentLog.Len() != 2100 || len(last.IncidentLog.openers) != 3 {
		t.Fatalf("%v of %d incidents compacted (want the 700 closed and the 1,400 open), %d openers interned for 3", compacted, last.IncidentLog.Len(), len(last.IncidentLog.openers))
	}
	for name, roundTrip := range map[string]func(IncidentLog) (IncidentLog, error){
		"encoding/json": func(l IncidentLog) (back IncidentLog, err error) {
			b, err := json.Marshal(l)
			if err == nil {
				err = json.Unmarshal(b, &back)
			}
			return back, err
		},
		"json v2": func(l IncidentLog) (back IncidentLog, err error) {
			b, err := jsonv2.Marshal(l)
			if err == nil {
				err = jsonv2.Unmarshal(b, &back)
			}
			return back, err
		},
	} {
		if back, err := roundTrip(last.IncidentLog); err != nil || !reflect.DeepEqual(back, last.IncidentLog) {
			t.Fatalf("%s: the deciding log does not round-trip: %v", name, err)
		}
	}
	for name, view := range map[string]func(){"Incidents": func() { last.Incidents() }, "Incident": func() { last.Incident(IncidentID(mpn, 1)) }} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s on a deciding state answered: a view would show compacted incidents", name)
				}
			}()
			view()
		}()
	}
}

// A deciding log whose compacted incident names an opener it does not hold (or no whole
// number) is unreadable in both JSON engines: the executor then folds the stream instead
// of deciding on a state that would panic or misjudge who opened the incident.
func TestDecidingLogRefusesAnOpenerItDoesNotHold(t *testing.T) {
	for _, bad := range []string{
		`{"mpnId":"4711001","openers":["a"],"incidents":[1]}`,
		`{"mpnId":"4711001","openers":["a"],"incidents":[-2]}`,
		`{"mpnId":"4711001","openers":["a"],"incidents":[-2147483649]}`,
		`{"mpnId":"4711001","openers":["a"],"incidents":[0.5]}`,
		`{"mpnId":"4711001","incidents":[0]}`,
	} {
		var v1, v2 IncidentLog
		if err := json.Unmarshal([]byte(bad), &v1); err == nil {
			t.Errorf("encoding/json read %s", bad)
		}
		if err := jsonv2.Unmarshal([]byte(bad), &v2); err == nil {
			t.Errorf("json v2 read %s", bad)
		}
	}
	var ok IncidentLog
	if err := jsonv2.Unmarshal([]byte(`{"mpnId":"4711001","openers":["a"],"incidents":[0,-1]}`), &ok); err != nil || ok.Len() != 2 {
		t.Fatalf("a good deciding log: %v, %d incidents", err, ok.Len())
	}
}

// A deciding state keeps an open incident only as what decisions ask of it (who opened
// it, that it is open): 16 bytes in a leaf and no record, until it is closed, and
// a number in its snapshot. Every incident, open or closed, of the usual ID or not, gives
// the facts the whole state gives; an incident whose ID is not IncidentID(mpn, seq) is
// kept whole, as decisions could not find it by its place.
func TestDecidingStateKeepsAnOpenIncidentOnlyAsWhatDecisionsAskOfIt(t *testing.T) {
	opened := func(seq int, id, by string) Event {
		return IncidentOpened{EventMeta: EventMeta{OccurredAt: t0}, MPNID: mpn, IncidentID: id, Plan: PlanPremier, Product: "SQL Server", Title: "a long title the record would keep", OpenedBy: by}
	}
	var events []Event
	for seq := 1; seq <= 40; seq++ {
		id := IncidentID(mpn, seq)
		if seq == 17 {
			id = IncidentID(mpn, 71) // not of its place: kept whole
		}
		events = append(events, opened(seq, id, []string{uAdmin, uMember}[seq%2]))
	}
	events = append(events,
		IncidentClosed{EventMeta: EventMeta{OccurredAt: t0}, MPNID: mpn, IncidentID: IncidentID(mpn, 3)},
		IncidentClosed{MPNID: mpn, IncidentID: IncidentID(mpn, 4)}, // no time: still open, as in the whole state
		IncidentClosed{EventMeta: EventMeta{OccurredAt: t0}, MPNID: mpn, IncidentID: IncidentID(mpn, 71)})
	whole, deciding := Fold(events), FoldDeciding(events)
	if reflect.TypeFor[keptIncident]().Size() != 16 {
		t.Fatalf("a compacted incident takes %d bytes, want 16", reflect.TypeFor[keptIncident]().Size())
	}
	for i := range deciding.IncidentLog.Len() {
		if k := deciding.IncidentLog.kept.at(i); (k.whole != nil) != (i+1 == 17) {
			t.Fatalf("incident %d: whole %v; want only the one of an unusual ID whole", i+1, k.whole != nil)
		}
	}
	if k := deciding.IncidentLog.kept.at(4 - 1); !k.open {
		t.Fatalf("incident 4, closed without a time, is kept closed")
	}
	ids := []string{IncidentID(mpn, 17), IncidentID(mpn, 71), IncidentID(mpn, 41), "IN-999999-1", "IN-" + mpn + "-01"}
	for seq := 1; seq <= 40; seq++ {
		ids = append(ids, IncidentID(mpn, seq))
	}
	for _, id := range ids {
		by, closed, found := whole.IncidentLog.decisionFacts(id)
		kBy, kClosed, kFound := deciding.IncidentLog.decisionFacts(id)
		if found != kFound || found && (by != kBy || closed != kClosed) {
			t.Fatalf("%s: the deciding state says opened by %q, closed %v, found %v; the whole state %q, %v, %v", id, kBy, kClosed, kFound, by, closed, found)
		}
	}
	b, err := jsonv2.Marshal(deciding.IncidentLog)
	var back IncidentLog
	if err == nil {
		err = jsonv2.Unmarshal(b, &back)
	}
	if err != nil || !reflect.DeepEqual(back, deciding.IncidentLog) {
		t.Fatalf("the deciding log does not round-trip: %v\n%s", err, b)
	}
	wholeJSON, _ := jsonv2.Marshal(whole.IncidentLog)
	if len(b) > len(wholeJSON)/5 {
		t.Fatalf("the deciding log is written in %d bytes, the whole one in %d: open incidents are written whole", len(b), len(wholeJSON))
	}
}
