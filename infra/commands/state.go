package commands

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

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

// newStream is a stream with no event yet: its state is a deciding one (closed
// incidents compacted, domain.FoldDeciding), as every state the executor keeps is.
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
// (domain.FoldDeciding): what commands and access checks need, its closed incidents
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
}

// readAfter reads the events after head and returns them decoded, with the new head.
// Only the last sealed event's metadata is looked at, for the hash chain.
func (x *Executor) readAfter(ctx context.Context, stream string, head streamHead) ([]domain.Event, streamHead, error) {
	recorded, err := x.store.ReadStream(ctx, stream, eventstore.ReadStreamOptions{Direction: eventstore.Forwards, From: head.next()})
	if err != nil {
		return nil, head, fmt.Errorf("read %s: %w", stream, err)
	}
	if len(recorded) == 0 {
		return nil, head, nil
	}
	events := make([]domain.Event, 0, len(recorded))
	for _, r := range recorded {
		e, err := domain.Decode(r.Type, r.Data)
		if err != nil {
			return nil, head, fmt.Errorf("%s@%d: %w", stream, r.Revision, err)
		}
		events = append(events, e)
	}
	last := recorded[len(recorded)-1]
	head.exists, head.revision, head.position = true, last.Revision, last.Position
	for i := len(recorded) - 1; i >= 0; i-- {
		if hash, ok := sealedHash(recorded[i].Metadata); ok {
			head.lastHash = hash
			break
		}
	}
	return events, head, nil
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
	st, ok := x.states.get(stream)
	if ok {
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
	events, head, err := x.readAfter(ctx, stream, st.streamHead)
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
	}
	// Unknown partners are not kept; a known one is, when it is news or newly confirmed
	// and queries trust confirmations (read.go).
	if st.exists && (!cached || len(events) > 0 || (confirmedNow && x.readStaleness > 0)) {
		x.states.put(stream, st)
	}
	return st, nil
}

// stateCache keeps the latest known state of the most recently used streams. A state
// never replaces a later one (a slow reader cannot undo a newer append).
type stateCache struct {
	mu     sync.Mutex
	states *lru.Cache[string, streamState]
	epoch  uint64 // moves on each purge; states of an older epoch are not kept
}

func (c *stateCache) purge() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	c.states.Purge()
}

// current is the epoch a state read from the store now belongs to.
func (c *stateCache) current() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.epoch
}

func newStateCache(size int) *stateCache {
	states, err := lru.New[string, streamState](size)
	if err != nil {
		panic(err) // only for size <= 0, which New rules out
	}
	return &stateCache{states: states}
}

func (c *stateCache) get(stream string) (streamState, bool) { return c.states.Get(stream) }

// put keeps st unless the cache holds a later state. Either way the kept state carries
// the later of the two snapshot marks: a snapshot stored while newer commands went on
// (or a state decided before the cache heard of it) must still count as stored, or the
// stream stays due and every batch encodes the whole state again.
func (c *stateCache) put(stream string, st streamState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st.epoch != c.epoch {
		return // read before a purge: it may hold what the purge was to forget
	}
	old, ok := c.states.Peek(stream)
	if ok && old.exists && (!st.exists || old.revision > st.revision) {
		if st.snapshotNext > old.snapshotNext {
			old.snapshotNext = st.snapshotNext
			c.states.Add(stream, old)
		}
		return
	}
	if ok && old.snapshotNext > st.snapshotNext {
		st.snapshotNext = old.snapshotNext
	}
	if ok && old.exists && old.revision == st.revision && old.confirmed.After(st.confirmed) {
		st.confirmed = old.confirmed // the same state, confirmed by a later read
	}
	c.states.Add(stream, st)
}
