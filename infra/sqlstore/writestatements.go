package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"ledger/infra/sqldb"
)

// writeStatements are the SQLite writer's queries (see batchIO), prepared once per
// Store and run inside each write transaction through tx.StmtContext, which reuses the
// statement already prepared on the transaction's connection. Each has a fixed number
// of parameters, so its text, and its parse, never change with the batch. A failed
// prepare is not remembered, as with readStatements: the next batch tries again.
type writeStatements struct {
	mu                                               sync.Mutex
	head, eventByID, streamHead, insert, insertAfter *sql.Stmt
}

// Placeholders are the driver's own: the statements bypass bun's formatter.
func writeQueries(d sqldb.Dialect) (head, eventByID, streamHead, insert, insertAfter string) {
	arg := func(int) string { return "?" }
	if d == sqldb.Postgres {
		arg = func(n int) string { return fmt.Sprintf("$%d", n) }
	}
	args := make([]string, 8)
	for i := range args {
		args[i] = arg(i + 1)
	}
	const into = "INSERT INTO event_log (position, event_id, stream, revision, type, data, metadata, recorded_at) "
	row := strings.Join(args, ", ")
	return "SELECT coalesce(max(position), 0) FROM event_log",
		"SELECT stream, revision, position FROM event_log WHERE event_id = " + arg(1),
		// One index seek on (stream, revision); a GROUP BY max() would scan a long stream.
		"SELECT revision FROM event_log WHERE stream = " + arg(1) + " ORDER BY revision DESC LIMIT 1",
		into + "VALUES (" + row + ")",
		// The row, only if the revision before it exists (optimistic.go).
		into + "SELECT " + row + " WHERE EXISTS (SELECT 1 FROM event_log WHERE stream = " + arg(9) + " AND revision = " + arg(10) + ")"
}

func (s *Store) writeStatements(ctx context.Context) (*writeStatements, error) {
	ws := &s.writes
	ws.mu.Lock()
	defer ws.mu.Unlock()
	head, eventByID, streamHead, insert, insertAfter := writeQueries(s.dialect)
	for _, p := range []struct {
		stmt  **sql.Stmt
		query string
	}{{&ws.head, head}, {&ws.eventByID, eventByID}, {&ws.streamHead, streamHead}, {&ws.insert, insert}, {&ws.insertAfter, insertAfter}} {
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
	for _, stmt := range []*sql.Stmt{ws.head, ws.eventByID, ws.streamHead, ws.insert, ws.insertAfter} {
		if stmt != nil {
			stmt.Close()
		}
	}
}

// inTx binds the statements to one write transaction; they close with it.
func (ws *writeStatements) inTx(ctx context.Context, tx *sql.Tx) preparedIO {
	return preparedIO{
		readHead:   tx.StmtContext(ctx, ws.head),
		eventByID:  tx.StmtContext(ctx, ws.eventByID),
		streamHead: tx.StmtContext(ctx, ws.streamHead),
		insertRow:  tx.StmtContext(ctx, ws.insert),
		insertNext: tx.StmtContext(ctx, ws.insertAfter),
	}
}

// preparedIO reads and writes the log one event ID, stream or row per statement
// execution (batchIO says when it is used).
type preparedIO struct {
	readHead, eventByID, streamHead, insertRow, insertNext *sql.Stmt
}

func (io preparedIO) head(ctx context.Context) (int64, error) {
	var head int64
	err := io.readHead.QueryRowContext(ctx).Scan(&head)
	return head, err
}

func (io preparedIO) lookUpEvents(ctx context.Context, ids []string, into map[string]storedRef) error {
	for _, id := range ids {
		var ref storedRef
		switch err := io.eventByID.QueryRowContext(ctx, id).Scan(&ref.stream, &ref.revision, &ref.position); {
		case errors.Is(err, sql.ErrNoRows):
			continue
		case err != nil:
			return err
		}
		into[id] = ref
	}
	return nil
}

func (io preparedIO) lookUpStreams(ctx context.Context, streams []string, into map[string]int64) error {
	for _, stream := range streams {
		var last int64
		switch err := io.streamHead.QueryRowContext(ctx, stream).Scan(&last); {
		case errors.Is(err, sql.ErrNoRows):
			continue // no stream
		case err != nil:
			return err
		}
		into[stream] = last
	}
	return nil
}

// insert writes recorded_at as the text bun wrote before (UTC, microseconds), so rows
// read the same whichever version of the writer stored them.
func (io preparedIO) insert(ctx context.Context, rows []eventRow) error {
	for _, row := range rows {
		if err := io.insertOne(ctx, row); err != nil {
			return err
		}
	}
	return nil
}

func (io preparedIO) insertOne(ctx context.Context, row eventRow) error {
	_, err := io.insertRow.ExecContext(ctx, row.Position, row.EventID, row.Stream, row.Revision,
		row.Type, row.Data, row.Metadata, storedTime(row.RecordedAt))
	return err
}

// insertAfter inserts row only if its stream holds the revision before it; inserted
// says whether it did.
func (io preparedIO) insertAfter(ctx context.Context, row eventRow) (inserted bool, err error) {
	res, err := io.insertNext.ExecContext(ctx, row.Position, row.EventID, row.Stream, row.Revision,
		row.Type, row.Data, row.Metadata, storedTime(row.RecordedAt), row.Stream, row.Revision-1)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

func storedTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.999999-07:00") }
