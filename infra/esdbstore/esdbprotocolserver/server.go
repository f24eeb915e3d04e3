// Package esdbprotocolserver is an in-memory EventStoreDB for tests: a real gRPC server
// speaking EventStoreDB's wire protocol (the Streams and ServerFeatures services the v4
// Go client uses), built on the generated server interfaces the client module exports.
// No EventStoreDB server can run on the build machines, so the adapter's contract suite
// runs through the real esdb client against this one; the same suite runs against a real
// server when ESDB_URL is set.
//
// What it models, from EventStoreDB's behaviour: appends checked and made idempotent by
// event id like IndexWriter.CheckCommit (including "corrupted idempotency" answered as a
// wrong expected version), wrong expected version as a normal Append reply, the type,
// content-type and created (.NET ticks) metadata on every event, system ($) events in
// $all, stream and $all reads forwards and backwards, catch-up subscriptions with
// confirmation, caught_up and filter checkpoints, keepalive enforcement that accepts
// the client's pings, soft Delete (re-created at the next revision by a later append)
// and Tombstone (StreamDeleted on later reads and appends), stream metadata
// ($maxCount, $maxAge, $tb) applied to stream reads but not to $all (no scavenge runs),
// StreamExists satisfied by a stream that has only metadata, and the 1 MiB maximum
// append size. What it leaves out: ACLs, batch appends, persistent subscriptions,
// projections, scavenging, gossip, TLS and authentication.
package esdbprotocolserver

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/serverfeatures"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
)

// Version is the server version it answers GetSupportedMethods with; its wire behaviour
// follows that release.
const Version = "24.10.0"

// Server is one in-memory EventStoreDB node.
type Server struct {
	log  *eventLog
	grpc *grpc.Server
}

// New returns a server whose log already holds the system events a fresh node writes,
// so that clients must filter them as they would on a real node.
func New() *Server {
	s := &Server{log: newEventLog()}
	// The client pings every 10 s, also without active calls; the default policy (5 min,
	// no pings without streams) would drop idle subscriptions with too_many_pings.
	s.grpc = grpc.NewServer(grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
		MinTime: time.Second, PermitWithoutStream: true,
	}))
	streams.RegisterStreamsServer(s.grpc, &streamsService{log: s.log})
	serverfeatures.RegisterServerFeaturesServer(s.grpc, featuresService{})
	s.AppendSystemEvent("$epoch-information", "$epoch", []byte(`{"epochNumber":0}`))
	s.AppendSystemEvent("$scavenges", "$scavengeIndexInitialized", []byte(`{}`))
	return s
}

// AppendSystemEvent writes a $-typed event to a $-named stream, like the server's own
// bookkeeping (epochs, scavenges, statistics), for tests that prove clients skip them.
func (s *Server) AppendSystemEvent(stream, eventType string, jsonData []byte) {
	s.log.append(stream, expectAny, []proposal{{
		id: uuid.New(), eventType: eventType, contentType: "application/json", data: jsonData, customMetadata: []byte{},
	}})
}

// Serve answers gRPC calls on lis until Stop.
func (s *Server) Serve(lis net.Listener) error { return s.grpc.Serve(lis) }

// Stop closes every connection and call at once; open subscriptions end with an error.
func (s *Server) Stop() { s.grpc.Stop() }

// Start runs a fresh server on a free loopback port for the length of the test and
// returns the connection string for esdb.ParseConnectionString.
func Start(t testing.TB) (connString string) {
	_, connString = StartServer(t)
	return connString
}

// StartServer is Start that also hands back the server.
func StartServer(t testing.TB) (*Server, string) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("esdb protocol server: listen: %v", err)
	}
	s := New()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Serve(lis) // returns when stopped
	}()
	t.Cleanup(func() {
		s.Stop()
		<-done
	})
	return s, fmt.Sprintf("esdb://%s?tls=false", lis.Addr())
}

type streamsService struct {
	streams.UnimplementedStreamsServer
	log *eventLog
}

type featuresService struct {
	serverfeatures.UnimplementedServerFeaturesServer
}

// GetSupportedMethods lists what this server implements; the client reads the version
// and enables features (batch append, persistent subscriptions) only if listed.
func (featuresService) GetSupportedMethods(context.Context, *shared.Empty) (*serverfeatures.SupportedMethods, error) {
	const streamsService = "event_store.client.streams.streams"
	return &serverfeatures.SupportedMethods{
		EventStoreServerVersion: Version,
		Methods: []*serverfeatures.SupportedMethod{
			{ServiceName: streamsService, MethodName: "read"},
			{ServiceName: streamsService, MethodName: "append"},
			{ServiceName: streamsService, MethodName: "delete"},
			{ServiceName: streamsService, MethodName: "tombstone"},
			{ServiceName: "event_store.client.server_features.serverfeatures", MethodName: "getsupportedmethods"},
		},
	}, nil
}

// SetClock replaces the clock that stamps events and ages them for $maxAge, so tests
// can make events old without waiting.
func (s *Server) SetClock(now func() time.Time) {
	s.log.mu.Lock()
	defer s.log.mu.Unlock()
	s.log.now = now
}
