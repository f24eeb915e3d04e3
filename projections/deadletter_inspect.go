package projections

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/uptrace/bun"

	"ledger/infra/eventstore"
	"ledger/infra/paging"
)

// Ops resolve a dead letter in one of two ways once its cause is understood: retry it
// (the projection's own Apply, again, now that the code or the data is fixed) or
// discard it with a reason. Either way the letter leaves dead_letters and its record
// (who, when, how, why) goes to dead_letter_resolutions, in the same transaction. The
// history is a table of its own so that it outlives the generation it was found in:
// a rebuild clears the dead letters of the generations it drops, not what ops decided.

// Which dead letters a list shows.
const (
	DeadLettersOpen     = "open"
	DeadLettersResolved = "resolved"
)

// How a dead letter was resolved.
const (
	ResolutionRetried   = "retried"
	ResolutionDiscarded = "discarded"
)

// MaxResolutionReason bounds the reason ops give (in characters).
const MaxResolutionReason = 1000

var (
	// ErrDeadLetterNotFound: no open dead letter at that position in the live generation
	// (never was, or resolved already).
	ErrDeadLetterNotFound = errors.New("no such dead letter")
	// ErrRetryRefused: the projection refused the event again; the letter stays open.
	ErrRetryRefused = errors.New("the projection refused the event again")
	// ErrBadResolution: a discard without a reason, or a reason too long, or a list
	// status other than open or resolved.
	ErrBadResolution = errors.New("invalid dead-letter request")
	// ErrDeadLetterEventMissing: the store no longer holds the dead-lettered event.
	ErrDeadLetterEventMissing = errors.New("dead-lettered event not found in the event store")
)

// BadResolutionError names the field of an ErrBadResolution.
type BadResolutionError struct {
	Field, Reason string
}

func (e *BadResolutionError) Error() string { return e.Field + ": " + e.Reason }
func (e *BadResolutionError) Unwrap() error { return ErrBadResolution }

// StreamReader reads one stream of the event store: where a dead letter's event is.
type StreamReader interface {
	ReadStream(ctx context.Context, stream string, opts eventstore.ReadStreamOptions) ([]eventstore.RecordedEvent, error)
}

// DeadLetterOps lists, shows, retries and discards the dead letters of the read models
// in one read database. The HTTP routes use it; any process sharing the read database
// may, since every change is one transaction guarded by the projection_state row.
type DeadLetterOps struct {
	DB          *bun.DB
	Events      StreamReader
	Projections []Projection // All() when nil
	// Answers are the answers this process keeps (ReadModels.Answers), forgotten when a
	// retry changes rows under a checkpoint that does not move; nil keeps none.
	Answers *AnswerCache

	schemaMu sync.Mutex
	schemaOK bool // the tables exist: checked once per process, again after a failure
}

// DeadLetterEntry is a dead letter as the API lists it; the resolution fields are set
// once it is resolved.
type DeadLetterEntry struct {
	Projection string     `json:"projection"`
	Generation int        `json:"generation"`
	Position   string     `json:"position"`
	EventID    string     `json:"eventId"`
	EventType  string     `json:"eventType"`
	Stream     string     `json:"stream"`
	Error      string     `json:"error"`
	At         time.Time  `json:"at"`
	Resolution string     `json:"resolution,omitempty"` // retried | discarded
	Reason     string     `json:"reason,omitempty"`
	ResolvedBy string     `json:"resolvedBy,omitempty"`
	ResolvedAt *time.Time `json:"resolvedAt,omitempty"`
}

// DeadLetterDetail is one dead letter with the event it could not apply.
type DeadLetterDetail struct {
	DeadLetterEntry
	RecordedAt time.Time       `json:"recordedAt"`
	Data       json.RawMessage `json:"data"`
	Metadata   json.RawMessage `json:"metadata,omitempty"`
}

// DeadLetterPage is one page of a projection's dead letters, oldest first.
type DeadLetterPage struct {
	DeadLetters []DeadLetterEntry `json:"deadLetters"`
	NextCursor  string            `json:"nextCursor,omitempty"`
}

type deadLetterResolutionRow struct {
	bun.BaseModel `bun:"table:dead_letter_resolutions"`
	deadLetter
	Resolution string    `bun:"resolution,notnull"`
	Reason     string    `bun:"reason,notnull"`
	ResolvedBy string    `bun:"resolved_by,notnull"`
	ResolvedAt time.Time `bun:"resolved_at,notnull"`
}

