package natsbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"

	"ledger/infra/eventstore"
	"ledger/infra/partition"
	"ledger/infra/retry"
)

// EventSubscriber is the part of the event store the forwarder needs.
type EventSubscriber interface {
	Subscribe(ctx context.Context, from eventstore.Position, handle func(eventstore.SubscriptionMessage) error) error
}

// ForwarderConfig wires a Forwarder.
type ForwarderConfig struct {
	Store     EventSubscriber
	JetStream jetstream.JetStream
	Stream    StreamOptions
	// CheckpointKey names this event store in the fallback checkpoint bucket; "default"
	// when empty. Only needed if several stores forward into one NATS account.
	CheckpointKey string
	Logger        *slog.Logger
	// PublishTimeout bounds the wait for one PubAck; 5 s when zero.
	PublishTimeout time.Duration
	// Tracer, when set, traces the publish of every traced event (forwarder_trace.go).
	Tracer trace.Tracer
	// OnForwarded, when set, is told of every event whose PubAck arrived, in order, from
	// the forwarder's confirming goroutine (metrics: how long events take to be
	// published). It must not block.
	OnForwarded func(eventstore.RecordedEvent)
	// Partitions is how many partitions the read models are split into (by partner,
	// partition.Of); 1 when zero. It picks each event's subject and the chain of
	// previous positions within its partition, so it must be the projectors' count.
	Partitions int
}

// CheckpointBucket is the KV bucket holding each forwarder's fallback checkpoint.
const CheckpointBucket = "LEDGER_FORWARDER"

// Forwarder copies the event store's global log into the events stream, in order,
// each event once.
//
// Where it resumes: the position header of the last message in the stream, because
// the stream itself is the only record that cannot disagree with what was published
// (a checkpoint written after the PubAck would lag it after a crash, and re-publish).
// If retention has emptied the stream, it falls back to the KV checkpoint, written at
// most once a second; the few events it may re-publish then are older than the dedup
// window, and every projector skips them (they are at or below its checkpoint).
//
// Several forwarders on one store: each publish expects the stream's last sequence to
// be the one this forwarder last saw (Nats-Expected-Last-Sequence), so a second
// forwarder's publish is refused as soon as the first has published anything, and it
// re-reads where the stream is before going on. Two of them racing is therefore
// harmless: the stream still holds every event once, in order. Running one per
// deployment is still the sane thing; the check makes a mistake cost retries, not data.
type Forwarder struct {
	cfg       ForwarderConfig
	log       *slog.Logger
	forwarded atomic.Pointer[eventstore.Position]
}

