package projections

import (
	"context"
	"database/sql"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
)

// remainingIncidentsSQL is RemainingIncidents' query, the hottest read of the API.
// It selects only the columns the answer is built from (the others are decided again
// at the query's instant): each column read is a string copied out of SQLite.
const remainingIncidentsSQL = `SELECT contract_id, pool_kind, granted, used, valid_from, valid_to
FROM ` + RemainingIncidentsName + ` WHERE mpn_id = ? ORDER BY contract_id, pool_index`

// preparedQuery is a read run as a statement the package's keeper prepared once per
// read database (preparedStatements) instead of built and parsed on every call. Both
// databases prepare it again by themselves when a rebuild replaces the view it reads.
// Its caller scans the rows with plain database/sql: bun's reflective model scan was
// 12% of the server's CPU under query load. Over anything but a *bun.DB (a transaction)
// it runs unprepared.
type preparedQuery struct {
	sql      string // with ? placeholders
	prepared string // in the read database's placeholders, fixed once
}

// newPreparedQuery is query (with ? placeholders) as db runs it.
func newPreparedQuery(db bun.IDB, query string) preparedQuery {
	q := preparedQuery{sql: query, prepared: query}
	if bdb, ok := db.(*bun.DB); ok && bdb.Dialect().Name() == dialect.PG {
		q.prepared = numberPlaceholders(query)
	}
	return q
}

// query runs the statement with args; the caller closes the rows.
func (q preparedQuery) query(ctx context.Context, db bun.IDB, args ...any) (*sql.Rows, error) {
	bdb, ok := db.(*bun.DB)
	if !ok {
		return db.QueryContext(ctx, q.sql, args...)
	}
	return queryPrepared(ctx, bdb.DB, q.prepared, args...)
}
