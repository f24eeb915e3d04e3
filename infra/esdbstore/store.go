// Package esdbstore is the EventStoreDB adapter of eventstore.Store, through the v4 Go
// client (github.com/EventStore/EventStore-Client-Go/v4/esdb). Streams map 1:1 to
// EventStoreDB streams, positions are its commit/prepare pairs, and system events ($-typed
// or in $-streams) never leave the adapter.
package esdbstore

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"ledger/infra/eventstore"
)

// Store talks to one EventStoreDB node or cluster. It is safe for concurrent use.
type Store struct {
	client *esdb.Client
}

var _ eventstore.Store = (*Store)(nil)
var _ eventstore.StreamTruncator = (*Store)(nil)

// StreamsCanBeTruncated: an operator can delete or truncate an EventStoreDB stream
// (eventstore.StreamTruncator).
func (*Store) StreamsCanBeTruncated() {}

// Open connects with an EventStoreDB connection string
// (esdb://host:2113?tls=false, esdb+discover://..., see the client's documentation).
// The client connects lazily, so Open reads the head of $all once: a wrong address or a
// server that is down fails here, not at the first command.
func Open(ctx context.Context, connString string) (*Store, error) {
	config, err := esdb.ParseConnectionString(connString)
	if err != nil {
		return nil, fmt.Errorf("eventstoredb connection string %s: %w", redact(connString), err)
	}
	config.Logger = slogLogging(slog.Default().With("component", "esdbstore"))
	client, err := esdb.NewClient(config)
	if err != nil {
		return nil, fmt.Errorf("eventstoredb %s: %w", redact(connString), err)
	}
	s := &Store{client: client}
	if _, err := s.Head(ctx); err != nil {
		client.Close()
		return nil, fmt.Errorf("eventstoredb %s: %w", redact(connString), err)
	}
	return s, nil
}

// Close ends the connection. Close open subscriptions (cancel their context) first.
func (s *Store) Close() error { return s.client.Close() }

// slogLogging routes the client's own log lines to slog. They are diagnostics: every
// failure that matters also comes back as an error from the adapter, and the client
// logs even a subscription cancelled on purpose as an error, so nothing goes above Info.
func slogLogging(logger *slog.Logger) esdb.LoggingFunc {
	return func(level esdb.LogLevel, format string, args ...any) {
		l := slog.LevelDebug
		if level == esdb.LogWarn || level == esdb.LogError {
			l = slog.LevelInfo
		}
		logger.Log(context.Background(), l, fmt.Sprintf(format, args...), "client_level", level)
	}
}

// redact drops the user:password part of a connection string.
func redact(connString string) string {
	scheme, rest, ok := strings.Cut(connString, "://")
	if !ok {
		return "(unparseable connection string)"
	}
	if _, host, ok := strings.Cut(rest, "@"); ok {
		return scheme + "://***@" + host
	}
	return connString
}
