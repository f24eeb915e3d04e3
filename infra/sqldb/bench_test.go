package sqldb_test

import (
	"path/filepath"
	"testing"

	"ledger/infra/sqldb"
)

// BenchmarkSQLiteCommit is one small transaction committed at a time on SQLite, as a
// read model commits an event that arrived alone: "full" waits for the disk
// (synchronous=FULL, the event store and operators' writes), "derived" does not
// (DerivedData, the projection runner). ns/op is the commit's latency, which sits on
// the path from a command's answer to the query that shows it.
func BenchmarkSQLiteCommit(b *testing.B) {
	for _, tc := range []struct {
		name string
		opts []sqldb.Option
	}{{"full", nil}, {"derived", []sqldb.Option{sqldb.DerivedData()}}} {
		b.Run(tc.name, func(b *testing.B) {
			db, err := sqldb.OpenSQLite(b.Context(), filepath.Join(b.TempDir(), "read.db"), tc.opts...)
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			if _, err := db.ExecContext(b.Context(), "CREATE TABLE rows (id INTEGER PRIMARY KEY, body TEXT NOT NULL)"); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				tx, err := db.BeginTx(b.Context(), nil)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := tx.ExecContext(b.Context(), "INSERT INTO rows (body) VALUES ('IN-1234567-1 opened, pool cloud')"); err != nil {
					b.Fatal(err)
				}
				if err := tx.Commit(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
