package projections

import (
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"

	"ledger/infra/eventstore"
)

// DefaultAnswerCacheBytes is the memory the encoded answers of AnswerCache may hold by
// default: a partner's remaining-incidents answers take about 1 KiB, so some 30,000
// partners.
const DefaultAnswerCacheBytes = 32 << 20

// answerMaxAge bounds how long an answer is served again, whatever the stamp says. Rows
// can change without a commit the stamps see: a dead letter retried (its event applied
// late, the checkpoint already past it) or a rebuild swapped in, both possibly by
// another process. This process forgets its answers when it retries one (Forget); the
// age bounds what another process did to about as long as --read-staleness lets an
// access check trust a state another process may have changed.
const answerMaxAge = time.Second

// answerOverhead is what one entry costs beyond its bytes: the key's string header, the
// entry, the LRU's list element and map slot, counted so that many small answers
// cannot hold much more than the bound.
const answerOverhead = 256

// AnswerCache keeps, per partner, the encoded answers of one read-model query (one with
// the Contract IDs, one without, R4) with the stamp they were read at: the partner's
// Checkpoints.PartnerStamp, the last commit known to have touched its rows, when the
// read began. An answer is served again only to a query that finds the same stamp, once
// it waited for its position, so a commit touching the partner, made by this process
// or another, retires it (the next query sees a later stamp and reads again) while
// commits of other partners leave it served; where this process cannot tell which
// partners a commit touched (another process's, seen by polling the checkpoints) every
// answer of its partition retires. PartnerStamp is the one home of that rule; the
// cache only compares. It also holds only within the instants where the answer's
// time-dependent parts cannot change (domain.Partner.ContractsSteady). Who may read
// which answer is decided per request, before the cache is asked.
//
// The memory the answers hold is bounded (maxBytes); the least recently served go first.
// An answer is served for at most answerMaxAge after its read.
type AnswerCache struct {
	mu       sync.Mutex
	maxBytes int64
	used     int64
	maxAge   time.Duration // answerMaxAge; a test that must not depend on its machine's speed lengthens it
	entries  *simplelru.LRU[string, cachedAnswer]
	// forgets counts Forget calls: an answer whose read began before the last one may
	// hold the rows from before the change, and is not kept.
	forgets uint64
	// hits and misses count the lookups that were served a kept answer and those that
	// read the rows (Stats, for /metrics).
	hits, misses atomic.Uint64
}

// cachedAnswer is one partner's answers at stamp, true for instants in [since, until)
// (a zero bound is open).
type cachedAnswer struct {
	stamp          eventstore.Position
	read           time.Time // when its rows were read (the wall clock, monotonic)
	forgets        uint64    // AnswerCache.forgets when the read began
	since, until   time.Time
	full, redacted []byte // with and without the Contract IDs
}

func (a cachedAnswer) size(key string) int64 {
	return int64(len(key) + len(a.full) + len(a.redacted) + answerOverhead)
}

func (a cachedAnswer) holdsAt(now time.Time) bool {
	return !now.Before(a.since) && (a.until.IsZero() || now.Before(a.until))
}

// NewAnswerCache keeps answers up to maxBytes; zero or less keeps none (nil, whose
// methods find nothing and keep nothing).
func NewAnswerCache(maxBytes int64) *AnswerCache {
	if maxBytes <= 0 {
		return nil
	}
	c := &AnswerCache{maxBytes: maxBytes, maxAge: answerMaxAge}
	// The bound is in bytes, enforced by put; the LRU only orders the entries.
	c.entries, _ = simplelru.NewLRU[string, cachedAnswer](math.MaxInt, nil)
	return c
}

// begin is what a read about to fill an answer notes first (cachedAnswer.forgets).
func (c *AnswerCache) begin() uint64 {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.forgets
}

// get is the answer kept for key, if it was read at stamp (nothing touched its partner
// since) and holds at now.
func (c *AnswerCache) get(key string, stamp eventstore.Position, now time.Time, revealIDs bool) ([]byte, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	a, ok := c.entries.Get(key)
	if !ok || a.stamp != stamp || !a.holdsAt(now) || time.Since(a.read) >= c.maxAge {
		c.misses.Add(1)
		return nil, false
	}
	c.hits.Add(1)
	if revealIDs {
		return a.full, true
	}
	return a.redacted, true
}

// unsettled counts a query that could neither be served a kept answer nor keep its
// own: its partner's stamp was not known (Checkpoints.PartnerStamp).
func (c *AnswerCache) unsettled() { c.misses.Add(1) }

// put keeps a for key, unless what is kept was read at a later stamp (a slower reader
// must not put back an older answer), then drops the least recently served answers
// until the bound holds. An answer larger than the whole bound is not kept.
func (c *AnswerCache) put(key string, a cachedAnswer) {
	if c == nil || a.size(key) > c.maxBytes {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if a.forgets != c.forgets {
		return // read before a Forget: maybe the rows from before the change
	}
	if old, ok := c.entries.Peek(key); ok {
		if a.stamp.Less(old.stamp) {
			return
		}
		c.used -= old.size(key)
	}
	c.entries.Add(key, a)
	c.used += a.size(key)
	for c.used > c.maxBytes {
		k, old, ok := c.entries.RemoveOldest()
		if !ok {
			break
		}
		c.used -= old.size(k)
	}
}

// Forget drops every answer kept: rows changed without their checkpoint moving (a dead
// letter retried, DeadLetterOps.Retry).
func (c *AnswerCache) Forget() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries.Purge()
	c.used = 0
	c.forgets++
}

// AnswerCacheStats is what an AnswerCache holds, and how often it was asked.
type AnswerCacheStats struct {
	Answers int   // partners with answers kept
	Bytes   int64 // counted against the bound
	// Hits counts the queries served a kept answer since the cache was made, Misses
	// those that read the rows (none kept, or retired).
	Hits, Misses uint64
}

// Stats tells how many answers are kept, the bytes they count, and the hits and misses.
func (c *AnswerCache) Stats() AnswerCacheStats {
	if c == nil {
		return AnswerCacheStats{}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return AnswerCacheStats{Answers: c.entries.Len(), Bytes: c.used, Hits: c.hits.Load(), Misses: c.misses.Load()}
}
