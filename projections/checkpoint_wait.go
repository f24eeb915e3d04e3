package projections

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"ledger/infra/eventstore"
	"ledger/infra/partition"
)

// pollTimeout bounds one poll of the checkpoints.
const pollTimeout = 10 * time.Second

// knownCheckpoints is what this process knows of every projection's progress: the
// furthest checkpoint seen of each partition (checkpoints only move forward), from this
// process's runner as it commits and from the shared poll while anyone waits, and how far
// each partition is complete.
//
// Complete is more than the checkpoint: a partition that has had no event for a while
// has every one of its events up to the log's head applied, but its checkpoint stays at
// its last event (until its idle raise, after a pull that brought nothing: FetchWait).
// A query at a position past it, which reads that partition, used to wait for that. Now
// every event carries the partition heads (partition.Heads: each partition's last event
// as of that one, stamped by the forwarder), recorded with the checkpoint of the
// partition that applies it: a partition whose checkpoint has reached its own head in
// some heads is complete up to those heads' position. That is exact, never an estimate:
// the forwarder wrote down, in order, which events each partition has up to there.
type knownCheckpoints struct {
	mu sync.Mutex
	at map[string][]eventstore.Position // by partition
	// heads are, by partition, the latest partition heads its checkpoint row carried;
	// complete is, by partition, how far it is known to hold every one of its events.
	heads    map[string][]partition.Heads
	complete map[string][]eventstore.Position
	seen     map[string]time.Time // when at was last confirmed
	// touches are, by read model, which partners its commits touched
	// (checkpoint_touches.go), for the read models whose answers are kept.
	touches map[string]*partnerTouches
	polls   uint64 // polls completed
	pollErr error  // of the last poll
	polling bool   // a poller goroutine runs
	// waiting are the waiters of each projection, woken one by one by this process's
	// commits when their position is reached (see committed); a projection nobody
	// waits for has no entry, so the poller stops when it is empty.
	waiting map[string]map[*waiter]struct{}
}

// waiter is one query waiting for a projection's partition (or all of them) to reach pos.
type waiter struct {
	key    string
	pos    eventstore.Position
	joined uint64        // polls completed when it joined
	wake   chan struct{} // buffered: a commit or poll that settles it never blocks
}

// raise records that partition part of name's n partitions is at least at pos, as of
// now, with the partition heads its row carries (nil if none), and what that tells of
// how far each partition is complete. A new partition count (a rebuild repartitioned
// the read model) starts afresh. Callers hold mu.
func (k *knownCheckpoints) raise(name string, part, n int, pos eventstore.Position, heads partition.Heads, now time.Time) {
	at := k.at[name]
	if len(at) != n {
		at = make([]eventstore.Position, n)
		k.at[name] = at
		k.heads[name] = make([]partition.Heads, n)
		k.complete[name] = make([]eventstore.Position, n)
	}
	known, complete := k.heads[name], k.complete[name]
	lift := func(j int, h partition.Heads) {
		if c := h.Complete(j, n, at[j]); complete[j].Less(c) {
			complete[j] = c
		}
	}
	if at[part].Less(pos) {
		at[part] = pos
		lift(part, nil)
		for _, h := range known { // heads this partition now reaches
			lift(part, h)
		}
	}
	if len(heads) == n && known[part].At().Less(heads.At()) {
		known[part] = heads
		for j := range n { // partitions that already reach them
			lift(j, heads)
		}
	}
	k.seen[name] = now
}

// allPartitions asks for the lowest checkpoint of a read model: a query that may read
// rows of any partner.
const allPartitions = ""

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

// WaitFor returns once projection name has applied the event at pos and every one
// before it (every partition is complete up to pos: see knownCheckpoints), with the
// position it found every partition complete up to: read-your-writes for a query that
// follows a command and may read any partner's rows. When ctx ends first it returns the last checkpoint seen and an
// error matching ErrProjectionBehind; a name no runner has set up gives
// ErrUnknownProjection after the first poll.
//
// Waiting holds no database connection, however many wait: waiters read the
// checkpoints this process knows, and are woken, each only once what is known settles
// it, when the runner of this process commits (committed) or when the one poller of
// this Checkpoints, which runs while anyone waits, has read them all again (for
// projectors in other processes): one query per poll interval, not one per waiter.
func (c *Checkpoints) WaitFor(ctx context.Context, name string, pos eventstore.Position) (eventstore.Position, error) {
	return c.waitFor(ctx, name, allPartitions, pos)
}

// WaitForPartner is WaitFor for a query that reads only partner mpnID's rows: it waits
// for the one partition holding them to be complete up to pos, not for the others (an
// empty mpnID waits for all).
func (c *Checkpoints) WaitForPartner(ctx context.Context, name, mpnID string, pos eventstore.Position) (eventstore.Position, error) {
	return c.waitFor(ctx, name, mpnID, pos)
}

// PartnerReached is WaitForPartner without waiting: the checkpoint of the partition
// holding mpnID's rows, and whether what this process knows settles pos already (a
// query asking for no position wants a fresh sight).
func (c *Checkpoints) PartnerReached(name, mpnID string, pos eventstore.Position) (eventstore.Position, bool) {
	s, _ := c.look(name, mpnID)
	return s.at, s.reached(pos)
}

func (c *Checkpoints) waitFor(ctx context.Context, name, key string, pos eventstore.Position) (eventstore.Position, error) {
	if s, _ := c.look(name, key); s.reached(pos) {
		return s.at, nil
	}
	w := &waiter{key: key, pos: pos, wake: make(chan struct{}, 1)}
	c.join(name, w)
	defer c.leave(name, w)
	for {
		s, polls := c.look(name, key)
		s.polled = polls > w.joined
		if done, err := s.settles(pos); done {
			if errors.Is(err, ErrUnknownProjection) {
				err = fmt.Errorf("%w: %s", err, name)
			}
			return s.at, err
		}
		// Not there yet, or the database blinked: keep waiting while ctx lives.
		select {
		case <-ctx.Done():
			return s.at, fmt.Errorf("%w: %s at %s, waiting for %s: %w", ErrProjectionBehind, name, s.at, pos, ctx.Err())
		case <-w.wake:
		}
	}
}

