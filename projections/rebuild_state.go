package projections

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"ledger/infra/eventstore"
	"ledger/infra/sqldb"
)

// rebuildRow is projection_rebuilds: one row per projection, the latest blue-green
// rebuild of it. While building, its position is written in the same transaction as
// each batch of the new generation, so an interrupted rebuild resumes exactly where it
// stopped; updated_at doubles as the heartbeat of the process that owns it.
type rebuildRow struct {
	bun.BaseModel `bun:"table:projection_rebuilds"`

	Name           string `bun:"name,pk"`
	Owner          string `bun:"owner,notnull"` // the rebuilding process's run ID
	FromGeneration int    `bun:"from_generation,notnull"`
	Generation     int    `bun:"generation,notnull"`
	// Version is the projection version whose code builds Generation: a half-built
	// generation is resumed only by the same version (0: written before this column).
	Version         int       `bun:"version,notnull,default:0"`
	PositionCommit  int64     `bun:"position_commit,notnull"`
	PositionPrepare int64     `bun:"position_prepare,notnull"`
	HeadCommit      int64     `bun:"head_commit,notnull"`
	HeadPrepare     int64     `bun:"head_prepare,notnull"`
	Events          int64     `bun:"events,notnull"` // folded into Generation so far, over all runs
	Status          string    `bun:"status,notnull"`
	DryRun          bool      `bun:"dry_run,notnull"`
	Error           string    `bun:"error,notnull"`
	StartedAt       time.Time `bun:"started_at,notnull"`
	UpdatedAt       time.Time `bun:"updated_at,notnull"`
}

// Rebuild statuses.
const (
	RebuildBuilding  = "building"    // folding the log into the new generation
	RebuildComparing = "comparing"   // caught up; diffing and swapping
	RebuildStopped   = "interrupted" // cancelled; the next rebuild resumes it
	RebuildDone      = "done"
	RebuildFailed    = "failed"
)

// rebuildLease: a building row not updated for this long belongs to a process that
// died; another rebuild may take it over (and resume it). A variable so that a test of
// the take-over need not wait 30 s.
var rebuildLease = 30 * time.Second

// ErrRebuildRunning: another process is rebuilding this projection right now.
var ErrRebuildRunning = errors.New("a rebuild of this projection is already running")

func (r rebuildRow) position() eventstore.Position {
	return storedPosition(r.PositionCommit, r.PositionPrepare)
}

// RebuildStatus is a projection's latest rebuild as ops see it.
type RebuildStatus struct {
	Status     string              `json:"status"` // building | comparing | done | failed | interrupted
	Generation int                 `json:"generation"`
	DryRun     bool                `json:"dryRun"`
	Position   eventstore.Position `json:"-"`
	Head       eventstore.Position `json:"-"`
	Events     int64               `json:"events"`
	Error      string              `json:"error,omitempty"`
	StartedAt  time.Time           `json:"startedAt"`
	UpdatedAt  time.Time           `json:"updatedAt"`
}

// Active reports whether a rebuild is building or comparing now.
func (s RebuildStatus) Active() bool {
	return s.Status == RebuildBuilding || s.Status == RebuildComparing
}

// LatestRebuild reads the latest rebuild of a projection; ok false if there was none.
// A building row whose owner stopped beating is reported as "interrupted": running
// the rebuild again resumes it.
func LatestRebuild(ctx context.Context, db bun.IDB, name string) (RebuildStatus, bool, error) {
	if err := ensureRebuildSchema(ctx, db); err != nil {
		return RebuildStatus{}, false, err
	}
	var row rebuildRow
	err := db.NewSelect().Model(&row).Where("name = ?", name).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return RebuildStatus{}, false, nil
	}
	if err != nil {
		return RebuildStatus{}, false, fmt.Errorf("rebuild of %s: %w", name, err)
	}
	st := RebuildStatus{Status: row.Status, Generation: row.Generation, DryRun: row.DryRun, Position: row.position(),
		Head:   storedPosition(row.HeadCommit, row.HeadPrepare),
		Events: row.Events, Error: row.Error, StartedAt: row.StartedAt, UpdatedAt: row.UpdatedAt}
	if st.Active() && time.Since(row.UpdatedAt) > rebuildLease {
		st.Status = RebuildStopped
	}
	return st, true, nil
}

func ensureRebuildSchema(ctx context.Context, db bun.IDB) error {
	if _, err := db.NewCreateTable().Model((*rebuildRow)(nil)).IfNotExists().Exec(ctx); err != nil {
		return fmt.Errorf("projection_rebuilds: %w", err)
	}
	// A table made before the version column gains it; its rows (version 0) are then
	// never resumed, only rebuilt afresh.
	cols, _, err := tableColumns(ctx, db, "projection_rebuilds")
	if err != nil || slices.Contains(cols, "version") {
		return err
	}
	if _, err := db.NewRaw("ALTER TABLE projection_rebuilds ADD COLUMN version BIGINT NOT NULL DEFAULT 0").Exec(ctx); err != nil {
		return fmt.Errorf("projection_rebuilds: add version: %w", err)
	}
	return nil
}

