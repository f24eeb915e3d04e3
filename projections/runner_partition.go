package projections

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/uptrace/bun"

	"ledger/infra/eventstore"
	"ledger/infra/natsbus"
	"ledger/infra/partition"
)

// PriorityGroup is the consumer priority group every projector process pulls a
// partition's consumer through. Its policy is pinned_client: NATS delivers the
// partition to one process (the pinned one) and holds the others' pulls until that
// process stops pulling for PinnedTTL (it died, hung or was cut off) or releases the
// partition (Unpin, to rebalance); then the next process pulling gets it. That is the
// "exactly one process applies a partition at a time" of issue 11, kept by the server,
// not by a lock of ours. The checkpoint's compare-and-set in the batch's transaction is
// still what guarantees each event is applied once: a process whose pin expired while it
// was committing finds the checkpoint moved and applies nothing.
const PriorityGroup = "projectors"

// natsPinIDHeader carries, on a pinned delivery, the pin the server gave this process.
const natsPinIDHeader = "Nats-Pin-Id"

// ConsumerName is the durable JetStream consumer of one partition of a projection. The
// partition count is in the name, so a read model repartitioned by a rebuild starts on
// fresh consumers (Setup deletes the old ones once unused: dropStaleConsumers).
func ConsumerName(projection string, part, of int) string {
	return fmt.Sprintf("projection_%s_p%dof%d", projection, part, of)
}

// ConsumerNames are the consumers this runner pulls from, one per partition of each
// projection.
func (r *Runner) ConsumerNames() []string {
	var names []string
	for _, p := range r.projections {
		for k := range r.partitionsOf(p) {
			names = append(names, ConsumerName(p.Name(), k, r.partitionsOf(p)))
		}
	}
	return names
}

// WholeLog is implemented by a read model that is not per partner: one of its rows may
// fold events of several partners, so splitting it by partner would apply those events
// in different orders in different partitions. It keeps one partition whatever
// RunnerConfig.Partitions says, and reads every event. (All five read models of the
// ledger are per partner: each row belongs to one MPN ID, and a query by account or
// contract that may read several partners' rows waits for every partition.)
type WholeLog interface{ WholeLog() }

// partitionsOf is p's partition count: 1 for a WholeLog read model.
func (r *Runner) partitionsOf(p Projection) int {
	if _, whole := p.(WholeLog); whole {
		return 1
	}
	return r.cfg.Partitions
}

// consumerConfig is the durable consumer of partition part (of parts) of p.
func (r *Runner) consumerConfig(p Projection, part, parts int) jetstream.ConsumerConfig {
	filters := []string{natsbus.AllSubjects} // one partition: every event, the global chain
	if parts > 1 {
		// The previous release's subjects too, so that no event of the partition left in
		// the stream by its forwarder is invisible here (see LegacyPartitionSubjects).
		filters = []string{natsbus.PartitionSubjects(part, parts), natsbus.LegacyPartitionSubjects(part, parts)}
	}
	return jetstream.ConsumerConfig{
		Durable:        ConsumerName(p.Name(), part, parts),
		Description:    fmt.Sprintf("read model %s, partition %d of %d", p.Name(), part, parts),
		FilterSubjects: filters,
		DeliverPolicy:  jetstream.DeliverAllPolicy,
		AckPolicy:      jetstream.AckAllPolicy, // one ack per committed batch
		AckWait:        r.cfg.AckWait,
		MaxDeliver:     -1, // poison events go to dead_letters, not to NATS's redelivery limit
		PriorityGroups: []string{PriorityGroup},
		PriorityPolicy: jetstream.PriorityPolicyPinned,
		PinnedTTL:      r.cfg.PinnedTTL,
	}
}

// ensureConsumers deletes the consumers of an old partitioning no one uses, then creates
// (or updates) every partition's consumer if the events stream
// exists (the forwarder makes it, with its retention; a projector does not); Setup runs
// it, so they exist before a forwarder started next updates the stream. (nats-server
// v2.15.2 races when a stream update and a consumer creation meet: see wire_parts.go.)
// Without the stream, each worker creates its consumer once the stream appears.
func (r *Runner) ensureConsumers(ctx context.Context) error {
	stream, err := r.cfg.JetStream.Stream(ctx, natsbus.StreamName)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil
	} else if err != nil {
		return fmt.Errorf("stream %s: %w", natsbus.StreamName, err)
	}
	if err := r.dropStaleConsumers(ctx, stream); err != nil {
		// Only housekeeping: the read models run without it.
		r.log.Warn("consumers of an old partitioning not cleaned up", "err", err)
	}
	for _, p := range r.projections {
		for k := range r.partitionsOf(p) {
			cfg := r.consumerConfig(p, k, r.partitionsOf(p))
			if _, err := r.cfg.JetStream.CreateOrUpdateConsumer(ctx, natsbus.StreamName, cfg); err != nil {
				return fmt.Errorf("consumer %s: %w", cfg.Durable, err)
			}
		}
	}
	return nil
}

// consumer is the partition's consumer as Setup made it; it is made again only if the
// server lost it.
func (w *worker) consumer(ctx context.Context) (jetstream.Consumer, error) {
	if w.cons != nil {
		return w.cons, nil
	}
	cfg := w.r.consumerConfig(w.p, w.part, w.parts)
	cons, err := w.r.cfg.JetStream.Consumer(ctx, natsbus.StreamName, cfg.Durable)
	if errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrStreamNotFound) {
		cons, err = w.r.cfg.JetStream.CreateOrUpdateConsumer(ctx, natsbus.StreamName, cfg)
	}
	if err != nil {
		return nil, fmt.Errorf("consumer %s: %w", cfg.Durable, err)
	}
	w.cons = cons
	return cons, nil
}

