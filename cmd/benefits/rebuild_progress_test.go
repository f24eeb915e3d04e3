package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"ledger/infra/eventstore"
	"ledger/projections"
)

// On a terminal the bar shows one rate and one ETA, the rebuild's own: every frame it
// draws says "events/s" and "ETA" once at most.
func TestRebuildBarOnATerminalShowsOneRateAndOneETA(t *testing.T) {
	var term bytes.Buffer
	p := &rebuildProgress{w: &term, name: "incidents", bar: newRebuildBar(&term, "incidents")}
	for i := uint64(1); i <= 3; i++ {
		p.update(projections.RebuildProgress{Projection: "incidents", Generation: 2, Events: int64(i * 100),
			Position: eventstore.Position{Commit: i * 100}, Head: eventstore.Position{Commit: 300}, Rate: 1234, ETA: 2 * time.Second})
	}
	p.finish()
	frames := 0
	for frame := range strings.SplitSeq(term.String(), "\r") {
		if strings.TrimSpace(frame) == "" {
			continue
		}
		frames++
		if n := strings.Count(frame, "/s"); n > 1 {
			t.Errorf("%d rates in frame %q", n, frame)
		}
		if strings.Count(frame, "ETA")+strings.Count(frame, "[") > 1 {
			t.Errorf("more than one time estimate in frame %q", frame)
		}
	}
	if frames == 0 || !strings.Contains(term.String(), "1234 events/s, ETA 2s") {
		t.Errorf("no frame with the rebuild's rate: %q", term.String())
	}
}
