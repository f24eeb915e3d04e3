package projections

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
	"sync"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
)

// remainingIncidentsSQL is RemainingIncidents' query, the hottest read of the API.
// It selects only the columns the answer is built from (the others are decided again
// at the query's instant): each column read is a string copied out of SQLite.
const remainingIncidentsSQL = `SELECT contract_id, pool_kind, granted, used, valid_from, valid_to
FROM ` + RemainingIncidentsName + ` WHERE mpn_id = ? ORDER BY contract_id, pool_index`

// preparedQuery is a read prepared once per read database instead of built and parsed
// on every call: under query load SQLite spent 17% of the server's CPU parsing the same
// SELECT again (issue 10). database/sql prepares it again on each connection that runs
// it, and both databases prepare it again by themselves when a rebuild replaces the view
// it reads. Its caller scans the rows with plain database/sql: bun's reflective model
// scan was 12% of the server's CPU under query load. Over anything but a *bun.DB (a
// transaction) it runs unprepared.
type preparedQuery struct {
	sql  string // with ? placeholders
	mu   sync.Mutex
	stmt *sql.Stmt
}

// query runs the statement with args; the caller closes the rows.
func (q *preparedQuery) query(ctx context.Context, db bun.IDB, args ...any) (*sql.Rows, error) {
	bdb, ok := db.(*bun.DB)
	if !ok {
		return db.QueryContext(ctx, q.sql, args...)
	}
	stmt, err := q.prepared(ctx, bdb)
	if err != nil {
		return nil, err
	}
	return stmt.QueryContext(ctx, args...)
}

func (q *preparedQuery) prepared(ctx context.Context, db *bun.DB) (*sql.Stmt, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.stmt != nil {
		return q.stmt, nil
	}
	text := q.sql
	if db.Dialect().Name() == dialect.PG {
		text = numberPlaceholders(text)
	}
	stmt, err := db.DB.PrepareContext(ctx, text)
	if err != nil {
		return nil, err
	}
	q.stmt = stmt
	return stmt, nil
}

// numberPlaceholders turns ? into PostgreSQL's $1, $2, ... (the queries hold no ? in
// literals).
func numberPlaceholders(query string) string {
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
