package metrics

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"ledger/infra/eventstore"
	"ledger/infra/sqlstore"
)

// Append outcomes, the values of the outcome label of benefits_event_store_appends_total.
const (
	AppendOK                    = "ok"
	AppendWrongExpectedRevision = "wrong_expected_revision" // a concurrent writer won; the executor retries
	AppendUnavailable           = "unavailable"             // the database could not take the write: disk full, lock held, connection lost
	AppendFailed                = "failed"
)

// Store is an event store whose appends are counted and timed, and whose reads of a
// truncated stream raise an alert; everything else is the wrapped store's own. It satisfies every port the ledger declares on a store.
type Store struct {
	eventstore.Store
	m *Metrics
}

// ObserveStore wraps s.
func (m *Metrics) ObserveStore(s eventstore.Store) *Store { return &Store{Store: s, m: m} }

// Unwrap is the wrapped store, for what it declares of itself (eventstore.StreamsCanBeTruncated).
func (s *Store) Unwrap() eventstore.Store { return s.Store }

// Append appends through the wrapped store and records how it went and how long it took.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	start := time.Now()
	res, err := s.Store.Append(ctx, stream, expected, events...)
	return res, s.observeAppend(start, len(events), err)
}

// AppendGuarded appends under guard through the wrapped store, counted as Append is.
// eventstore.AppendsCanBeGuarded says whether the wrapped store guards appends; one
// that does not refuses with errors.ErrUnsupported and stores nothing.
func (s *Store) AppendGuarded(ctx context.Context, stream string, expected eventstore.ExpectedRevision, guard eventstore.Guard, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	g, ok := s.Store.(eventstore.GuardedAppender)
	if !ok {
		return eventstore.AppendResult{}, fmt.Errorf("append to %s guarded by %s: %T: %w", stream, guard.Stream, s.Store, errors.ErrUnsupported)
	}
	start := time.Now()
	res, err := g.AppendGuarded(ctx, stream, expected, guard, events...)
	return res, s.observeAppend(start, len(events), err)
}

func (s *Store) observeAppend(start time.Time, events int, err error) error {
	outcome := AppendOK
	switch {
	case errors.Is(err, eventstore.ErrWrongExpectedRevision):
		outcome = AppendWrongExpectedRevision
	case errors.Is(err, eventstore.ErrUnavailable):
		outcome = AppendUnavailable
	case err != nil:
		outcome = AppendFailed
	}
	s.m.appends.WithLabelValues(outcome).Inc()
	s.m.appendDuration.WithLabelValues(outcome).Observe(time.Since(start).Seconds())
	if err == nil {
		s.m.appendedEvents.Add(float64(events))
	}
	return err
}

// ReadStream reads through the wrapped store. A stream whose start is gone is an
// operator's doing that no retry repairs, and every command on that partner fails
// until the history is restored: it is counted and logged as an error, with the stream,
// for whoever watches the process.
func (s *Store) ReadStream(ctx context.Context, stream string, opts eventstore.ReadStreamOptions) ([]eventstore.RecordedEvent, error) {
	events, err := s.Store.ReadStream(ctx, stream, opts)
	if errors.Is(err, eventstore.ErrStreamTruncated) {
		s.m.truncatedReads.Inc()
		s.m.log.ErrorContext(ctx, "stream history is gone: commands on it are refused until it is restored",
			"stream", stream, "from", opts.From, "error", err)
	}
	return events, err
}

// ListeningStore is an event store that may keep a LISTEN connection (*sqlstore.Store).
type ListeningStore interface {
	Listens() bool         // it keeps one (PostgreSQL)
	Stats() sqlstore.Stats // Relistens: the times it was lost and LISTEN confirmed again
}

// WatchListener registers benefits_event_store_relistens_total, read from s at every
// scrape, if s keeps a LISTEN connection. A store without one serves no such series
// rather than a 0 that would claim a listener that never dropped. Call it once.
func (m *Metrics) WatchListener(s ListeningStore) error {
	if !s.Listens() {
		return nil
	}
	return m.reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "event_store", Name: "relistens_total",
		Help: "Times this process's LISTEN connection to the PostgreSQL event store was lost and LISTEN confirmed again. " +
			"Nothing is lost: meanwhile the forwarder and other subscribers poll, so events reach NATS up to a poll interval (1 s) later. " +
			"A step now and then is a database restart or failover; a steady climb means something keeps cutting long-lived idle " +
			"connections (a proxy or pooler timeout, a firewall, idle_session_timeout on the role): find it from the " +
			"'LISTEN lost' warnings in the log and fix it.",
	}, func() float64 { return float64(s.Stats().Relistens) }))
}
