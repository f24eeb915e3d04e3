package natsbus

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"

	"ledger/infra/eventstore"
)

// PublishWindow is how many events the forwarder has published and not yet seen
// acknowledged at most. Waiting for each PubAck before the next publish capped
// forwarding at one round trip per event: on a busy two-core host that was ~500
// events/s, and every read model (they read nothing the forwarder has not published)
// fell seconds behind the commands (issue 10). A window keeps the round trips
// overlapping while each publish still names the stream sequence it expects to follow,
// so the stream holds every event once, in order, as before.
const PublishWindow = 256

// inflight is one event published and awaiting its PubAck.
type inflight struct {
	ack  jetstream.PubAckFuture
	ev   eventstore.RecordedEvent
	span trace.Span // ended with the PubAck (forwarder_trace.go)
}

// pipeline publishes a run of events without waiting for each PubAck; its confirmer
// goroutine takes the acks in publish order, advancing Forwarded and the fallback
// checkpoint only past acknowledged events. Its first publishes wait for their ack
// (alone), until one is not a duplicate: after a resume the stream's last sequence is
// only known to move with a publish that stored something, and a pipelined publish
// expects the sequence the one before it will get.
type pipeline struct {
	f        *Forwarder
	saver    *checkpointSaver
	fail     context.CancelCauseFunc // the first confirmation failure ends the run
	pending  chan inflight
	done     chan struct{}
	nextSeq  uint64 // the stream's last sequence once every publish so far is stored
	alone    bool
	acked    atomic.Bool // some publish was acknowledged: the run made progress
	lastLog  time.Time
	forwards int
}

func (f *Forwarder) startPipeline(ctx context.Context, fail context.CancelCauseFunc, lastSeq uint64, saver *checkpointSaver) *pipeline {
	p := &pipeline{f: f, saver: saver, fail: fail, pending: make(chan inflight, PublishWindow-1),
		done: make(chan struct{}), nextSeq: lastSeq, alone: true, lastLog: time.Now()}
	go p.confirm(ctx)
	return p
}

// publish sends ev, whose predecessor in the log is prev; it blocks while the window
// is full.
func (p *pipeline) publish(ctx context.Context, ev eventstore.RecordedEvent, prev eventstore.Position, part PartitionLink) error {
	if p.alone {
		seq, err := p.f.publish(ctx, ev, prev, part, p.nextSeq)
		if err != nil {
			return err
		}
		p.alone = seq == p.nextSeq // a duplicate did not move the stream: stay careful
		p.nextSeq = seq
		p.confirmed(ctx, ev)
		return nil
	}
	msg, err := NewMsg(ev, prev, part)
	if err != nil {
		return err
	}
	span := p.f.startPublish(ctx, ev, msg)
	ack, err := p.f.cfg.JetStream.PublishMsgAsync(msg, jetstream.WithMsgID(MsgID(ev)), jetstream.WithExpectLastSequence(p.nextSeq))
	if err != nil {
		err = fmt.Errorf("publish %s at %s: %w", ev.ID, ev.Position, err)
		endPublish(span, err)
		return err
	}
	p.nextSeq++
	select {
	case p.pending <- inflight{ack: ack, ev: ev, span: span}:
		return nil
	case <-ctx.Done():
		endPublish(span, context.Cause(ctx))
		return context.Cause(ctx)
	}
}

// close waits for the confirmer to take the acks still pending (or to give up on them
// when the run is failing or stopping).
func (p *pipeline) close() {
	close(p.pending)
	<-p.done
}

func (p *pipeline) confirm(ctx context.Context) {
	defer close(p.done)
	for in := range p.pending {
		if ctx.Err() != nil {
			endPublish(in.span, context.Cause(ctx))
			continue // drain: nothing past a failure counts as forwarded
		}
		err := p.await(ctx, in)
		endPublish(in.span, err)
		if err != nil {
			p.fail(err)
			continue
		}
		p.confirmed(ctx, in.ev)
	}
}

// await waits for one PubAck. A duplicate means the stream did not take the sequence
// the publishes after it expect, so they are refused: the run resyncs from the stream.
func (p *pipeline) await(ctx context.Context, in inflight) error {
	timer := time.NewTimer(p.f.cfg.PublishTimeout)
	defer timer.Stop()
	select {
	case ack := <-in.ack.Ok():
		if ack.Duplicate {
			return fmt.Errorf("%w: %s at %s was already in the stream", errResync, in.ev.ID, in.ev.Position)
		}
		return nil
	case err := <-in.ack.Err():
		return publishError(in.ev, err)
	case <-timer.C:
		return fmt.Errorf("publish %s at %s: no PubAck within %s", in.ev.ID, in.ev.Position, p.f.cfg.PublishTimeout)
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// confirmed records that ev is in the stream.
func (p *pipeline) confirmed(ctx context.Context, ev eventstore.RecordedEvent) {
	p.f.setForwarded(ev.Position)
	if p.f.cfg.OnForwarded != nil {
		p.f.cfg.OnForwarded(ev)
	}
	p.acked.Store(true)
	p.forwards++
	p.saver.maybe(ctx, ev.Position, p.f.log)
	if time.Since(p.lastLog) >= 10*time.Second {
		p.f.log.Info("forwarding progress", "position", ev.Position.String(), "forwarded", p.forwards)
		p.lastLog = time.Now()
	}
}

// publishError tells a refusal because the stream moved (another publisher, or an
// earlier publish of this run that failed) from other failures.
func publishError(ev eventstore.RecordedEvent, err error) error {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant) {
		return fmt.Errorf("%w: publish %s at %s: %w", errResync, ev.ID, ev.Position, err)
	}
	return fmt.Errorf("publish %s at %s: %w", ev.ID, ev.Position, err)
}
