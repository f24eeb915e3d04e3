package projections

import (
	"context"

	"ledger/infra/eventstore"
)

// readAheadBatches bounds how many batches the reader may run ahead of the applier, so
// a rebuild's memory stays flat however long the log is.
const readAheadBatches = 2

// logBatch is one batch of the log as read, or the error that ended the read.
type logBatch struct {
	events []eventstore.RecordedEvent
	err    error
}

// readAhead reads the log after from in batches of size on its own goroutine, so the
// next batch is read while the caller applies this one: reading and applying take
// about as long each, and a rebuild would otherwise leave one core idle. The channel
// closes when the log is read to its end, after an error, or once stop is called;
// stop waits for the reader to finish.
func readAhead(ctx context.Context, store EventLog, from eventstore.Position, size int) (batches <-chan logBatch, stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	out := make(chan logBatch, readAheadBatches)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(out)
		send := func(b logBatch) bool {
			select {
			case out <- b:
				return true
			case <-ctx.Done():
				return false
			}
		}
		batch := make([]eventstore.RecordedEvent, 0, size)
		for ev, err := range store.ReadAll(ctx, from) {
			if err != nil {
				send(logBatch{err: err})
				return
			}
			batch = append(batch, ev)
			if len(batch) == size {
				if !send(logBatch{events: batch}) {
					return
				}
				batch = make([]eventstore.RecordedEvent, 0, size)
			}
		}
		if len(batch) > 0 {
			send(logBatch{events: batch})
		}
	}()
	return out, func() { cancel(); <-done }
}
