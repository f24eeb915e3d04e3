package projections

import (
	"context"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"ledger/infra/eventstore"
)

// DeadLetter is an event a projection could not apply, even alone. It was skipped (the
// checkpoint moved past it in the same transaction that recorded it) so the projection
// keeps going; ops read the list, fix the code, and rebuild.
type DeadLetter struct {
	Projection string
	Generation int
	Position   eventstore.Position
	EventID    string
	EventType  string
	Stream     string
	Error      string
	At         time.Time
}

// deadLetter is what a dead letter records: open in dead_letters (deadLetterRow), and
// kept with how it was resolved in dead_letter_resolutions (deadLetterResolutionRow).
type deadLetter struct {
	Projection      string    `bun:"projection,pk"`
	Generation      int       `bun:"generation,pk"`
	PositionCommit  int64     `bun:"position_commit,pk"`
	PositionPrepare int64     `bun:"position_prepare,pk"`
	EventID         string    `bun:"event_id,notnull"`
	EventType       string    `bun:"event_type,notnull"`
	Stream          string    `bun:"stream,notnull"`
	Error           string    `bun:"error,notnull"`
	At              time.Time `bun:"at,notnull"`
}

type deadLetterRow struct {
	bun.BaseModel `bun:"table:dead_letters"`
	deadLetter
}

func recordDeadLetter(ctx context.Context, tx bun.Tx, name string, gen int, ev eventstore.RecordedEvent, cause error) error {
	row := deadLetterRow{deadLetter: deadLetter{Projection: name, Generation: gen,
		PositionCommit: int64(ev.Position.Commit), PositionPrepare: int64(ev.Position.Prepare),
		EventID: ev.ID, EventType: ev.Type, Stream: ev.Stream, Error: cause.Error(), At: time.Now().UTC()}}
	if _, err := tx.NewInsert().Model(&row).On("CONFLICT DO NOTHING").Exec(ctx); err != nil {
		return fmt.Errorf("dead letter %s at %s: %w", name, ev.Position, err)
	}
	return nil
}

func countDeadLetters(ctx context.Context, db bun.IDB, name string, gen int) (int, error) {
	n, err := db.NewSelect().Model((*deadLetterRow)(nil)).
		Where("projection = ?", name).Where("generation = ?", gen).Count(ctx)
	if err != nil {
		return 0, fmt.Errorf("dead letters of %s: %w", name, err)
	}
	return n, nil
}

// DeadLetters lists the dead letters of a projection's live generation, oldest first.
func DeadLetters(ctx context.Context, db bun.IDB, name string) ([]DeadLetter, error) {
	st, err := loadState(ctx, db, name)
	if err != nil {
		return nil, err
	}
	var rows []deadLetterRow
	if err := db.NewSelect().Model(&rows).Where("projection = ?", name).Where("generation = ?", st.Generation).
		Order("position_commit", "position_prepare").Scan(ctx); err != nil {
		return nil, fmt.Errorf("dead letters of %s: %w", name, err)
	}
	out := make([]DeadLetter, len(rows))
	for i, r := range rows {
		out[i] = DeadLetter{Projection: r.Projection, Generation: r.Generation,
			Position: storedPosition(r.PositionCommit, r.PositionPrepare),
			EventID:  r.EventID, EventType: r.EventType, Stream: r.Stream, Error: r.Error, At: r.At}
	}
	return out, nil
}
