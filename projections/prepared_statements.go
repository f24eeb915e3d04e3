package projections

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// statementKeeper keeps, per read database and SQL text, the statement prepared on it:
// the hottest read of the API (issue 10: SQLite spent 17% of the server's CPU parsing
// the same SELECT again) and the read models' loads, upserts and checkpoint advances.
// database/sql prepares a kept statement again on each connection that runs it, once.
//
// It is bounded: each generation of a read model has its own tables, so each rebuild
// (every erasure rebuilds them all) brings new texts, and those of dropped generations
// are never run again. When full it retires every statement and starts again; a retired
// statement is closed by its last user's release, never under a query or a transaction
// that took it (a statement closed between its lookup and its use fails the query with
// "sql: statement is closed"). The live texts are prepared again at their next use.
type statementKeeper struct {
	mu     sync.RWMutex // the map; retiring takes it for writing, so no lease starts meanwhile
	byText map[keptKey]*keptStatement
	max    int
}

type keptKey struct {
	db   *sql.DB
	text string
}

// keptStatement is a statement and its users, counted in state: the users in the low
// bits, retiredBit once the keeper has let it go. Whoever brings state to exactly
// retiredBit (the keeper, or the last user's release) closes it, once.
type keptStatement struct {
	stmt  *sql.Stmt
	state atomic.Int64
}

const retiredBit = int64(1) << 62

// maxPreparedStatements bounds the statements kept by the package's keeper.
const maxPreparedStatements = 1024

// preparedStatements is the package's keeper: one for every read database.
var preparedStatements = &statementKeeper{max: maxPreparedStatements}

// statementLease is a kept statement taken for one use: it stays open until release.
type statementLease struct{ kept *keptStatement }

// release ends the use; it closes the statement if the keeper retired it meanwhile.
func (l statementLease) release() {
	if l.kept.state.Add(-1) == retiredBit {
		_ = l.kept.stmt.Close()
	}
}

// lease is the statement kept for text on db, taken for one use (prepared first when
// none is kept). The caller releases it once database/sql holds the statement itself:
// after Query (the rows keep it) or Exec returns, or after Tx.Stmt (the transaction's
// statement keeps it). The lock is held for the map lookup only, never across a query
// or a prepare.
func (k *statementKeeper) lease(ctx context.Context, db *sql.DB, text string) (statementLease, error) {
	if l, ok := k.take(db, text); ok {
		return l, nil
	}
	return k.prepare(ctx, db, text)
}

// take leases the statement kept for text on db, if one is.
func (k *statementKeeper) take(db *sql.DB, text string) (statementLease, bool) {
	k.mu.RLock()
	kept := k.byText[keptKey{db, text}]
	if kept != nil {
		kept.state.Add(1) // under the read lock: the keeper cannot retire it meanwhile
	}
	k.mu.RUnlock()
	return statementLease{kept}, kept != nil
}

// prepare prepares text on db, keeps it and leases it.
func (k *statementKeeper) prepare(ctx context.Context, db *sql.DB, text string) (statementLease, error) {
	stmt, err := db.PrepareContext(ctx, text)
	if err != nil {
		return statementLease{}, err
	}
	return k.keep(keptKey{db, text}, stmt), nil
}

// keep keeps stmt for key, or the one another caller kept first (closing stmt), and
// leases it.
func (k *statementKeeper) keep(key keptKey, stmt *sql.Stmt) statementLease {
	k.mu.Lock()
	defer k.mu.Unlock()
	if prior := k.byText[key]; prior != nil {
		_ = stmt.Close()
		prior.state.Add(1)
		return statementLease{prior}
	}
	if len(k.byText) >= k.max {
		k.retireAll()
	}
	if k.byText == nil {
		k.byText = map[keptKey]*keptStatement{}
	}
	kept := &keptStatement{stmt: stmt}
	kept.state.Store(1)
	k.byText[key] = kept
	return statementLease{kept}
}

// retireAll lets every statement go: those unused are closed now, the others by their
// last user's release. Called with mu held for writing.
func (k *statementKeeper) retireAll() {
	for key, kept := range k.byText {
		if kept.state.Add(retiredBit) == retiredBit {
			_ = kept.stmt.Close()
		}
		delete(k.byText, key)
	}
}

// kept is the number of statements kept (retired ones still in use are not counted).
func (k *statementKeeper) kept() int {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return len(k.byText)
}

// queryPrepared runs text (with the database's placeholders) on db as a kept statement;
// the caller closes the rows, which keep the statement open until then.
func queryPrepared(ctx context.Context, db *sql.DB, text string, args ...any) (*sql.Rows, error) {
	l, err := preparedStatements.lease(ctx, db, text)
	if err != nil {
		return nil, err
	}
	defer l.release()
	return l.kept.stmt.QueryContext(ctx, args...)
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
