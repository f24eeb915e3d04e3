package projections

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/uptrace/bun"

	"ledger/infra/eventstore"
	"ledger/infra/retry"
)

// BuildOptions tune a from-scratch build.
type BuildOptions struct {
	BatchSize int // events per transaction; 500 when zero
	Logger    *slog.Logger
	// Progress, if set, is called after each committed batch with the events folded so
	// far and the position reached.
	Progress func(events int, at eventstore.Position)
}

// Build fills generation gen of p from the event store alone (ReadAll from the start),
// never from NATS, whose retention is bounded: it drops and recreates gen's tables, then
// folds every event in batches, dead-lettering what p refuses. It returns the position of
// the last event folded, the checkpoint to swap in with. Interrupted, it leaves gen's
// tables partial and nothing else touched; the next Build of gen starts over. One build
// of a given generation at a time.
func Build(ctx context.Context, db *bun.DB, store EventLog, p Projection, gen int, opts BuildOptions) (eventstore.Position, error) {
	if opts.BatchSize <= 0 {
		opts.BatchSize = 500
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("projection", p.Name(), "generation", gen)
	if err := EnsureSchema(ctx, db); err != nil {
		return eventstore.Start, err
	}
	err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if err := dropGeneration(ctx, tx, p, gen); err != nil {
			return err
		}
		if _, err := tx.NewDelete().Model((*deadLetterRow)(nil)).
			Where("projection = ?", p.Name()).Where("generation = ?", gen).Exec(ctx); err != nil {
			return fmt.Errorf("clear dead letters: %w", err)
		}
		return p.Create(ctx, tx, TablesFor(p, gen))
	})
	if err != nil {
		return eventstore.Start, fmt.Errorf("build %s generation %d: create: %w", p.Name(), gen, err)
	}

	started := time.Now()
	prog := &buildProgress{gen: gen}
	a := applier{db: db, p: p, log: log}
	batch := make([]eventstore.RecordedEvent, 0, opts.BatchSize)
	folded := 0
	flush := func() error {
		if err := applyWithRetry(ctx, &a, prog, batch); err != nil {
			return fmt.Errorf("build %s generation %d: %w", p.Name(), gen, err)
		}
		folded += len(batch)
		batch = batch[:0]
		if opts.Progress != nil {
			opts.Progress(folded, prog.last)
		}
		return nil
	}
	for ev, err := range store.ReadAll(ctx, eventstore.Start) {
		if err != nil {
			return eventstore.Start, fmt.Errorf("build %s generation %d: read: %w", p.Name(), gen, err)
		}
		batch = append(batch, ev)
		if len(batch) == opts.BatchSize {
			if err := flush(); err != nil {
				return eventstore.Start, err
			}
		}
	}
	if len(batch) > 0 {
		if err := flush(); err != nil {
			return eventstore.Start, err
		}
	}
	log.Info("projection built from the event store", "events", folded, "at", prog.last.String(),
		"took", time.Since(started).Round(time.Millisecond))
	return prog.last, nil
}

// applyWithRetry retries transient failures; events already committed by a partly
// successful attempt (the one-by-one path) are not applied again.
func applyWithRetry(ctx context.Context, a *applier, prog *buildProgress, batch []eventstore.RecordedEvent) error {
	bo := retry.Backoff{Min: 50 * time.Millisecond, Max: 2 * time.Second}
	for attempt := 1; ; attempt++ {
		rest := batch
		for len(rest) > 0 && !prog.last.Less(rest[0].Position) {
			rest = rest[1:]
		}
		_, err := a.apply(ctx, prog, rest)
		if err == nil || !isTransient(err) || attempt == 10 {
			return err
		}
		if !retry.Sleep(ctx, bo.Next()) {
			return fmt.Errorf("%w (after: %w)", ctx.Err(), err)
		}
	}
}

// Swap makes generation to, built up to at, the live generation of p, in one
// transaction: the state row (version, generation, checkpoint, status live), the views,
// and dropping generation from. It fails with nothing changed if from is no longer the
// live generation. The runner then goes on from at: NATS messages at or below it are
// skipped, and the first one after it that does not follow it triggers a backfill.
func Swap(ctx context.Context, db *bun.DB, p Projection, from, to int, at eventstore.Position) error {
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		res, err := tx.NewUpdate().Model((*stateRow)(nil)).
			Set("version = ?", p.Version()).
			Set("generation = ?", to).
			Set("checkpoint_commit = ?", int64(at.Commit)).
			Set("checkpoint_prepare = ?", int64(at.Prepare)).
			Set("status = ?", string(StatusLive)).
			Set("error = ''").
			Set("updated_at = ?", time.Now().UTC()).
			Where("name = ?", p.Name()).Where("generation = ?", from).
			Exec(ctx)
		if err != nil {
			return fmt.Errorf("swap %s to generation %d: %w", p.Name(), to, err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 { // one row per partition
			return fmt.Errorf("swap %s to generation %d: %w (generation %d is not live)", p.Name(), to, errCheckpointMoved, from)
		}
		if err := pointViews(ctx, tx, p, to); err != nil {
			return err
		}
		return dropGeneration(ctx, tx, p, from)
	})
}

// Rebuild builds the next generation of p from the event store while the live one keeps
// answering, then swaps it in. Setup calls it when p's Version changed.
func Rebuild(ctx context.Context, db *bun.DB, store EventLog, p Projection, opts BuildOptions) error {
	st, err := loadState(ctx, db, p.Name())
	if err != nil {
		return err
	}
	if err := setStatus(ctx, db, p.Name(), StatusRebuilding, ""); err != nil {
		return err
	}
	next := st.Generation + 1
	at, err := Build(ctx, db, store, p, next, opts)
	if err == nil {
		err = Swap(ctx, db, p, st.Generation, next, at)
	}
	if err != nil {
		// The live generation is untouched; say why it was not replaced.
		if serr := setStatus(context.WithoutCancel(ctx), db, p.Name(), st.Status, "rebuild failed: "+err.Error()); serr != nil {
			return fmt.Errorf("%w (and status: %w)", err, serr)
		}
		return err
	}
	return nil
}

func setStatus(ctx context.Context, db bun.IDB, name string, status Status, errText string) error {
	_, err := db.NewUpdate().Model((*stateRow)(nil)).
		Set("status = ?", string(status)).Set("error = ?", errText).Set("updated_at = ?", time.Now().UTC()).
		Where("name = ?", name).Exec(ctx)
	if err != nil {
		return fmt.Errorf("projection %s status: %w", name, err)
	}
	return nil
}
