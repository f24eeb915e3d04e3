package projections

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"ledger/infra/natsbus"
	"ledger/infra/retry"
)

// MembersBucket is the KV bucket in which every projector process keeps a key alive
// while it runs: the count of live keys is how many processes share the partitions.
const MembersBucket = "LEDGER_PROJECTORS"

// balancer spreads the partitions over the projector processes. NATS decides who holds
// a partition (the pin, see PriorityGroup) but not how many each process holds: the
// first process to pull would keep them all. So every process announces itself in
// MembersBucket (a key expiring after PinnedTTL without a heartbeat: a killed process
// drops out on its own) and, per read model, holds at most its fair share, ceil(P/N):
// a process holding more unpins the excess and stops pulling it for a while, so that the
// pulls another process keeps waiting get it; a process at its share stops pulling the
// partitions it does not hold, so it does not take back what it released. A new process
// therefore takes its share within a heartbeat or two, without a restart of the others,
// and a dead one's partitions go to the others once its key expires and NATS unpins it.
// (The KV is NATS's too; what it adds is a count, not a lock: two processes briefly
// disagreeing on N only move a pin more or less, and the checkpoint keeps the apply
// exact.)
type balancer struct {
	r       *Runner
	id      string
	every   time.Duration
	members jetstream.KeyValue
	workers map[string][]*worker // by projection, by partition
}

func (r *Runner) newBalancer(workers []*worker) *balancer {
	b := &balancer{r: r, id: uuid.NewString(), every: max(r.cfg.PinnedTTL/5, 100*time.Millisecond),
		workers: map[string][]*worker{}}
	for _, w := range workers {
		b.workers[w.p.Name()] = append(b.workers[w.p.Name()], w)
	}
	return b
}

// run heartbeats and rebalances every b.every until ctx ends; then it leaves: it drops
// its key and unpins what it held, so the others take over at once.
func (b *balancer) run(ctx context.Context) {
	for ctx.Err() == nil {
		if err := b.tick(ctx); err != nil && ctx.Err() == nil {
			b.r.log.Warn("projector membership: rebalancing skipped", "err", err)
		}
		retry.Sleep(ctx, b.every)
	}
	leaveCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if b.members != nil {
		_ = b.members.Delete(leaveCtx, b.id)
	}
	for _, ws := range b.workers {
		for _, w := range ws {
			if w.own.held() {
				_ = w.unpin(leaveCtx)
			}
		}
	}
}

func (b *balancer) tick(ctx context.Context) error {
	if b.members == nil {
		kv, err := b.r.cfg.JetStream.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket: MembersBucket, Description: "live projector processes", History: 1,
			TTL: b.r.cfg.PinnedTTL, Storage: jetstream.MemoryStorage})
		if err != nil {
			return fmt.Errorf("members bucket: %w", err)
		}
		b.members = kv
	}
	if _, err := b.members.PutString(ctx, b.id, time.Now().UTC().Format(time.RFC3339Nano)); err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	keys, err := b.members.ListKeys(ctx)
	if err != nil {
		return fmt.Errorf("members: %w", err)
	}
	n := 0
	for range keys.Keys() {
		n++
	}
	n = max(n, 1)
	for _, ws := range b.workers {
		b.balance(ctx, ws, n)
	}
	return nil
}

// balance keeps this process's hold on one read model's partitions at its fair share.
func (b *balancer) balance(ctx context.Context, ws []*worker, members int) {
	fair := (len(ws) + members - 1) / members
	var held []*worker
	for _, w := range ws {
		if w.own.keeps() {
			held = append(held, w)
		}
	}
	for len(held) > fair {
		w := held[len(held)-1]
		held = held[:len(held)-1]
		// Out of the pulls long enough for a waiting pull of another process to be given
		// the partition at its next message.
		w.own.askRelease(4 * b.every)
		b.r.log.Debug("partition to be released to rebalance", "projection", w.p.Name(), "partition", w.part,
			"members", members, "share", fair)
	}
	full := len(held) >= fair
	for _, w := range ws {
		w.own.setFull(full)
	}
}

// handOver releases the partition the balancer asked this worker to release, between
// two of its pulls: no pull request of this process is then waiting on the consumer to
// be given the partition again at once (unpinned while one waited, it went straight
// back to this process, which released it again a tick later), and every message it
// was given is committed, so the next holder starts right after them instead of
// waiting GapGrace for them and reading them from the store.
func (w *worker) handOver(ctx context.Context, coolDown time.Duration) error {
	w.own.release(time.Now().Add(coolDown))
	w.committed = nil
	if err := w.unpin(ctx); err != nil {
		return fmt.Errorf("release partition: %w", err)
	}
	w.stats.released.Add(1)
	w.log.Info("partition released to rebalance")
	return nil
}

// unpin lets NATS give the worker's partition to the next process that pulls it.
func (w *worker) unpin(ctx context.Context) error {
	s, err := w.r.cfg.JetStream.Stream(ctx, natsbus.StreamName)
	if err != nil {
		return err
	}
	err = s.UnpinConsumer(ctx, ConsumerName(w.p.Name(), w.part, w.parts), PriorityGroup)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil
	}
	return err
}
