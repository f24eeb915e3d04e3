package commands

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"ledger/domain"
	"ledger/infra/eventstore"
	"ledger/infra/retry"
)

// Commands on one stream in one process do not race each other: they wait in the
// stream's queue, one goroutine decides them in arrival order on the kept state, and
// the events of all the commands waiting together go to the store in one append. Each
// command still gets its own answer, causation ID and refusal; a refused command adds
// nothing. Only another process can make the append fail (wrong expected revision);
// then the batch is decided again on the state with the events it missed.

// request is one queued command.
type request struct {
	ctx  context.Context
	cmd  domain.Command
	meta Meta
	done chan answer // buffered: the batch never waits for the caller
}

type answer struct {
	out Outcome
	err error
}

// streamQueue holds a stream's waiting commands; draining says a goroutine is
// deciding them (it removes the queue when it finds it empty).
type streamQueue struct {
	pending  []*request
	draining bool
}

func (x *Executor) enqueue(ctx context.Context, stream string, cmd domain.Command, meta Meta) (Outcome, error) {
	req := &request{ctx: ctx, cmd: cmd, meta: meta, done: make(chan answer, 1)}
	x.queuesMu.Lock()
	q := x.queues[stream]
	if q == nil {
		q = &streamQueue{}
		x.queues[stream] = q
	}
	q.pending = append(q.pending, req)
	start := !q.draining
	q.draining = true
	x.queuesMu.Unlock()
	if start {
		x.startDrain(stream, q)
	}
	select {
	case a := <-req.done:
		return a.out, a.err
	case <-ctx.Done():
		// The command may still be decided and stored if its batch was already under
		// way; a caller that gives up cannot know, as with any cut-off request.
		return Outcome{}, ctx.Err()
	}
}

// drainJob is a stream whose waiting commands need a goroutine to decide them.
type drainJob struct {
	stream string
	q      *streamQueue
}

// drainerIdle is how long a goroutine that drained a queue waits for another before
// it ends.
const drainerIdle = time.Second

// startDrain hands the queue to a goroutine that has drained one before, if one is
// idle, or to a new one. A new goroutine starts with a small stack and grows it
// (copying it each time) down the store's deep call stack: that was 5% of the CPU
// under load, when every batch began a goroutine.
func (x *Executor) startDrain(stream string, q *streamQueue) {
	select {
	case x.idleDrainers <- drainJob{stream, q}:
	default:
		go x.drainLoop(drainJob{stream, q})
	}
}

func (x *Executor) drainLoop(job drainJob) {
	idle := time.NewTimer(drainerIdle)
	defer idle.Stop()
	for {
		x.drain(job.stream, job.q)
		idle.Reset(drainerIdle)
		select {
		case job = <-x.idleDrainers:
		case <-idle.C:
			return
		case <-x.closed:
			return
		}
	}
}

// drain decides the stream's waiting commands, a batch at a time, until none waits.
func (x *Executor) drain(stream string, q *streamQueue) {
	for {
		x.queuesMu.Lock()
		n := min(len(q.pending), maxBatchCommands)
		batch := q.pending[:n:n]
		q.pending = q.pending[n:]
		if n == 0 {
			q.draining = false
			delete(x.queues, stream)
		}
		x.queuesMu.Unlock()
		if n == 0 {
			return
		}
		x.runBatchSafely(stream, batch)
	}
}

// runBatchSafely runs the batch in the drain goroutine, where a panic (a fault in a
// decision or an ID source) would end the process rather than one request: it is
// answered as an error to every command of the batch still waiting, and the queue goes on.
func (x *Executor) runBatchSafely(stream string, batch []*request) {
	defer func() {
		p := recover()
		if p == nil {
			return
		}
		x.log.Error("deciding a batch of commands panicked", "stream", stream, "panic", p, "stack", string(debug.Stack()))
		err := fmt.Errorf("%s: %w: %v", stream, ErrDecisionFailed, p)
		for _, r := range batch {
			select {
			case r.done <- answer{err: err}:
			default: // answered already
			}
		}
	}()
	x.runBatch(stream, batch)
}

// ErrDecisionFailed: deciding a command failed unexpectedly (a panic); nothing of the
// batch it was in is stored.
var ErrDecisionFailed = errors.New("deciding the command failed")

// decided is one command's part of a batch.
type decided struct {
	req    *request
	events []domain.Event
	meta   Meta      // the command's, with the partner roles its actor held
	now    time.Time // when the batch was decided: every event's RecordedAt
	out    Outcome
	err    error // the command's refusal; nothing of it is appended
	// replay: the command was recorded before under its idempotency key; it is
	// answered as that one, and appends nothing (idempotency.go).
	replay *replayOf
}