// raiseIdle moves an idle partition's checkpoint up to the stream's last event, when the
// partition's consumer has nothing pending and the last event it delivered is applied:
// then every event of the partition up to the stream's last one is applied. (That the
// consumer acknowledged a delivery is not enough: a read database rolled back under it
// lacks acknowledged commits, reapplyLost.) Without it a partner query waiting for a position
// past its partition's last event (the position of another partner's command) would
// wait until the partition's next event. It is skipped, leaving the checkpoint where it
// is (always safe), when another process holds the partition, when the stream may have
// dropped messages the consumer never saw (retention past its acknowledged floor), and
// when the forwarder splits events into another count of partitions than this runner.
func (w *worker) raiseIdle(ctx context.Context, cons jetstream.Consumer) error {
	if w.parts == 1 {
		return nil // one partition sees every event: its checkpoint is the last one
	}
	stream, err := w.r.cfg.JetStream.Stream(ctx, natsbus.StreamName)
	if err != nil {
		return fmt.Errorf("stream: %w", err)
	}
	sinfo, err := stream.Info(ctx)
	if err != nil || sinfo.State.Msgs == 0 {
		return err
	}
	last, err := stream.GetMsg(ctx, sinfo.State.LastSeq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil // trimmed meanwhile; next time
	}
	if err != nil {
		return fmt.Errorf("last message: %w", err)
	}
	env, err := natsbus.Decode(last.Header, last.Data)
	if err != nil {
		return nil // not ours; the next event's will do
	}
	if env.Part.Of != w.parts && w.parts > 1 {
		w.log.Error("the forwarder splits events into another number of partitions than this projector; "+
			"set the same --projection-partitions on both", "forwarder", env.Part.Of, "projector", w.parts)
		return nil
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return fmt.Errorf("consumer info: %w", err)
	}
	if info.NumPending != 0 || pinnedElsewhere(info, w.own.pin()) || sinfo.State.FirstSeq > info.AckFloor.Stream+1 {
		return nil
	}
	st, err := w.loadPartition(ctx)
	if err != nil || !st.Checkpoint.Less(env.Event.Position) {
		return err
	}
	if info.Delivered.Stream != 0 {
		// Safe only if the last delivery is applied, for every one, acknowledged or not,
		// is at or below it: one may be pending (a process stopped between commit and
		// ack, or before applying it), and an acknowledged one is missing from a read
		// database rolled back under the consumer (see reapplyLost).
		last, found, err := w.delivered(ctx, info.Delivered.Stream)
		if err != nil || !found || st.Checkpoint.Less(last.Event.Position) {
			return err
		}
	}
	return w.raiseTo(ctx, st, env.Event.Position, env.Part.Heads)
}

// raiseTo moves the partition's checkpoint from st's to pos, applying nothing; heads are
// those the event at pos carried.
func (w *worker) raiseTo(ctx context.Context, st State, pos eventstore.Position, heads partition.Heads) error {
	w.committed = nil // the next step reads the raised checkpoint
	var err error
	err = w.apply.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		if err := advance(ctx, tx, st, pos, heads); err != nil || !keepsAnswers(st.Name) {
			return err
		}
		return recordTouches(ctx, tx, st, w.parts, pos, nil) // applied nothing
	})
	if errors.Is(err, errCheckpointMoved) {
		return nil // someone applied meanwhile; the next idle pull looks again
	}
	if err != nil {
		return err
	}
	w.r.checkpoints.committed(w.p.Name(), w.part, w.parts, pos, heads, &toldCommit{from: st.Checkpoint}) // applied nothing
	return nil
}

// pinnedElsewhere: the partition is pinned to another process (which raises it).
func pinnedElsewhere(info *jetstream.ConsumerInfo, mine string) bool {
	for _, g := range info.PriorityGroups {
		if g.Group == PriorityGroup && g.PinnedClientID != "" && g.PinnedClientID != mine {
			return true
		}
	}
	return false
}

// ownership is what this process knows of its hold on a partition: the pin NATS gave it
// with its last delivery, lost at a pin mismatch. It also keeps a released partition's
// worker from pulling for a while, so that another process's waiting pull gets it.
type ownership struct {
	mu         sync.Mutex
	pinID      string
	yieldUntil time.Time
	full       bool // this process holds its fair share of the read model (balancer)
	// handOver, when set, is the cool-down of a release the balancer asked for: the
	// worker unpins the partition between two pulls (see worker.handOver).
	handOver time.Duration
}

// askRelease asks the worker to release the partition, then not to pull it for
// coolDown.
func (o *ownership) askRelease(coolDown time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.handOver = coolDown
}

// releaseAsked returns the cool-down of a release asked for, and clears the request.
func (o *ownership) releaseAsked() (time.Duration, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	d := o.handOver
	o.handOver = 0
	return d, d > 0
}

// keeps: held, and not being released.
func (o *ownership) keeps() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.pinID != "" && o.handOver == 0
}

func (o *ownership) setFull(full bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.full = full
}

// delivered records the pin a delivery carried.
func (o *ownership) delivered(pin string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if pin != "" {
		o.pinID = pin
	}
}

func (o *ownership) lost() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.pinID = ""
}

func (o *ownership) pin() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.pinID
}

// held: this process was given the partition and has not been told otherwise.
func (o *ownership) held() bool { return o.pin() != "" }

// release forgets the pin and keeps the worker from pulling until until.
func (o *ownership) release(until time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.pinID = ""
	o.yieldUntil = until
}

// mayPull: not in a release's cool-down, and either holding the partition or wanting
// more of the read model's partitions than it holds.
func (o *ownership) mayPull(now time.Time) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return !now.Before(o.yieldUntil) && (o.pinID != "" || !o.full)
}