// claimRebuild takes the rebuild of p from live generation from, in one transaction. It
// resumes a half-built generation from+1 left by an interrupted rebuild (unless
// restart), else drops whatever generation from+1 holds and creates it empty. It
// returns the row as claimed: its position is where folding goes on from.
func claimRebuild(ctx context.Context, db *bun.DB, p Projection, from int, dryRun, restart bool) (rebuildRow, bool, error) {
	now := time.Now().UTC()
	claim := rebuildRow{Name: p.Name(), Owner: uuid.NewString(), FromGeneration: from, Generation: from + 1,
		Version: p.Version(), Status: RebuildBuilding, DryRun: dryRun, StartedAt: now, UpdatedAt: now}
	resumed := false
	err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var prev rebuildRow
		q := tx.NewSelect().Model(&prev).Where("name = ?", p.Name())
		if sqldb.DialectOf(tx) == sqldb.Postgres {
			q = q.For("UPDATE") // SQLite's immediate transactions already hold the write lock
		}
		err := q.Scan(ctx)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return err
		case (prev.Status == RebuildBuilding || prev.Status == RebuildComparing) && now.Sub(prev.UpdatedAt) < rebuildLease:
			return fmt.Errorf("%w (%s since %s)", ErrRebuildRunning, p.Name(), prev.StartedAt.Format(time.RFC3339))
		case (prev.Status == RebuildBuilding || prev.Status == RebuildStopped) && prev.FromGeneration == from &&
			prev.Generation == from+1 && prev.Version == p.Version() && !restart:
			claim.PositionCommit, claim.PositionPrepare, claim.Events = prev.PositionCommit, prev.PositionPrepare, prev.Events
			claim.StartedAt, resumed = prev.StartedAt, true
		}
		if !resumed {
			if err := dropGeneration(ctx, tx, p, from+1); err != nil {
				return err
			}
			if _, err := tx.NewDelete().Model((*deadLetterRow)(nil)).
				Where("projection = ?", p.Name()).Where("generation = ?", from+1).Exec(ctx); err != nil {
				return fmt.Errorf("clear dead letters: %w", err)
			}
			if err := p.Create(ctx, tx, TablesFor(p, from+1)); err != nil {
				return fmt.Errorf("create generation %d: %w", from+1, err)
			}
		}
		_, err = tx.NewInsert().Model(&claim).On("CONFLICT (name) DO UPDATE").
			Set("owner = EXCLUDED.owner").Set("from_generation = EXCLUDED.from_generation").
			Set("generation = EXCLUDED.generation").Set("version = EXCLUDED.version").Set("position_commit = EXCLUDED.position_commit").
			Set("position_prepare = EXCLUDED.position_prepare").Set("head_commit = 0").Set("head_prepare = 0").
			Set("events = EXCLUDED.events").Set("status = EXCLUDED.status").Set("dry_run = EXCLUDED.dry_run").
			Set("error = ''").Set("started_at = EXCLUDED.started_at").Set("updated_at = EXCLUDED.updated_at").
			Exec(ctx)
		return err
	})
	if err != nil {
		return rebuildRow{}, false, fmt.Errorf("rebuild %s: claim: %w", p.Name(), err)
	}
	return claim, resumed, nil
}

// errRebuildTakenOver: the row no longer names this run as its owner.
var errRebuildTakenOver = errors.New("rebuild taken over by another process")

// rebuildProgress records a building generation's position in the batch transaction.
type rebuildProgress struct {
	row    rebuildRow
	head   eventstore.Position
	events int64
}

func (r *rebuildProgress) generation() int { return r.row.Generation }

func (r *rebuildProgress) mark(ctx context.Context, tx bun.Tx, to eventstore.Position, _ ...statusChange) error {
	res, err := tx.NewUpdate().Model((*rebuildRow)(nil)).
		Set("position_commit = ?", int64(to.Commit)).Set("position_prepare = ?", int64(to.Prepare)).
		Set("head_commit = ?", int64(r.head.Commit)).Set("head_prepare = ?", int64(r.head.Prepare)).
		Set("events = ?", r.events).Set("updated_at = ?", time.Now().UTC()).
		Where("name = ?", r.row.Name).Where("owner = ?", r.row.Owner).Exec(ctx)
	if err != nil {
		return fmt.Errorf("rebuild %s progress: %w", r.row.Name, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("rebuild %s: %w", r.row.Name, errRebuildTakenOver)
	}
	return nil
}

func (r *rebuildProgress) committed(to eventstore.Position, _ ...statusChange) {
	r.row.PositionCommit, r.row.PositionPrepare = int64(to.Commit), int64(to.Prepare)
}

// finishRebuild records the outcome; it runs in the final transaction, or alone on failure.
func finishRebuild(ctx context.Context, db bun.IDB, row rebuildRow, status, errText string) error {
	_, err := db.NewUpdate().Model((*rebuildRow)(nil)).Set("status = ?", status).Set("error = ?", errText).
		Set("updated_at = ?", time.Now().UTC()).Where("name = ?", row.Name).Where("owner = ?", row.Owner).Exec(ctx)
	if err != nil {
		return fmt.Errorf("rebuild %s: %w", row.Name, err)
	}
	return nil
}
