package commands

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"ledger/infra/eventmeta"
	"ledger/infra/eventstore"
)

// A command sent with an idempotency key (Meta.IdempotencyKey) is recorded once: the
// key and the request's digest go into the metadata of each of its events, and the
// stream's state keeps the keys its recent commands were recorded under. The same key
// sent again on the stream with the same request is answered as the command recorded
// then, from its stored events, and records nothing; with another request it is
// refused (ErrIdempotencyKeyReused). This is what makes a retry safe when the first
// attempt's answer was lost: a connection that died during COMMIT, a 503 after the
// store had written, a client that timed out.
//
// The digest is the caller's (handlers: the route and the command without its personal
// data, which would outlive an erasure in the metadata), so a key names one request on
// the stream whoever sends it; a replay is answered only to a caller who may read the
// partner (domain.CanRead), as a query about it would be.
//
// Because the keys travel with the events, they hold wherever the events do: across
// the processes sharing the store (another process's append is read before a decision
// is stored, and a batch decided without it loses its append), after a restart (the
// snapshot keeps the window, the events after it are read) and on every event store.
// Only commands that recorded events are remembered: a refused command stored nothing,
// so its retry is decided again, and an idempotent one (a second activation) answers
// the same again by itself.

// Bounds of the keys a stream remembers: at least its KeptIdempotencyKeys most recent
// keyed commands (up to keyChunk more), of those recorded within IdempotencyKeyLifetime
// of its latest. A retry later than that is decided as a new command.
const (
	KeptIdempotencyKeys    = 1_000
	IdempotencyKeyLifetime = 24 * time.Hour
	// keptKeyBytes is what the state cache reckons a remembered key costs.
	keptKeyBytes = 192
)

// ErrIdempotencyKeyReused: the idempotency key was sent before, on the same stream,
// with a different request; nothing is recorded.
var ErrIdempotencyKeyReused = errors.New("idempotency key already used for a different request")

// keptKey is a command recorded under an idempotency key: its events are the stream's
// revisions First..Last, the last at Position.
type keptKey struct {
	Key        string              `json:"key"`
	Digest     string              `json:"digest"`
	First      uint64              `json:"first"`
	Last       uint64              `json:"last"`
	Position   eventstore.Position `json:"position"`
	RecordedAt time.Time           `json:"recordedAt"`
}

// idempotencyKeys is the window of keys a stream remembers. It is never changed once
// made, so states share it freely (streamState is a value), and adding a key or finding
// one costs the same however full it is: the newest keys are a list (at most
// keyChunk, newest first), the older ones chunks indexed by key, each sealed when the
// list filled and never written again. Past KeptIdempotencyKeys the oldest chunk goes.
type idempotencyKeys struct {
	recent *keyNode
	sealed []*sealedKeys // oldest first
}

type keyNode struct {
	keptKey
	older *keyNode
	n     int // nodes from this one to the oldest of the list
}

type sealedKeys struct{ byKey map[string]keptKey }

// keyChunk is how many keys a sealed chunk holds.
const keyChunk = 64

// maxSealedChunks keeps at least the KeptIdempotencyKeys newest keys.
const maxSealedChunks = (KeptIdempotencyKeys + keyChunk - 1) / keyChunk

// find is the command recorded under key, if the window holds it and it was recorded
// within IdempotencyKeyLifetime of the newest.
func (w idempotencyKeys) find(key string) (keptKey, bool) {
	if w.recent == nil {
		return keptKey{}, false
	}
	k, ok := w.lookup(key)
	if !ok || k.RecordedAt.Before(w.recent.RecordedAt.Add(-IdempotencyKeyLifetime)) {
		return keptKey{}, false
	}
	return k, true
}

func (w idempotencyKeys) lookup(key string) (keptKey, bool) {
	for n := w.recent; n != nil; n = n.older {
		if n.Key == key {
			return n.keptKey, true
		}
	}
	for i := len(w.sealed) - 1; i >= 0; i-- {
		if k, ok := w.sealed[i].byKey[key]; ok {
			return k, true
		}
	}
	return keptKey{}, false
}

// with is the window after the commands recorded in ks, in stream order: an event
// continuing the newest command (same key, next revision) extends it. The older
// window stays as it was.
func (w idempotencyKeys) with(ks ...keptKey) idempotencyKeys {
	for _, k := range ks {
		h := w.recent
		if h != nil && h.Key == k.Key && h.Last+1 == k.First {
			extended := *h
			extended.Last, extended.Position = k.Last, k.Position
			w.recent = &extended
			continue
		}
		w = w.push(k)
	}
	return w
}

// push is the window with k as its newest command, the list sealed first if full.
func (w idempotencyKeys) push(k keptKey) idempotencyKeys {
	if w.recent != nil && w.recent.n == keyChunk {
		w = w.sealRecent()
	}
	n := &keyNode{keptKey: k, older: w.recent, n: 1}
	if w.recent != nil {
		n.n = w.recent.n + 1
	}
	w.recent = n
	return w
}

