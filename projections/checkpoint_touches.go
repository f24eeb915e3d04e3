package projections

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/uptrace/bun"

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

// toldCommit is a commit whose partners are known: the checkpoint it moved from, and
// the events it applied (those up to where it moved to; this process's runner tells
// them) or the partners they touched (as the touch log holds them).
type toldCommit struct {
	from     eventstore.Position
	events   []eventstore.RecordedEvent
	partners []string
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
		for _, p := range c.partners {
			t.last[p] = to
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

// The touch log: which partners each move of a checkpoint touched, written by the
// runner in the transaction that moves it, for the read models whose answers are kept
// (keepsAnswers). Another process polling the checkpoints reads it (pollOnce) and
// retires only the answers of those partners, where it used to retire every answer of
// the partition at each commit it had not made itself. A move the log does not hold
// (written by code from before the log, by a rebuild's swap, or pruned before this
// process polled) breaks the chain from where the partition was accounted for: that
// move counts as touching every partner, as before.

// touchRow is one move of a partition's checkpoint, from..to, and the partners whose
// rows it changed (a JSON list; empty for a raise that applied nothing).
type touchRow struct {
	bun.BaseModel `bun:"table:projection_touches"`

	Name        string `bun:"name,pk"`
	Partitions  int    `bun:"partitions,pk"` // the read model's partition count when it moved
	Partition   int    `bun:"partition_no,pk"`
	ToCommit    int64  `bun:"to_commit,pk"`
	ToPrepare   int64  `bun:"to_prepare,pk"`
	FromCommit  int64  `bun:"from_commit,notnull"`
	FromPrepare int64  `bun:"from_prepare,notnull"`
	Partners    string `bun:"partners,notnull"`
	RecordedMs  int64  `bun:"recorded_ms,notnull"` // unix milliseconds, for pruning
}

// touchesKept is how long the log keeps a move: a process polling less often than this
// (it polls every PollInterval while queries wait) finds the chain broken, and counts
// what it missed as touching every partner.
const touchesKept = 30 * time.Second

// pruneTouchesEvery spaces the deletions of a partition's old moves.
const pruneTouchesEvery = time.Second

// keepsAnswers tells whether a read model's answers are kept (AnswerCache), so that its
// moves are logged.
func keepsAnswers(name string) bool { return name == RemainingIncidentsName }

// touchedBy is the partners of the events in (from, to], sorted and once each.
func touchedBy(events []eventstore.RecordedEvent, from, to eventstore.Position) []string {
	var partners []string
	for _, ev := range events {
		if from.Less(ev.Position) && !to.Less(ev.Position) {
			partners = append(partners, partition.Key(ev.Stream))
		}
	}
	slices.Sort(partners)
	return slices.Compact(partners)
}

// recordTouches logs, in tx, that st's partition (of parts) moved from its checkpoint
// to to, touching partners; now and then it prunes the partition's old moves.
func recordTouches(ctx context.Context, tx bun.Tx, st State, parts int, to eventstore.Position, partners []string) error {
	list, err := json.Marshal(partners)
	if err != nil {
		return err
	}
	now := time.Now()
	_, err = execPrepared(ctx, tx, "INSERT INTO projection_touches (name, partitions, partition_no, to_commit, to_prepare, "+
		"from_commit, from_prepare, partners, recorded_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
		st.Name, parts, st.Partition, int64(to.Commit), int64(to.Prepare),
		int64(st.Checkpoint.Commit), int64(st.Checkpoint.Prepare), string(list), now.UnixMilli())
	if err != nil {
		return fmt.Errorf("projection %s touches: %w", st.Name, err)
	}
	if !touchPrunes.due(st.Name, st.Partition, now) {
		return nil
	}
	_, err = execPrepared(ctx, tx, "DELETE FROM projection_touches WHERE name = ? AND partition_no = ? AND recorded_ms < ?",
		st.Name, st.Partition, now.Add(-touchesKept).UnixMilli())
	if err != nil {
		return fmt.Errorf("projection %s touches: prune: %w", st.Name, err)
	}
	return nil
}

// touchPrunes remembers when each partition's moves were last pruned, in this process.
var touchPrunes = pruneClock{last: map[string]time.Time{}}

type pruneClock struct {
	mu   sync.Mutex
	last map[string]time.Time
}

func (p *pruneClock) due(name string, part int, now time.Time) bool {
	key := fmt.Sprint(name, "/", part)
	p.mu.Lock()
	defer p.mu.Unlock()
	if now.Sub(p.last[key]) < pruneTouchesEvery {
		return false
	}
	p.last[key] = now
	return true
}

// loggedMove is one move read back from the log.
type loggedMove struct {
	from, to eventstore.Position
	partners []string
}

// movesWanted is, for the polled rows, the partitions of read models whose touches are
// recorded here whose checkpoint moved past where they are accounted for: where to
// read the log from. Callers hold mu.
func (k *knownCheckpoints) movesWanted(rows []stateRow, count map[string]int) map[partitionOf]eventstore.Position {
	wanted := map[partitionOf]eventstore.Position{}
	for _, r := range rows {
		t := k.touches[r.Name]
		n := count[r.Name]
		if t == nil || len(t.told) != n || r.Partition >= n || !t.told[r.Partition].Less(r.checkpoint()) {
			continue
		}
		wanted[partitionOf{r.Name, r.Partition, n}] = t.told[r.Partition]
	}
	return wanted
}

// partitionOf names partition part of name's n partitions.
type partitionOf struct {
	name    string
	part, n int
}

// readMoves reads the logged moves of each wanted partition from where it is accounted
// for, in order. A partition whose log cannot be read is left out (its moves count as
// touching every partner).
func readMoves(ctx context.Context, db bun.IDB, wanted map[partitionOf]eventstore.Position) map[partitionOf][]loggedMove {
	moves := map[partitionOf][]loggedMove{}
	for p, from := range wanted {
		var rows []touchRow
		err := db.NewSelect().Model(&rows).
			Where("name = ? AND partitions = ? AND partition_no = ? AND to_commit >= ?", p.name, p.n, p.part, int64(from.Commit)).
			Order("to_commit", "to_prepare").Scan(ctx)
		if err != nil {
			continue
		}
		for _, r := range rows {
			m := loggedMove{from: storedPosition(r.FromCommit, r.FromPrepare), to: storedPosition(r.ToCommit, r.ToPrepare)}
			if !from.Less(m.to) || json.Unmarshal([]byte(r.Partners), &m.partners) != nil {
				continue
			}
			moves[p] = append(moves[p], m)
		}
	}
	return moves
}

// follow accounts for the logged moves of partition p up to its polled checkpoint, in
// order, as long as each continues from where the partition is accounted for (touch);
// the first that does not ends it. Moves accounted for meanwhile (this process's runner
// told them while the log was read) are passed over. Callers hold mu.
func (k *knownCheckpoints) follow(p partitionOf, moves []loggedMove, upTo eventstore.Position) {
	for _, m := range moves {
		t := k.touches[p.name]
		if t == nil || len(t.told) != p.n || upTo.Less(m.to) {
			return
		}
		if !t.told[p.part].Less(m.to) {
			continue
		}
		if m.from != t.told[p.part] {
			return
		}
		k.touch(p.name, p.part, p.n, m.to, &toldCommit{from: m.from, partners: m.partners}, false)
	}
}
