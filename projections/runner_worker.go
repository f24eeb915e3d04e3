package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"ledger/infra/eventstore"
	"ledger/infra/natsbus"
	"ledger/infra/partition"
	"ledger/infra/retry"
	"ledger/infra/sqldb"
)

// worker runs one partition of one projection: pull a batch, plan it against the
// partition's checkpoint, commit it, ack it. Every projector process runs a worker for
// every partition; the partition's consumer is pinned to one of them at a time (see
// ownership), and the others' pulls wait.
type worker struct {
	r     *Runner
	p     Projection
	part  int // this worker's partition, of parts
	parts int // the projection's partition count (Runner.partitionsOf)
	log   *slog.Logger
	stats *stats
	apply applier
	cons  jetstream.Consumer
	own   *ownership
	// committed is the partition's state as this worker's last commit left it, while
	// the partition is held: the next step plans from it without reading the row again.
	// A stale one (another process committed meanwhile) only fails the compare-and-set,
	// which drops it.
	committed *State
	// lostChecked: reapplyLost has compared the checkpoint with what the consumer
	// acknowledged (once: only a restart can find the database rolled back).
	lostChecked bool
}

// newWorker runs partition part of p; group, when not nil, commits its batches with
// those of the read model's other partitions this process holds.
func (r *Runner) newWorker(p Projection, part int, group *groupCommitter) *worker {
	log := r.log.With("projection", p.Name())
	parts := r.partitionsOf(p)
	if parts > 1 {
		log = log.With("partition", part)
	}
	apply := r.newApplier(p, log)
	apply.group = group
	return &worker{r: r, p: p, part: part, parts: parts, log: log, stats: r.stats[p.Name()], apply: apply,
		own: r.held[p.Name()][part]}
}

// newApplier applies p's batches to the read database, one writer at a time on SQLite.
func (r *Runner) newApplier(p Projection, log *slog.Logger) applier {
	apply := applier{db: r.cfg.DB, p: p, log: log}
	if sqldb.DialectOf(r.cfg.DB) == sqldb.SQLite {
		apply.writes = r.sqliteWrites
	}
	return apply
}

func (w *worker) run(ctx context.Context) {
	w.log.Info("projection running")
	bo := retry.Backoff{Min: 100 * time.Millisecond, Max: 5 * time.Second}
	progress := progressLog{at: time.Now()}
	for ctx.Err() == nil {
		if err := w.pull(ctx); err != nil {
			if ctx.Err() != nil {
				break
			}
			wait := bo.Next()
			w.log.Warn("projection interrupted; retrying", "err", err, "in", wait)
			retry.Sleep(ctx, wait)
			continue
		}
		bo.Reset()
		if s, _ := w.r.Stats(w.p.Name()); progress.due(time.Now(), s) {
			w.log.Info("projection progress", "appliedInPartition", w.stats.byPartition[w.part].Load(), "applied", s.Applied,
				"skipped", s.Skipped, "backfilled", s.Backfilled, "deadLettered", s.DeadLettered)
		}
	}
	w.log.Info("projection stopped")
}

// progressLog says when a projection's progress is worth a log line: at most every
// progressLogEvery, and only when something changed since the last line, so that idle
// projections keep the log quiet.
type progressLog struct {
	at   time.Time // of the last line (or of the start)
	last Stats     // as the last line told it
}

const progressLogEvery = 10 * time.Second

func sameProgress(a, b Stats) bool {
	return a.Applied == b.Applied && a.Skipped == b.Skipped && a.Backfilled == b.Backfilled &&
		a.DeadLettered == b.DeadLettered && slices.Equal(a.AppliedByPartition, b.AppliedByPartition)
}

func (p *progressLog) due(now time.Time, s Stats) bool {
	if now.Sub(p.at) < progressLogEvery || sameProgress(s, p.last) {
		return false
	}
	p.at, p.last = now, s
	p.last.AppliedByPartition = slices.Clone(s.AppliedByPartition)
	return true
}

