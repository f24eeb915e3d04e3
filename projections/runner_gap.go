package projections

import (
	"context"
	"time"

	"ledger/infra/eventstore"
	"ledger/infra/retry"
)

// gapWait is a delivery whose predecessors are not committed yet. Several projector
// processes share one durable consumer and JetStream hands its messages to their pull
// requests in turn, so the predecessors of a delivery are usually in the hands of
// another process, about to commit them. Waiting for that commit, rather than reading
// the same events from the store and making the other process's deliveries skips, is
// what lets the processes share the committed work.
type gapWait struct {
	checkpoint eventstore.Position // the checkpoint the plan stopped at
	previous   eventstore.Position // the delivery's previous position, not yet committed
	message    eventstore.Position
	backfillAt time.Time // from then on the plan reads the gap from the store instead
}

// awaitHolder polls the checkpoint until it moves past g.checkpoint (another process
// committed; the next step re-plans from there) or g.backfillAt comes (the next step
// backfills). It holds no transaction and ends with ctx: nothing is applied while
// waiting, so stopping here leaves the deliveries unacked for redelivery.
func (w *worker) awaitHolder(ctx context.Context, g gapWait) error {
	w.log.Debug("delivery waits for another projector to commit the events before it",
		"checkpoint", g.checkpoint.String(), "messagePrevious", g.previous.String(),
		"message", g.message.String(), "until", g.backfillAt)
	poll := retry.Backoff{Min: time.Millisecond, Max: 5 * time.Millisecond}
	for {
		left := time.Until(g.backfillAt)
		if left <= 0 {
			return nil
		}
		if !retry.Sleep(ctx, min(poll.Next(), left)) {
			return ctx.Err()
		}
		st, err := w.loadPartition(ctx)
		if err != nil {
			return err
		}
		if st.Checkpoint != g.checkpoint {
			return nil
		}
	}
}
