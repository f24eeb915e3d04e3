package projections

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"ledger/infra/natsbus"
)

// reapplyLost applies again what the read database lost, once per worker, at its first
// idle pull: a delivery is acknowledged only after its commit, so when the partition's
// consumer has every delivery acknowledged and the checkpoint is still below the last
// one delivered, the database was rolled back under the consumer. That happens after a
// power loss or an OS crash (the runner commits through a sqldb.DerivedData handle, whose
// commits do not wait for the disk) and when an operator restores an older backup of the
// read database. The missing events are read from the store as the gap before that last
// delivery, which is applied again with them, on the path every delivery takes.
// Without it the partition would stay behind until its next event shows the gap, and
// raiseIdle must then not move its checkpoint past them.
func (w *worker) reapplyLost(ctx context.Context, cons jetstream.Consumer) error {
	if w.lostChecked {
		return nil
	}
	info, err := cons.Info(ctx) // before the checkpoint is read: an ack it counts was committed before
	if err != nil {
		return fmt.Errorf("consumer info: %w", err)
	}
	if info.NumPending != 0 || info.NumAckPending != 0 || pinnedElsewhere(info, w.own.pin()) {
		return nil // not settled, or not ours to judge: the next idle pull looks again
	}
	w.lostChecked = true
	if info.Delivered.Stream == 0 {
		return nil
	}
	env, found, err := w.delivered(ctx, info.Delivered.Stream)
	if err != nil || !found {
		return err
	}
	st, err := w.loadPartition(ctx)
	if err != nil || !st.Checkpoint.Less(env.Event.Position) {
		return err
	}
	w.log.Warn("the read database lacks events whose deliveries were acknowledged (restored from a backup, "+
		"or rolled back by a power loss); applying them again from the store",
		"checkpoint", st.Checkpoint.String(), "acknowledged", env.Event.Position.String())
	w.committed = nil
	_, _, err = w.step(ctx, []delivery{{env: env}}) // backfillAt passed: the gap is read from the store
	return err
}

// delivered is the message the stream holds at seq, decoded; found is false when the
// stream no longer holds it or it is not an event (nothing can be told from it).
func (w *worker) delivered(ctx context.Context, seq uint64) (env natsbus.Envelope, found bool, err error) {
	stream, err := w.r.cfg.JetStream.Stream(ctx, natsbus.StreamName)
	if err != nil {
		return natsbus.Envelope{}, false, fmt.Errorf("stream: %w", err)
	}
	raw, err := stream.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return natsbus.Envelope{}, false, nil
	}
	if err != nil {
		return natsbus.Envelope{}, false, fmt.Errorf("delivered message: %w", err)
	}
	env, err = natsbus.Decode(raw.Header, raw.Data)
	return env, err == nil, nil
}
