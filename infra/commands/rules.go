package commands

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"ledger/domain"
	"ledger/infra/eventstore"
	"ledger/infra/retry"
)

// ruleBookState is the rules stream as the executor knows it. Its few events are kept
// whole: the rule book is folded from all of them when one arrives.
type ruleBookState struct {
	streamHead
	events []domain.Event
	book   domain.RuleBook
	keys   idempotencyKeys // of its recent commands (idempotency.go)
}

// ruleBook is the rule book brought up to date with the store by a read of the events
// after the kept revision that began after the call; concurrent callers share such
// reads (sharedRead).
func (x *Executor) ruleBook(ctx context.Context) (ruleBookState, error) {
	return x.rulesReads.do(ctx, x.readRuleBook)
}

// readRuleBook reads the rules stream after the kept revision (see ruleBook).
func (x *Executor) readRuleBook(ctx context.Context) (ruleBookState, error) {
	x.rulesMu.Lock()
	st := x.rules
	x.rulesMu.Unlock()
	events, head, keys, err := x.readAfter(ctx, domain.RulesStream, st.streamHead)
	if err != nil || len(events) == 0 {
		return st, err
	}
	st.events = append(slices.Clip(st.events), events...)
	st.book, st.streamHead, st.keys = domain.FoldRules(st.events), head, st.keys.with(keys...)
	x.keepRuleBook(st)
	return st, nil
}

// keepRuleBook keeps st unless a later state is kept already.
func (x *Executor) keepRuleBook(st ruleBookState) {
	x.rulesMu.Lock()
	defer x.rulesMu.Unlock()
	if !x.rules.exists || st.exists && st.revision > x.rules.revision {
		x.rules = st
	}
}

// Rules publishes a new rules version on the rules stream.
func (x *Executor) Rules(ctx context.Context, cmd domain.PublishRules, meta Meta) (out Outcome, err error) {
	ctx, meta, span := x.startCommand(ctx, cmd, meta)
	defer func() { endCommand(span, out, err) }()
	meta = meta.withCommandID()
	backoff := raceBackoff()
	for attempt := 0; ; attempt++ {
		now := x.now().UTC()
		st, err := x.ruleBook(ctx)
		if err != nil {
			return Outcome{}, err
		}
		out := Outcome{Rules: st.book.InForce(now), Position: st.position, Revision: st.revision}
		req := &request{meta: meta}
		if replay, err := keyedCommand(st.keys, nil, req); replay != nil || err != nil {
			if err != nil {
				return Outcome{}, err
			}
			return x.replayed(ctx, domain.RulesStream, *replay.kept, out)
		}
		events, err := domain.DecideRules(st.book, cmd, now)
		if err != nil {
			return Outcome{}, err
		}
		out.Events = events
		if len(events) == 0 {
			return out, nil
		}
		head, err := x.appendSealed(ctx, domain.RulesStream, st.streamHead, nil, []sealing{{events: events, meta: meta}}, out.Rules.Version, now)
		if errors.Is(err, eventstore.ErrWrongExpectedRevision) {
			if attempt >= x.maxRetries {
				return Outcome{}, fmt.Errorf("%s: %w", domain.RulesStream, ErrTooManyRetries)
			}
			if !retry.Sleep(ctx, retry.Jittered(backoff.Next())) {
				return Outcome{}, ctx.Err()
			}
			continue
		}
		if err != nil {
			return out, err
		}
		out.Position, out.Revision = head.position, head.revision
		st.events = append(slices.Clip(st.events), events...)
		st.book, st.streamHead = domain.FoldRules(st.events), head
		st.keys = st.keys.with(keysRecorded([]decided{{req: req, events: events, now: now, out: out}}, head.position)...)
		x.keepRuleBook(st)
		return out, nil
	}
}

// raceBackoff is the wait after losing a race to another process's append.
func raceBackoff() retry.Backoff {
	return retry.Backoff{Min: time.Millisecond, Max: 50 * time.Millisecond}
}

// RulesAt returns the rules in force at an instant, from the rules stream.
func (x *Executor) RulesAt(ctx context.Context, at time.Time) (domain.Rules, error) {
	st, err := x.ruleBook(ctx)
	if err != nil {
		return domain.Rules{}, err
	}
	return st.book.InForce(at), nil
}

// RuleBook returns every published rules version.
func (x *Executor) RuleBook(ctx context.Context) (domain.RuleBook, error) {
	st, err := x.ruleBook(ctx)
	return st.book, err
}
