package privacy

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"ledger/infra/eventstore"
)

// FollowErasures keeps this process's key cache in step with erasures made by any
// process on the same store: every few moments (every) it reads the erasures stream
// past what it has seen and, for each SubjectErased, evicts the reference's key and
// calls forgotten (to drop whatever else holds the subject's plaintext, such as cached
// states and the snapshots this process may have saved of them). Erasures recorded
// before the start are read too, on the first pass, with live false: their keys are
// gone, and the process has held nothing of them since it started. A failed read is logged and retried on the next tick: until it
// succeeds the process keeps the keys it had, as it did before. It runs until ctx ends.
func FollowErasures(ctx context.Context, log Log, keys *Keys, every time.Duration, forgotten func(ref string, live bool), logger *slog.Logger) error {
	var next uint64
	live := false
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		n, err := catchUpErasures(ctx, log, keys, next, func(ref string) {
			if forgotten != nil {
				forgotten(ref, live)
			}
		})
		next = n
		if err == nil {
			live = true
		}
		if err != nil && ctx.Err() == nil {
			logger.WarnContext(ctx, "erasures not followed; retrying", "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// catchUpErasures applies the erasures from revision from on and returns the revision
// to read from next time.
func catchUpErasures(ctx context.Context, log Log, keys *Keys, from uint64, forgotten func(ref string)) (uint64, error) {
	events, err := log.ReadStream(ctx, ErasuresStream, eventstore.ReadStreamOptions{Direction: eventstore.Forwards, From: from})
	if err != nil {
		return from, fmt.Errorf("follow erasures: %w", err)
	}
	for _, e := range events {
		if e.Type != SubjectErasedType {
			from = e.Revision + 1
			continue
		}
		var erased SubjectErased
		if err := json.Unmarshal(e.Data, &erased); err != nil {
			return from, fmt.Errorf("follow erasures: %s at revision %d: %w", e.Type, e.Revision, err)
		}
		keys.forget(erased.SubjectRef)
		if forgotten != nil {
			forgotten(erased.SubjectRef)
		}
		from = e.Revision + 1
	}
	return from, nil
}

// forget evicts a reference's key: from now on it reads as erased in this process.
func (k *Keys) forget(ref string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.erased[ref] {
		return
	}
	k.erased[ref] = true
	delete(k.byRef, ref)
	for h, sk := range k.byHash {
		if sk.ref == ref {
			delete(k.byHash, h)
		}
	}
}
