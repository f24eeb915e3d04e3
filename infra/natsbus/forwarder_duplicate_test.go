package natsbus

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"ledger/infra/eventstore"
	"ledger/infra/testkit"
)

// duplicateInjector hands the forwarder the store's events and, once, just before the
// at-th event of a run, publishes that event itself (on the forwarder's own
// connection, so it lands right after the events the forwarder published before it):
// what a second publisher does. The forwarder's own publish of the event is then a
// duplicate, arriving while the publishes before it may still await their PubAck and
// those after it are sent expecting the sequence it was meant to take.
type duplicateInjector struct {
	store    EventSubscriber
	js       jetstream.JetStream
	at       int
	injected atomic.Bool
	t        *testing.T
}

func (d *duplicateInjector) Subscribe(ctx context.Context, from eventstore.Position, handle func(eventstore.SubscriptionMessage) error) error {
	seen, prev := 0, from
	return d.store.Subscribe(ctx, from, func(m eventstore.SubscriptionMessage) error {
		if m.Event == nil {
			return handle(m)
		}
		if seen++; seen == d.at && d.injected.CompareAndSwap(false, true) {
			msg, err := NewMsg(*m.Event, prev, PartitionLink{Of: 1, Previous: prev}) // one partition: its chain is the log
			if err != nil {
				d.t.Errorf("message of %s: %v", m.Event.ID, err)
			} else if _, err := d.js.PublishMsg(ctx, msg, jetstream.WithMsgID(MsgID(*m.Event))); err != nil {
				d.t.Errorf("publishing the duplicate of %s: %v", m.Event.ID, err)
			}
		}
		prev = m.Event.Position
		return handle(m)
	})
}

// A duplicate in the middle of a windowed run (another publisher got one event in
// first) must leave the stream an exact copy of the log: every event once, in order,
// each linked to the one before, and the forwarder at the head.
func TestForwarderWindowSurvivesADuplicateInTheMiddleOfARun(t *testing.T) {
	store := openStore(t)
	e := startNATS(t, t.TempDir(), 0)
	c := connect(t, e.ClientURL())

	head := appendEvents(t, store, 3*PublishWindow)
	inj := &duplicateInjector{store: store, js: c.JetStream, at: PublishWindow + 7, t: t}
	f, _ := runForwarder(t, ForwarderConfig{Store: inj, JetStream: c.JetStream})
	testkit.Eventually(t, "forwarder reaches the head", func() bool { return f.Forwarded() == head })
	if !inj.injected.Load() {
		t.Fatal("the duplicate was never published: the test proved nothing")
	}
	head = appendEvents(t, store, 20) // and it goes on forwarding live events
	testkit.Eventually(t, "forwarder forwards live events", func() bool { return f.Forwarded() == head })
	assertExactCopy(t, store, streamContents(t, c))
}
