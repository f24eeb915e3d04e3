package commands

import (
	"context"
	"errors"
	"fmt"
	"time"

	"ledger/domain"
	"ledger/infra/eventmeta"
	"ledger/infra/eventstore"
)

// streamHead is where a stream ended when the executor last read or wrote it.
type streamHead struct {
	exists   bool
	revision uint64              // last revision, when exists
	position eventstore.Position // of the last event
	lastHash string              // the hash chain's head: the next event's PrevHash
}

func newHead() streamHead { return streamHead{lastHash: eventmeta.GenesisHash} }

// newStream is a stream with no event yet: its state is a deciding one (incidents
// compacted, domain.FoldDeciding), as every state the executor keeps is.
func newStream() streamState {
	return streamState{streamHead: newHead(), partner: domain.FoldDeciding(nil)}
}

// next is the revision the next event of the stream takes.
func (h streamHead) next() uint64 {
	if !h.exists {
		return 0
	}
	return h.revision + 1
}

// expected is the condition under which an append continues exactly this stream.
func (h streamHead) expected() eventstore.ExpectedRevision {
	if !h.exists {
		return eventstore.NoStream()
	}
	return eventstore.Exact(h.revision)
}

// streamState is a partner stream as the executor knows it. It is a value, shared
// freely between the cache, queued decisions and callers: domain.Partner is copy on
// write, so a newer state never changes an older one. The partner is a deciding state
// (domain.FoldDeciding): what commands and access checks need, its incidents
// compacted, so it is never rendered as incidents (views fold with domain.FoldSeq).
type streamState struct {
	streamHead
	partner domain.Partner
	// snapshotNext is the next revision after the last snapshot known to be stored (0:
	// none), so a snapshot is written every snapshotEvery events.
	snapshotNext uint64
	// epoch is the state cache's epoch when the state was read from the store: a state
	// read before ForgetStates (it may hold an erased person's data) is never kept.
	epoch uint64
	// confirmed is when the last read that found the state current with the store
	// began: every append committed before then is in it (read.go trusts it for a while).
	confirmed time.Time
	// keys are the idempotency keys of the stream's recent commands (idempotency.go).
	keys idempotencyKeys
}

// readAfter reads the events after head and returns them decoded, with the new head
// and the idempotency keys they were recorded under. Only the last sealed event's
// metadata is looked at for the hash chain, and only metadata holding a key for keys.
func (x *Executor) readAfter(ctx context.Context, stream string, head streamHead) ([]domain.Event, streamHead, []keptKey, error) {
	recorded, err := x.store.ReadStream(ctx, stream, eventstore.ReadStreamOptions{Direction: eventstore.Forwards, From: head.next()})
	if err != nil {
		return nil, head, nil, fmt.Errorf("read %s: %w", stream, err)
	}
	if len(recorded) == 0 {
		return nil, head, nil, nil
	}
	events, err := decodeRecorded(stream, recorded)
	if err != nil {
		return nil, head, nil, err
	}
	var keys []keptKey
	for _, r := range recorded {
		k, ok, err := recordedKey(r)
		if err != nil {
			return nil, head, nil, err
		}
		if ok {
			keys = append(keys, k)
		}
	}
	last := recorded[len(recorded)-1]
	head.exists, head.revision, head.position = true, last.Revision, last.Position
	for i := len(recorded) - 1; i >= 0; i-- {
		if hash, ok := sealedHash(recorded[i].Metadata); ok {
			head.lastHash = hash
			break
		}
	}
	return events, head, keys, nil
}

// decodeRecorded is the domain events of a stream's recorded events.
func decodeRecorded(stream string, recorded []eventstore.RecordedEvent) ([]domain.Event, error) {
	events := make([]domain.Event, 0, len(recorded))
	for _, r := range recorded {
		e, err := domain.Decode(r.Type, r.Data)
		if err != nil {
			return nil, fmt.Errorf("%s@%d: %w", stream, r.Revision, err)
		}
		events = append(events, e)
	}
	return events, nil
}

