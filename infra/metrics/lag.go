package metrics

import (
	"context"
	"iter"
	"time"

	"ledger/infra/eventstore"
)

// EventLog is the event store as the scrape reads it: where the log ends, and what
// follows a position.
type EventLog interface {
	Head(ctx context.Context) (eventstore.Position, error)
	ReadAll(ctx context.Context, from eventstore.Position) iter.Seq2[eventstore.RecordedEvent, error]
}

// MaxLagEvents caps how many events one scrape reads to count a lag: a consumer further
// behind shows this many. Counting by reading is what works on every store (EventStoreDB
// positions are byte offsets, not counts), and the cap keeps a scrape cheap.
const MaxLagEvents = 10_000

// lag is how far one reader (the forwarder, a projection) is behind the log.
type lag struct {
	events int       // events after its position, at most MaxLagEvents
	oldest time.Time // when the first of them was recorded; zero when caught up
}

// seconds is how long the oldest event it has not yet handled has been waiting.
func (l lag) seconds(now time.Time) float64 {
	if l.events == 0 || l.oldest.IsZero() {
		return 0
	}
	return max(0, now.Sub(l.oldest).Seconds())
}

// lagsBehind reads the log once, from the earliest of positions, and reports for each
// position how many events follow it and when the first of them was recorded.
func lagsBehind(ctx context.Context, log EventLog, positions []eventstore.Position) ([]lag, error) {
	lags := make([]lag, len(positions))
	if len(positions) == 0 {
		return lags, nil
	}
	from := positions[0]
	for _, p := range positions[1:] {
		if p.Less(from) {
			from = p
		}
	}
	read := 0
	for ev, err := range log.ReadAll(ctx, from) {
		if err != nil {
			return nil, err
		}
		for i, p := range positions {
			if !p.Less(ev.Position) {
				continue
			}
			if lags[i].events == 0 {
				lags[i].oldest = ev.RecordedAt
			}
			lags[i].events++
		}
		if read++; read >= MaxLagEvents {
			break
		}
	}
	return lags, nil
}