func (o *DeadLetterOps) ensureSchema(ctx context.Context) error {
	o.schemaMu.Lock()
	defer o.schemaMu.Unlock()
	if o.schemaOK {
		return nil
	}
	err := EnsureSchema(ctx, o.DB)
	if err == nil {
		_, err = o.DB.NewCreateTable().Model((*deadLetterResolutionRow)(nil)).IfNotExists().Exec(ctx)
	}
	if err != nil {
		return fmt.Errorf("dead-letter schema: %w", err)
	}
	o.schemaOK = true
	return nil
}

func (o *DeadLetterOps) find(name string) (Projection, error) {
	list := o.Projections
	if list == nil {
		list = All()
	}
	for _, p := range list {
		if p.Name() == name {
			return p, nil
		}
	}
	return nil, fmt.Errorf("%w: %s", ErrUnknownProjection, name)
}

// deadLetterKey is where a page of dead letters ends.
type deadLetterKey struct {
	Generation int   `json:"g"`
	Commit     int64 `json:"c"`
	Prepare    int64 `json:"p"`
}

// List pages through a projection's dead letters: the open ones of the live generation
// (status "" or open), or the resolved ones of every generation (resolved).
func (o *DeadLetterOps) List(ctx context.Context, name, status string, page paging.Page) (DeadLetterPage, error) {
	if status == "" {
		status = DeadLettersOpen
	}
	if status != DeadLettersOpen && status != DeadLettersResolved {
		return DeadLetterPage{}, &BadResolutionError{Field: "status", Reason: fmt.Sprintf("%q: want open or resolved", status)}
	}
	limit, err := page.Size()
	if err != nil {
		return DeadLetterPage{}, err
	}
	scope := "dead-letters/" + name + "/" + status
	after, err := paging.Decode[deadLetterKey](scope, page.Cursor)
	if err != nil {
		return DeadLetterPage{}, err
	}
	if _, err := o.find(name); err != nil {
		return DeadLetterPage{}, err
	}
	if err := o.ensureSchema(ctx); err != nil {
		return DeadLetterPage{}, err
	}
	var out DeadLetterPage
	if status == DeadLettersOpen {
		out.DeadLetters, err = o.openPage(ctx, name, after, limit+1)
	} else {
		out.DeadLetters, err = o.resolvedPage(ctx, name, after, limit+1)
	}
	if err != nil {
		return DeadLetterPage{}, err
	}
	if len(out.DeadLetters) > limit {
		out.DeadLetters = out.DeadLetters[:limit]
		last := out.DeadLetters[limit-1]
		pos, _ := eventstore.ParsePosition(last.Position)
		out.NextCursor = paging.Encode(scope, deadLetterKey{Generation: last.Generation, Commit: int64(pos.Commit), Prepare: int64(pos.Prepare)})
	}
	return out, nil
}

// afterKey keeps the rows after k in (generation, position) order.
func afterKey(q *bun.SelectQuery, k deadLetterKey) *bun.SelectQuery {
	return q.Where("(generation > ?) OR (generation = ? AND position_commit > ?) OR (generation = ? AND position_commit = ? AND position_prepare > ?)",
		k.Generation, k.Generation, k.Commit, k.Generation, k.Commit, k.Prepare).
		Order("generation", "position_commit", "position_prepare")
}

func (o *DeadLetterOps) openPage(ctx context.Context, name string, after deadLetterKey, n int) ([]DeadLetterEntry, error) {
	st, err := loadState(ctx, o.DB, name)
	if errors.Is(err, ErrUnknownProjection) {
		return []DeadLetterEntry{}, nil // known to the code, not set up here: nothing dead-lettered
	}
	if err != nil {
		return nil, err
	}
	var rows []deadLetterRow
	q := o.DB.NewSelect().Model(&rows).Where("projection = ?", name).Where("generation = ?", st.Generation)
	if err := afterKey(q, after).Limit(n).Scan(ctx); err != nil {
		return nil, fmt.Errorf("dead letters of %s: %w", name, err)
	}
	out := make([]DeadLetterEntry, len(rows))
	for i, r := range rows {
		out[i] = r.entry()
	}
	return out, nil
}

func (o *DeadLetterOps) resolvedPage(ctx context.Context, name string, after deadLetterKey, n int) ([]DeadLetterEntry, error) {
	var rows []deadLetterResolutionRow
	q := o.DB.NewSelect().Model(&rows).Where("projection = ?", name)
	if err := afterKey(q, after).Limit(n).Scan(ctx); err != nil {
		return nil, fmt.Errorf("resolved dead letters of %s: %w", name, err)
	}
	out := make([]DeadLetterEntry, len(rows))
	for i, r := range rows {
		out[i] = r.entry()
	}
	return out, nil
}

