package privacy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/uptrace/bun"
)

// keyBatches creates the keys of first-seen subjects in batches: every subject seen
// for the first time while a batch is being written joins the next one, and one
// transaction writes a whole batch. A first sight costs a commit on the event store's
// database, which it shares with the event writer; a new customer in every incident
// made each sealed command wait for a commit of its own (BenchmarkCommandsWithPersonalData,
// customers=fresh).
type keyBatches struct {
	mu       sync.Mutex
	open     *keyBatch // the batch new first sights join; nil when none waits
	flushing bool      // a batch is being written, or its writer is being chosen
}

type keyBatch struct {
	hashes  map[string]bool
	lead    chan struct{} // closed when this batch may be written; one waiter claims it
	claimed atomic.Bool
	done    chan struct{} // closed when written; rows and err are set then
	rows    map[string]keyRow
	err     error
}

// create gives the key row of a subject hash, creating it if no row exists. The insert
// is idempotent and the select reads whichever row won, so concurrent first sights (in
// this process or another) agree on one key.
func (kb *keyBatches) create(ctx context.Context, db *bun.DB, hash string) (keyRow, error) {
	kb.mu.Lock()
	b := kb.open
	if b == nil {
		b = &keyBatch{hashes: map[string]bool{}, lead: make(chan struct{}), done: make(chan struct{})}
		kb.open = b
		if !kb.flushing {
			kb.flushing = true
			close(b.lead)
		}
	}
	b.hashes[hash] = true
	kb.mu.Unlock()
	for {
		select {
		case <-b.done:
			if b.err != nil {
				return keyRow{}, b.err
			}
			return b.rows[hash], nil
		case <-b.lead:
			if b.claimed.CompareAndSwap(false, true) {
				kb.write(ctx, db, b)
			} else {
				select {
				case <-b.done:
				case <-ctx.Done():
					return keyRow{}, fmt.Errorf("privacy key: %w", ctx.Err())
				}
			}
		case <-ctx.Done(): // a waiter that leaves leaves the batch to the others, or to whoever joins it next
			return keyRow{}, fmt.Errorf("privacy key: %w", ctx.Err())
		}
	}
}

// write writes batch b (closing it to newcomers first), then hands the turn to the
// batch that gathered meanwhile. It runs without the caller's cancellation: the batch
// holds other callers' subjects too.
func (kb *keyBatches) write(ctx context.Context, db *bun.DB, b *keyBatch) {
	kb.mu.Lock()
	if kb.open == b {
		kb.open = nil
	}
	kb.mu.Unlock()
	b.rows, b.err = insertKeys(context.WithoutCancel(ctx), db, b.hashes)
	close(b.done)
	kb.mu.Lock()
	defer kb.mu.Unlock()
	if next := kb.open; next != nil {
		close(next.lead)
	} else {
		kb.flushing = false
	}
}

// insertKeys creates a key for each hash that has none and reads back every hash's row.
func insertKeys(ctx context.Context, db *bun.DB, hashes map[string]bool) (map[string]keyRow, error) {
	fresh := make([]keyRow, 0, len(hashes))
	now := time.Now().UTC()
	// In a fixed order: two processes inserting the same subjects lock the rows alike
	// (PostgreSQL), so their batches cannot deadlock.
	for _, h := range slices.Sorted(maps.Keys(hashes)) {
		key, ref := make([]byte, 32), make([]byte, 16)
		rand.Read(key)
		rand.Read(ref)
		fresh = append(fresh, keyRow{SubjectHash: h, SubjectRef: hex.EncodeToString(ref), Key: key, CreatedAt: now})
	}
	var stored []keyRow
	err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.NewInsert().Model(&fresh).On("CONFLICT (subject_hash) DO NOTHING").Exec(ctx); err != nil {
			return err
		}
		list := make([]string, len(fresh))
		for i := range fresh {
			list[i] = fresh[i].SubjectHash
		}
		return tx.NewSelect().Model(&stored).Where("subject_hash IN (?)", bun.In(list)).Scan(ctx)
	})
	if err != nil {
		return nil, fmt.Errorf("privacy key: %w", err)
	}
	rows := make(map[string]keyRow, len(stored))
	for _, r := range stored {
		rows[r.SubjectHash] = r
	}
	for h := range hashes {
		if _, ok := rows[h]; !ok {
			return nil, fmt.Errorf("privacy key: the key of a subject was neither created nor found")
		}
	}
	return rows, nil
}
