package projections

import (
	"context"
	"fmt"
	"sync"
	"time"

	"ledger/infra/eventstore"
)

// pollTimeout bounds one poll of the checkpoints.
const pollTimeout = 10 * time.Second

// knownCheckpoints is what this process knows of every projection's progress: the
// furthest checkpoint seen (checkpoints only move forward), from this process's runner
// as it commits and from the shared poll while anyone waits.
type knownCheckpoints struct {
	mu      sync.Mutex
	at      map[string]eventstore.Position
	seen    map[string]time.Time // when at was last confirmed
	polls   uint64               // polls completed
	pollErr error                // of the last poll
	waiters int
	polling bool // a poller goroutine runs
}

// raise records that name's checkpoint is at least pos, as of now. Callers hold mu.
func (k *knownCheckpoints) raise(name string, pos eventstore.Position, now time.Time) {
	if at, ok := k.at[name]; !ok || at.Less(pos) {
		k.at[name] = pos
	}
	k.seen[name] = now
}

// sight is one look at what is known of a projection.
type sight struct {
	at     eventstore.Position
	known  bool
	fresh  bool  // confirmed within the last poll interval
	polled bool  // a poll has completed since the waiter joined
	err    error // of the last poll
}

// reached tells whether a waiter for pos may go with what it sees. A query that asks
// for no position (pos is Start) wants where the read model stands, to report it: it
// takes a fresh sight, or one polled since it came, not a long-stale one.
func (s sight) reached(pos eventstore.Position) bool {
	return s.known && !s.at.Less(pos) && (!pos.IsZero() || s.fresh || s.polled)
}

// WaitFor returns once projection name has applied the event at pos (its checkpoint is
// at or past pos), with the checkpoint it found: read-your-writes for a query that
// follows a command. When ctx ends first it returns the last checkpoint seen and an
// error matching ErrProjectionBehind; a name no runner has set up gives
// ErrUnknownProjection after the first poll.
//
// Waiting holds no database connection, however many wait: waiters read the
// checkpoints this process knows, and wake when the runner of this process commits or
// when the one poller of this Checkpoints, which runs while anyone waits, has read them
// all again (for projectors in other processes) — one query per poll interval, not one
// per waiter.
func (c *Checkpoints) WaitFor(ctx context.Context, name string, pos eventstore.Position) (eventstore.Position, error) {
	if s, _ := c.look(name); s.reached(pos) {
		return s.at, nil
	}
	joined := c.join()
	defer c.leave()
	for {
		wake := c.notify.Wait() // before looking, so a signal in between is not missed
		s, polls := c.look(name)
		s.polled = polls > joined
		switch {
		case s.reached(pos):
			return s.at, nil
		case s.polled && s.err != nil && !isTransient(s.err):
			return s.at, s.err
		case s.polled && s.err == nil && !s.known:
			return s.at, fmt.Errorf("%w: %s", ErrUnknownProjection, name)
		}
		// Not there yet, or the database blinked: keep waiting while ctx lives.
		select {
		case <-ctx.Done():
			return s.at, fmt.Errorf("%w: %s at %s, waiting for %s: %w", ErrProjectionBehind, name, s.at, pos, ctx.Err())
		case <-wake:
		}
	}
}

// committed is the runner of this process telling waiters that name's checkpoint
// moved to pos.
func (c *Checkpoints) committed(name string, pos eventstore.Position) {
	c.known.mu.Lock()
	c.known.raise(name, pos, time.Now())
	c.known.mu.Unlock()
	c.notify.Broadcast()
}

// look reads what is known of name, and how many polls have completed.
func (c *Checkpoints) look(name string) (sight, uint64) {
	c.known.mu.Lock()
	defer c.known.mu.Unlock()
	at, ok := c.known.at[name]
	return sight{at: at, known: ok, fresh: ok && time.Since(c.known.seen[name]) <= c.poll,
		err: c.known.pollErr}, c.known.polls
}

// join counts a waiter and starts the poller if none runs; it returns the number of
// polls completed so far.
func (c *Checkpoints) join() uint64 {
	c.known.mu.Lock()
	defer c.known.mu.Unlock()
	c.known.waiters++
	if !c.known.polling {
		c.known.polling = true
		go c.pollWhileWaited()
	}
	return c.known.polls
}

func (c *Checkpoints) leave() {
	c.known.mu.Lock()
	defer c.known.mu.Unlock()
	c.known.waiters--
}

// pollWhileWaited reads every checkpoint at once, then again every poll interval, and
// wakes the waiters each time; it stops when nobody waits.
func (c *Checkpoints) pollWhileWaited() {
	for first := true; ; first = false {
		if !first {
			time.Sleep(c.poll)
		}
		c.known.mu.Lock()
		if c.known.waiters == 0 {
			c.known.polling = false
			c.known.mu.Unlock()
			return
		}
		c.known.mu.Unlock()
		c.pollOnce()
	}
}

// pollOnce is one query for every projection's checkpoint.
func (c *Checkpoints) pollOnce() {
	ctx, cancel := context.WithTimeout(context.Background(), pollTimeout)
	defer cancel()
	c.ensureSchema(ctx)
	var rows []stateRow
	err := c.db.NewSelect().Model(&rows).Column("name", "checkpoint_commit", "checkpoint_prepare").Scan(ctx)
	if err != nil {
		err = fmt.Errorf("projection checkpoints: %w", err)
	}
	c.known.mu.Lock()
	c.known.polls++
	c.known.pollErr = err
	now := time.Now()
	for _, r := range rows {
		c.known.raise(r.Name, r.state().Checkpoint, now)
	}
	c.known.mu.Unlock()
	c.notify.Broadcast()
}