// sealRecent moves the list into a chunk of its own, dropping the oldest chunk past
// the bound. The newest key stays findable first: the list is empty, the chunk newest.
func (w idempotencyKeys) sealRecent() idempotencyKeys {
	c := &sealedKeys{byKey: make(map[string]keptKey, keyChunk)}
	for n := w.recent; n != nil; n = n.older {
		if _, newer := c.byKey[n.Key]; !newer {
			c.byKey[n.Key] = n.keptKey
		}
	}
	sealed := append(slices.Clip(w.sealed), c)
	if len(sealed) > maxSealedChunks {
		sealed = sealed[len(sealed)-maxSealedChunks:]
	}
	return idempotencyKeys{sealed: sealed}
}

// list is the window, oldest first (as a snapshot stores it), without the keys older
// than IdempotencyKeyLifetime.
func (w idempotencyKeys) list() []keptKey {
	var ks []keptKey
	for _, c := range w.sealed {
		chunk := slices.Collect(maps.Values(c.byKey))
		slices.SortFunc(chunk, func(a, b keptKey) int { return cmp.Compare(a.First, b.First) })
		ks = append(ks, chunk...)
	}
	var recent []keptKey
	for n := w.recent; n != nil; n = n.older {
		recent = append(recent, n.keptKey)
	}
	slices.Reverse(recent)
	ks = append(ks, recent...)
	if len(ks) == 0 {
		return nil
	}
	since := ks[len(ks)-1].RecordedAt.Add(-IdempotencyKeyLifetime)
	return slices.DeleteFunc(ks, func(k keptKey) bool { return k.RecordedAt.Before(since) })
}

// keysOf is the window of ks, oldest first, each a command of its own.
func keysOf(ks []keptKey) idempotencyKeys {
	var w idempotencyKeys
	for _, k := range ks {
		w = w.push(k)
	}
	return w
}

func (w idempotencyKeys) sizeEstimate() int64 {
	n := len(w.sealed) * keyChunk
	if w.recent != nil {
		n += w.recent.n
	}
	return int64(n) * keptKeyBytes
}

// recordedKey is the key a stored event was recorded under, if any. Only metadata
// that may hold one is parsed (most events carry none).
func recordedKey(r eventstore.RecordedEvent) (keptKey, bool, error) {
	if !eventmeta.HasIdempotencyKey(r.Metadata) {
		return keptKey{}, false, nil
	}
	m, err := eventmeta.Parse(r.Metadata)
	if err != nil {
		return keptKey{}, false, fmt.Errorf("%s@%d: %w", r.Stream, r.Revision, err)
	}
	if m.IdempotencyKey == "" {
		return keptKey{}, false, nil
	}
	return keptKey{Key: m.IdempotencyKey, Digest: m.RequestDigest, First: r.Revision, Last: r.Revision,
		Position: r.Position, RecordedAt: m.RecordedAt}, true, nil
}

// replayOf is how a keyed command of a batch is answered without being decided: the
// command recorded under its key before (kept), or the one earlier in the same batch
// (earlier, an index into the batch's parts).
type replayOf struct {
	kept    *keptKey
	earlier int
}

// keyedCommand tells whether the command r sends under its key was recorded already:
// in the window st keeps, or by a command earlier in the batch (decided, its events
// not yet appended). A key sent with another request is refused.
func keyedCommand(keys idempotencyKeys, parts []decided, r *request) (*replayOf, error) {
	key := r.meta.IdempotencyKey
	if key == "" {
		return nil, nil
	}
	check := func(digest string) error {
		if digest != r.meta.RequestDigest {
			return fmt.Errorf("%w: %q", ErrIdempotencyKeyReused, key)
		}
		return nil
	}
	for i, p := range parts {
		if p.req.meta.IdempotencyKey == key && len(p.events) > 0 {
			return &replayOf{earlier: i}, check(p.req.meta.RequestDigest)
		}
	}
	if k, ok := keys.find(key); ok {
		return &replayOf{kept: &k, earlier: -1}, check(k.Digest)
	}
	return nil, nil
}

// keysRecorded are the keys of the batch's commands that recorded events, at the
// revisions they took (the append ended at position).
func keysRecorded(parts []decided, position eventstore.Position) []keptKey {
	var ks []keptKey
	for _, p := range parts {
		if p.req.meta.IdempotencyKey == "" || len(p.events) == 0 || p.replay != nil {
			continue
		}
		last := p.out.Revision
		ks = append(ks, keptKey{Key: p.req.meta.IdempotencyKey, Digest: p.req.meta.RequestDigest,
			First: last + 1 - uint64(len(p.events)), Last: last, Position: position, RecordedAt: p.now})
	}
	return ks
}

// replayed is the outcome of a command recorded before under its key: its events read
// back from the store, at the position of its last one; the state and rules are the
// stream's now (what depends on them, like a pool's remaining count, is as it stands).
func (x *Executor) replayed(ctx context.Context, stream string, k keptKey, now Outcome) (Outcome, error) {
	recorded, err := x.store.ReadStream(ctx, stream, eventstore.ReadStreamOptions{Direction: eventstore.Forwards,
		From: k.First, Limit: int(k.Last - k.First + 1)})
	if err != nil {
		return Outcome{}, fmt.Errorf("read %s for idempotency key %q: %w", stream, k.Key, err)
	}
	recorded = slices.DeleteFunc(recorded, func(r eventstore.RecordedEvent) bool { return r.Revision > k.Last })
	events, err := decodeRecorded(stream, recorded)
	if err != nil {
		return Outcome{}, err
	}
	return Outcome{Events: events, State: now.State, Rules: now.Rules, Position: k.Position, Revision: k.Last, Replayed: true}, nil
}
