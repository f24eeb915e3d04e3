// Package commands runs domain decisions against the event store: load the aggregate's
// stream, fold it, decide with the rules in force, seal each event into the stream's
// hash chain and append with the expected revision. A concurrent writer makes the
// append fail with a wrong expected revision; the executor then reloads and decides
// again, so a pool can never be over-drawn whatever the load (architecture guarantee 1).
package commands

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"ledger/domain"
	"ledger/infra/eventstore"
)

// EventStore is the part of the event store the executor needs.
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
	CausationID  string
	partnerRoles []string
}

func (m Meta) withCommandID() Meta {
	if m.CausationID == "" {
		m.CausationID = "command-" + uuid.NewString()
	}
	return m
}

// Outcome of a command. Position is the global position of the last event appended, or
// of the stream's last event when the command was idempotent and appended nothing, so a
// caller can always wait for read models to reach it.
type Outcome struct {
	Events   []domain.Event
	State    domain.Partner
	Rules    domain.Rules
	Position eventstore.Position
	Revision uint64
}

// Executor is safe for concurrent use.
type Executor struct {
	store      EventStore
	ids        domain.IDs
	now        func() time.Time
	maxRetries int
	log        *slog.Logger
}

// Option configures an Executor.
type Option func(*Executor)

// WithClock replaces time.Now (tests replay commands at fixed instants).
func WithClock(now func() time.Time) Option { return func(x *Executor) { x.now = now } }

// WithIDs replaces the random ID generator.
func WithIDs(ids domain.IDs) Option { return func(x *Executor) { x.ids = ids } }

// WithMaxRetries bounds how often a command is re-decided after losing a race.
func WithMaxRetries(n int) Option { return func(x *Executor) { x.maxRetries = n } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(x *Executor) { x.log = l } }

// New builds an executor over store.
func New(store EventStore, opts ...Option) *Executor {
	x := &Executor{store: store, ids: domain.RandomIDs{}, now: time.Now, maxRetries: 1000, log: slog.Default()}
	for _, o := range opts {
		o(x)
	}
	return x
}

// ErrTooManyRetries means the stream kept changing under the command.
var ErrTooManyRetries = errors.New("command lost the race too many times")

// Partner decides cmd on the partner stream of mpnID and appends the result. Only a
// lost race is retried; any other failure, eventstore.ErrUnavailable included, is
// returned at once for the caller to retry later (the store already waited its busy
// timeout, and retrying against a full disk would only hold the request longer).
func (x *Executor) Partner(ctx context.Context, mpnID string, cmd domain.Command, meta Meta) (Outcome, error) {
	stream := domain.PartnerStream(mpnID)
	meta = meta.withCommandID()
	for attempt := 0; ; attempt++ {
		out, err := x.partnerOnce(ctx, stream, cmd, meta)
		if !errors.Is(err, eventstore.ErrWrongExpectedRevision) {
			return out, err
		}
		if attempt >= x.maxRetries {
			return Outcome{}, fmt.Errorf("%s: %w", stream, ErrTooManyRetries)
		}
		if err := ctx.Err(); err != nil {
			return Outcome{}, err
		}
	}
}

func (x *Executor) partnerOnce(ctx context.Context, stream string, cmd domain.Command, meta Meta) (Outcome, error) {
	now := x.now().UTC()
	rules, err := x.RulesAt(ctx, now)
	if err != nil {
		return Outcome{}, err
	}
	loaded, err := x.load(ctx, stream)
	if err != nil {
		return Outcome{}, err
	}
	// Fold, not Evolve in a loop: Evolve copies the state, Fold builds it once.
	state := domain.Fold(loaded.events)
	events, err := domain.Decide(state, cmd, rules, now, x.ids)
	if err != nil {
		return Outcome{State: state, Rules: rules}, err
	}
	for _, e := range events {
		state = domain.Evolve(state, e)
	}
	out := Outcome{Events: events, State: state, Rules: rules, Position: loaded.lastPosition, Revision: loaded.lastRevision}
	if len(events) == 0 {
		return out, nil
	}
	// The roles used are the token's system roles and the partner roles the actor
	// held when the command was decided (an auditor asks "as whom did they act").
	if u, ok := state.UserByID[meta.Actor.UserID]; ok && meta.Actor.UserID != "" {
		for _, r := range u.Roles {
			meta.partnerRoles = append(meta.partnerRoles, string(r))
		}
	}
	res, err := x.append(ctx, stream, loaded, events, rules.Version, meta, now)
	if err != nil {
		return out, err
	}
	out.Position, out.Revision = res.Position, res.NextRevision
	return out, nil
}

// Rules publishes a new rules version on the rules stream.
func (x *Executor) Rules(ctx context.Context, cmd domain.PublishRules, meta Meta) (Outcome, error) {
	meta = meta.withCommandID()
	for attempt := 0; ; attempt++ {
		now := x.now().UTC()
		loaded, book, err := x.loadRuleBook(ctx)
		if err != nil {
			return Outcome{}, err
		}
		events, err := domain.DecideRules(book, cmd, now)
		if err != nil {
			return Outcome{}, err
		}
		out := Outcome{Events: events, Rules: book.InForce(now), Position: loaded.lastPosition, Revision: loaded.lastRevision}
		if len(events) == 0 {
			return out, nil
		}
		res, err := x.append(ctx, domain.RulesStream, loaded, events, out.Rules.Version, meta, now)
		if errors.Is(err, eventstore.ErrWrongExpectedRevision) && attempt < x.maxRetries {
			continue
		}
		if err != nil {
			return out, err
		}
		out.Position, out.Revision = res.Position, res.NextRevision
		return out, nil
	}
}

// RulesAt returns the rules in force at an instant, from the rules stream.
func (x *Executor) RulesAt(ctx context.Context, at time.Time) (domain.Rules, error) {
	_, book, err := x.loadRuleBook(ctx)
	if err != nil {
		return domain.Rules{}, err
	}
	return book.InForce(at), nil
}

// RuleBook returns every published rules version.
func (x *Executor) RuleBook(ctx context.Context) (domain.RuleBook, error) {
	_, book, err := x.loadRuleBook(ctx)
	return book, err
}

// LoadPartner folds a partner's stream without deciding anything.
func (x *Executor) LoadPartner(ctx context.Context, mpnID string) (domain.Partner, eventstore.Position, error) {
	loaded, err := x.load(ctx, domain.PartnerStream(mpnID))
	if err != nil {
		return domain.Partner{}, eventstore.Position{}, err
	}
	return domain.Fold(loaded.events), loaded.lastPosition, nil
}

func (x *Executor) loadRuleBook(ctx context.Context) (loadedStream, domain.RuleBook, error) {
	loaded, err := x.load(ctx, domain.RulesStream)
	if err != nil {
		return loaded, domain.RuleBook{}, err
	}
	return loaded, domain.FoldRules(loaded.events), nil
}