// runBatch decides the batch and appends its events, deciding again after losing a
// race to another process, at most maxRetries times.
//
// The first attempt decides on the kept state as it is, without reading the store:
// the append expects the stream exactly at the kept revision, so an append that
// succeeds was decided on the stream's current state, and one refused because another
// process wrote first is decided again at once on what the store holds. A batch that
// appends nothing (refusals, commands already done) has no append to check it, so its
// kept state is brought up to date before it is answered and decided again if it was
// behind. Reading the stream before every batch was a sixth of a command's CPU. On a
// store whose streams can be truncated (eventstore.StreamTruncator) the state is read
// first every time: there an append at the kept revision proves nothing.
//
// The rule book is kept the same way where the store guards appends
// (eventstore.GuardedAppender): the append also expects the rules stream at the kept
// book's revision, so rules another process published refuse it and the batch is
// decided again on both streams read from the store; a batch appending nothing reads
// the rules stream before it is answered. Elsewhere (EventStoreDB) the rules stream is
// read before every batch, that read shared by concurrent batches (sharedRead). The
// store's global head would not do instead: it moves with every append of every
// partner, so under load it would almost never spare the read it costs.
func (x *Executor) runBatch(stream string, batch []*request) {
	// The store work outlives any one caller: the others wait for it.
	ctx := context.WithoutCancel(batch[0].ctx)
	backoff := raceBackoff()
	trustKept := !x.keptStateUnproven
	for attempt := 0; ; {
		batch = stillWaiting(batch)
		if len(batch) == 0 {
			return
		}
		st, checked, err := x.stateToDecideOn(ctx, stream, trustKept)
		if err != nil {
			answerAll(batch, err)
			return
		}
		book, rulesChecked, err := x.rulesToDecideOn(ctx, trustKept)
		if err != nil {
			answerAll(batch, err)
			return
		}
		parts := x.decideBatch(st, book, batch)
		if !(checked && rulesChecked) && !appendsAny(parts) {
			behind, err := x.behindStore(ctx, stream, st, checked, book, rulesChecked)
			if err != nil {
				answerAll(batch, err)
				return
			}
			if behind {
				trustKept = false // decide on the store's state
				continue
			}
		}
		head, err := x.appendBatch(ctx, stream, st.streamHead, book.streamHead, parts)
		if errors.Is(err, eventstore.ErrWrongExpectedRevision) {
			if !(checked && rulesChecked) { // a kept state was behind, no race lost: decide again at once
				trustKept = false
				continue
			}
			if attempt >= x.maxRetries {
				answerAll(batch, fmt.Errorf("%s: %w", stream, ErrTooManyRetries))
				return
			}
			attempt++
			retry.Sleep(ctx, retry.Jittered(backoff.Next()))
			continue
		}
		x.answer(stream, st, parts, head, err)
		return
	}
}

// stateToDecideOn is the kept state of the stream if trustKept and the cache holds it
// (checked false: the store may hold more), else the state brought up to date with the
// store (checked true).
func (x *Executor) stateToDecideOn(ctx context.Context, stream string, trustKept bool) (st streamState, checked bool, err error) {
	st, kept := x.states.lookup(stream)
	if trustKept && kept {
		return st, false, nil
	}
	st, err = x.upToDate(ctx, stream, st, kept)
	return st, true, err
}

// rulesToDecideOn is the kept rule book if trustKept and the store guards appends
// (checked false: the store may hold more; the batch's append is guarded by its
// revision), else the rule book read from the store (checked true).
func (x *Executor) rulesToDecideOn(ctx context.Context, trustKept bool) (book ruleBookState, checked bool, err error) {
	if trustKept && x.guarded != nil {
		x.rulesMu.Lock()
		defer x.rulesMu.Unlock()
		return x.rules, false, nil
	}
	book, err = x.ruleBook(ctx)
	return book, true, err
}

// behindStore reads what the store holds after the kept partner state st and kept
// rule book (keeping it), for each not yet checked, and tells whether it held more.
// A batch that appends nothing is answered only after this: a refusal decided on a
// state another process has moved on could be wrong.
func (x *Executor) behindStore(ctx context.Context, stream string, st streamState, checked bool, book ruleBookState, rulesChecked bool) (bool, error) {
	if !checked {
		latest, err := x.catchUp(ctx, stream, st, true)
		if err != nil || latest.streamHead != st.streamHead {
			return true, err
		}
	}
	if !rulesChecked {
		latest, err := x.ruleBook(ctx)
		return latest.streamHead != book.streamHead, err
	}
	return false, nil
}

func appendsAny(parts []decided) bool {
	for _, p := range parts {
		if len(p.events) > 0 {
			return true
		}
	}
	return false
}

// stillWaiting answers the commands whose callers gave up and returns the others.
func stillWaiting(batch []*request) []*request {
	live := batch[:0:0]
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.done <- answer{err: err}
			continue
		}
		live = append(live, r)
	}
	return live
}

func answerAll(batch []*request, err error) {
	for _, r := range batch {
		r.done <- answer{err: err}
	}
}

