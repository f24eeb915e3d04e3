package eventstoretest

import (
	"bytes"
	"testing"
	"time"

	"ledger/infra/eventstore"
)

func readStreamFromLimit(t *testing.T, s eventstore.Store) {
	n := newNames()
	stream := n.stream("five")
	mustAppend(t, s, stream, eventstore.NoStream(), events(5, "five")...)

	fw, bw := eventstore.Forwards, eventstore.Backwards
	cases := []struct {
		name string
		opts eventstore.ReadStreamOptions
		want []uint64
	}{
		{"forwards from 0, no limit, reads all", eventstore.ReadStreamOptions{Direction: fw}, []uint64{0, 1, 2, 3, 4}},
		{"forwards from 1 limit 2", eventstore.ReadStreamOptions{Direction: fw, From: 1, Limit: 2}, []uint64{1, 2}},
		{"forwards from 3, limit past the end", eventstore.ReadStreamOptions{Direction: fw, From: 3, Limit: 10}, []uint64{3, 4}},
		{"forwards from past the end is empty", eventstore.ReadStreamOptions{Direction: fw, From: 5}, nil},
		{"backwards from End limit 2", eventstore.ReadStreamOptions{Direction: bw, From: eventstore.End, Limit: 2}, []uint64{4, 3}},
		{"backwards from 2, no limit", eventstore.ReadStreamOptions{Direction: bw, From: 2}, []uint64{2, 1, 0}},
		{"backwards from End reads all", eventstore.ReadStreamOptions{Direction: bw, From: eventstore.End}, []uint64{4, 3, 2, 1, 0}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := revisions(mustRead(t, s, stream, c.opts))
			if !equal(got, c.want) && !(len(got) == 0 && len(c.want) == 0) {
				t.Fatalf("revisions %v, want %v", got, c.want)
			}
		})
	}
}

func missingStreamReadsEmpty(t *testing.T, s eventstore.Store) {
	n := newNames()
	for _, opts := range []eventstore.ReadStreamOptions{
		{Direction: eventstore.Forwards},
		{Direction: eventstore.Backwards, From: eventstore.End},
	} {
		got, err := s.ReadStream(bounded(t), n.stream("never-written"), opts)
		if err != nil {
			t.Fatalf("read missing stream %+v: %v, want no error", opts, err)
		}
		if len(got) != 0 {
			t.Fatalf("read missing stream: %d events", len(got))
		}
	}
}

func globalOrderAcrossStreams(t *testing.T, s eventstore.Store) {
	n := newNames()
	from := mustHead(t, s)
	order := []string{"a", "b", "a", "c", "b", "a"}
	var want []string
	for _, name := range order {
		evs := events(2, name)
		mustAppend(t, s, n.stream(name), eventstore.Any(), evs...)
		want = append(want, dataIDs(evs)...)
	}
	got := readAll(t, s, from, n)
	if !equal(ids(got), want) {
		t.Fatalf("global log IDs %v\nwant append order %v", ids(got), want)
	}
	inPositionOrder(t, got)
}

func readAllExclusiveStart(t *testing.T, s eventstore.Store) {
	n := newNames()
	evs := events(3, "x")
	first := mustAppend(t, s, n.stream("x"), eventstore.NoStream(), evs[0])
	mustAppend(t, s, n.stream("x"), eventstore.Exact(0), evs[1:]...)
	got := readAll(t, s, first.Position, n)
	if !equal(ids(got), dataIDs(evs[1:])) {
		t.Fatalf("ReadAll from the first event's position gave %v, want the two after it %v", ids(got), dataIDs(evs[1:]))
	}
}

func readAllManyPages(t *testing.T, s eventstore.Store) {
	const streams, perStream = 25, 100 // 2,500 events, more than any adapter's page
	n := newNames()
	from := mustHead(t, s)
	var want []string
	for i := range streams {
		evs := events(perStream, "bulk")
		mustAppend(t, s, n.stream(string(rune('a'+i))), eventstore.NoStream(), evs...)
		want = append(want, dataIDs(evs)...)
	}
	got := readAll(t, s, from, n)
	if len(got) != len(want) {
		t.Fatalf("ReadAll gave %d events, want %d", len(got), len(want))
	}
	if !equal(ids(got), want) {
		t.Fatal("ReadAll gave the events out of append order")
	}
	inPositionOrder(t, got)
}

func head(t *testing.T, s eventstore.Store) {
	if p := mustHead(t, s); !p.IsZero() {
		t.Fatalf("head of a fresh store is %s, want Start", p)
	}
	n := newNames()
	mustAppend(t, s, n.stream("h1"), eventstore.NoStream(), events(2, "h1")...)
	res := mustAppend(t, s, n.stream("h2"), eventstore.NoStream(), events(1, "h2")...)
	if p := mustHead(t, s); p != res.Position {
		t.Fatalf("head %s, want the last appended position %s", p, res.Position)
	}
}

func dataRoundTrip(t *testing.T, s eventstore.Store) {
	n := newNames()
	stream := n.stream("bytes")
	in := []eventstore.EventData{
		{ID: events(1, "")[0].ID, Type: "WithMetadata", Data: []byte(`{"text":"ünïcode ✓","n":1.50,"nested":{"z":1,"a":[true,null]}}`), Metadata: []byte(`{"actor":"u-1","correlationId":"c-1"}`)},
		{ID: events(1, "")[0].ID, Type: "WithoutMetadata", Data: []byte(`{"spaced" :  [1, 2]}`)},
	}
	from := mustHead(t, s)
	before := time.Now().Add(-time.Minute)
	mustAppend(t, s, stream, eventstore.NoStream(), in...)
	after := time.Now().Add(time.Minute)
	got := mustRead(t, s, stream, eventstore.ReadStreamOptions{})
	if len(got) != len(in) {
		t.Fatalf("read %d events, want %d", len(got), len(in))
	}
	for i := range in {
		g, w := got[i], in[i]
		if g.ID != w.ID || g.Type != w.Type {
			t.Errorf("event %d: id %s type %s, want %s %s", i, g.ID, g.Type, w.ID, w.Type)
		}
		if !bytes.Equal(g.Data, w.Data) {
			t.Errorf("event %d data %q, want the bytes appended %q", i, g.Data, w.Data)
		}
		if !bytes.Equal(g.Metadata, w.Metadata) {
			t.Errorf("event %d metadata %q, want %q", i, g.Metadata, w.Metadata)
		}
		if g.RecordedAt.Before(before) || g.RecordedAt.After(after) {
			t.Errorf("event %d recorded at %v, want about now", i, g.RecordedAt)
		}
	}
	all := readAll(t, s, from, n)
	if len(all) != len(in) || !bytes.Equal(all[0].Data, in[0].Data) || !bytes.Equal(all[0].Metadata, in[0].Metadata) {
		t.Errorf("ReadAll does not give back the bytes appended")
	}
}
