// Package eventstore is the vocabulary every event-store adapter speaks: expected
// revisions, positions in the global log, recorded events and the typed errors. The
// adapters (infra/sqlstore for SQLite and PostgreSQL, infra/esdbstore for EventStoreDB)
// implement Store and pass the one contract suite in infra/eventstore/eventstoretest.
//
// Consumers declare the smaller interface they need (an appender, a subscriber) in their
// own package; Store is the sum the contract suite checks.
package eventstore

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strconv"
	"strings"
	"time"
)

// Position is a place in the global log. SQL stores use Commit == Prepare == sequence
// number (1 for the first event); EventStoreDB gives real commit/prepare pairs. The zero
// Position is "before the first event".
type Position struct {
	Commit  uint64 `json:"commit"`
	Prepare uint64 `json:"prepare"`
}

// Start is the position before the first event of the global log.
var Start = Position{}

// Less orders positions by commit, then prepare.
func (p Position) Less(q Position) bool {
	if p.Commit != q.Commit {
		return p.Commit < q.Commit
	}
	return p.Prepare < q.Prepare
}

// IsZero reports whether p is Start.
func (p Position) IsZero() bool { return p == Start }

func (p Position) String() string {
	if p.Commit == p.Prepare {
		return strconv.FormatUint(p.Commit, 10)
	}
	return strconv.FormatUint(p.Commit, 10) + "/" + strconv.FormatUint(p.Prepare, 10)
}

// ParsePosition reads the String form back ("12" or "12/10"), and nothing else: no
// sign, space or trailing text. Every event a projector receives carries three
// positions, so this is on the hot path (fmt.Sscanf took a tenth of a projector's CPU).
func ParsePosition(s string) (Position, error) {
	commit, prepare, pair := strings.Cut(s, "/")
	c, err := strconv.ParseUint(commit, 10, 64)
	if err != nil {
		return Position{}, fmt.Errorf("position %q: want N or N/M: %w", s, err)
	}
	if !pair {
		return Position{Commit: c, Prepare: c}, nil
	}
	p, err := strconv.ParseUint(prepare, 10, 64)
	if err != nil {
		return Position{}, fmt.Errorf("position %q: want N or N/M: %w", s, err)
	}
	return Position{Commit: c, Prepare: p}, nil
}

// ExpectedKind says what Append must find before it writes.
type ExpectedKind int

const (
	ExpectAny          ExpectedKind = iota // no check
	ExpectNoStream                         // the stream must not exist
	ExpectStreamExists                     // the stream must have at least one event
	ExpectExact                            // the last revision must be exactly Revision
)

// ExpectedRevision is the optimistic-concurrency condition of an append.
type ExpectedRevision struct {
	Kind     ExpectedKind
	Revision uint64 // only for ExpectExact
}

func Any() ExpectedRevision             { return ExpectedRevision{Kind: ExpectAny} }
func NoStream() ExpectedRevision        { return ExpectedRevision{Kind: ExpectNoStream} }
func StreamExists() ExpectedRevision    { return ExpectedRevision{Kind: ExpectStreamExists} }
func Exact(rev uint64) ExpectedRevision { return ExpectedRevision{Kind: ExpectExact, Revision: rev} }

func (e ExpectedRevision) String() string {
	switch e.Kind {
	case ExpectNoStream:
		return "no-stream"
	case ExpectStreamExists:
		return "stream-exists"
	case ExpectExact:
		return fmt.Sprintf("%d", e.Revision)
	default:
		return "any"
	}
}

// EventData is an event to append. ID must be a UUID string; it makes appends idempotent.
type EventData struct {
	ID       string
	Type     string
	Data     []byte // JSON
	Metadata []byte // JSON, may be empty
}

// RecordedEvent is an event as stored. Revisions within a stream start at 0.
type RecordedEvent struct {
	ID         string
	Stream     string
	Revision   uint64
	Position   Position
	Type       string
	Data       []byte
	Metadata   []byte
	RecordedAt time.Time
}

// AppendResult tells where the last appended event landed.
type AppendResult struct {
	NextRevision uint64   // revision of the last event now in the stream
	Position     Position // global position of the last event appended
}

// Direction of a stream read.
type Direction int

const (
	Forwards Direction = iota
	Backwards
)

// End, as the From of a backwards read, means "from the last event".
const End = ^uint64(0)

// ReadStreamOptions: From is inclusive (End for backwards-from-last); Limit 0 means all.
type ReadStreamOptions struct {
	Direction Direction
	From      uint64
	Limit     int
}

// SubscriptionMessage is either an event or the one-time signal that history has been
// delivered and what follows is live.
type SubscriptionMessage struct {
	Event    *RecordedEvent
	CaughtUp bool
}

// Store is what every adapter implements.
type Store interface {
	// Append writes events to stream atomically if expected holds.
	Append(ctx context.Context, stream string, expected ExpectedRevision, events ...EventData) (AppendResult, error)
	// ReadStream reads one stream; a stream that does not exist reads as empty, no error.
	ReadStream(ctx context.Context, stream string, opts ReadStreamOptions) ([]RecordedEvent, error)
	// ReadAll streams the global log after from (exclusive), in position order, without
	// holding it in memory. System events ($-prefixed types or streams) are left out.
	ReadAll(ctx context.Context, from Position) iter.Seq2[RecordedEvent, error]
	// Subscribe delivers every event after from (exclusive), then one CaughtUp message,
	// then live events, calling handle for each in order. It returns nil when ctx is
	// cancelled and handle's error if handle fails.
	Subscribe(ctx context.Context, from Position, handle func(SubscriptionMessage) error) error
	// Head is the position of the last event in the global log (Start when empty).
	Head(ctx context.Context) (Position, error)
	// Snapshots of folded states, kept beside the log (never in it).
	SnapshotStore
	Close() error
}