// decideBatch decides each command in order on the state the ones before it left,
// starting from st.
func (x *Executor) decideBatch(st streamState, book ruleBookState, batch []*request) []decided {
	now := x.now().UTC()
	rules := book.book.InForce(now)
	state, next := st.partner, st.next()
	parts := make([]decided, len(batch))
	for i, r := range batch {
		last := max(next, 1) - 1 // the revision of the stream's last event (0 for none)
		if replay, err := keyedCommand(st.keys, parts[:i], r); replay != nil || err != nil {
			if err == nil {
				// A replay is not decided, yet it shows the partner's data: only to whom
				// may read it (the digest leaves the caller's identity out: idempotency.go).
				err = domain.CanRead(r.meta.Actor, state.PartnerUsers())
			}
			parts[i] = decided{req: r, now: now, out: Outcome{State: state, Rules: rules, Position: st.position, Revision: last}, err: err, replay: replay}
			continue
		}
		events, err := domain.Decide(state, r.cmd, rules, now, x.ids)
		if err != nil {
			parts[i] = decided{req: r, now: now, out: Outcome{State: state, Rules: rules, Position: st.position, Revision: last}, err: err}
			continue
		}
		state = domain.FoldOnto(state, events)
		next += uint64(len(events))
		parts[i] = decided{req: r, now: now, events: events, meta: withPartnerRoles(r.meta, state),
			out: Outcome{Events: events, State: state, Rules: rules, Position: st.position, Revision: max(next, 1) - 1}}
	}
	return parts
}

// withPartnerRoles adds the partner roles the actor holds: an event records the
// token's system roles and those (an auditor asks "as whom did they act").
func withPartnerRoles(meta Meta, state domain.Partner) Meta {
	meta.partnerRoles = nil
	if u, ok := state.UserByID[meta.Actor.UserID]; ok && meta.Actor.UserID != "" {
		for _, r := range u.Roles {
			meta.partnerRoles = append(meta.partnerRoles, string(r))
		}
	}
	return meta
}

// appendBatch appends the events of every part in one append, guarded by the rules
// stream's head they were decided under when the store guards appends; with none it
// appends nothing and returns head.
func (x *Executor) appendBatch(ctx context.Context, stream string, head, rules streamHead, parts []decided) (streamHead, error) {
	var commands []sealing
	for _, p := range parts {
		if len(p.events) > 0 {
			commands = append(commands, sealing{events: p.events, meta: p.meta})
		}
	}
	if len(commands) == 0 {
		return head, nil
	}
	var guard *eventstore.Guard
	if x.guarded != nil {
		guard = &eventstore.Guard{Stream: domain.RulesStream, Expected: rules.expected()}
	}
	return x.appendSealed(ctx, stream, head, guard, commands, parts[0].out.Rules.Version, parts[0].now)
}

// answer keeps the state after a successful append (and starts its snapshot when due) and
// answers each command: its refusal, or its outcome at the append's position. When the
// append failed, the commands that had events get its error: none of them is stored.
func (x *Executor) answer(stream string, before streamState, parts []decided, head streamHead, appendErr error) {
	appended := appendErr == nil && head != before.streamHead
	var after streamState
	if appended {
		// Kept before anyone is answered: a query begun after a command's answer must
		// see its events, whether or not it trusts the cache (read.go).
		after = before
		after.streamHead, after.partner = head, parts[len(parts)-1].out.State
		after.keys = before.keys.with(keysRecorded(parts, head.position)...)
		x.states.put(stream, after)
		// Started (not saved) before anyone is answered: a caller that closes the
		// executor after its answer then waits for the save (Close), where a save begun
		// after the answer raced with Close's wait and could outlive the store.
		x.snapshotIfDue(stream, after)
	}
	for _, p := range parts {
		switch {
		case p.err != nil:
			p.req.done <- answer{out: p.out, err: p.err}
		case p.replay != nil:
			out, err := x.replayAnswer(stream, parts, p, head, appendErr)
			p.req.done <- answer{out: out, err: err}
		case appendErr != nil && len(p.events) > 0:
			p.req.done <- answer{out: p.out, err: appendErr}
		default:
			if appended {
				p.out.Position = head.position
			}
			p.req.done <- answer{out: p.out}
		}
	}
}

// replayAnswer answers p, a command recorded before under its idempotency key: by a
// command earlier in its batch (its events, at the append's position, or the append's
// error), or before the batch (its events read back from the store).
func (x *Executor) replayAnswer(stream string, parts []decided, p decided, head streamHead, appendErr error) (Outcome, error) {
	if p.replay.kept != nil {
		return x.replayed(context.WithoutCancel(p.req.ctx), stream, *p.replay.kept, p.out)
	}
	first := parts[p.replay.earlier]
	if appendErr != nil {
		return p.out, appendErr
	}
	return Outcome{Events: first.events, State: p.out.State, Rules: p.out.Rules, Position: head.position,
		Revision: first.out.Revision, Replayed: true}, nil
}
