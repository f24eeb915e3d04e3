package pgtest

import (
	"context"
	"database/sql"
	"testing"
	"time"
)

// TerminateListeners ends the backends of db's database whose last statement was a
// LISTEN (an event store's listener connection), only user's when user is not "", and
// waits until each has exited, so that it listens no more. It returns how many it ended.
// The listener's driver dials again by itself: this is how a test cuts a listener off.
func TerminateListeners(t testing.TB, db *sql.DB, user string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var ended int
	// The timeout makes pg_terminate_backend wait for the backend's exit; it returns
	// false if the backend outlives it.
	err := db.QueryRowContext(ctx, `SELECT count(*) FROM (
		SELECT pg_terminate_backend(pid, 30000) AS ended FROM pg_stat_activity
		WHERE datname = current_database() AND query LIKE 'LISTEN%' AND ($1 = '' OR usename = $1)) AS t
		WHERE ended`, user).Scan(&ended)
	if err != nil {
		t.Fatalf("terminate listener backends: %v", err)
	}
	return ended
}