// pull runs one pull request, committing its messages in chunks as they arrive. A pull
// that brought nothing tells the partition is idle: its checkpoint may then move up to
// the stream's head (see raiseIdle), so queries waiting for a position past the
// partition's last event are answered.
func (w *worker) pull(ctx context.Context) error {
	if coolDown, asked := w.own.releaseAsked(); asked {
		return w.handOver(ctx, coolDown)
	}
	if !w.own.mayPull(time.Now()) {
		retry.Sleep(ctx, w.r.cfg.FetchWait)
		return nil
	}
	cons, err := w.consumer(ctx)
	if err != nil {
		return err
	}
	batch, err := cons.Fetch(w.r.cfg.BatchSize, jetstream.FetchMaxWait(w.r.cfg.FetchWait),
		jetstream.FetchPriorityGroup(PriorityGroup))
	if err != nil {
		w.cons = nil // recreated next time: the server may have lost it
		return fmt.Errorf("fetch: %w", err)
	}
	msgs := batch.Messages()
	got := 0
	for {
		chunk, open := w.nextChunk(ctx, msgs)
		if len(chunk) > 0 {
			got += len(chunk)
			w.own.delivered(chunk[len(chunk)-1].Headers().Get(natsPinIDHeader))
			if err := w.handle(ctx, chunk); err != nil {
				if ctx.Err() != nil {
					nakBuffered(msgs)
				}
				return err
			}
		}
		if !open || ctx.Err() != nil {
			break
		}
	}
	if ctx.Err() != nil {
		nakBuffered(msgs)
	}
	err = batch.Error()
	switch {
	case ctx.Err() != nil:
		return nil
	case errors.Is(err, jetstream.ErrPinIDMismatch):
		// Another process holds the partition now (our pin expired or was released).
		w.own.lost()
		return nil
	case err != nil:
		w.cons = nil
		return fmt.Errorf("fetch: %w", err)
	case got == 0:
		if err := w.reapplyLost(ctx, cons); err != nil {
			return err
		}
		return w.raiseIdle(ctx, cons)
	}
	return nil
}

// nextChunk waits for one message, then takes those already delivered behind it, up to
// a batch, without waiting for more: while a chunk commits the next ones queue, so a
// busy projection commits large chunks and an idle one commits each event at once.
// (Lingering 5 ms for company used to add those 5 ms to every read-your-writes wait
// below the rate that fills a chunk.) open is false once the pull request is over.
func (w *worker) nextChunk(ctx context.Context, msgs <-chan jetstream.Msg) (chunk []jetstream.Msg, open bool) {
	select {
	case m, ok := <-msgs:
		if !ok {
			return nil, false
		}
		chunk = append(chunk, m)
	case <-ctx.Done():
		return nil, false
	}
	for len(chunk) < w.r.cfg.BatchSize {
		select {
		case m, ok := <-msgs:
			if !ok {
				return chunk, false
			}
			chunk = append(chunk, m)
		default:
			return chunk, true
		}
	}
	return chunk, true
}

// handle commits a chunk and acks it. A chunk whose commit began finishes even if ctx
// ends (within StopGrace): it is never half-applied, and never acked before commit.
// Waiting for another projector to commit the events before the chunk (see awaitHolder)
// is not a commit: it ends with ctx, and what was not applied is redelivered.
func (w *worker) handle(ctx context.Context, msgs []jetstream.Msg) error {
	bctx, cancel := context.WithCancel(withSharedDecodes(context.WithoutCancel(ctx), w.r.decodes))
	defer cancel()
	if w.apply.writes != nil {
		planned := w.apply.writes.expect() // a group forming now waits for this batch
		defer planned.settle()
		bctx = withPlannedBatch(bctx, planned)
	}
	ds := w.decode(msgs)
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(w.r.cfg.StopGrace, cancel) })
	defer stop()

	bo := retry.Backoff{Min: 50 * time.Millisecond, Max: 5 * time.Second}
	for len(ds) > 0 {
		n, gap, err := w.step(bctx, ds)
		settlePlanned(bctx) // queued by now, or none to queue (skips, a gap, a failure)
		ds = ds[n:]
		if err == nil && gap != nil {
			err = w.awaitHolder(ctx, *gap)
		}
		if err == nil {
			bo.Reset()
			continue
		}
		if errors.Is(err, errCheckpointMoved) && ctx.Err() == nil {
			continue // another process committed: the next step plans from where it left off
		}
		if ctx.Err() != nil {
			nak(msgs)
			return fmt.Errorf("stopped with %d events unapplied (they are redelivered): %w", len(ds), err)
		}
		wait := bo.Next()
		if isTransient(err) {
			w.log.Debug("batch retried", "err", err, "in", wait)
		} else {
			w.log.Error("batch failed; retrying", "err", err, "in", wait)
		}
		retry.Sleep(ctx, wait)
	}
	// AckAll: the chunk's highest stream sequence acknowledges the chunk, and with it
	// every lower stream sequence still pending on this consumer, including messages
	// delivered to another projector process that has not committed them yet. That is
	// safe because of the checkpoint chain: this chunk committed only through a
	// compare-and-set on the checkpoint, applying a delivery only when its previous
	// position was the checkpoint (or after reading the events in between from the
	// store), so the checkpoint is now at or past every message of the chunk and every
	// event before them was applied exactly once. The forwarder publishes in position
	// order, so lower sequences hold positions at or below the checkpoint: the other
	// process skips them if it still holds them, and their redelivery is only spared. A
	// lost ack likewise only means redelivery, which the checkpoint turns into skips.
	if err := highestSequence(msgs).Ack(); err != nil {
		return fmt.Errorf("ack: %w", err)
	}
	return nil
}

