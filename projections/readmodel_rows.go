package projections

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/schema"

	"ledger/domain"
	"ledger/infra/eventstore"
)

// The five read models have one shape, after emmett's projections (canHandle, evolve):
// each names the event types it can handle and a unit of work per batch that loads
// the rows the batch touches in one query per table, evolves them event by event in
// memory, and writes back what changed in bulk upserts. applyReadModel is the one Apply
// around them, so a batch of 500 events costs a handful of statements, whatever its mix.

// rowVersions is in every read-model row: the projection version whose code wrote it and
// the rules version recorded on the latest event that changed it (R10). A rebuild after
// a rule change can then be diffed row by row.
type rowVersions struct {
	ProjectionVersion int `bun:"projection_version,notnull"`
	RulesVersion      int `bun:"rules_version,notnull"`
}

func versionsOf(projectionVersion int, e domain.Event) rowVersions {
	return rowVersions{ProjectionVersion: projectionVersion, RulesVersion: e.Meta().RulesVersion}
}

// decoded is one event of a batch that a read model needs.
type decoded struct {
	position eventstore.Position
	event    domain.Event
}

// eventTypes is the set of event types a read model folds; it ignores every other type
// (including types it has never heard of) without decoding them.
type eventTypes map[string]bool

func typesOf(events ...domain.Event) eventTypes {
	set := eventTypes{}
	for _, e := range events {
		for _, typ := range domain.StoredTypesOf(e.EventType()) { // superseded versions upcast
			set[typ] = true
		}
	}
	return set
}

// decode keeps the events of the wanted types, decoded. A wanted event that does not
// decode is an error: the runner then dead-letters it rather than skip it silently.
// Under the runner, each event is decoded once for all the read models (decodeEvent).
func (want eventTypes) decode(ctx context.Context, batch []eventstore.RecordedEvent) ([]decoded, error) {
	out := make([]decoded, 0, len(batch))
	for _, rec := range batch {
		if !want[rec.Type] {
			continue
		}
		e, err := decodeEvent(ctx, rec)
		if err != nil {
			return nil, fmt.Errorf("event %s at %s in %s: %w", rec.ID, rec.Position, rec.Stream, err)
		}
		out = append(out, decoded{position: rec.Position, event: e})
	}
	return out, nil
}

// readModelBatch is one Apply of a read model: load reads the rows the batch's events
// change but do not create, evolve folds one event into the rows held, write stores
// the rows that changed.
type readModelBatch interface {
	load(ctx context.Context, tx bun.Tx, t Tables, events []decoded) error
	evolve(d decoded) error
	write(ctx context.Context, tx bun.Tx, t Tables) error
}

// applyReadModel is the Apply of every read model: keep and decode the events it can
// handle, then load, evolve and write one fresh unit of work.
func applyReadModel(ctx context.Context, tx bun.Tx, t Tables, batch []eventstore.RecordedEvent, canHandle eventTypes, newBatch func() readModelBatch) error {
	events, err := canHandle.decode(ctx, batch)
	if err != nil || len(events) == 0 {
		return err
	}
	w := newBatch()
	if err := w.load(ctx, tx, t, events); err != nil {
		return err
	}
	for _, d := range events {
		if err := w.evolve(d); err != nil {
			return err
		}
	}
	return w.write(ctx, tx, t)
}

// utc is how every timestamp is stored and answered: UTC, at the microsecond precision
// both SQLite (via bun) and PostgreSQL keep.
func utc(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func utcPtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := utc(t)
	return &u
}

