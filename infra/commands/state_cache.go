package commands

import (
	"math"
	"sync"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// stateCache keeps the latest known state of the most recently used streams, bounded by
// count and by bytes: a state counts what domain.Partner.SizeEstimate reckons, plus
// its entry. When either bound is passed the least recently used states go; a state
// larger than the whole byte budget is not kept (its commands still run, from the
// snapshot and the store). A state never replaces a later one (a slow reader cannot
// undo a newer append).
type stateCache struct {
	mu       sync.Mutex
	states   *simplelru.LRU[string, keptState] // orders; the bounds are put's
	maxCount int
	maxBytes int64
	used     int64
	epoch    uint64 // moves on each purge; states of an older epoch are not kept
	// hits and misses count the lookups of commands and queries (lookup), evictions
	// the states dropped for the bounds or never kept for their size (Stats).
	hits, misses, evictions uint64
}

// keptState is a kept state and the bytes it counts.
type keptState struct {
	st    streamState
	bytes int64
}

// stateEntryBytes is what a kept state costs beside its partner: the streamState, its
// stream's name and hash chain head, the LRU's list element and map slot.
const stateEntryBytes = 384

func stateBytes(stream string, st streamState) int64 {
	return int64(len(stream)) + stateEntryBytes + st.partner.SizeEstimate() + st.keys.sizeEstimate()
}

func newStateCache(maxCount int, maxBytes int64) *stateCache {
	states, err := simplelru.NewLRU[string, keptState](math.MaxInt, nil)
	if err != nil {
		panic(err) // only for a size <= 0
	}
	return &stateCache{states: states, maxCount: max(maxCount, 1), maxBytes: max(maxBytes, 1)}
}

func (c *stateCache) purge() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	c.states.Purge()
	c.used = 0
}

// current is the epoch a state read from the store now belongs to.
func (c *stateCache) current() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.epoch
}

// lookup is the kept state of stream, if any, made the most recently used; a command's
// or a query's lookup, counted as a hit or a miss.
func (c *stateCache) lookup(stream string) (streamState, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k, ok := c.states.Get(stream)
	if ok {
		c.hits++
	} else {
		c.misses++
	}
	return k.st, ok
}

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
	if ok && old.st.exists && (!st.exists || old.st.revision > st.revision) {
		if st.snapshotNext > old.st.snapshotNext {
			old.st.snapshotNext = st.snapshotNext
			c.states.Add(stream, old)
		}
		return
	}
	if ok && old.st.snapshotNext > st.snapshotNext {
		st.snapshotNext = old.st.snapshotNext
	}
	if ok && old.st.exists && old.st.revision == st.revision && old.st.confirmed.After(st.confirmed) {
		st.confirmed = old.st.confirmed // the same state, confirmed by a later read
	}
	c.keep(stream, keptState{st: st, bytes: stateBytes(stream, st)}, old, ok)
}

// keep replaces what is kept of stream (old, if had) by k, then drops the least
// recently used states until both bounds hold.
func (c *stateCache) keep(stream string, k keptState, old keptState, had bool) {
	if had {
		c.used -= old.bytes
	}
	if k.bytes > c.maxBytes {
		if had {
			c.states.Remove(stream)
		}
		c.evictions++
		return
	}
	c.states.Add(stream, k)
	c.used += k.bytes
	for c.used > c.maxBytes || c.states.Len() > c.maxCount {
		_, dropped, ok := c.states.RemoveOldest()
		if !ok {
			break
		}
		c.used -= dropped.bytes
		c.evictions++
	}
}

// StateCacheStats is what the executor's cache of states holds, and how it was used.
type StateCacheStats struct {
	States int   // streams whose state is kept
	Bytes  int64 // their estimated bytes, counted against the byte bound
	// Hits counts the commands and queries that found their stream's state kept, Misses
	// those that read it from the snapshot and the store; Evictions the states dropped
	// to keep within the bounds, or not kept for being larger than the byte bound.
	Hits, Misses, Evictions uint64
}

func (c *stateCache) stats() StateCacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return StateCacheStats{States: c.states.Len(), Bytes: c.used, Hits: c.hits, Misses: c.misses, Evictions: c.evictions}
}