// StreamTruncator is implemented by a store whose streams can lose events without the
// ledger appending anything: EventStoreDB, where an operator may soft-delete, tombstone
// or truncate a stream ($tb, $maxCount, $maxAge), and where an append at a soft-deleted
// stream's next revision succeeds and re-creates it. On such a store an append at the
// revision a process last saw does not prove that process's state is the stream's, so
// commands are decided on a state read from the store (ErrStreamTruncated then refuses
// them). The SQL stores never lose events and do not implement it.
type StreamTruncator interface {
	StreamsCanBeTruncated()
}

// StreamsCanBeTruncated tells whether s, or a store it wraps (Unwrap), is a
// StreamTruncator.
func StreamsCanBeTruncated(s any) bool {
	for s != nil {
		if _, ok := s.(StreamTruncator); ok {
			return true
		}
		w, ok := s.(interface{ Unwrap() Store })
		if !ok {
			return false
		}
		s = w.Unwrap()
	}
	return false
}

// Guard is a condition an append holds besides its own expected revision: another
// stream is exactly where the appender last saw it. A decision that read two streams
// (a partner's and the rules) is then proven current on both by the one append, in the
// transaction that stores it, without reading the second stream first.
type Guard struct {
	Stream   string
	Expected ExpectedRevision
}

// GuardedAppender is a store that appends under a Guard. A guard that does not hold
// refuses the append with a *WrongExpectedRevisionError naming the guarded stream
// (errors.Is ErrWrongExpectedRevision); nothing is stored.
type GuardedAppender interface {
	AppendGuarded(ctx context.Context, stream string, expected ExpectedRevision, guard Guard, events ...EventData) (AppendResult, error)
}

// AppendsCanBeGuarded tells whether s and every store it wraps (Unwrap) is a
// GuardedAppender: a wrapper that has the method over a store without it cannot keep
// the guard's promise.
func AppendsCanBeGuarded(s any) bool {
	for s != nil {
		if _, ok := s.(GuardedAppender); !ok {
			return false
		}
		w, ok := s.(interface{ Unwrap() Store })
		if !ok {
			return true
		}
		s = w.Unwrap()
	}
	return false
}

// ErrWrongExpectedRevision is matched with errors.Is; the error itself is a
// *WrongExpectedRevisionError carrying the actual revision.
var ErrWrongExpectedRevision = errors.New("wrong expected revision")

// ErrDuplicateEventID: an event ID that is already stored, in a different append.
var ErrDuplicateEventID = errors.New("duplicate event id")

// ErrStreamTruncated: a forward read of a stream cannot start where it was asked to,
// because the events there are gone: an operator deleted (soft or tombstone) the stream
// or truncated its start (EventStoreDB's $tb, $maxCount, $maxAge). Folding what is left
// would decide on a partial history, so the read fails instead. The SQL stores never
// lose events and never return it.
var ErrStreamTruncated = errors.New("stream history truncated or deleted")

// ErrUnavailable: the store could not do the work for a reason outside the request (a
// full disk, a write lock held past the busy timeout, a lost or refused database
// connection). Nothing half-written is visible. An append that failed while its commit
// was in flight may still have been stored; re-appending the same event IDs is
// idempotent, so the caller may simply try again later.
var ErrUnavailable = errors.New("event store unavailable")

// WrongExpectedRevisionError says what the stream really held.
type WrongExpectedRevisionError struct {
	Stream   string
	Expected ExpectedRevision
	// Actual is the last revision in the stream; StreamExists false means no stream.
	Actual       uint64
	StreamExists bool
}

func (e *WrongExpectedRevisionError) Error() string {
	actual := "no stream"
	if e.StreamExists {
		actual = fmt.Sprintf("%d", e.Actual)
	}
	return fmt.Sprintf("stream %s: expected revision %s, actual %s", e.Stream, e.Expected, actual)
}

func (e *WrongExpectedRevisionError) Is(target error) bool { return target == ErrWrongExpectedRevision }

// Snapshot is a stream's folded state as of a revision. Stores that implement
// SnapshotStore keep one per stream beside the log, never in it: readers of the global
// log (the forwarder, projections, audit, rebuilds) never see a snapshot.
type Snapshot struct {
	Stream   string
	Revision uint64 // the last revision folded into Data
	Version  int    // the schema version of Data; a reader ignores versions it does not know
	Data     []byte
}

// SnapshotStore keeps the latest snapshot of each stream. A snapshot only saves work: a
// reader that finds none (or one it cannot use) folds the stream from its first event.
type SnapshotStore interface {
	// SaveSnapshot keeps s unless a snapshot of a later revision is kept already.
	SaveSnapshot(ctx context.Context, s Snapshot) error
	// LoadSnapshot returns the stream's snapshot; found is false when there is none.
	LoadSnapshot(ctx context.Context, stream string) (s Snapshot, found bool, err error)
}
