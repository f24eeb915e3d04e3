package partition

import (
	"fmt"
	"strings"

	"ledger/infra/eventstore"
)

// Heads is where every partition stood at one event of the global log: Heads[k] is the
// position of partition k's last event at or before that event (the event's own
// partition has its position), or a later position still at or before it (an upper
// bound, as after a forwarder's restart). It is a fact about the log, true forever:
// partition k has no event after Heads[k] up to At(). The forwarder stamps it on every
// event it publishes, so a reader knows, from any one event it has seen, how far each
// partition must have got to hold everything up to that event: it lets read-your-writes
// release a query as soon as the partitions it reads are complete, without waiting for
// an idle partition's next event or its idle raise.
type Heads []eventstore.Position

// At is the position of the event Heads were taken at: the highest of them.
func (h Heads) At() eventstore.Position {
	var at eventstore.Position
	for _, p := range h {
		if at.Less(p) {
			at = p
		}
	}
	return at
}

// Complete tells how far partition k is complete when it has applied every one of its
// events up to applied: to At() if applied reaches Heads[k] (its events after that are
// all after At()), else only to applied. h of another partition count than of says
// nothing.
func (h Heads) Complete(k, of int, applied eventstore.Position) eventstore.Position {
	if len(h) != of || k < 0 || k >= of || applied.Less(h[k]) {
		return applied
	}
	if at := h.At(); applied.Less(at) {
		return at
	}
	return applied
}

// String is the wire and storage form: the positions, comma-separated, by partition.
func (h Heads) String() string {
	var b strings.Builder
	for k, p := range h {
		if k > 0 {
			b.WriteByte(',')
		}
		b.WriteString(p.String())
	}
	return b.String()
}

// ParseHeads reads String's form; it must hold of positions. "" is no Heads (nil).
func ParseHeads(s string, of int) (Heads, error) {
	if s == "" {
		return nil, nil
	}
	if n := strings.Count(s, ",") + 1; n != of {
		return nil, fmt.Errorf("partition heads %q: %d positions, want one per partition (%d)", s, n, of)
	}
	h := make(Heads, of) // every projector decodes every event: one allocation, no Split
	for k := range h {
		f, rest, _ := strings.Cut(s, ",")
		p, err := eventstore.ParsePosition(f)
		if err != nil {
			return nil, fmt.Errorf("partition heads: partition %d: %w", k, err)
		}
		h[k], s = p, rest
	}
	return h, nil
}
