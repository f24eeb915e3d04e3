package projections

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/uptrace/bun"

	"ledger/infra/eventstore"
	"ledger/infra/partition"
)

// Status says how a projection is doing.
type Status string

const (
	StatusLive       Status = "live"       // applying events as they come
	StatusDegraded   Status = "degraded"   // live, but some events are in dead_letters
	StatusRebuilding Status = "rebuilding" // a new generation is being built from the store
	StatusFailed     Status = "failed"     // cannot run; Error says why
)

// State is a projection's bookkeeping, plus its dead-letter count. A read model split
// into partitions (by partner, partition.Of) has one checkpoint per partition; State
// read for the whole read model carries them all, and as Checkpoint the lowest: the
// position up to which every event of the read model is applied.
type State struct {
	Name       string
	Version    int
	Generation int
	// Checkpoint: every event of the partition (of every partition, for the whole read
	// model) at or below it is applied (or dead-lettered) in Generation.
	Checkpoint eventstore.Position
	// Partition is the partition this State is of (0 for the whole read model), and
	// Partitions the checkpoint of each, by partition: len(Partitions) is the read
	// model's partition count.
	Partition  int
	Partitions []eventstore.Position
	// Owner is the projector process that last moved the partition's checkpoint (set
	// by a runner on the State it advances), and Owners each partition's, by partition.
	Owner       string
	Owners      []string
	Status      Status
	Error       string
	UpdatedAt   time.Time
	DeadLetters int // in the live generation
}

// stateRow is projection_state: one row per partition of each read model (partition_no
// 0 only, for a read model in one partition). Version, generation and status are the
// same on every row of a read model; the checkpoint is the partition's. The checkpoint
// is written in the same transaction as the projection's rows: that is what makes
// redelivery harmless, and two processes applying one partition harmless too.
type stateRow struct {
	bun.BaseModel `bun:"table:projection_state"`

	Name              string    `bun:"name,pk"`
	Partition         int       `bun:"partition_no,pk"`
	Version           int       `bun:"version,notnull"`
	Generation        int       `bun:"generation,notnull"`
	CheckpointCommit  int64     `bun:"checkpoint_commit,notnull"`
	CheckpointPrepare int64     `bun:"checkpoint_prepare,notnull"`
	Status            string    `bun:"status,notnull"`
	Error             string    `bun:"error,notnull"`
	UpdatedAt         time.Time `bun:"updated_at,notnull"`
	// Owner: the projector process that last moved this partition's checkpoint.
	Owner string `bun:"owner,notnull,default:''"`
	// Heads: where every partition stood at the last event this partition's checkpoint
	// moved to that carried them (partition.Heads, String form; "" when none did). A
	// fact about the log kept where readers of checkpoints find it: with it a waiter
	// knows an idle partition complete up to another partition's event (checkpoint_wait.go).
	Heads string `bun:"partition_heads,notnull,default:''"`
}

func (r stateRow) checkpoint() eventstore.Position {
	return storedPosition(r.CheckpointCommit, r.CheckpointPrepare)
}

func (r stateRow) state() State {
	return State{Name: r.Name, Version: r.Version, Generation: r.Generation, Checkpoint: r.checkpoint(),
		Partition: r.Partition, Partitions: []eventstore.Position{r.checkpoint()},
		Owner: r.Owner, Owners: []string{r.Owner},
		Status: Status(r.Status), Error: r.Error, UpdatedAt: r.UpdatedAt}
}

// foldStates makes one State of a read model's partition rows (in partition order):
// the lowest checkpoint, the worst status, the latest update.
func foldStates(rows []stateRow) State {
	st := rows[0].state()
	st.Partition = 0
	st.Partitions = make([]eventstore.Position, len(rows))
	st.Owners = make([]string, len(rows))
	for i, r := range rows {
		cp := r.checkpoint()
		st.Partitions[i], st.Owners[i] = cp, r.Owner
		if cp.Less(st.Checkpoint) {
			st.Checkpoint = cp
		}
		if statusRank(Status(r.Status)) > statusRank(st.Status) {
			st.Status, st.Error = Status(r.Status), r.Error
		}
		if r.UpdatedAt.After(st.UpdatedAt) {
			st.UpdatedAt = r.UpdatedAt
		}
	}
	return st
}

