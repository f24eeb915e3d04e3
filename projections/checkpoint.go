package projections

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/uptrace/bun"

	"ledger/infra/broadcast"
	"ledger/infra/eventstore"
)

// Status says how a projection is doing.
type Status string

const (
	StatusLive       Status = "live"       // applying events as they come
	StatusDegraded   Status = "degraded"   // live, but some events are in dead_letters
	StatusRebuilding Status = "rebuilding" // a new generation is being built from the store
	StatusFailed     Status = "failed"     // cannot run; Error says why
)

// State is a projection's bookkeeping row in projection_state, plus its dead-letter count.
type State struct {
	Name        string
	Version     int
	Generation  int
	Checkpoint  eventstore.Position // last event applied (or dead-lettered) in Generation
	Status      Status
	Error       string
	UpdatedAt   time.Time
	DeadLetters int // in the live generation
}

// stateRow is projection_state. The checkpoint is written in the same transaction as the
// projection's rows: that is what makes redelivery harmless.
type stateRow struct {
	bun.BaseModel `bun:"table:projection_state"`

	Name              string    `bun:"name,pk"`
	Version           int       `bun:"version,notnull"`
	Generation        int       `bun:"generation,notnull"`
	CheckpointCommit  int64     `bun:"checkpoint_commit,notnull"`
	CheckpointPrepare int64     `bun:"checkpoint_prepare,notnull"`
	Status            string    `bun:"status,notnull"`
	Error             string    `bun:"error,notnull"`
	UpdatedAt         time.Time `bun:"updated_at,notnull"`
}

func (r stateRow) state() State {
	return State{Name: r.Name, Version: r.Version, Generation: r.Generation,
		Checkpoint: eventstore.Position{Commit: uint64(r.CheckpointCommit), Prepare: uint64(r.CheckpointPrepare)},
		Status:     Status(r.Status), Error: r.Error, UpdatedAt: r.UpdatedAt}
}

// ErrUnknownProjection: no projection_state row by that name (never set up here).
var ErrUnknownProjection = errors.New("unknown projection")

// ErrProjectionBehind: WaitFor's context ended before the projection reached the position.
var ErrProjectionBehind = errors.New("projection behind")

// EnsureSchema creates projection_state and dead_letters if they are missing.
func EnsureSchema(ctx context.Context, db bun.IDB) error {
	for _, model := range []any{(*stateRow)(nil), (*deadLetterRow)(nil)} {
		if _, err := db.NewCreateTable().Model(model).IfNotExists().Exec(ctx); err != nil {
			return fmt.Errorf("projection bookkeeping schema: %w", err)
		}
	}
	return nil
}

func loadState(ctx context.Context, db bun.IDB, name string) (State, error) {
	var row stateRow
	err := db.NewSelect().Model(&row).Where("name = ?", name).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return State{}, fmt.Errorf("%w: %s", ErrUnknownProjection, name)
	}
	if err != nil {
		return State{}, fmt.Errorf("projection %s state: %w", name, err)
	}
	return row.state(), nil
}

// errCheckpointMoved: someone else (another process, a rebuild's swap) changed the row
// since we read it; the batch is rolled back and planned again from the new state.
var errCheckpointMoved = errors.New("projection checkpoint moved concurrently")

// advance moves the checkpoint from st.Checkpoint to to, only if the row still holds
// st's generation and checkpoint. Run first in a batch transaction, it also takes the
// row lock that serialises two runners of one projection.
func advance(ctx context.Context, tx bun.Tx, st State, to eventstore.Position, set ...statusChange) error {
	q := tx.NewUpdate().Model((*stateRow)(nil)).
		Set("checkpoint_commit = ?", int64(to.Commit)).
		Set("checkpoint_prepare = ?", int64(to.Prepare)).
		Set("updated_at = ?", time.Now().UTC()).
		Where("name = ?", st.Name).
		Where("generation = ?", st.Generation).
		Where("checkpoint_commit = ?", int64(st.Checkpoint.Commit)).
		Where("checkpoint_prepare = ?", int64(st.Checkpoint.Prepare))
	for _, c := range set {
		q = q.Set("status = ?", string(c.status)).Set("error = ?", c.err)
	}
	res, err := q.Exec(ctx)
	if err != nil {
		return fmt.Errorf("projection %s checkpoint: %w", st.Name, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("projection %s checkpoint: %w", st.Name, err)
	} else if n != 1 {
		return fmt.Errorf("%w: %s at %s (generation %d)", errCheckpointMoved, st.Name, st.Checkpoint, st.Generation)
	}
	return nil
}

type statusChange struct {
	status Status
	err    string
}

// Checkpoints reads projection progress from the read database, so it works in any
// process that shares that database (an API-only process, a CLI). Waiting for a
// position costs no database connection: see WaitFor.
type Checkpoints struct {
	db     bun.IDB
	poll   time.Duration
	notify *broadcast.Signal
	schema sync.Once // the bookkeeping tables, so an unknown name reads as unknown
	known  knownCheckpoints
}

// NewCheckpoints reads progress from db.
func NewCheckpoints(db bun.IDB) *Checkpoints {
	return &Checkpoints{db: db, poll: 50 * time.Millisecond, notify: broadcast.New(),
		known: knownCheckpoints{at: map[string]eventstore.Position{}, seen: map[string]time.Time{}}}
}

// State is one projection's progress, status and dead-letter count.
func (c *Checkpoints) State(ctx context.Context, name string) (State, error) {
	c.ensureSchema(ctx)
	st, err := loadState(ctx, c.db, name)
	if err != nil {
		return State{}, err
	}
	st.DeadLetters, err = countDeadLetters(ctx, c.db, name, st.Generation)
	return st, err
}

// States lists every projection set up in this database, by name.
func (c *Checkpoints) States(ctx context.Context) ([]State, error) {
	c.ensureSchema(ctx)
	var rows []stateRow
	if err := c.db.NewSelect().Model(&rows).Order("name").Scan(ctx); err != nil {
		return nil, fmt.Errorf("projection states: %w", err)
	}
	out := make([]State, 0, len(rows))
	for _, r := range rows {
		st := r.state()
		n, err := countDeadLetters(ctx, c.db, st.Name, st.Generation)
		if err != nil {
			return nil, err
		}
		st.DeadLetters = n
		out = append(out, st)
	}
	return out, nil
}

// ensureSchema creates the bookkeeping tables if no runner has yet. A failure is left
// for the query that follows to report.
func (c *Checkpoints) ensureSchema(ctx context.Context) {
	c.schema.Do(func() { _ = EnsureSchema(ctx, c.db) })
}
