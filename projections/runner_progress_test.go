package projections

import (
	"testing"
	"time"
)

// Issue 12: an idle projection logs no progress lines; one that moved logs at most one
// line per interval.
func TestProjectionProgressIsLoggedOnlyWhenSomethingChanged(t *testing.T) {
	start := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	p := progressLog{at: start}
	idle := Stats{}
	for i := 1; i <= 6; i++ {
		if p.due(start.Add(time.Duration(i)*progressLogEvery), idle) {
			t.Fatalf("idle projection logged progress after %d intervals", i)
		}
	}
	moved := Stats{Applied: 5}
	if p.due(start.Add(progressLogEvery/2), moved) {
		t.Error("progress logged before an interval passed")
	}
	at := start.Add(7 * progressLogEvery)
	if !p.due(at, moved) {
		t.Fatal("a projection that applied events logged no progress")
	}
	if p.due(at.Add(progressLogEvery/2), Stats{Applied: 9}) {
		t.Error("two progress lines within one interval")
	}
	if p.due(at.Add(3*progressLogEvery), moved) {
		t.Error("progress logged again with nothing changed since the last line")
	}
	if !p.due(at.Add(3*progressLogEvery), Stats{Applied: 5, DeadLettered: 1}) {
		t.Error("a dead letter since the last line was not logged")
	}
}
