package esdbprotocolserver_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"ledger/infra/esdbstore/esdbprotocolserver"
	"ledger/infra/testkit"
)

func client(t *testing.T) (*esdb.Client, *esdbprotocolserver.Server) {
	t.Helper()
	server, conn := esdbprotocolserver.StartServer(t)
	config, err := esdb.ParseConnectionString(conn)
	if err != nil {
		t.Fatal(err)
	}
	config.Logger = esdb.NoopLogging()
	c, err := esdb.NewClient(config)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, server
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testkit.HangBound)
	t.Cleanup(cancel)
	return ctx
}

func ev(id uuid.UUID) esdb.EventData {
	return esdb.EventData{EventID: id, EventType: "Tested", ContentType: esdb.ContentTypeJson, Data: []byte(`{}`)}
}

// The append rules are EventStoreDB's (IndexWriter.CheckCommit); these cases pin the
// ones the adapter depends on, including those it has to make up for.
func TestAppendFollowsEventStoreDBIdempotencyRules(t *testing.T) {
	c, _ := client(t)
	ctx := ctxFor(t)
	a, b := uuid.New(), uuid.New()
	if _, err := c.AppendToStream(ctx, "s", esdb.AppendToStreamOptions{ExpectedRevision: esdb.NoStream{}}, ev(a), ev(b)); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		stream   string
		expected esdb.ExpectedRevision
		events   []esdb.EventData
		wrong    string // "" when accepted: the client's wrong-expected-version message otherwise
		revision uint64 // when accepted
	}{
		{"same ids at the same expected revision are idempotent", "s", esdb.NoStream{}, []esdb.EventData{ev(a), ev(b)}, "", 1},
		{"same ids at any are idempotent", "s", esdb.Any{}, []esdb.EventData{ev(a), ev(b)}, "", 1},
		{"first id stored, second new: corrupted idempotency is a wrong version", "s", esdb.NoStream{}, []esdb.EventData{ev(a), ev(uuid.New())}, "but got '1'", 0},
		{"new ids behind the head are a wrong version", "s", esdb.Revision(0), []esdb.EventData{ev(uuid.New())}, "but got '1'", 0},
		{"stream-exists on a missing stream is a wrong version", "missing", esdb.StreamExists{}, []esdb.EventData{ev(uuid.New())}, "but got 'no_stream'", 0},
		{"a stored id in another stream is written (EventStoreDB does not refuse it)", "other", esdb.Any{}, []esdb.EventData{ev(a)}, "", 0},
		{"a stored id at the head of its own stream is written again", "s", esdb.Revision(1), []esdb.EventData{ev(a)}, "", 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := c.AppendToStream(ctx, tc.stream, esdb.AppendToStreamOptions{ExpectedRevision: tc.expected}, tc.events...)
			if tc.wrong != "" {
				var esErr *esdb.Error
				if !errors.As(err, &esErr) || esErr.Code() != esdb.ErrorCodeWrongExpectedVersion || !strings.Contains(esErr.Err().Error(), tc.wrong) {
					t.Fatalf("got %v, want wrong expected version with %q", err, tc.wrong)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.NextExpectedVersion != tc.revision || res.CommitPosition == 0 {
				t.Fatalf("got revision %d at %d, want revision %d at a position", res.NextExpectedVersion, res.CommitPosition, tc.revision)
			}
		})
	}
}

