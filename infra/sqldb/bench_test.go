package sqldb_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

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

// BenchmarkDerivedCommitsWithTheWALCheckpointedApart is the latency of read-model
// commits (a few 1 KB rows with an index, as the runner's) when SQLite checkpoints the
// WAL inside the commit that pushes it past 1,000 pages ("on-commit", SQLite's default)
// and when CheckpointWAL does it apart ("apart"): p50, p99, p99.9 and max per commit.
func BenchmarkDerivedCommitsWithTheWALCheckpointedApart(b *testing.B) {
	for _, apart := range []bool{false, true} {
		name := map[bool]string{false: "on-commit", true: "apart"}[apart]
		b.Run(name, func(b *testing.B) {
			db, err := sqldb.OpenSQLite(b.Context(), filepath.Join(b.TempDir(), "read.db"), sqldb.DerivedData())
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			ctx, cancel := context.WithCancel(b.Context())
			defer cancel()
			if apart {
				go sqldb.CheckpointWAL(ctx, db, sqldb.DefaultWALCheckpointInterval, slog.New(slog.DiscardHandler))
			} else {
				db.SetMaxOpenConns(1) // the connection the pragma below is set on
				if _, err := db.ExecContext(ctx, "PRAGMA wal_autocheckpoint(1000)"); err != nil {
					b.Fatal(err)
				}
			}
			for _, ddl := range []string{"CREATE TABLE rows (id INTEGER PRIMARY KEY, k TEXT NOT NULL, body TEXT NOT NULL)", "CREATE INDEX rows_k ON rows (k)"} {
				if _, err := db.ExecContext(ctx, ddl); err != nil {
					b.Fatal(err)
				}
			}
			body := strings.Repeat("x", 1000)
			var took []time.Duration
			n := 0
			for b.Loop() {
				start := time.Now()
				tx, err := db.BeginTx(ctx, nil)
				if err != nil {
					b.Fatal(err)
				}
				for range 4 {
					n++
					if _, err := tx.ExecContext(ctx, "INSERT INTO rows (k, body) VALUES (?, ?)", fmt.Sprintf("IN-%07d-%d", n%997, n), body); err != nil {
						b.Fatal(err)
					}
				}
				if err := tx.Commit(); err != nil {
					b.Fatal(err)
				}
				took = append(took, time.Since(start))
			}
			slices.Sort(took)
			at := func(q float64) float64 { return float64(took[int(q*float64(len(took)-1))].Microseconds()) }
			b.ReportMetric(at(0.5), "p50-µs")
			b.ReportMetric(at(0.99), "p99-µs")
			b.ReportMetric(at(0.999), "p99.9-µs")
			b.ReportMetric(at(1), "max-µs")
		})
	}
}