// highestSequence is the message of msgs with the highest stream sequence, whose ack
// (AckAll) acknowledges them all. It is not always the last: NATS hands redeliveries
// over in the order they came back to it (naks, AckWait expiries), and acking the last
// left the higher ones pending, to be redelivered after AckWait only to be skipped.
func highestSequence(msgs []jetstream.Msg) jetstream.Msg {
	top, topSeq := msgs[len(msgs)-1], uint64(0)
	for _, m := range msgs {
		if md, err := m.Metadata(); err == nil && md.Sequence.Stream > topSeq {
			top, topSeq = m, md.Sequence.Stream
		}
	}
	return top
}

// nak hands messages this process will not apply back to the consumer at once, so the
// process taking the partition over gets them without waiting for AckWait. (A message
// already applied comes back as a skip.)
func nak(msgs []jetstream.Msg) {
	for _, m := range msgs {
		_ = m.Nak()
	}
}

// nakBuffered naks the messages of a pull request that arrived and were not handled.
func nakBuffered(msgs <-chan jetstream.Msg) {
	for {
		select {
		case m, ok := <-msgs:
			if !ok {
				return
			}
			_ = m.Nak()
		default:
			return
		}
	}
}

// delivery is a decoded message and the time from which a gap before it is no longer
// worth waiting for: GapGrace after the stream stored it (or after it arrived here, if
// that is earlier by this host's clock).
type delivery struct {
	env        natsbus.Envelope
	backfillAt time.Time
}

func (w *worker) decode(msgs []jetstream.Msg) []delivery {
	now := time.Now()
	ds := make([]delivery, 0, len(msgs))
	for _, m := range msgs {
		env, err := w.decodeOne(m)
		if err != nil {
			// Not ours or damaged; the next event's chain check backfills what it held.
			w.log.Warn("undecodable message skipped", "subject", m.Subject(), "err", err)
			continue
		}
		if p := w.parts; p > 1 && (env.Part.Of != p || env.Part.Partition != w.part) {
			// Only a forwarder with another count publishes on this partition's subject
			// something of another partition; applying it would break the chain.
			w.log.Error("message of another partitioning skipped; set the same --projection-partitions on forwarder and projectors",
				"subject", m.Subject(), "partition", env.Part.Partition, "of", env.Part.Of)
			continue
		}
		seen := now
		if md, err := m.Metadata(); err == nil && md.Timestamp.Before(seen) {
			seen = md.Timestamp
		}
		ds = append(ds, delivery{env: env, backfillAt: seen.Add(w.r.cfg.GapGrace)})
	}
	return ds
}

// decodeOne reads a message's headers, and takes its body as the first of the
// process's read models to receive it decoded it (sharedDecodes).
func (w *worker) decodeOne(m jetstream.Msg) (natsbus.Envelope, error) {
	link, err := natsbus.DecodeLink(m.Headers())
	if err != nil {
		return natsbus.Envelope{}, err
	}
	ev, err := w.r.decodes.recorded(link.Position, m.Data())
	if err != nil {
		return natsbus.Envelope{}, err
	}
	return natsbus.Envelope{Event: ev, Previous: link.Previous, Part: link.Part}, nil
}

// step commits one batch from the front of ds and reports how many deliveries it
// consumed; gap is set when it stopped before a delivery whose predecessors are not
// committed yet and may still be, by the process holding them.
func (w *worker) step(ctx context.Context, ds []delivery) (int, *gapWait, error) {
	st, err := w.heldPartition(ctx)
	if err != nil {
		return 0, nil, err
	}
	plan, err := w.plan(ctx, st.Checkpoint, ds, time.Now())
	if err != nil {
		return 0, nil, err
	}
	if len(plan.events) > 0 {
		prog := &liveProgress{st: st, last: plan.events[len(plan.events)-1].Position, heads: plan.heads, events: plan.events, parts: w.parts}
		sctx, span := startCommit(ctx, w.r.cfg.Tracer, w.p.Name(), plan.events)
		dead, err := w.apply.apply(sctx, prog, plan.events)
		endCommit(span, dead, err)
		if err == nil {
			w.count(plan, dead)
		}
		// Waiters are woken only after the stats count the commit, so whoever WaitFor
		// wakes sees both.
		if prog.st.Checkpoint != st.Checkpoint {
			w.r.checkpoints.committed(w.p.Name(), w.part, w.parts, prog.st.Checkpoint, prog.headsAt(prog.st.Checkpoint),
				&toldCommit{from: st.Checkpoint, events: plan.events})
		}
		if err == nil && w.r.cfg.OnApplied != nil {
			w.r.cfg.OnApplied(w.p.Name(), plan.events)
		}
		if err != nil {
			w.committed = nil
			return 0, nil, err // what committed is in the checkpoint; the next step skips it
		}
		w.committed = &prog.st
		return plan.consumed, plan.gap, nil
	}
	w.count(plan, 0)
	return plan.consumed, plan.gap, nil
}

