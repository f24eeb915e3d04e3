package projections

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"ledger/infra/natsbus"
	"ledger/infra/testkit"
)

// After an upgrade to partitions, or a change of their count, a projector's start-up
// deletes the consumers of the read models' old partitionings that nobody pulls from,
// keeps one an old process still pulls from until a later start-up finds it unused, and
// leaves alone the current consumers and those that are not a read model's.
func TestStartUpDeletesTheUnusedConsumersOfAnOldPartitioning(t *testing.T) {
	h := newHarness(t, "sqlite", t.TempDir()+"/read.db")
	ctx := context.Background()
	js := h.connect().JetStream
	stream, err := natsbus.EnsureStream(ctx, js, natsbus.StreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p := newCounter("counter")
	create := func(name string) jetstream.Consumer {
		t.Helper()
		c, err := stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: name, AckPolicy: jetstream.AckAllPolicy})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	unpartitioned, oldCount, pulled := "projection_counter", ConsumerName(p.Name(), 0, 2), ConsumerName(p.Name(), 1, 2)
	others := []string{"projection_gone_p0of2", "audit_export", "projection_counter_p1of2x"}
	for _, name := range append([]string{unpartitioned, oldCount, pulled}, others...) {
		create(name)
	}

	// An old process still pulls from one of the old partitioning's consumers.
	oldProcess := h.connect()
	oldCons, err := oldProcess.JetStream.Consumer(ctx, natsbus.StreamName, pulled)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := oldCons.Fetch(1, jetstream.FetchMaxWait(time.Hour)); err != nil {
		t.Fatal(err)
	}
	waiting := func(n int) func() bool {
		return func() bool {
			info, err := stream.Consumer(ctx, pulled)
			return err == nil && info.CachedInfo().NumWaiting == n
		}
	}
	testkit.Eventually(t, "the old process's pull waits on its consumer", waiting(1))

	h.partitions = 4
	r := h.runner(nil, p) // Setup
	current := r.ConsumerNames()
	want := slices.Concat(current, []string{pulled}, others)
	if got := consumerNames(t, stream); !sameNames(got, want) {
		t.Errorf("after the first start-up: consumers %v, want %v", got, want)
	}

	oldProcess.Close() // the old process is gone: the server drops its pull
	testkit.Eventually(t, "the old process's pull is gone", waiting(0))
	h.runner(nil, p) // another start-up
	want = slices.Concat(current, others)
	if got := consumerNames(t, stream); !sameNames(got, want) {
		t.Errorf("after the old process stopped: consumers %v, want %v", got, want)
	}
}

func consumerNames(t *testing.T, stream jetstream.Stream) []string {
	t.Helper()
	list := stream.ConsumerNames(context.Background())
	var names []string
	for name := range list.Name() {
		names = append(names, name)
	}
	if err := list.Err(); err != nil {
		t.Fatal(err)
	}
	return names
}

func sameNames(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
