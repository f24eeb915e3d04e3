// Package commands runs domain decisions against the event store. The executor keeps
// each stream's folded state (with its revision, position and the head of its hash
// chain) in a bounded cache and brings it up to date by reading only the events after
// that revision, so a command costs the same on a partner with five events as on one
// with fifty thousand, and several processes sharing one store stay correct.
//
// Commands on one stream are queued and decided in order on that state; the events of
// commands that arrive together are appended in one append with the expected revision.
// A concurrent writer in another process makes the append fail with a wrong expected
// revision; the executor then reads what it missed and decides again, so a pool can
// never be over-drawn whatever the load (architecture guarantee 1).
package commands

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/singleflight"

	"ledger/domain"
	"ledger/infra/eventstore"
)

// EventStore is the part of the event store the executor needs. A store that also
// implements eventstore.SnapshotStore gets snapshots of partner states written to it.
type EventStore interface {
	Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) (eventstore.AppendResult, error)
	ReadStream(ctx context.Context, stream string, opts eventstore.ReadStreamOptions) ([]eventstore.RecordedEvent, error)
}

// Meta is who asks and in which request; it becomes every event's metadata.
type Meta struct {
	Actor         domain.Actor
	CorrelationID string
	// CausationID names what caused the events; empty means the command itself, which
	// then gets an ID of its own ("command-<uuid>"), the same across retries.
	CausationID string
	// IdempotencyKey, when set, records the command once: sent again on the stream
	// with the same RequestDigest it is answered as recorded then (idempotency.go).
	IdempotencyKey string
	RequestDigest  string
	partnerRoles   []string
	span           trace.SpanContext // the command's span, when traced (tracing.go)
}

func (m Meta) withCommandID() Meta {
	if m.CausationID == "" {
		m.CausationID = "command-" + uuid.NewString()
	}
	return m
}

// Outcome of a command. Position is the global position of the last event of the
// append that stored the command's events, or of the stream's last event when the
// command was idempotent and appended nothing, so a caller can always wait for read
// models to reach it. Revision is the stream revision of the command's last event.
type Outcome struct {
	Events []domain.Event
	// State is the deciding state after the command (domain.FoldDeciding): for access
	// checks and the pools' counts, never to show incidents (they are compacted).
	State    domain.Partner
	Rules    domain.Rules
	Position eventstore.Position
	Revision uint64
	// Replayed: the command was recorded before under its idempotency key; Events are
	// the ones recorded then, and nothing was recorded now.
	Replayed bool
}

// Defaults of the settings.
const (
	DefaultStateCacheSize = 10_000
	// DefaultStateCacheBytes bounds the estimated bytes of the kept states: a quarter of
	// an API process of 1 GiB. It holds DefaultStateCacheSize partners of up to 26 KiB
	// each (a small partner takes about 7 KiB, and each incident 16 bytes more: some
	// 1,200 incidents), so ordinary partners are bounded by count, and a process whose
	// partners have long histories by bytes, not by running out of memory.
	DefaultStateCacheBytes = 256 << 20
	DefaultSnapshotEvery   = 1_000
	defaultMaxRetries      = 10
	maxBatchCommands       = 256
)

// Executor is safe for concurrent use.
type Executor struct {
	store     EventStore
	snapshots eventstore.SnapshotStore // nil when the store keeps none
	// keptStateUnproven: the store's streams can lose events without an append, so an
	// append at the kept revision does not prove the kept state current (queue.go).
	keptStateUnproven bool
	// guarded is the store when it guards appends (eventstore.AppendsCanBeGuarded) and
	// kept states are proven by appends: a batch is then decided on the kept rule book
	// and its append guarded by the rules stream's revision, instead of reading the
	// rules stream first (queue.go). nil: the rule book is read before each batch.
	guarded       eventstore.GuardedAppender
	ids           domain.IDs
	now           func() time.Time
	maxRetries    int
	log           *slog.Logger
	cacheSize     int
	cacheBytes    int64
	snapshotEvery int
	readStaleness time.Duration    // how long LoadPartner trusts a confirmed state (read.go)
	readClock     func() time.Time // measures that staleness; not the domain's clock
	tracer        trace.Tracer     // nil: tracing off
	subjects      SubjectSealer    // nil: actors stored as given

	states *stateCache
	loads  singleflight.Group // loads of streams the cache does not hold, shared (state.go)
	// joinedLoad, when set (tests), is called once a caller waits on a shared load.
	joinedLoad func(stream string)

	queuesMu     sync.Mutex
	queues       map[string]*streamQueue
	snapshotting map[string]bool // streams whose snapshot is being saved
	background   sync.WaitGroup  // snapshot saves under way
	// snapshotGate: each save holds it shared; ForgetStates takes it alone once, so it
	// returns only after every save of a state from before it has ended or given up.
	snapshotGate sync.RWMutex
	// forgetting, when set (tests), runs in ForgetStates between the purge and the wait.
	forgetting func()

	idleDrainers chan drainJob // unbuffered: a send reaches a goroutine waiting for work (queue.go)
	closed       chan struct{}
	closeOnce    sync.Once

	rulesMu    sync.Mutex
	rules      ruleBookState
	rulesReads sharedRead[ruleBookState]
}