func sealedHash(metadata []byte) (string, bool) {
	if hash, ok := eventmeta.SealedHash(metadata); ok {
		return hash, true
	}
	if m, err := eventmeta.Parse(metadata); err == nil && m.Hash != "" {
		return m.Hash, true
	}
	return "", false
}

// current is the stream's state brought up to date with the store: from the cache, or
// on a miss from the stream's snapshot, plus the events after it.
func (x *Executor) current(ctx context.Context, stream string) (streamState, error) {
	st, ok := x.states.lookup(stream)
	return x.upToDate(ctx, stream, st, ok)
}

// upToDate is current once the cache was looked up: st, if kept (found there), brought
// up to date with the store, else the state loaded from the store.
func (x *Executor) upToDate(ctx context.Context, stream string, st streamState, kept bool) (streamState, error) {
	if kept {
		return x.catchUp(ctx, stream, st, true)
	}
	loaded, fresh, err := x.load(ctx, stream)
	if err != nil || fresh {
		return loaded, err
	}
	return x.catchUp(ctx, stream, loaded, true) // what was appended since the shared load began
}

// ErrLoadFailed: reading or folding a stream panicked; the process goes on.
var ErrLoadFailed = errors.New("loading the stream's state failed")

// load is the state of a stream the cache does not hold, from its snapshot and the
// events after it. Concurrent loads of one stream share one read and fold: a cold
// start under load would otherwise fold the whole stream once per request. The shared
// load runs apart from the cancellation of the caller that began it, so one caller
// giving up fails no other, and each waits as long as its own context allows. fresh
// says the load began after this caller asked: a caller that joined one under way
// must still read what was appended in between.
func (x *Executor) load(ctx context.Context, stream string) (st streamState, fresh bool, err error) {
	detached := context.WithoutCancel(ctx)
	ran := false // set by the shared load if it is this caller's; read only after its result
	results := x.loads.DoChan(stream, func() (_ any, err error) {
		// singleflight re-raises a panic on a goroutine of its own, where no handler's
		// recovery reaches it: it would end the process. It fails the callers instead.
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("%s: %w: %v", stream, ErrLoadFailed, p)
			}
		}()
		ran = true
		epoch := x.states.current() // before reading: a purge during the read outdates it
		base := x.fromSnapshot(detached, stream)
		base.epoch = epoch
		return x.catchUp(detached, stream, base, false)
	})
	if x.joinedLoad != nil {
		x.joinedLoad(stream)
	}
	select {
	case <-ctx.Done():
		return streamState{}, false, ctx.Err()
	case r := <-results:
		st, _ = r.Val.(streamState)
		return st, ran, r.Err
	}
}

// catchUp brings st up to date with the events after it and keeps the result when it
// is news to the cache (cached: st came from it).
func (x *Executor) catchUp(ctx context.Context, stream string, st streamState, cached bool) (streamState, error) {
	reading := x.readClock() // before the read: what was committed by then, it sees
	events, head, keys, err := x.readAfter(ctx, stream, st.streamHead)
	if err != nil {
		return st, err
	}
	confirmedNow := reading.After(st.confirmed)
	if confirmedNow {
		st.confirmed = reading
	}
	if len(events) > 0 {
		if st.exists {
			st.partner = domain.FoldOnto(st.partner, events)
		} else {
			st.partner = domain.FoldDeciding(events) // from scratch: builds in place
		}
		st.streamHead = head
		st.keys = st.keys.with(keys...)
	}
	// Unknown partners are not kept; a known one is, when it is news or newly confirmed
	// and queries trust confirmations (read.go).
	if st.exists && (!cached || len(events) > 0 || (confirmedNow && x.readStaleness > 0)) {
		x.states.put(stream, st)
	}
	return st, nil
}
