package projections

import (
	"ledger/infra/eventstore"
	"ledger/infra/partition"
)

// Which partners' rows each commit of a read model touched, as far as this process
// knows: what a kept answer's stamp is (PartnerStamp, AnswerCache). This process's
// runner tells it with each commit (the events it applied carry their partner: their
// stream's partition key). A commit seen only in a poll of the checkpoints (another
// process's, a rebuild's swap) cannot say which partners it touched: it counts as
// touching every partner of its partition.

// maxTouchedPartners bounds the partners whose last commit is remembered, per read
// model. Past it the memory is dropped and every partition counts as touched at its
// checkpoint: every kept answer of that read model retires once.
const maxTouchedPartners = 1 << 17

// partnerTouches is what is known of a read model's commits, partner by partner.
type partnerTouches struct {
	// last is, by partner, the position of the last commit known to touch its rows.
	last map[string]eventstore.Position
	// blind is, by partition, the last position its checkpoint moved to without
	// saying which partners it touched: all of them, as far as anyone here knows.
	blind []eventstore.Position
	// told is, by partition, how far every move of its checkpoint is accounted for in
	// last or blind. A partition known (knownCheckpoints.at) further than told is
	// unsettled: this process's runner committed there and has not told it yet.
	told []eventstore.Position
}

// toldCommit is a commit of this process's runner: the checkpoint it moved from, and
// the events it applied (those up to where it moved to).
type toldCommit struct {
	from   eventstore.Position
	events []eventstore.RecordedEvent
}

// touch records which partners the move of partition part (of n) of name to to
// touched. A commit c of this process's runner from where the partition was accounted
// for tells them: its events'. Anything else touched every partner of the partition,
// but for a move a poll saw that this process's runner made (mine, by the row's owner):
// its runner tells it, and until then the partition is unsettled; if it has not by
// the next poll (or the move was not its commit, but a rebuild's swap under its name),
// that poll counts it as touching every partner. Nothing is recorded for a read model
// nobody asked a stamp of. Callers hold mu.
func (k *knownCheckpoints) touch(name string, part, n int, to eventstore.Position, c *toldCommit, mine bool) {
	t := k.touches[name]
	if t == nil {
		return
	}
	if len(t.told) != n { // a new partition count (raise starts afresh): nothing is known
		t.forget(n, nil)
	}
	switch {
	case !t.told[part].Less(to):
		return // accounted for already
	case c != nil && c.from == t.told[part]:
		for _, ev := range c.events {
			if !to.Less(ev.Position) {
				t.last[partition.Key(ev.Stream)] = to
			}
		}
		if len(t.last) > maxTouchedPartners {
			t.forget(n, k.at[name])
			t.blind[part] = to
		}
	case c == nil && mine && settled(t.told, k.at[name], part):
		return // the runner tells it (unless it has not since the last poll: below)
	default:
		t.blind[part] = to
	}
	t.told[part] = to
}

// settled tells whether every move of partition part known (at) is accounted for.
func settled(told, at []eventstore.Position, part int) bool {
	return len(at) == len(told) && !told[part].Less(at[part])
}

// forget drops what is known of every partner: each of the n partitions counts as
// touched where it is known to stand (at, by partition; Start where none), which is
// at or past every commit recorded of it, so that no stamp goes back.
func (t *partnerTouches) forget(n int, at []eventstore.Position) {
	t.last = map[string]eventstore.Position{}
	t.blind, t.told = make([]eventstore.Position, n), make([]eventstore.Position, n)
	copy(t.blind, at)
	copy(t.told, at)
}

// PartnerStamp is the position of the last commit to read model name known to have
// touched partner mpnID's rows (or, for a commit whose partners this process cannot
// tell, to have moved the partition holding them); false while it cannot say (its
// runner has committed the partition and not yet told which partners). It never goes
// back, and a commit touching mpnID moves it before any query waiting for that commit
// (WaitForPartner) is let through.
//
// It is the one rule of a kept answer's life (AnswerCache): an answer read after
// PartnerStamp said s holds, for partner mpnID, as long as PartnerStamp says s. A
// commit touching only other partners leaves it served; one touching mpnID retires it;
// one made by another process, which does not say which partners it touched, retires
// every answer of its partition.
func (c *Checkpoints) PartnerStamp(name, mpnID string) (eventstore.Position, bool) {
	c.known.mu.Lock()
	defer c.known.mu.Unlock()
	return c.known.partnerStamp(name, mpnID)
}

// partnerStamp is PartnerStamp. The first one asked of name, once its checkpoints are
// known, starts recording its touches (the moves before are accounted for: no answer
// was kept then). Callers hold mu.
func (k *knownCheckpoints) partnerStamp(name, mpnID string) (eventstore.Position, bool) {
	at := k.at[name]
	if len(at) == 0 {
		return eventstore.Start, false
	}
	t := k.touches[name]
	if t == nil {
		t = &partnerTouches{}
		t.forget(len(at), at)
		k.touches[name] = t
	}
	part := partition.Of(mpnID, len(at))
	if !settled(t.told, at, part) {
		return eventstore.Start, false
	}
	return later(t.last[mpnID], t.blind[part]), true
}

func later(p, q eventstore.Position) eventstore.Position {
	if p.Less(q) {
		return q
	}
	return p
}
