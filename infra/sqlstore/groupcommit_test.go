package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/uptrace/bun"

	"ledger/infra/eventstore"
	"ledger/infra/sqldb"
	"ledger/infra/testkit"
)

// holdWriter blocks the store's writer from outside, the way another process's write
// would, and returns the release.
func holdWriter(t *testing.T, s *Store) (release func()) {
	t.Helper()
	// The writer answers an append before it clears Writing: until it has, a test's
	// "writing 1" would be the batch of an append it made before holding, and the
	// appends it means to queue behind the held one would join that one's batch.
	testkit.Eventually(t, "the writer is done with the appends before the hold", func() bool {
		st := s.Stats()
		return st.Writing == 0 && st.Queued == 0
	})
	ctx := bounded(t)
	conn, err := s.DB().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var tx *bun.Tx
	if s.dialect == sqldb.Postgres {
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock(?)", appendLockKey); err != nil {
			t.Fatal(err)
		}
	} else {
		begun, err := conn.BeginTx(ctx, nil) // BEGIN IMMEDIATE: takes the write lock
		if err != nil {
			t.Fatal(err)
		}
		tx = &begun
	}
	return func() {
		if tx != nil {
			tx.Rollback()
		} else {
			conn.ExecContext(context.Background(), "SELECT pg_advisory_unlock(?)", appendLockKey)
		}
		conn.Close()
	}
}

// R: appends that arrive together share one transaction, and each is judged on its own
// expected revision: the refused ones do not fail the accepted ones.
func TestGroupCommitJudgesEachAppendAlone(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			s := openToBeHeld(t, d.name, Options{})
			release := holdWriter(t, s)
			var wg sync.WaitGroup
			type outcome struct {
				name string
				err  error
			}
			outcomes := make(chan outcome, 64)
			start := func(name, stream string, exp eventstore.ExpectedRevision) {
				wg.Go(func() {
					_, err := s.Append(bounded(t), stream, exp, event(name))
					outcomes <- outcome{name, err}
				})
			}
			start("blocked-first", "first", eventstore.NoStream()) // the writer takes it and waits for the lock
			testkit.Eventually(t, "writer picks up the first append", func() bool { return s.Stats().Writing == 1 })
			for i := range 10 {
				start("accept", fmt.Sprintf("new-%d", i), eventstore.NoStream())
				start("refuse", fmt.Sprintf("missing-%d", i), eventstore.Exact(3))
			}
			start("contend", "contended", eventstore.NoStream())
			start("contend", "contended", eventstore.NoStream())
			testkit.Eventually(t, "22 appends queue behind the held lock", func() bool { return s.Stats().Queued == 22 })
			release()
			wg.Wait()
			close(outcomes)

			got := map[string][2]int{} // name -> [ok, wrong revision]
			for o := range outcomes {
				c := got[o.name]
				switch {
				case o.err == nil:
					c[0]++
				case errors.Is(o.err, eventstore.ErrWrongExpectedRevision):
					c[1]++
				default:
					t.Errorf("%s: unexpected error %v", o.name, o.err)
				}
				got[o.name] = c
			}
			want := map[string][2]int{"blocked-first": {1, 0}, "accept": {10, 0}, "refuse": {0, 10}, "contend": {1, 1}}
			for name, w := range want {
				if got[name] != w {
					t.Errorf("%s: %d accepted, %d refused; want %d and %d", name, got[name][0], got[name][1], w[0], w[1])
				}
			}
			if st := s.Stats(); st.Commits != 2 {
				t.Errorf("23 appends took %d transactions, want 2 (the held one, then one group commit)", st.Commits)
			}
			head, _ := s.Head(bounded(t))
			if head.Commit != 12 {
				t.Errorf("head %d, want 12 events written", head.Commit)
			}
		})
	}
}
