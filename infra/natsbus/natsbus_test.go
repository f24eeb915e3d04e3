package natsbus

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"ledger/infra/eventstore"
	"ledger/infra/partition"
	"ledger/infra/testkit"
)

// Each partition is a chain of its own: a projector consuming one partition sees every
// event of it, on the partition's subject, each naming the one before it in the
// partition, across a forwarder restart too (where the link may point later, never
// earlier, than the partition's previous event).
func TestForwarderChainsEachPartitionOnItsOwnSubject(t *testing.T) {
	store := openStore(t)
	e := startNATS(t, t.TempDir(), 0)
	c := connect(t, e.ClientURL())
	head := appendEvents(t, store, 30)
	f, stop := runForwarder(t, ForwarderConfig{Store: store, JetStream: c.JetStream, Partitions: 4})
	testkit.Eventually(t, "forwarder reaches the head", func() bool { return f.Forwarded() == head })
	stop()
	head = appendEvents(t, store, 12)
	f2, _ := runForwarder(t, ForwarderConfig{Store: store, JetStream: c.JetStream, Partitions: 4})
	testkit.Eventually(t, "second forwarder reaches the head", func() bool { return f2.Forwarded() == head })

	got := streamContents(t, c)
	assertExactCopy(t, store, got)
	parts := map[int]bool{}
	for _, env := range got {
		if env.Part.Of != 4 || env.Part.Partition != partition.OfStream(env.Event.Stream, 4) {
			t.Fatalf("event at %s of %s in partition %d/%d", env.Event.Position, env.Event.Stream, env.Part.Partition, env.Part.Of)
		}
		parts[env.Part.Partition] = true
	}
	if len(parts) < 2 {
		t.Fatalf("three partners landed in %d partition(s); the test needs several", len(parts))
	}
}

// An event's subject names its stream's category and its partition, not the partner:
// one subject per partner made JetStream walk every partner's subject of a message
// block to find a partition's next message.
func TestSubjectNamesCategoryAndPartition(t *testing.T) {
	for _, tc := range []struct{ rule, stream, want string }{
		{"category and partition become two tokens", "partner-MPN123", "events.partner.p2of4"},
		{"only the first dash splits", "contract-3f2a-11ee", "events.contract.p2of4"},
		{"a stream without id keeps its name as category", "rules", "events.rules.p2of4"},
		{"dots and wildcards cannot leak into the subject", "a.b*>-c", "events.a%2Eb%2A%3E.p2of4"},
		{"spaces and percent are escaped, so names stay distinct", "50% off-x", "events.50%25%20off.p2of4"},
		{"non-ASCII is escaped byte by byte", "Zoë-1", "events.Zo%C3%AB.p2of4"},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			if got := PartitionSubject(tc.stream, 2, 4); got != tc.want {
				t.Fatalf("PartitionSubject(%q, 2, 4) = %q, want %q", tc.stream, got, tc.want)
			}
		})
	}
	if got := CategorySubjects("partner"); got != "events.partner.>" {
		t.Fatalf("CategorySubjects = %q", got)
	}
}

// A message a forwarder of the previous release published (partner in the subject,
// partition in the Ledger-Partition header) still reads as of its partition.
func TestAMessageOfThePreviousReleaseReadsAsOfItsPartition(t *testing.T) {
	ev := eventstore.RecordedEvent{ID: "e1", Stream: "partner-MPN1", Position: eventstore.Position{Commit: 12, Prepare: 12},
		Type: "BenefitActivated", Data: []byte(`{}`)}
	msg, err := NewMsg(ev, eventstore.Position{Commit: 9, Prepare: 9}, PartitionLink{Partition: 2, Of: 4, Previous: eventstore.Position{Commit: 5, Prepare: 5}})
	if err != nil {
		t.Fatal(err)
	}
	msg.Header.Set(legacyHeaderPartition, msg.Header.Get(HeaderPartition))
	msg.Header.Del(HeaderPartition)
	env, err := Decode(msg.Header, msg.Data)
	if err != nil {
		t.Fatal(err)
	}
	if want := (PartitionLink{Partition: 2, Of: 4, Previous: eventstore.Position{Commit: 5, Prepare: 5}}); !reflect.DeepEqual(env.Part, want) {
		t.Errorf("partition link = %+v, want %+v", env.Part, want)
	}
}