func (r deadLetter) entry() DeadLetterEntry {
	pos := storedPosition(r.PositionCommit, r.PositionPrepare)
	return DeadLetterEntry{Projection: r.Projection, Generation: r.Generation, Position: pos.String(),
		EventID: r.EventID, EventType: r.EventType, Stream: r.Stream, Error: r.Error, At: r.At}
}

func (r deadLetterResolutionRow) entry() DeadLetterEntry {
	e := r.deadLetter.entry()
	at := r.ResolvedAt
	e.Resolution, e.Reason, e.ResolvedBy, e.ResolvedAt = r.Resolution, r.Reason, r.ResolvedBy, &at
	return e
}

// Letter is the dead letter of projection name at pos with its event: the open one of
// the live generation, else the latest resolved one.
func (o *DeadLetterOps) Letter(ctx context.Context, name string, pos eventstore.Position) (DeadLetterDetail, error) {
	entry, err := o.entryAt(ctx, name, pos)
	if err != nil {
		return DeadLetterDetail{}, err
	}
	ev, err := o.event(ctx, entry.Stream, entry.EventID)
	if err != nil {
		return DeadLetterDetail{}, err
	}
	return DeadLetterDetail{DeadLetterEntry: entry, RecordedAt: ev.RecordedAt,
		Data: asJSON(ev.Data), Metadata: asJSON(ev.Metadata)}, nil
}

func (o *DeadLetterOps) entryAt(ctx context.Context, name string, pos eventstore.Position) (DeadLetterEntry, error) {
	if _, err := o.find(name); err != nil {
		return DeadLetterEntry{}, err
	}
	if err := o.ensureSchema(ctx); err != nil {
		return DeadLetterEntry{}, err
	}
	if row, err := openLetter(ctx, o.DB, name, pos); err == nil {
		return row.entry(), nil
	} else if !errors.Is(err, ErrDeadLetterNotFound) {
		return DeadLetterEntry{}, err
	}
	var res deadLetterResolutionRow
	err := o.DB.NewSelect().Model(&res).Where("projection = ?", name).
		Where("position_commit = ?", int64(pos.Commit)).Where("position_prepare = ?", int64(pos.Prepare)).
		Order("generation DESC").Limit(1).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return DeadLetterEntry{}, fmt.Errorf("%w: %s at %s", ErrDeadLetterNotFound, name, pos)
	}
	if err != nil {
		return DeadLetterEntry{}, fmt.Errorf("dead letter %s at %s: %w", name, pos, err)
	}
	return res.entry(), nil
}

// openLetter is the open dead letter of name's live generation at pos.
func openLetter(ctx context.Context, db bun.IDB, name string, pos eventstore.Position) (deadLetterRow, error) {
	st, err := loadState(ctx, db, name)
	if errors.Is(err, ErrUnknownProjection) {
		return deadLetterRow{}, fmt.Errorf("%w: %s at %s", ErrDeadLetterNotFound, name, pos)
	}
	if err != nil {
		return deadLetterRow{}, err
	}
	var row deadLetterRow
	err = db.NewSelect().Model(&row).Where("projection = ?", name).Where("generation = ?", st.Generation).
		Where("position_commit = ?", int64(pos.Commit)).Where("position_prepare = ?", int64(pos.Prepare)).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return deadLetterRow{}, fmt.Errorf("%w: %s at %s", ErrDeadLetterNotFound, name, pos)
	}
	if err != nil {
		return deadLetterRow{}, fmt.Errorf("dead letter %s at %s: %w", name, pos, err)
	}
	return row, nil
}

// event reads the dead-lettered event back from its stream, a page at a time.
func (o *DeadLetterOps) event(ctx context.Context, stream, id string) (eventstore.RecordedEvent, error) {
	const pageSize = 1000
	for from := uint64(0); ; {
		evs, err := o.Events.ReadStream(ctx, stream, eventstore.ReadStreamOptions{From: from, Limit: pageSize})
		if err != nil {
			return eventstore.RecordedEvent{}, fmt.Errorf("read %s: %w", stream, err)
		}
		for _, ev := range evs {
			if ev.ID == id {
				return ev, nil
			}
		}
		if len(evs) < pageSize {
			return eventstore.RecordedEvent{}, fmt.Errorf("%w: event %s of %s", ErrDeadLetterEventMissing, id, stream)
		}
		from = evs[len(evs)-1].Revision + 1
	}
}

// asJSON is b as it is when it is JSON, else as a JSON string (a payload that does not
// even parse is a common reason to be dead-lettered).
func asJSON(b []byte) json.RawMessage {
	if len(b) == 0 {
		return nil
	}
	if json.Valid(b) {
		return b
	}
	s, _ := json.Marshal(string(b))
	return s
}