// SubjectSealer encrypts the acting user's ID in each event's metadata with that
// person's key (crypto-shredding, infra/privacy); the events' own personal members are
// sealed by the codec (domain.UsePersonalData).
type SubjectSealer interface {
	SealSubject(ctx context.Context, subject string) (string, error)
}

// WithPersonalData stores every event's actor sealed by s.
func WithPersonalData(s SubjectSealer) Option { return func(x *Executor) { x.subjects = s } }

// ForgetStates drops every cached state, so the next command of each stream refolds it
// from the store: after an erasure, no state holding the erased plaintext is kept. A
// state read before it is never cached again (its epoch is old), and ForgetStates
// returns only after the snapshot saves under way have ended, so a snapshot of such a
// state cannot be written after the caller deletes the stored snapshots.
func (x *Executor) ForgetStates() {
	x.states.purge()
	if x.forgetting != nil {
		x.forgetting()
	}
	x.snapshotGate.Lock()
	defer x.snapshotGate.Unlock()
}

// Option configures an Executor.
type Option func(*Executor)

// WithClock replaces time.Now (tests replay commands at fixed instants).
func WithClock(now func() time.Time) Option { return func(x *Executor) { x.now = now } }

// WithIDs replaces the random ID generator.
func WithIDs(ids domain.IDs) Option { return func(x *Executor) { x.ids = ids } }

// WithMaxRetries bounds how often a command is re-decided after losing a race to
// another process (default 10).
func WithMaxRetries(n int) Option { return func(x *Executor) { x.maxRetries = n } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(x *Executor) { x.log = l } }

// WithStateCacheSize bounds how many streams' states are kept (least recently used go
// first; default DefaultStateCacheSize).
func WithStateCacheSize(n int) Option { return func(x *Executor) { x.cacheSize = n } }

// WithStateCacheBytes bounds the estimated bytes of the states kept
// (domain.Partner.SizeEstimate; least recently used go first; default
// DefaultStateCacheBytes). A state larger than n is not kept.
func WithStateCacheBytes(n int64) Option { return func(x *Executor) { x.cacheBytes = n } }

// StateCacheStats tells what the cache of states holds and how often it was asked.
func (x *Executor) StateCacheStats() StateCacheStats { return x.states.stats() }

// WithSnapshotEvery sets how many events a partner stream grows by between snapshots
// (default DefaultSnapshotEvery; a long stream waits for a tenth of its history if that
// is more); 0 writes none.
func WithSnapshotEvery(n int) Option { return func(x *Executor) { x.snapshotEvery = n } }

// New builds an executor over store.
func New(store EventStore, opts ...Option) *Executor {
	x := &Executor{store: store, ids: domain.RandomIDs{}, now: time.Now, readClock: time.Now, maxRetries: defaultMaxRetries, log: slog.Default(),
		cacheSize: DefaultStateCacheSize, cacheBytes: DefaultStateCacheBytes, snapshotEvery: DefaultSnapshotEvery, queues: map[string]*streamQueue{}, snapshotting: map[string]bool{},
		idleDrainers: make(chan drainJob), closed: make(chan struct{}), keptStateUnproven: eventstore.StreamsCanBeTruncated(store)}
	for _, o := range opts {
		o(x)
	}
	x.snapshots, _ = store.(eventstore.SnapshotStore)
	if g, ok := store.(eventstore.GuardedAppender); ok && eventstore.AppendsCanBeGuarded(store) && !x.keptStateUnproven {
		x.guarded = g
	}
	x.states = newStateCache(x.cacheSize, x.cacheBytes)
	x.rules = ruleBookState{streamHead: newHead(), book: domain.FoldRules(nil)}
	return x
}

// Close ends the idle queue goroutines and waits for the snapshots being saved in the
// background, so that the store can be closed after it without cutting one off.
func (x *Executor) Close() error {
	x.closeOnce.Do(func() { close(x.closed) })
	x.background.Wait()
	return nil
}

// ErrTooManyRetries means the stream kept changing under the command.
var ErrTooManyRetries = errors.New("command lost the race too many times")

// Partner decides cmd on the partner stream of mpnID and appends the result. It waits
// for the command's turn in the stream's queue (see queue.go). Only a lost race is
// re-decided; any other failure, eventstore.ErrUnavailable included, is returned at
// once for the caller to retry later.
func (x *Executor) Partner(ctx context.Context, mpnID string, cmd domain.Command, meta Meta) (Outcome, error) {
	ctx, meta, span := x.startCommand(ctx, cmd, meta)
	out, err := x.enqueue(ctx, domain.PartnerStream(mpnID), cmd, meta.withCommandID())
	endCommand(span, out, err)
	return out, err
}

// LoadPartner is a partner's state for a query: the cached state when it was
// confirmed against the store less than the read staleness ago (WithReadStaleness),
// else the cache brought up to date with the store (no fold, one read of the events
// the cache has not seen). It is the deciding state the executor keeps
// (domain.FoldDeciding): whole for access checks, users, contracts and pools, but its
// incidents are compacted, so answers about incidents come from the read models
// or a fold of the stream (audit), never from it.
func (x *Executor) LoadPartner(ctx context.Context, mpnID string) (domain.Partner, eventstore.Position, error) {
	st, err := x.forReading(ctx, domain.PartnerStream(mpnID))
	if err != nil {
		return domain.Partner{}, eventstore.Position{}, err
	}
	return st.partner, st.position, nil
}
