package projections

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/uptrace/bun"

	"ledger/infra/eventstore"
)

// Retry applies the dead-lettered event at pos again through the projection's own
// Apply, in one transaction that also moves the letter to the resolved history, by
// whom. The checkpoint stays where it is (already past the event); the transaction
// takes the projection_state row first, as a batch does, so it serialises with the
// runner and with a rebuild's swap, and it applies into the generation the letter
// belongs to only while that generation is live. If the projection refuses the event
// again, nothing changes and the error is ErrRetryRefused with the projection's reason.
func (o *DeadLetterOps) Retry(ctx context.Context, name string, pos eventstore.Position, by string) (DeadLetterEntry, error) {
	p, err := o.find(name)
	if err != nil {
		return DeadLetterEntry{}, err
	}
	if err := o.ensureSchema(ctx); err != nil {
		return DeadLetterEntry{}, err
	}
	letter, err := openLetter(ctx, o.DB, name, pos)
	if err != nil {
		return DeadLetterEntry{}, err
	}
	ev, err := o.event(ctx, letter.Stream, letter.EventID)
	if err != nil {
		return DeadLetterEntry{}, err
	}
	out, err := o.resolve(ctx, name, pos, ResolutionRetried, "", by, func(ctx context.Context, tx bun.Tx, gen int) error {
		err := p.Apply(ctx, tx, TablesFor(p, gen), []eventstore.RecordedEvent{ev})
		switch {
		case err == nil:
			return nil
		case isTransient(err):
			return fmt.Errorf("retry %s at %s: %w", name, pos, err)
		default:
			return fmt.Errorf("%w: %s at %s: %w", ErrRetryRefused, name, pos, err)
		}
	})
	if err == nil {
		o.Answers.Forget() // after the commit: the rows changed, their checkpoint did not
	}
	return out, err
}

// Discard resolves the dead letter at pos without applying it, recording who did it
// and why. The reason is required: it is what an auditor will read later.
func (o *DeadLetterOps) Discard(ctx context.Context, name string, pos eventstore.Position, by, reason string) (DeadLetterEntry, error) {
	reason = strings.TrimSpace(reason)
	switch {
	case reason == "":
		return DeadLetterEntry{}, &BadResolutionError{Field: "reason", Reason: "required: say why the event is discarded"}
	case utf8.RuneCountInString(reason) > MaxResolutionReason:
		return DeadLetterEntry{}, &BadResolutionError{Field: "reason", Reason: fmt.Sprintf("at most %d characters", MaxResolutionReason)}
	}
	if _, err := o.find(name); err != nil {
		return DeadLetterEntry{}, err
	}
	if err := o.ensureSchema(ctx); err != nil {
		return DeadLetterEntry{}, err
	}
	return o.resolve(ctx, name, pos, ResolutionDiscarded, reason, by, nil)
}

// resolve moves the open letter at pos of name's live generation to the history, after
// apply (if any) succeeds, all in one transaction. When it was the last open letter,
// the projection is live again rather than degraded.
func (o *DeadLetterOps) resolve(ctx context.Context, name string, pos eventstore.Position, how, reason, by string,
	apply func(ctx context.Context, tx bun.Tx, gen int) error) (DeadLetterEntry, error) {
	var out DeadLetterEntry
	err := o.DB.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		st, err := lockState(ctx, tx, name)
		if err != nil {
			return err
		}
		letter, err := openLetter(ctx, tx, name, pos)
		if err != nil {
			return err
		}
		if _, err := tx.NewDelete().Model(&letter).WherePK().Exec(ctx); err != nil {
			return fmt.Errorf("resolve dead letter %s at %s: %w", name, pos, err)
		}
		if apply != nil {
			if err := apply(ctx, tx, st.Generation); err != nil {
				return err
			}
		}
		res := deadLetterResolutionRow{deadLetter: letter.deadLetter,
			Resolution: how, Reason: reason, ResolvedBy: by, ResolvedAt: time.Now().UTC()}
		if _, err := tx.NewInsert().Model(&res).Exec(ctx); err != nil {
			return fmt.Errorf("record resolution of %s at %s: %w", name, pos, err)
		}
		out = res.entry()
		return liveAgainIfClear(ctx, tx, st)
	})
	if err != nil {
		return DeadLetterEntry{}, err
	}
	return out, nil
}

// lockState takes the projection_state row (the lock a batch takes first) and reads it.
func lockState(ctx context.Context, tx bun.Tx, name string) (State, error) {
	if _, err := tx.NewUpdate().Model((*stateRow)(nil)).Set("updated_at = ?", time.Now().UTC()).
		Where("name = ?", name).Exec(ctx); err != nil {
		return State{}, fmt.Errorf("projection %s state: %w", name, err)
	}
	st, err := loadState(ctx, tx, name)
	if errors.Is(err, ErrUnknownProjection) {
		return State{}, fmt.Errorf("%w: %s has not run here", ErrDeadLetterNotFound, name)
	}
	return st, err
}

// liveAgainIfClear turns a degraded projection live once no open letter is left.
func liveAgainIfClear(ctx context.Context, tx bun.Tx, st State) error {
	if st.Status != StatusDegraded {
		return nil
	}
	n, err := countDeadLetters(ctx, tx, st.Name, st.Generation)
	if err != nil || n > 0 {
		return err
	}
	if _, err := tx.NewUpdate().Model((*stateRow)(nil)).Set("status = ?", string(StatusLive)).Set("error = ?", "").
		Where("name = ?", st.Name).Where("generation = ?", st.Generation).Where("status = ?", string(StatusDegraded)).
		Exec(ctx); err != nil {
		return fmt.Errorf("projection %s status: %w", st.Name, err)
	}
	return nil
}
