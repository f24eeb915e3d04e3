package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"

	"ledger/infra/sqldb"
)

// writeStatements are the writer's queries, prepared once per Store and run inside each
// write transaction through tx.StmtContext (which reuses the statement already prepared
// on the transaction's connection). Each has a fixed number of parameters, one event
// ID, stream or row at a time: a statement whose text varied with the batch (an IN
// list, a VALUES list, a multi-row INSERT) was parsed anew for every batch, and that
// parse was a quarter of all CPU under load on SQLite. A failed prepare is not
// remembered, as with streamStatements: the next batch tries again.
type writeStatements struct {
	mu                                  sync.Mutex
	head, eventByID, streamHead, insert *sql.Stmt
}

// Placeholders are the driver's own: the statements bypass bun's formatter.
func writeQueries(d sqldb.Dialect) (head, eventByID, streamHead, insert string) {
	arg := func(int) string { return "?" }
	if d == sqldb.Postgres {
		arg = func(n int) string { return fmt.Sprintf("$%d", n) }
	}
	args := make([]string, 8)
	for i := range args {
		args[i] = arg(i + 1)
	}
	return "SELECT coalesce(max(position), 0) FROM event_log",
		"SELECT stream, revision, position FROM event_log WHERE event_id = " + arg(1),
		// One index seek on (stream, revision); a GROUP BY max() would scan a long stream.
		"SELECT revision FROM event_log WHERE stream = " + arg(1) + " ORDER BY revision DESC LIMIT 1",
		"INSERT INTO event_log (position, event_id, stream, revision, type, data, metadata, recorded_at) VALUES (" +
			strings.Join(args, ", ") + ")"
}

func (s *Store) writeStatements(ctx context.Context) (*writeStatements, error) {
	ws := &s.writes
	ws.mu.Lock()
	defer ws.mu.Unlock()
	head, eventByID, streamHead, insert := writeQueries(s.dialect)
	for _, p := range []struct {
		stmt  **sql.Stmt
		query string
	}{{&ws.head, head}, {&ws.eventByID, eventByID}, {&ws.streamHead, streamHead}, {&ws.insert, insert}} {
		if *p.stmt != nil {
			continue
		}
		stmt, err := s.db.DB.PrepareContext(ctx, p.query)
		if err != nil {
			return nil, fmt.Errorf("prepare the writer's statements: %w", err)
		}
		*p.stmt = stmt
	}
	return ws, nil
}

func (ws *writeStatements) close() {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	for _, stmt := range []*sql.Stmt{ws.head, ws.eventByID, ws.streamHead, ws.insert} {
		if stmt != nil {
			stmt.Close()
		}
	}
}

// inTx binds the statements to one write transaction.
func (ws *writeStatements) inTx(ctx context.Context, tx *sql.Tx) txStatements {
	return txStatements{
		head:       tx.StmtContext(ctx, ws.head),
		eventByID:  tx.StmtContext(ctx, ws.eventByID),
		streamHead: tx.StmtContext(ctx, ws.streamHead),
		insert:     tx.StmtContext(ctx, ws.insert),
	}
}

// txStatements are the writer's statements bound to one transaction; they close with it.
type txStatements struct {
	head, eventByID, streamHead, insert *sql.Stmt
}
