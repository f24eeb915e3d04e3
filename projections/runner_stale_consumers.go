package projections

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// dropStaleConsumers deletes, at start-up, the consumers of this runner's read models
// that no process of the current partitioning pulls from: the one durable consumer a
// read model had before partitions ("projection_<name>") and those of another partition
// count ("projection_<name>_p<k>of<n>", n not the read model's count now). Left on the
// stream, the server keeps each up to date with every message stored (its pending
// count, its state on disk) for nothing, and ops see them in every listing as consumers
// falling ever further behind.
//
// A process of the current partitioning uses only the current names, which are never
// touched. A stale consumer that someone still uses (an old process draining during a
// rolling upgrade: a pull request waiting, a pin, a delivery within PinnedTTL) is left
// for the next start-up. If such a process pulls again right after the check, it finds
// its consumer gone and makes it again; its checkpoint turns the redelivery into skips.
// Consumers of other read models, or not named by a runner, are not ours to judge.
func (r *Runner) dropStaleConsumers(ctx context.Context, stream jetstream.Stream) error {
	list := stream.ListConsumers(ctx)
	var stale []*jetstream.ConsumerInfo
	for info := range list.Info() {
		if r.staleConsumer(info.Name) {
			stale = append(stale, info)
		}
	}
	if err := list.Err(); err != nil {
		return fmt.Errorf("list consumers: %w", err)
	}
	for _, info := range stale {
		if why := r.inUse(info); why != "" {
			r.log.Info("consumer of an old partitioning left in place while in use", "consumer", info.Name, "because", why)
			continue
		}
		if err := stream.DeleteConsumer(ctx, info.Name); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			return fmt.Errorf("delete consumer %s: %w", info.Name, err)
		}
		r.log.Info("consumer of an old partitioning deleted", "consumer", info.Name)
	}
	return nil
}

// staleConsumer: name is a consumer of one of this runner's read models, from before
// partitions or of another partition count than the read model has now.
func (r *Runner) staleConsumer(name string) bool {
	if slices.Contains(r.ConsumerNames(), name) {
		return false
	}
	for _, p := range r.projections {
		base := "projection_" + p.Name()
		if name == base {
			return true // before partitions
		}
		rest, ok := strings.CutPrefix(name, base+"_p")
		if !ok {
			continue
		}
		k, n, ok := strings.Cut(rest, "of")
		part, err1 := strconv.Atoi(k)
		parts, err2 := strconv.Atoi(n)
		if ok && err1 == nil && err2 == nil && ConsumerName(p.Name(), part, parts) == name && parts != r.partitionsOf(p) {
			return true
		}
	}
	return false
}

// inUse says why a consumer looks pulled from, or "": a pull request waiting (the server
// drops those of a client gone), a pin, or a delivery within PinnedTTL by the server's
// clock (a process between two pulls).
func (r *Runner) inUse(info *jetstream.ConsumerInfo) string {
	if info.NumWaiting > 0 {
		return fmt.Sprintf("%d pull requests waiting", info.NumWaiting)
	}
	for _, g := range info.PriorityGroups {
		if g.PinnedClientID != "" {
			return "pinned to " + g.PinnedClientID
		}
	}
	if last := info.Delivered.Last; last != nil && info.TimeStamp.Sub(*last) < r.cfg.PinnedTTL {
		return "delivered at " + last.String()
	}
	return ""
}
