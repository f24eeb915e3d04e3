package audit

import (
	"context"
	"errors"
	"fmt"
	"iter"

	"ledger/infra/eventmeta"
	"ledger/infra/eventstore"
)

// Why a link is broken.
const (
	BrokenContent  = "content_changed"  // the event's bytes no longer give the hash it carries
	BrokenLink     = "link_broken"      // its previous hash is not the hash of the event before it
	BrokenRevision = "revision_skipped" // an event is missing, or revisions were renumbered
	BrokenUnsealed = "unsealed"         // the metadata carries no hash at all
)

// Break is the first broken link of the chain: where, why, and the hash expected there
// against the one found.
type Break struct {
	Stream   string `json:"stream"`
	Revision uint64 `json:"revision"`
	Position string `json:"position"`
	EventID  string `json:"eventId"`
	Reason   string `json:"reason"`
	Expected string `json:"expected"`
	Found    string `json:"found"`
}

func (b Break) String() string {
	return fmt.Sprintf("%s@%d (position %s): %s: expected %s, found %s", b.Stream, b.Revision, b.Position, b.Reason, b.Expected, b.Found)
}

// Verification is the outcome of a walk of the chain. Intact means every event checked
// out; otherwise Broken is the first broken link in log order and the walk stopped there.
type Verification struct {
	Stream        string `json:"stream,omitempty"` // empty: the whole log
	Intact        bool   `json:"intact"`
	EventsChecked int    `json:"eventsChecked"`
	Streams       int    `json:"streams"`
	Broken        *Break `json:"broken,omitempty"`
}

// chainLink is what the next event of a stream must continue from.
type chainLink struct {
	next uint64
	hash string
}

// Verify walks the hash chain of one stream, or of every stream when stream is empty,
// recomputing each event's hash from its stored type, data, metadata and revision. It
// answers a broken chain with Intact false, not an error; errors are failures to read.
// Memory holds one page of events and one hash per stream.
func Verify(ctx context.Context, log Log, stream string) (Verification, error) {
	events := log.ReadAll(ctx, eventstore.Start)
	if stream != "" {
		events = readStream(ctx, log, stream, 0, pageSize)
	}
	return verify(events, stream)
}

func verify(events iter.Seq2[eventstore.RecordedEvent, error], stream string) (Verification, error) {
	v := Verification{Stream: stream, Intact: true}
	chains := map[string]chainLink{}
	for e, err := range events {
		if err != nil {
			return v, fmt.Errorf("verify: read: %w", err)
		}
		prev, seen := chains[e.Stream]
		if !seen {
			prev = chainLink{hash: eventmeta.GenesisHash}
			v.Streams++
		}
		hash, brk := checkEvent(e, prev)
		if brk != nil {
			v.Intact, v.Broken = false, brk
			return v, nil
		}
		chains[e.Stream] = chainLink{next: e.Revision + 1, hash: hash}
		v.EventsChecked++
	}
	return v, nil
}

// checkEvent checks one event against the link before it and returns its hash.
func checkEvent(e eventstore.RecordedEvent, prev chainLink) (string, *Break) {
	brk := func(reason, expected, found string) *Break {
		return &Break{Stream: e.Stream, Revision: e.Revision, Position: e.Position.String(), EventID: e.ID,
			Reason: reason, Expected: expected, Found: found}
	}
	if e.Revision != prev.next {
		return "", brk(BrokenRevision, fmt.Sprintf("revision %d", prev.next), fmt.Sprintf("revision %d", e.Revision))
	}
	found, computed, prevHash, err := eventmeta.Check(e.Type, e.Data, e.Metadata, e.Revision)
	switch {
	case errors.Is(err, eventmeta.ErrUnsealed):
		return "", brk(BrokenUnsealed, "a sealed hash", "none")
	case err != nil:
		return "", brk(BrokenContent, "metadata that parses", err.Error())
	case prevHash != prev.hash:
		return "", brk(BrokenLink, prev.hash, prevHash)
	case found != computed:
		return "", brk(BrokenContent, computed, found)
	}
	return found, nil
}