// count adds a committed plan to the projection's stats.
func (w *worker) count(plan batchPlan, dead int) {
	w.stats.applied.Add(uint64(len(plan.events) - dead))
	w.stats.byPartition[w.part].Add(uint64(len(plan.events) - dead))
	w.stats.dead.Add(uint64(dead))
	w.stats.skipped.Add(uint64(plan.skipped))
	w.stats.backfilled.Add(uint64(plan.backfilled))
}

type batchPlan struct {
	events     []eventstore.RecordedEvent // to apply, in order, all after the checkpoint
	consumed   int                        // deliveries covered by events or skipped
	skipped    int
	backfilled int
	gap        *gapWait // the plan stopped before a gap young enough to wait for
	// heads are the partition heads of the last event, when it is a delivery that
	// carried them (not one read from the store).
	heads partition.Heads
}

// plan picks the next batch after cp: deliveries at or below cp are skipped (redelivered
// or re-published). Where a delivery's previous position (within the partition) is past
// the last one planned, events of the partition in between are missing: while the delivery is younger than GapGrace the
// plan stops there (another projector sharing the consumer holds them, most likely, and
// is committing them); past it they are read from the store (retention, a deleted
// message, a projection that started after the stream was trimmed, a holder that died).
func (w *worker) plan(ctx context.Context, cp eventstore.Position, ds []delivery, now time.Time) (batchPlan, error) {
	var p batchPlan
	max := w.r.cfg.BatchSize
	for p.consumed < len(ds) && len(p.events) < max {
		d := ds[p.consumed]
		env := d.env
		if !cp.Less(env.Event.Position) {
			p.consumed++
			p.skipped++
			continue
		}
		if prev := w.previous(env); cp.Less(prev) {
			if now.Before(d.backfillAt) {
				p.gap = &gapWait{checkpoint: cp, previous: prev, message: env.Event.Position, backfillAt: d.backfillAt}
				break
			}
			gap, complete, err := w.backfill(ctx, cp, env.Event.Position, max-len(p.events))
			if err != nil {
				return batchPlan{}, err
			}
			w.log.Warn("gap in the event chain; backfilled from the store", "checkpoint", cp.String(),
				"messagePrevious", prev.String(), "message", env.Event.Position.String(), "backfilled", len(gap))
			p.events = append(p.events, gap...)
			p.backfilled += len(gap)
			if len(gap) > 0 {
				cp, p.heads = gap[len(gap)-1].Position, nil
			}
			if !complete {
				break
			}
		}
		p.events = append(p.events, env.Event)
		cp, p.heads = env.Event.Position, w.headsOf(env)
		p.consumed++
	}
	return p, nil
}

// headsOf is the partition heads env carries, for a read model split as they are.
func (w *worker) headsOf(env natsbus.Envelope) partition.Heads {
	if w.parts == 1 || len(env.Part.Heads) != w.parts {
		return nil
	}
	return env.Part.Heads
}

// previous is the position before env in the chain this worker checks: within its
// partition, or the global one for a read model in one partition (which then works
// whatever count the forwarder splits the subjects by).
func (w *worker) previous(env natsbus.Envelope) eventstore.Position {
	if w.parts == 1 {
		return env.Previous
	}
	return env.Part.Previous
}

// backfill reads the events of this worker's partition after from and before until, at
// most limit; complete says whether it reached until.
func (w *worker) backfill(ctx context.Context, from, until eventstore.Position, limit int) (events []eventstore.RecordedEvent, complete bool, err error) {
	for ev, err := range w.r.cfg.Store.ReadAll(ctx, from) {
		if err != nil {
			return nil, false, fmt.Errorf("backfill after %s: %w", from, err)
		}
		if !ev.Position.Less(until) {
			return events, true, nil
		}
		if partition.OfStream(ev.Stream, w.parts) != w.part {
			continue
		}
		if len(events) == limit {
			return events, false, nil
		}
		events = append(events, ev)
	}
	return events, true, nil
}

// heldPartition is the partition's state as this worker committed it last, while it
// holds the partition; else as the database has it.
func (w *worker) heldPartition(ctx context.Context) (State, error) {
	if w.committed != nil && w.own.held() {
		return *w.committed, nil
	}
	w.committed = nil
	return w.loadPartition(ctx)
}

// loadPartition reads the worker's partition, as this process will advance it.
func (w *worker) loadPartition(ctx context.Context) (State, error) {
	st, err := loadPartition(ctx, w.r.cfg.DB, w.p.Name(), w.part)
	st.Owner = w.r.cfg.Owner
	return st, err
}
