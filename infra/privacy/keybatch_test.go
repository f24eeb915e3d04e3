package privacy

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"ledger/infra/sqldb"
)

// TestConcurrentFirstSightsInTwoProcessesAgreeOnOneKeyPerSubject: many commands in two
// processes see the same new subjects at once; their keys are created in shared
// batches, yet every subject ends with exactly one key, the same one in both processes,
// and a value sealed in one opens in the other.
func TestConcurrentFirstSightsInTwoProcessesAgreeOnOneKeyPerSubject(t *testing.T) {
	ctx := context.Background()
	db, err := sqldb.OpenSQLite(ctx, filepath.Join(t.TempDir(), "keys.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	var procs [2]*Shredder
	for i := range procs {
		keys, err := OpenKeys(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		procs[i] = NewShredder(keys)
	}
	const subjects, sightings = 24, 4
	sealed := make([][]string, subjects)
	for i := range sealed {
		sealed[i] = make([]string, 2*sightings)
	}
	var wg sync.WaitGroup
	for s := range subjects {
		for n := range 2 * sightings {
			wg.Go(func() {
				v, err := procs[n%2].SealSubject(ctx, fmt.Sprintf("customer-%d@contoso.example", s))
				if err != nil {
					t.Error(err)
				}
				sealed[s][n] = v
			})
		}
	}
	wg.Wait()
	var rows int
	if err := db.NewRaw("SELECT count(*) FROM "+KeysTable).Scan(ctx, &rows); err != nil || rows != subjects {
		t.Fatalf("%d keys stored for %d subjects (%v)", rows, subjects, err)
	}
	for s := range subjects {
		for n, v := range sealed[s] {
			got, err := procs[(n+1)%2].OpenSubject(ctx, v)
			if want := fmt.Sprintf("customer-%d@contoso.example", s); err != nil || got != want {
				t.Errorf("a value sealed in one process opens as %q (%v) in the other, want %q", got, err, want)
			}
		}
	}
}
