package sqlstore

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"ledger/infra/eventstore"
	"ledger/infra/pgtest"
	"ledger/infra/testkit"
)

// Positions never become visible out of order (marten#4952): several processes append
// concurrently while a catch-up reader in yet another process follows the log; the
// reader must see every acknowledged event exactly once, in position order. Each
// process is a Store of its own on the same database.
func TestConcurrentAppendersAndCatchUpReaderSeeEveryEventOnceInOrder(t *testing.T) {
	cases := []struct {
		name   string
		target func(t *testing.T) (dialect, target string)
	}{
		{"postgres", func(t *testing.T) (string, string) { return "postgres", pgtest.NewDatabase(t) }},
		{"sqlite", func(t *testing.T) (string, string) { return "sqlite", t.TempDir() + "/events.db" }},
	}
	const processes, appendersEach, appendsEach = 3, 6, 30
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dialect, target := c.target(t)
			// The reader polls hard so it reads while appends are in flight.
			reader := openAt(t, dialect, target, Options{PollInterval: time.Millisecond, PageSize: 7})
			var (
				mu   sync.Mutex
				seen []eventstore.RecordedEvent
			)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				done <- reader.Subscribe(ctx, eventstore.Start, func(m eventstore.SubscriptionMessage) error {
					if m.Event != nil {
						mu.Lock()
						seen = append(seen, *m.Event)
						mu.Unlock()
					}
					return nil
				})
			}()

			acked := make(chan string, processes*appendersEach*appendsEach)
			var wg sync.WaitGroup
			for p := range processes {
				w := openAt(t, dialect, target, Options{})
				for a := range appendersEach {
					wg.Go(func() {
						stream := fmt.Sprintf("p%d-a%d", p, a)
						for i := range appendsEach {
							ev, exp := event(stream), eventstore.NoStream()
							if i > 0 {
								exp = eventstore.Exact(uint64(i - 1))
							}
							if _, err := w.Append(bounded(t), stream, exp, ev); err != nil {
								t.Errorf("append %s #%d: %v", stream, i, err)
								return
							}
							acked <- ev.ID
						}
					})
				}
			}
			wg.Wait()
			close(acked)
			total := processes * appendersEach * appendsEach
			testkit.Eventually(t, "reader sees every acknowledged event", func() bool {
				mu.Lock()
				defer mu.Unlock()
				return len(seen) >= total
			})
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("Subscribe: %v", err)
			}

			want := map[string]bool{}
			for id := range acked {
				want[id] = true
			}
			if len(seen) != total || len(want) != total {
				t.Fatalf("reader saw %d events, %d acknowledged, want %d", len(seen), len(want), total)
			}
			for i, ev := range seen {
				if ev.Position.Commit != uint64(i+1) {
					t.Fatalf("event %d of the reader is at position %s, want %d: out of order, skipped or repeated", i, ev.Position, i+1)
				}
				if !want[ev.ID] {
					t.Fatalf("reader saw %s, which was never acknowledged", ev.ID)
				}
				delete(want, ev.ID)
			}
		})
	}
}