func cloneInt(p *int) *int {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// rowSet holds the rows of one table that a batch reads or writes, by key. Rows put or
// marked are written back, in the order first changed.
type rowSet[K comparable, R any] struct {
	byKey map[K]*R
	dirty map[K]bool
	order []K
}

func newRowSet[K comparable, R any]() *rowSet[K, R] {
	return &rowSet[K, R]{byKey: map[K]*R{}, dirty: map[K]bool{}}
}

// loaded adds a row as read from the database; it is written back only if marked.
func (s *rowSet[K, R]) loaded(k K, r R) { s.byKey[k] = &r }

func (s *rowSet[K, R]) get(k K) (*R, bool) {
	r, ok := s.byKey[k]
	return r, ok
}

// put adds or replaces a row and marks it changed.
func (s *rowSet[K, R]) put(k K, r R) *R {
	s.byKey[k] = &r
	s.mark(k)
	return &r
}

// mark records that the row under k changed.
func (s *rowSet[K, R]) mark(k K) {
	if !s.dirty[k] {
		s.dirty[k] = true
		s.order = append(s.order, k)
	}
}

func (s *rowSet[K, R]) changed() []R {
	out := make([]R, 0, len(s.order))
	for _, k := range s.order {
		out = append(out, *s.byKey[k])
	}
	return out
}

// set is a small ordered set of keys to load.
type set[K comparable] struct {
	has  map[K]bool
	list []K
}

func (s *set[K]) add(k K) {
	if s.has == nil {
		s.has = map[K]bool{}
	}
	if !s.has[k] {
		s.has[k] = true
		s.list = append(s.list, k)
	}
}

// tableOf is bun's description of a row type (columns, primary key, alias).
func tableOf[R any](db bun.IDB) *schema.Table {
	return db.Dialect().Tables().Get(reflect.TypeFor[R]())
}

// index is a secondary index of a read-model table.
type index struct {
	suffix  string // unique within the table: "by_partner"
	columns string // "mpn_id, opened_position"
}

// createTable creates the physical table of logical in t from the row type R, with its
// indexes. Column types come from bun per dialect (VARCHAR, BIGINT/INTEGER, BOOLEAN,
// TIMESTAMPTZ/TIMESTAMP), so one row type serves SQLite and PostgreSQL.
func createTable[R any](ctx context.Context, db bun.IDB, t Tables, logical string, indexes ...index) error {
	if _, err := db.NewCreateTable().Model((*R)(nil)).ModelTableExpr("?", t.Ident(logical)).Exec(ctx); err != nil {
		return fmt.Errorf("create %s: %w", t[logical], err)
	}
	for _, ix := range indexes {
		if _, err := db.NewRaw("CREATE INDEX ? ON ? ("+ix.columns+")",
			bun.Ident(t.Index(logical, ix.suffix)), t.Ident(logical)).Exec(ctx); err != nil {
			return fmt.Errorf("create index %s on %s: %w", ix.suffix, t[logical], err)
		}
	}
	return nil
}

// selectRows reads into dest the rows of this generation's table for logical whose
// column holds one of keys: prepared on SQLite (readmodel_sql.go), built by bun else.
func selectRows[R any](ctx context.Context, db bun.IDB, t Tables, logical, column string, keys []string, dest *[]R) error {
	var err error
	if tx, ok := preparedTx(db); ok {
		err = selectPrepared(ctx, tx, t[logical], column, keys, dest)
	} else {
		err = db.NewSelect().Model(dest).ModelTableExpr("? AS ?", t.Ident(logical), tableOf[R](db).SQLAlias).
			Where("? IN (?)", bun.Ident(column), bun.In(keys)).Scan(ctx)
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", t[logical], err)
	}
	return nil
}

// upsertChunk bounds the rows of one INSERT statement.
const upsertChunk = 250

// upsertRows writes rows into this generation's table for logical: new keys are
// inserted, existing keys get every other column replaced. Prepared on SQLite
// (readmodel_sql.go), bun's multi-row statements else.
func upsertRows[R any](ctx context.Context, db bun.IDB, t Tables, logical string, rows []R) error {
	if len(rows) == 0 {
		return nil
	}
	if tx, ok := preparedTx(db); ok {
		if err := upsertPrepared(ctx, tx, t[logical], rows); err != nil {
			return fmt.Errorf("write %s: %w", t[logical], err)
		}
		return nil
	}
	tbl := tableOf[R](db)
	pks := make([]string, len(tbl.PKs))
	for i, f := range tbl.PKs {
		pks[i] = f.Name
	}
	conflict := "CONFLICT (" + strings.Join(pks, ", ") + ") DO UPDATE"
	for start := 0; start < len(rows); start += upsertChunk {
		chunk := rows[start:min(start+upsertChunk, len(rows))]
		q := db.NewInsert().Model(&chunk).ModelTableExpr("?", t.Ident(logical)).On(conflict).Returning("NULL")
		for _, f := range tbl.DataFields {
			q = q.Set("? = EXCLUDED.?", f.SQLName, f.SQLName)
		}
		if _, err := q.Exec(ctx); err != nil {
			return fmt.Errorf("write %s: %w", t[logical], err)
		}
	}
	return nil
}

// inChunks calls fn with slices of keys small enough for one IN (...) list.
func inChunks[K any](keys []K, fn func([]K) error) error {
	const size = 500
	for start := 0; start < len(keys); start += size {
		if err := fn(keys[start:min(start+size, len(keys))]); err != nil {
			return err
		}
	}
	return nil
}