func statusRank(s Status) int {
	switch s {
	case StatusFailed:
		return 3
	case StatusRebuilding:
		return 2
	case StatusDegraded:
		return 1
	}
	return 0
}

// ErrUnknownProjection: no projection_state row by that name (never set up here).
var ErrUnknownProjection = errors.New("unknown projection")

// ErrProjectionBehind: WaitFor's context ended before the projection reached the position.
var ErrProjectionBehind = errors.New("projection behind")

// EnsureSchema creates projection_state, dead_letters and projection_touches if they are
// missing.
func EnsureSchema(ctx context.Context, db bun.IDB) error {
	for _, model := range []any{(*stateRow)(nil), (*deadLetterRow)(nil), (*touchRow)(nil)} {
		if _, err := db.NewCreateTable().Model(model).IfNotExists().Exec(ctx); err != nil {
			return fmt.Errorf("projection bookkeeping schema: %w", err)
		}
	}
	if err := migrateStateToPartitions(ctx, db); err != nil {
		return fmt.Errorf("projection bookkeeping schema: partitions: %w", err)
	}
	if _, err := db.ExecContext(ctx, "SELECT owner FROM projection_state WHERE 1 = 0"); err != nil {
		// Made before partitions had owners: add the column (empty until the next commit).
		if _, err := db.ExecContext(ctx, "ALTER TABLE projection_state ADD COLUMN owner TEXT NOT NULL DEFAULT ''"); err != nil {
			return fmt.Errorf("projection bookkeeping schema: owner: %w", err)
		}
	}
	if _, err := db.ExecContext(ctx, "SELECT partition_heads FROM projection_state WHERE 1 = 0"); err != nil {
		// Made before the forwarder stamped partition heads: empty until the next commit.
		if _, err := db.ExecContext(ctx, "ALTER TABLE projection_state ADD COLUMN partition_heads TEXT NOT NULL DEFAULT ''"); err != nil {
			return fmt.Errorf("projection bookkeeping schema: partition heads: %w", err)
		}
	}
	return nil
}

// loadState reads the whole read model's state: every partition's checkpoint.
func loadState(ctx context.Context, db bun.IDB, name string) (State, error) {
	var rows []stateRow
	err := db.NewSelect().Model(&rows).Where("name = ?", name).Order("partition_no").Scan(ctx)
	if err != nil {
		return State{}, fmt.Errorf("projection %s state: %w", name, err)
	}
	if len(rows) == 0 {
		return State{}, fmt.Errorf("%w: %s", ErrUnknownProjection, name)
	}
	return foldStates(rows), nil
}

// loadPartition reads one partition's state.
func loadPartition(ctx context.Context, db bun.IDB, name string, partition int) (State, error) {
	var row stateRow
	err := db.NewSelect().Model(&row).Where("name = ?", name).Where("partition_no = ?", partition).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return State{}, fmt.Errorf("%w: %s partition %d", ErrUnknownProjection, name, partition)
	}
	if err != nil {
		return State{}, fmt.Errorf("projection %s partition %d state: %w", name, partition, err)
	}
	return row.state(), nil
}

// errCheckpointMoved: someone else (another process, a rebuild's swap) changed the row
// since we read it; the batch is rolled back and planned again from the new state.
var errCheckpointMoved = errors.New("projection checkpoint moved concurrently")

