package projections

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"sync"
	"testing"

	"ledger/infra/sqldb"
)

// The remaining-incidents query takes its statement from the keeper the read models'
// writes share; when those writes fill the keeper past its bound (rebuilds bring new
// tables, new texts) it starts again. A query that has taken its statement at that
// moment still answers, the same as before, and the statement it held is closed once
// the query is done with it: none is closed under a running query, none is left open.
func TestARemainingIncidentsQueryAnswersAcrossTheResetOfTheStatementsKept(t *testing.T) {
	for _, d := range readDialects {
		t.Run(d.name, func(t *testing.T) {
			ctx := context.Background()
			h := newHarness(t, sqldb.Dialect(d.name), d.target(t))
			s := newScenario(t, h)
			s.run()
			rm, _ := s.serve()
			want, err := rm.remainingContracts(ctx, goldCSP)
			if err != nil || len(want.ContractByID) == 0 {
				t.Fatalf("before the reset: %+v, %v", want, err)
			}

			running, err := preparedStatements.lease(ctx, h.db.DB, rm.remaining.prepared) // the query has its statement
			if err != nil {
				t.Fatal(err)
			}
			for i := range maxPreparedStatements + 10 { // the read models' writes fill the keeper
				rows, err := queryPrepared(ctx, h.db.DB, fmt.Sprintf("SELECT %d", i))
				if err != nil {
					t.Fatal(err)
				}
				rows.Close()
			}
			if kept := preparedStatements.kept(); kept > maxPreparedStatements {
				t.Fatalf("%d statements kept, bound %d", kept, maxPreparedStatements)
			}
			rows, err := running.kept.stmt.QueryContext(ctx, goldCSP)
			if err != nil {
				t.Fatalf("the query whose statement the keeper let go: %v", err)
			}
			got, err := scanRemainingContracts(goldCSP, rows)
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("across the reset: %+v, %v; want %+v", got, err, want)
			}

			running.release()
			if rows, err := running.kept.stmt.QueryContext(ctx, goldCSP); err == nil {
				rows.Close()
				t.Fatal("the statement the keeper let go is still open after its last use")
			}
			if got, err := rm.remainingContracts(ctx, goldCSP); err != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("prepared again after the reset: %+v, %v; want %+v", got, err, want)
			}
		})
	}
}

// Queries on a keeper of four statements, each query on one of six texts, so the keeper
// starts again while others run theirs: every query answers (run it with -race).
func TestQueriesKeepAnsweringWhileTheirKeeperStartsAgainUnderThem(t *testing.T) {
	ctx := context.Background()
	db, err := sqldb.Open(ctx, sqldb.SQLite, filepath.Join(t.TempDir(), "read.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	keeper := &statementKeeper{max: 4}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				n := (g + i) % 6
				l, err := keeper.lease(ctx, db.DB, fmt.Sprintf("SELECT %d + ?", n))
				if err != nil {
					errs <- err
					return
				}
				var got int
				err = l.kept.stmt.QueryRowContext(ctx, 1).Scan(&got)
				l.release()
				if err != nil || got != n+1 {
					errs <- fmt.Errorf("SELECT %d + 1: %d, %w", n, got, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if kept := keeper.kept(); kept > 4 {
		t.Fatalf("%d statements kept, bound 4", kept)
	}
}