func TestMessageCarriesTheEventAndItsChain(t *testing.T) {
	ev := eventstore.RecordedEvent{ID: "0b4c6a2e-5f0e-4f7e-9a51-4b1f2c3d4e5f", Stream: "partner-MPN1", Revision: 3,
		Position: eventstore.Position{Commit: 12, Prepare: 10}, Type: "BenefitActivated",
		Data: []byte(`{"accessId":"A"}`), Metadata: []byte("not json \x00"), RecordedAt: time.Unix(1700000000, 0).UTC()}
	pos := func(c, p uint64) eventstore.Position { return eventstore.Position{Commit: c, Prepare: p} }
	link := PartitionLink{Partition: 2, Of: 4, Previous: pos(5, 5), Heads: partition.Heads{pos(5, 5), pos(11, 11), ev.Position, pos(3, 3)}}
	msg, err := NewMsg(ev, pos(9, 9), link)
	if err != nil {
		t.Fatal(err)
	}
	for h, want := range map[string]string{nats.MsgIdHdr: "12/10", HeaderPosition: "12/10", HeaderPreviousPosition: "9",
		HeaderStream: "partner-MPN1", HeaderRevision: "3", HeaderEventType: "BenefitActivated",
		HeaderPartition: "2/4", HeaderPartitionPrevious: "5", HeaderPartitionHeads: "5,11,12/10,3"} {
		if got := msg.Header.Get(h); got != want {
			t.Errorf("header %s = %q, want %q", h, got, want)
		}
	}
	env, err := Decode(msg.Header, msg.Data)
	if err != nil {
		t.Fatal(err)
	}
	if env.Previous != (eventstore.Position{Commit: 9, Prepare: 9}) {
		t.Errorf("previous = %s", env.Previous)
	}
	if !reflect.DeepEqual(env.Part, link) {
		t.Errorf("partition link = %+v, want %+v", env.Part, link)
	}
	if msg.Subject != "events.partner.p2of4" {
		t.Errorf("subject %q, want the partition's", msg.Subject)
	}
	got := env.Event
	if got.ID != ev.ID || got.Stream != ev.Stream || got.Revision != ev.Revision || got.Position != ev.Position ||
		got.Type != ev.Type || string(got.Data) != string(ev.Data) || string(got.Metadata) != string(ev.Metadata) ||
		!got.RecordedAt.Equal(ev.RecordedAt) {
		t.Errorf("round trip changed the event:\n got %+v\nwant %+v", got, ev)
	}
}

func TestDecodeRefusesForeignMessages(t *testing.T) {
	ev := eventstore.RecordedEvent{ID: "e", Stream: "s-1", Position: eventstore.Position{Commit: 2, Prepare: 2}, Data: []byte(`{}`)}
	good, _ := NewMsg(ev, eventstore.Start, PartitionLink{Of: 1})
	for _, tc := range []struct {
		rule string
		msg  func() *nats.Msg
	}{
		{"no position headers", func() *nats.Msg { return &nats.Msg{Header: nats.Header{}, Data: good.Data} }},
		{"position header not a position", func() *nats.Msg {
			m := *good
			m.Header = nats.Header{}
			m.Header.Set(HeaderPosition, "x")
			m.Header.Set(HeaderPreviousPosition, "1")
			return &m
		}},
		{"body not JSON", func() *nats.Msg { m := *good; m.Data = []byte("{"); return &m }},
		{"body and header disagree on the position", func() *nats.Msg {
			m := *good
			m.Header = nats.Header{}
			m.Header.Set(HeaderPosition, "3")
			m.Header.Set(HeaderPreviousPosition, "2")
			return &m
		}},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			m := tc.msg()
			if _, err := Decode(m.Header, m.Data); !errors.Is(err, ErrNotAnEvent) {
				t.Fatalf("Decode: %v, want ErrNotAnEvent", err)
			}
		})
	}
}

func TestEmbeddedServerListensOnLoopbackOnly(t *testing.T) {
	if _, err := StartEmbedded(context.Background(), EmbeddedOptions{}); err == nil {
		t.Fatal("StartEmbedded without StoreDir succeeded")
	}
	e := startNATS(t, t.TempDir(), 0)
	if !strings.HasPrefix(e.ClientURL(), "nats://127.0.0.1:") || strings.HasSuffix(e.ClientURL(), ":4222") {
		t.Fatalf("ClientURL = %s, want a random loopback port", e.ClientURL())
	}
	c := connect(t, e.ClientURL())
	if _, err := EnsureStream(context.Background(), c.JetStream, StreamOptions{}); err != nil {
		t.Fatalf("JetStream not usable: %v", err)
	}
	if _, err := EnsureStream(context.Background(), c.JetStream, StreamOptions{MaxAge: time.Minute}); err != nil {
		t.Fatalf("EnsureStream is not idempotent: %v", err)
	}
}

