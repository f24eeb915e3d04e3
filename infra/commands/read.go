package commands

import (
	"context"
	"time"

	"ledger/infra/eventstore"
)

// Queries check access on the partner's state (who its users are, R4). Reading the
// store on every query to see whether another process changed it cost a store read
// per query (14% of a query's CPU, issue 10). Instead a cached state is trusted for a
// short while after a read found it current:
//
//   - within this process, a command's events are in the cache before the command is
//     answered, so every query begun after the answer sees them at once;
//   - an append through another process sharing the store is seen by every query
//     begun more than the read staleness after it committed: a user removed there is
//     refused here within that bound;
//   - a query that names a position to read its writes at (minPosition) is answered on
//     a state holding the stream up to there, read from the store when the cache's is
//     older: a user registered through another process reads at once.
//
// Commands do not use the read staleness: they decide on the kept state, and their
// append at its revision proves it current or sends them back to the store (queue.go).

// DefaultReadStaleness bounds how long a removal made through another process may go
// unseen by this one's queries: the bound an erasure made elsewhere already has
// (--erasure-follow-every), and one store read per partner per second however many
// queries ask about it. At 100ms a partner asked 50 times a second was still read
// for one query in five.
const DefaultReadStaleness = time.Second

// WithReadStaleness sets how long after a read confirmed a stream's cached state
// queries trust it without reading the store again; 0 reads it on every query.
func WithReadStaleness(d time.Duration) Option { return func(x *Executor) { x.readStaleness = d } }

// WithReadClock replaces the clock that measures the read staleness (tests move it;
// it is not the clock commands are decided at, WithClock).
func WithReadClock(now func() time.Time) Option { return func(x *Executor) { x.readClock = now } }

// forReading is the stream's state for a query.
func (x *Executor) forReading(ctx context.Context, stream string) (streamState, error) {
	st, kept := x.states.lookup(stream)
	if kept && x.readStaleness > 0 && x.readClock().Sub(st.confirmed) < x.readStaleness && holdsSeen(ctx, st) {
		return st, nil
	}
	return x.upToDate(ctx, stream, st, kept)
}

type seenKey struct{}

// ReadingAfter marks ctx as a query that must reflect every event up to pos: read your
// writes, pos being where the client's command landed, maybe through another process.
// LoadPartner then trusts a cached state only if it already holds the stream up to pos.
func ReadingAfter(ctx context.Context, pos eventstore.Position) context.Context {
	if pos.IsZero() {
		return ctx
	}
	return context.WithValue(ctx, seenKey{}, pos)
}

// holdsSeen: st holds every event of its stream up to the position ctx must reflect.
func holdsSeen(ctx context.Context, st streamState) bool {
	seen, ok := ctx.Value(seenKey{}).(eventstore.Position)
	return !ok || !st.position.Less(seen)
}