// advance moves partition st.Partition's checkpoint from st.Checkpoint to to, only if
// its row still holds st's generation and checkpoint. Run first in a batch transaction,
// it also takes the row lock that serialises two runners of one partition: whichever
// commits second finds the checkpoint moved and applies nothing. heads, when known, are
// the partition heads the event at to carried; nil leaves the row's (still true) ones.
func advance(ctx context.Context, tx bun.Tx, st State, to eventstore.Position, heads partition.Heads, set ...statusChange) error {
	// Every live batch runs it: prepared on SQLite (execPrepared), one text per shape.
	text := "UPDATE projection_state SET checkpoint_commit = ?, checkpoint_prepare = ?, updated_at = ?"
	args := make([]any, 0, 12)
	args = append(args, int64(to.Commit), int64(to.Prepare), timeArg(tx, time.Now()))
	if st.Owner != "" {
		text += ", owner = ?"
		args = append(args, st.Owner)
	}
	if len(heads) > 0 {
		text += ", partition_heads = ?"
		args = append(args, heads.String())
	}
	if len(set) > 0 {
		c := set[len(set)-1] // the last change is the status it leaves (liveProgress.committed)
		text += ", status = ?, error = ?"
		args = append(args, string(c.status), c.err)
	}
	text += " WHERE name = ? AND partition_no = ? AND generation = ? AND checkpoint_commit = ? AND checkpoint_prepare = ?"
	args = append(args, st.Name, st.Partition, st.Generation, int64(st.Checkpoint.Commit), int64(st.Checkpoint.Prepare))
	res, err := execPrepared(ctx, tx, text, args...)
	return checkAdvanced(st, res, err)
}

// checkAdvanced tells whether advance moved the checkpoint: errCheckpointMoved when
// the row no longer held what st says.
func checkAdvanced(st State, res sql.Result, err error) error {
	if err != nil {
		return fmt.Errorf("projection %s checkpoint: %w", st.Name, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("projection %s checkpoint: %w", st.Name, err)
	} else if n != 1 {
		return fmt.Errorf("%w: %s partition %d at %s (generation %d)", errCheckpointMoved, st.Name, st.Partition, st.Checkpoint, st.Generation)
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
	owner  string    // the runner's (RunnerConfig.Owner) whose commits these are told; "" if none
	schema sync.Once // the bookkeeping tables, so an unknown name reads as unknown
	known  knownCheckpoints
}

// NewCheckpoints reads progress from db.
func NewCheckpoints(db bun.IDB) *Checkpoints {
	return &Checkpoints{db: db, poll: 50 * time.Millisecond,
		known: knownCheckpoints{at: map[string][]eventstore.Position{}, seen: map[string]time.Time{},
			heads: map[string][]partition.Heads{}, complete: map[string][]eventstore.Position{},
			touches: map[string]*partnerTouches{},
			waiting: map[string]map[*waiter]struct{}{}}}
}

// newRunnerCheckpoints is the Checkpoints of a runner named owner, which tells it of
// every commit it makes (committed).
func newRunnerCheckpoints(db bun.IDB, owner string) *Checkpoints {
	c := NewCheckpoints(db)
	c.owner = owner
	return c
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
	if err := c.db.NewSelect().Model(&rows).Order("name", "partition_no").Scan(ctx); err != nil {
		return nil, fmt.Errorf("projection states: %w", err)
	}
	var out []State
	for len(rows) > 0 {
		n := 1
		for n < len(rows) && rows[n].Name == rows[0].Name {
			n++
		}
		st := foldStates(rows[:n])
		rows = rows[n:]
		dl, err := countDeadLetters(ctx, c.db, st.Name, st.Generation)
		if err != nil {
			return nil, err
		}
		st.DeadLetters = dl
		out = append(out, st)
	}
	return out, nil
}

// ensureSchema creates the bookkeeping tables if no runner has yet. A failure is left
// for the query that follows to report.
func (c *Checkpoints) ensureSchema(ctx context.Context) {
	c.schema.Do(func() { _ = EnsureSchema(ctx, c.db) })
}

// storedPosition is a position as the read database's rows hold it: two signed columns.
func storedPosition(commit, prepare int64) eventstore.Position {
	return eventstore.Position{Commit: uint64(commit), Prepare: uint64(prepare)}
}
