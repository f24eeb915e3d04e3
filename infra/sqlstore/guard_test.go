package sqlstore

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"ledger/infra/eventstore"
	"ledger/infra/testkit"
)

// Guarded appends in one group commit with an append to the guarded stream are judged
// in arrival order: those queued before it hold, those after it are refused. (The rules
// published in a batch decide which partner appends of the same batch stand.)
func TestGroupCommitJudgesGuardsInArrivalOrder(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			s := openToBeHeld(t, d.name, Options{})
			if _, err := s.Append(bounded(t), "rules", eventstore.NoStream(), event("v1")); err != nil {
				t.Fatal(err)
			}
			release := holdWriter(t, s)
			var wg sync.WaitGroup
			var mu sync.Mutex
			got := map[string][2]int{} // name -> [ok, wrong revision]
			queued := 0
			start := func(name string, appendIt func() error) {
				wg.Go(func() {
					err := appendIt()
					mu.Lock()
					defer mu.Unlock()
					c := got[name]
					switch {
					case err == nil:
						c[0]++
					case errors.Is(err, eventstore.ErrWrongExpectedRevision):
						c[1]++
					default:
						t.Errorf("%s: unexpected error %v", name, err)
					}
					got[name] = c
				})
				if name != "blocked-first" {
					queued++
					testkit.Eventually(t, fmt.Sprintf("append %d queues", queued), func() bool { return s.Stats().Queued == queued })
				}
			}
			guarded := func(name string, i int) {
				start(name, func() error {
					_, err := s.AppendGuarded(bounded(t), fmt.Sprintf("%s-%d", name, i), eventstore.NoStream(),
						eventstore.Guard{Stream: "rules", Expected: eventstore.Exact(0)}, event(name))
					return err
				})
			}
			start("blocked-first", func() error {
				_, err := s.Append(bounded(t), "first", eventstore.NoStream(), event("first"))
				return err
			})
			testkit.Eventually(t, "writer picks up the first append", func() bool { return s.Stats().Writing == 1 })
			for i := range 5 {
				guarded("before", i)
			}
			start("rules", func() error { _, err := s.Append(bounded(t), "rules", eventstore.Exact(0), event("v2")); return err })
			for i := range 5 {
				guarded("after", i)
			}
			release()
			wg.Wait()
			want := map[string][2]int{"blocked-first": {1, 0}, "before": {5, 0}, "rules": {1, 0}, "after": {0, 5}}
			for name, w := range want {
				if got[name] != w {
					t.Errorf("%s: %d accepted, %d refused; want %d and %d", name, got[name][0], got[name][1], w[0], w[1])
				}
			}
			if st := s.Stats(); st.Commits != 3 {
				t.Errorf("%d transactions, want 3 (rules v1, the held one, then one group commit)", st.Commits)
			}
		})
	}
}