func TestForwarderResumesAfterRestartWithoutLossOrDuplicates(t *testing.T) {
	store := openStore(t)
	e := startNATS(t, t.TempDir(), 0)
	c := connect(t, e.ClientURL())

	head := appendEvents(t, store, 40)
	f, stop := runForwarder(t, ForwarderConfig{Store: store, JetStream: c.JetStream})
	testkit.Eventually(t, "first forwarder reaches the head", func() bool { return f.Forwarded() == head })
	head = appendEvents(t, store, 5) // live events, after catch-up
	testkit.Eventually(t, "first forwarder forwards live events", func() bool { return f.Forwarded() == head })
	stop()

	head = appendEvents(t, store, 30) // while no forwarder runs
	f2, _ := runForwarder(t, ForwarderConfig{Store: store, JetStream: c.JetStream})
	testkit.Eventually(t, "second forwarder reaches the head", func() bool { return f2.Forwarded() == head })
	assertExactCopy(t, store, streamContents(t, c))
}

func TestForwarderResumesFromFallbackWhenRetentionEmptiedTheStream(t *testing.T) {
	store := openStore(t)
	e := startNATS(t, t.TempDir(), 0)
	c := connect(t, e.ClientURL())

	before := appendEvents(t, store, 20)
	f, stop := runForwarder(t, ForwarderConfig{Store: store, JetStream: c.JetStream})
	testkit.Eventually(t, "forwarder reaches the head", func() bool { return f.Forwarded() == before })
	stop()
	s, err := c.JetStream.Stream(context.Background(), StreamName)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Purge(context.Background()); err != nil { // what MaxAge does to an idle stream
		t.Fatal(err)
	}

	head := appendEvents(t, store, 7)
	f2, _ := runForwarder(t, ForwarderConfig{Store: store, JetStream: c.JetStream})
	testkit.Eventually(t, "forwarder reaches the head", func() bool { return f2.Forwarded() == head })
	got := streamContents(t, c)
	if len(got) != 7 {
		t.Fatalf("after the purge the stream holds %d messages, want the 7 new events only", len(got))
	}
	if got[0].Previous != before {
		t.Fatalf("first message after the purge links to %s, want %s", got[0].Previous, before)
	}
}

func TestTwoForwardersOnOneStoreStillPublishEachEventOnceInOrder(t *testing.T) {
	store := openStore(t)
	e := startNATS(t, t.TempDir(), 0)
	c1 := connect(t, e.ClientURL())
	c2 := connect(t, e.ClientURL())

	appendEvents(t, store, 50)
	f1, _ := runForwarder(t, ForwarderConfig{Store: store, JetStream: c1.JetStream})
	f2, _ := runForwarder(t, ForwarderConfig{Store: store, JetStream: c2.JetStream})
	head := appendEvents(t, store, 100)
	// Both reach it: the one that lost a race for a position resyncs from the stream, so
	// once both are at the head neither has anything left to publish, and what the
	// stream holds is final.
	testkit.Eventually(t, "both forwarders reach the head", func() bool { return f1.Forwarded() == head && f2.Forwarded() == head })
	assertExactCopy(t, store, streamContents(t, c1))
}

func TestForwarderRidesOutANATSRestart(t *testing.T) {
	store := openStore(t)
	dir := t.TempDir()
	e := startNATS(t, dir, 0)
	url := e.ClientURL()
	port := portOf(t, url)
	c := connect(t, url)

	f, _ := runForwarder(t, ForwarderConfig{Store: store, JetStream: c.JetStream, PublishTimeout: 500 * time.Millisecond})
	head := appendEvents(t, store, 10)
	testkit.Eventually(t, "forwarded before the restart", func() bool { return f.Forwarded() == head })
	e.Shutdown()
	head = appendEvents(t, store, 10) // forwarder fails to publish these for now
	e = startNATS(t, dir, port)
	testkit.Eventually(t, "forwarded after the restart", func() bool { return f.Forwarded() == head })
	assertExactCopy(t, store, streamContents(t, c))
}

func portOf(t *testing.T, url string) int {
	t.Helper()
	i := strings.LastIndexByte(url, ':')
	var port int
	if _, err := fmt.Sscanf(url[i+1:], "%d", &port); err != nil {
		t.Fatalf("port of %s: %v", url, err)
	}
	return port
}