// NewForwarder validates cfg.
func NewForwarder(cfg ForwarderConfig) (*Forwarder, error) {
	if cfg.Store == nil || cfg.JetStream == nil {
		return nil, errors.New("forwarder: Store and JetStream are required")
	}
	if cfg.CheckpointKey == "" {
		cfg.CheckpointKey = "default"
	}
	if cfg.PublishTimeout <= 0 {
		cfg.PublishTimeout = 5 * time.Second
	}
	if cfg.Partitions <= 0 {
		cfg.Partitions = 1
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	f := &Forwarder{cfg: cfg, log: log.With("component", "forwarder")}
	f.setForwarded(eventstore.Start)
	return f, nil
}

func (f *Forwarder) setForwarded(p eventstore.Position) { f.forwarded.Store(&p) }

// Forwarded is the position of the last event whose PubAck arrived.
func (f *Forwarder) Forwarded() eventstore.Position { return *f.forwarded.Load() }

// errResync: the stream moved under us (another forwarder); start again from it.
var errResync = errors.New("stream moved: another publisher")

// Run forwards until ctx is cancelled, then returns nil. A failure of NATS or of the
// store is logged and retried with backoff from the stream's own checkpoint; Run never
// gives up while ctx lives.
func (f *Forwarder) Run(ctx context.Context) error {
	backoff := &retry.Backoff{Min: 100 * time.Millisecond, Max: 5 * time.Second}
	for {
		progressed, err := f.runOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if progressed {
			backoff.Reset()
		}
		wait := backoff.Next()
		if errors.Is(err, errResync) {
			f.log.Warn("another publisher moved the stream; resyncing", "err", err)
		} else {
			f.log.Error("forwarding stopped; retrying", "err", err, "in", wait)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

// runOnce resumes from the stream and forwards until an error or ctx ends.
func (f *Forwarder) runOnce(ctx context.Context) (progressed bool, err error) {
	stream, err := EnsureStream(ctx, f.cfg.JetStream, f.cfg.Stream)
	if err != nil {
		return false, err
	}
	kv, err := f.cfg.JetStream.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: CheckpointBucket, Description: "forwarder fallback checkpoints", History: 1,
		Storage: jetstream.FileStorage,
	})
	if err != nil {
		return false, fmt.Errorf("checkpoint bucket: %w", err)
	}
	from, heads, lastSeq, err := f.resumePoint(ctx, stream, kv)
	if err != nil {
		return false, err
	}
	f.setForwarded(from)
	f.log.Info("forwarding", "from", from.String(), "streamSeq", lastSeq)

	saver := checkpointSaver{kv: kv, key: f.cfg.CheckpointKey, every: time.Second}
	defer func() { saver.flush(context.WithoutCancel(ctx), f.Forwarded(), f.log) }()

	// A failed confirmation cancels the subscription, which may be waiting for events.
	runCtx, fail := context.WithCancelCause(ctx)
	defer fail(nil)
	pipe := f.startPipeline(runCtx, fail, lastSeq, &saver)
	prev := from
	chain := newPartitionChain(f.cfg.Partitions, from, heads)
	err = f.cfg.Store.Subscribe(runCtx, from, func(m eventstore.SubscriptionMessage) error {
		if m.CaughtUp {
			f.log.Info("caught up with the event store", "position", prev.String())
			return nil
		}
		if err := pipe.publish(runCtx, *m.Event, prev, chain.link(*m.Event)); err != nil {
			return err
		}
		prev = m.Event.Position
		return nil
	})
	if err != nil {
		fail(err) // no need to wait for the acks still pending: the stream says where to resume
	}
	pipe.close()
	if cause := context.Cause(runCtx); ctx.Err() == nil && cause != nil && !errors.Is(cause, context.Canceled) {
		err = cause // the confirmer's failure, not the cancellation it caused
	}
	if err == nil && ctx.Err() == nil {
		err = errors.New("event store subscription ended")
	}
	return pipe.acked.Load(), err
}

// publish sends ev and waits for its PubAck; it returns the stream's last sequence.
// The pipeline uses it while it cannot predict the next sequence.
func (f *Forwarder) publish(ctx context.Context, ev eventstore.RecordedEvent, prev eventstore.Position, part PartitionLink, lastSeq uint64) (_ uint64, err error) {
	msg, err := NewMsg(ev, prev, part)
	if err != nil {
		return 0, err
	}
	span := f.startPublish(ctx, ev, msg)
	defer func() { endPublish(span, err) }()
	pctx, cancel := context.WithTimeout(ctx, f.cfg.PublishTimeout)
	defer cancel()
	ack, err := f.cfg.JetStream.PublishMsg(pctx, msg,
		jetstream.WithMsgID(MsgID(ev)), jetstream.WithExpectLastSequence(lastSeq))
	if err != nil {
		return 0, publishError(ev, err)
	}
	if ack.Duplicate {
		// Stored before (within the dedup window): the stream did not move.
		return lastSeq, nil
	}
	return ack.Sequence, nil
}

// resumePoint reads where forwarding continues: the later of the last message's
// position and the KV checkpoint, and the stream's last sequence for the publish check.
// When it continues from the last message, it also returns the partition heads that
// message carries (nil otherwise), where the partition chain stood at it.
func (f *Forwarder) resumePoint(ctx context.Context, stream jetstream.Stream, kv jetstream.KeyValue) (eventstore.Position, partition.Heads, uint64, error) {
	info, err := stream.Info(ctx)
	if err != nil {
		return eventstore.Start, nil, 0, fmt.Errorf("stream info: %w", err)
	}
	from := eventstore.Start
	var heads partition.Heads
	if info.State.Msgs > 0 {
		raw, err := stream.GetLastMsgForSubject(ctx, AllSubjects)
		switch {
		case err == nil:
			env, err := Decode(raw.Header, raw.Data)
			if err != nil {
				return eventstore.Start, nil, 0, fmt.Errorf("last message (seq %d): %w", raw.Sequence, err)
			}
			from, heads = env.Event.Position, env.Part.Heads
		case !errors.Is(err, jetstream.ErrMsgNotFound):
			return eventstore.Start, nil, 0, fmt.Errorf("last message: %w", err)
		}
	}
	entry, err := kv.Get(ctx, f.cfg.CheckpointKey)
	switch {
	case err == nil:
		kvPos, err := eventstore.ParsePosition(string(entry.Value()))
		if err != nil {
			return eventstore.Start, nil, 0, fmt.Errorf("checkpoint %s: %w", f.cfg.CheckpointKey, err)
		}
		if from.Less(kvPos) {
			from, heads = kvPos, nil
		}
	case !errors.Is(err, jetstream.ErrKeyNotFound):
		return eventstore.Start, nil, 0, fmt.Errorf("checkpoint %s: %w", f.cfg.CheckpointKey, err)
	}
	return from, heads, info.State.LastSeq, nil
}

// partitionChain is the last position forwarded in each partition during one run. A run
// resuming from the stream's last message starts from the heads it carries: exact, a
// fact about the log written down by the run that published it. Otherwise (a first run,
// a message without heads or of another partition count, a KV checkpoint past the last
// message) every partition starts at the position it resumes from: an upper bound of
// each partition's last event (everything up to it is in the stream), so the first event
// of a partition after a restart may make its projector read the store for the events
// in between, and never lets it skip one. An upper bound costs more than that read: a
// partition idle since stands below its bound, so no heads prove it complete
// (knownCheckpoints) and a query reading it waits for its idle raise; hence the heads.
// (Reading each partition's last message from the stream would be exact only while
// nobody deletes messages.)
type partitionChain struct {
	of   int
	last []eventstore.Position
}

func newPartitionChain(of int, from eventstore.Position, heads partition.Heads) *partitionChain {
	c := &partitionChain{of: of, last: make([]eventstore.Position, of)}
	if len(heads) == of && heads.At() == from {
		copy(c.last, heads)
		return c
	}
	for k := range c.last {
		c.last[k] = from
	}
	return c
}

// link places ev in its partition and records it as that partition's last event; the
// link carries every partition's last event as of ev (its Heads), when there are several.
func (c *partitionChain) link(ev eventstore.RecordedEvent) PartitionLink {
	k := partition.OfStream(ev.Stream, c.of)
	l := PartitionLink{Partition: k, Of: c.of, Previous: c.last[k]}
	c.last[k] = ev.Position
	if c.of > 1 {
		l.Heads = slices.Clone(c.last)
	}
	return l
}

// checkpointSaver writes the fallback checkpoint at most every `every`.
type checkpointSaver struct {
	kv    jetstream.KeyValue
	key   string
	every time.Duration
	last  time.Time
	saved eventstore.Position
}

func (s *checkpointSaver) maybe(ctx context.Context, pos eventstore.Position, log *slog.Logger) {
	if time.Since(s.last) < s.every {
		return
	}
	s.flush(ctx, pos, log)
}

func (s *checkpointSaver) flush(ctx context.Context, pos eventstore.Position, log *slog.Logger) {
	if pos == s.saved {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	s.last = time.Now()
	if _, err := s.kv.PutString(ctx, s.key, pos.String()); err != nil {
		// Only the fallback is stale; the stream itself still says where we are.
		log.Warn("fallback checkpoint not saved", "position", pos.String(), "err", err)
		return
	}
	s.saved = pos
}
