package sqldb_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"ledger/infra/pgtest"
	"ledger/infra/sqldb"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// targets are the two databases every test here runs on.
var targets = []struct {
	dialect sqldb.Dialect
	target  func(t *testing.T) string
}{
	{sqldb.SQLite, func(t *testing.T) string { return filepath.Join(t.TempDir(), "read.db") }},
	{sqldb.Postgres, func(t *testing.T) string { return pgtest.NewDatabase(t) }},
}

// A handle for data that can be made again from the event store commits without waiting
// for the disk; every other handle (the event store's, the operators' writes) waits, so
// what it acknowledged survives a power loss. Both open the same database side by side.
func TestOnlyDerivedDataCommitsWithoutWaitingForTheDisk(t *testing.T) {
	durability := map[sqldb.Dialect]string{sqldb.SQLite: "PRAGMA synchronous", sqldb.Postgres: "SHOW synchronous_commit"}
	want := map[sqldb.Dialect][2]string{sqldb.SQLite: {"2", "1"}, sqldb.Postgres: {"on", "off"}} // FULL, NORMAL
	for _, tc := range targets {
		t.Run(string(tc.dialect), func(t *testing.T) {
			target := tc.target(t)
			for i, opts := range [][]sqldb.Option{nil, {sqldb.DerivedData()}} {
				db, err := sqldb.Open(t.Context(), tc.dialect, target, opts...)
				if err != nil {
					t.Fatal(err)
				}
				defer db.Close()
				var got string
				if err := db.QueryRowContext(t.Context(), durability[tc.dialect]).Scan(&got); err != nil {
					t.Fatal(err)
				}
				if got != want[tc.dialect][i] {
					t.Errorf("derived=%v: %s = %s, want %s", i == 1, durability[tc.dialect], got, want[tc.dialect][i])
				}
			}
		})
	}
}

// MaxConns bounds the pool on both databases: with every connection taken, the next
// caller waits (here until its context ends) instead of opening one more.
func TestMaxConnsBoundsTheConnectionsOpenAtOnce(t *testing.T) {
	for _, tc := range targets {
		t.Run(string(tc.dialect), func(t *testing.T) {
			const bound = 3
			db, err := sqldb.Open(t.Context(), tc.dialect, tc.target(t), sqldb.MaxConns(bound))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			var held []bun.Conn
			defer func() {
				for _, c := range held {
					c.Close()
				}
			}()
			for range bound {
				c, err := db.Conn(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				held = append(held, c)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
			defer cancel()
			if c, err := db.Conn(ctx); !errors.Is(err, context.DeadlineExceeded) {
				if err == nil {
					c.Close()
				}
				t.Errorf("a connection beyond the bound of %d: %v, want to wait for one", bound, err)
			}
			if st := db.Stats(); st.OpenConnections != bound || st.MaxOpenConnections != bound {
				t.Errorf("%d open, bound %d; want %d and %d", st.OpenConnections, st.MaxOpenConnections, bound, bound)
			}
		})
	}
}