// settles tells whether a waiter for pos is done with what it sees, and with which
// error: reached, or told by a poll that the database failed (not transiently) or that
// no runner has set the projection up.
func (s sight) settles(pos eventstore.Position) (bool, error) {
	switch {
	case s.reached(pos):
		return true, nil
	case s.polled && s.err != nil && !isTransient(s.err):
		return true, s.err
	case s.polled && s.err == nil && !s.known:
		return true, ErrUnknownProjection
	}
	return false, nil
}

// wake signals the waiters of name that what is known now settles (committed, pollOnce);
// the others sleep on. Callers hold known.mu.
func (c *Checkpoints) wake(name string) {
	for w := range c.known.waiting[name] {
		s := c.known.sight(name, w.key, c.poll)
		s.polled = c.known.polls > w.joined
		if done, _ := s.settles(w.pos); done {
			select {
			case w.wake <- struct{}{}:
			default: // woken already
			}
		}
	}
}

// committed is the runner of this process telling waiters that partition part of
// name's checkpoint moved to pos, and which partners that touched (told: where it moved
// from and the events it applied; nil when unknown), recorded before any waiter is let
// through. It wakes only the waiters of name that pos lets through: at 1,000 commands
// a second a hundred queries wait at once, and five read models commit, each often;
// waking every waiter at every commit (to find, mostly, that it must wait on) kept the
// scheduler busy with those wake-ups and queued the goroutines that had work behind
// them (issue 10).
func (c *Checkpoints) committed(name string, part, of int, pos eventstore.Position, heads partition.Heads, told *toldCommit) {
	c.known.mu.Lock()
	defer c.known.mu.Unlock()
	c.known.touch(name, part, of, pos, told, false)
	c.known.raise(name, part, of, pos, heads, time.Now())
	c.wake(name)
}

// look reads what is known of name (of the partition of key, or the lowest of all for
// allPartitions), and how many polls have completed.
func (c *Checkpoints) look(name, key string) (sight, uint64) {
	c.known.mu.Lock()
	defer c.known.mu.Unlock()
	return c.known.sight(name, key, c.poll), c.known.polls
}

// sight is how far name is known complete for key, fresh if confirmed within poll.
// Callers hold mu.
func (k *knownCheckpoints) sight(name, key string, poll time.Duration) sight {
	parts, ok := k.complete[name]
	var at eventstore.Position
	switch {
	case !ok:
	case key == allPartitions:
		at = parts[0]
		for _, p := range parts[1:] {
			if p.Less(at) {
				at = p
			}
		}
	default:
		at = parts[partition.Of(key, len(parts))]
	}
	return sight{at: at, known: ok, fresh: ok && time.Since(k.seen[name]) <= poll, err: k.pollErr}
}

// join adds a waiter of name, noting the polls completed so far, and starts the poller
// if none runs.
func (c *Checkpoints) join(name string, w *waiter) {
	c.known.mu.Lock()
	defer c.known.mu.Unlock()
	w.joined = c.known.polls
	if c.known.waiting[name] == nil {
		c.known.waiting[name] = map[*waiter]struct{}{}
	}
	c.known.waiting[name][w] = struct{}{}
	if !c.known.polling {
		c.known.polling = true
		go c.pollWhileWaited()
	}
}

func (c *Checkpoints) leave(name string, w *waiter) {
	c.known.mu.Lock()
	defer c.known.mu.Unlock()
	delete(c.known.waiting[name], w)
	if len(c.known.waiting[name]) == 0 {
		delete(c.known.waiting, name)
	}
}

// pollWhileWaited reads every checkpoint at once, then again every poll interval, and
// wakes the waiters each time; it stops when nobody waits.
func (c *Checkpoints) pollWhileWaited() {
	for first := true; ; first = false {
		if !first {
			time.Sleep(c.poll)
		}
		c.known.mu.Lock()
		if len(c.known.waiting) == 0 {
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
	err := c.db.NewSelect().Model(&rows).Column("name", "partition_no", "checkpoint_commit", "checkpoint_prepare", "partition_heads", "owner").Scan(ctx)
	if err != nil {
		err = fmt.Errorf("projection checkpoints: %w", err)
	}
	count := map[string]int{}
	for _, r := range rows {
		count[r.Name]++
	}
	c.known.mu.Lock()
	wanted := c.known.movesWanted(rows, count)
	c.known.mu.Unlock()
	moves := readMoves(ctx, c.db, wanted) // which partners the moves touched, where logged
	c.known.mu.Lock()
	c.known.polls++
	c.known.pollErr = err
	now := time.Now()
	for _, r := range rows {
		if r.Partition < count[r.Name] {
			heads, _ := partition.ParseHeads(r.Heads, count[r.Name]) // another count's: none
			p := partitionOf{r.Name, r.Partition, count[r.Name]}
			c.known.follow(p, moves[p], r.checkpoint())
			// What the log did not account for touched every partner, unless this
			// process's runner made it (it tells which).
			c.known.touch(r.Name, r.Partition, count[r.Name], r.checkpoint(), nil, c.owner != "" && r.Owner == c.owner)
			c.known.raise(r.Name, r.Partition, count[r.Name], r.checkpoint(), heads, now)
		}
	}
	for name := range c.known.waiting {
		c.wake(name)
	}
	c.known.mu.Unlock()
}