// A subscription sends confirmation, history after the (exclusive) start, caught_up,
// then live events; a filtered $all subscription also sends checkpoints.
func TestSubscriptionOrder(t *testing.T) {
	c, server := client(t)
	ctx := ctxFor(t)
	var revs []uint64
	for range 3 {
		res, err := c.AppendToStream(ctx, "s", esdb.AppendToStreamOptions{}, ev(uuid.New()))
		if err != nil {
			t.Fatal(err)
		}
		revs = append(revs, res.NextExpectedVersion)
	}
	sub, err := c.SubscribeToStream(ctx, "s", esdb.SubscribeToStreamOptions{From: esdb.Revision(revs[0])})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	want := []string{"event 1", "event 2", "caught up"}
	for _, w := range want {
		if got := describe(sub.Recv()); got != w {
			t.Fatalf("stream subscription gave %q, want %q", got, w)
		}
	}
	if _, err := c.AppendToStream(ctx, "s", esdb.AppendToStreamOptions{}, ev(uuid.New())); err != nil {
		t.Fatal(err)
	}
	if got := describe(sub.Recv()); got != "event 3" {
		t.Fatalf("live: %q, want event 3", got)
	}

	server.AppendSystemEvent("$stats", "$statsCollected", []byte(`{}`))
	all, err := c.SubscribeToAll(ctx, esdb.SubscribeToAllOptions{
		From: esdb.Start{}, Filter: esdb.ExcludeSystemEventsFilter(), MaxSearchWindow: 1, CheckpointInterval: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer all.Close()
	var got []string
	for len(got) == 0 || got[len(got)-1] != "caught up" {
		got = append(got, describe(all.Recv()))
	}
	joined := strings.Join(got, ", ")
	// Two system events at start-up, four of ours, one more system event: seven
	// scanned, seven checkpoints, only ours delivered.
	if strings.Count(joined, "checkpoint") != 7 || strings.Count(joined, "event") != 4 || strings.Contains(joined, "$") {
		t.Fatalf("filtered $all subscription gave %s", joined)
	}
}

func describe(e *esdb.SubscriptionEvent) string {
	switch {
	case e.SubscriptionDropped != nil:
		return "dropped: " + e.SubscriptionDropped.Error.Error()
	case e.CaughtUp != nil:
		return "caught up"
	case e.CheckPointReached != nil:
		return "checkpoint"
	case e.EventAppeared != nil:
		r := e.EventAppeared.Event
		if strings.HasPrefix(r.EventType, "$") {
			return r.EventType
		}
		return "event " + string(rune('0'+r.EventNumber))
	}
	return "unknown"
}

// $all reads from a position include the event at it going forwards and start before it
// going backwards; created is .NET ticks, which the client turns into a time.
func TestReadAllFromPosition(t *testing.T) {
	c, _ := client(t)
	ctx := ctxFor(t)
	before := time.Now()
	var positions []esdb.Position
	for range 3 {
		res, err := c.AppendToStream(ctx, "s", esdb.AppendToStreamOptions{}, ev(uuid.New()))
		if err != nil {
			t.Fatal(err)
		}
		positions = append(positions, esdb.Position{Commit: res.CommitPosition, Prepare: res.PreparePosition})
	}
	read := func(dir esdb.Direction) []uint64 {
		rs, err := c.ReadAll(ctx, esdb.ReadAllOptions{Direction: dir, From: positions[1]}, 10)
		if err != nil {
			t.Fatal(err)
		}
		defer rs.Close()
		var revs []uint64
		for {
			e, err := rs.Recv()
			if errors.Is(err, io.EOF) {
				return revs
			}
			if err != nil {
				t.Fatal(err)
			}
			if e.Event.StreamID == "s" {
				revs = append(revs, e.Event.EventNumber)
				if d := e.Event.CreatedDate.Sub(before); d < -time.Second || d > time.Minute {
					t.Errorf("created %v, want about %v", e.Event.CreatedDate, before)
				}
			}
		}
	}
	if got := read(esdb.Forwards); len(got) != 2 || got[0] != 1 {
		t.Fatalf("forwards from the second event's position: revisions %v, want [1 2]", got)
	}
	if got := read(esdb.Backwards); len(got) != 1 || got[0] != 0 {
		t.Fatalf("backwards from the second event's position: revisions %v, want [0]", got)
	}
}

// Malformed requests are refused with InvalidArgument, a missing stream reads as
// stream_not_found: checked on the wire, below the client.
func TestWireLevelAnswers(t *testing.T) {
	conn := esdbprotocolserver.Start(t)
	cc, err := grpc.NewClient(strings.TrimSuffix(strings.TrimPrefix(conn, "esdb://"), "?tls=false"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx := ctxFor(t)
	api := streams.NewStreamsClient(cc)

	app, err := api.Append(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_ = app.Send(&streams.AppendReq{Content: &streams.AppendReq_Options_{Options: &streams.AppendReq_Options{
		StreamIdentifier:       &shared.StreamIdentifier{StreamName: []byte("s")},
		ExpectedStreamRevision: &streams.AppendReq_Options_Any{Any: &shared.Empty{}},
	}}})
	_ = app.Send(&streams.AppendReq{Content: &streams.AppendReq_ProposedMessage_{ProposedMessage: &streams.AppendReq_ProposedMessage{
		Id:       &shared.UUID{Value: &shared.UUID_String_{String_: uuid.NewString()}},
		Metadata: map[string]string{"content-type": "application/json"},
		Data:     []byte(`{}`),
	}}})
	if _, err := app.CloseAndRecv(); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "'type'") {
		t.Fatalf("append without type metadata: %v, want InvalidArgument naming type", err)
	}

	rd, err := api.Read(ctx, &streams.ReadReq{Options: &streams.ReadReq_Options{
		StreamOption: &streams.ReadReq_Options_Stream{Stream: &streams.ReadReq_Options_StreamOptions{
			StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte("missing")},
			RevisionOption:   &streams.ReadReq_Options_StreamOptions_Start{Start: &shared.Empty{}},
		}},
		CountOption:  &streams.ReadReq_Options_Count{Count: 10},
		FilterOption: &streams.ReadReq_Options_NoFilter{NoFilter: &shared.Empty{}},
		UuidOption:   &streams.ReadReq_Options_UUIDOption{Content: &streams.ReadReq_Options_UUIDOption_String_{String_: &shared.Empty{}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := rd.Recv()
	if err != nil || msg.GetStreamNotFound() == nil {
		t.Fatalf("read of a missing stream: %v %v, want stream_not_found", msg, err)
	}
}
