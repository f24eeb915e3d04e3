package privacy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"ledger/infra/eventmeta"
	"ledger/infra/eventstore"
)

// ErasuresStream holds the SubjectErased events, one per erasure.
const ErasuresStream = "privacy-erasures"

// SubjectErasedType is the event that records an erasure. It names the subject only
// by its opaque reference: the record of an erasure holds no personal data.
const SubjectErasedType = "SubjectErased.v1"

// SubjectErased is the data of SubjectErasedType.
type SubjectErased struct {
	OccurredAt time.Time `json:"occurredAt"`
	SubjectRef string    `json:"subjectRef"`
}

// Log is the part of the event store an erasure writes to.
type Log interface {
	Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) (eventstore.AppendResult, error)
	ReadStream(ctx context.Context, stream string, opts eventstore.ReadStreamOptions) ([]eventstore.RecordedEvent, error)
}

// Erasure is what an erasure did.
type Erasure struct {
	SubjectRef string `json:"subjectRef"`
	// Erased is what the subject's personal data reads as from now on.
	Erased   string `json:"erased"`
	Position string `json:"position"`
}

// Eraser erases subjects: it deletes the key, records SubjectErased, then runs the
// follow-ups the process registered (drop cached states and snapshots, rebuild read
// models, compact the databases) so no copy of the plaintext outlives the key.
type Eraser struct {
	shredder  *Shredder
	log       Log
	followUps []func(ctx context.Context) error
	scrubDirs []string
}

// NewEraser erases through s's keys and records erasures in log. followUps run in
// order after each erasure.
func NewEraser(s *Shredder, log Log, followUps ...func(ctx context.Context) error) *Eraser {
	return &Eraser{shredder: s, log: log, followUps: followUps}
}

// Erase deletes the subject's key (ErrUnknownSubject if none is kept) and records it.
// by is the acting user, stored sealed like every actor.
func (e *Eraser) Erase(ctx context.Context, subject, by string, now time.Time) (Erasure, error) {
	ref, err := e.shredder.keys.Erase(ctx, subject)
	if err != nil {
		return Erasure{}, err
	}
	pos, err := e.record(ctx, ref, by, now)
	if err != nil {
		return Erasure{}, fmt.Errorf("erased %s, but recording it failed: %w", ref, err)
	}
	for _, f := range e.followUps {
		if err := f(ctx); err != nil {
			return Erasure{}, fmt.Errorf("erased %s: follow-up: %w", ref, err)
		}
	}
	if err := e.scrubFiles(subject, erasedPrefix+ref); err != nil {
		return Erasure{}, fmt.Errorf("erased %s: %w", ref, err)
	}
	return Erasure{SubjectRef: ref, Erased: erasedPrefix + ref, Position: pos.String()}, nil
}

// record appends SubjectErased to the erasures stream, sealed into its hash chain.
func (e *Eraser) record(ctx context.Context, ref, by string, now time.Time) (eventstore.Position, error) {
	data, err := json.Marshal(SubjectErased{OccurredAt: now.UTC(), SubjectRef: ref})
	if err != nil {
		return eventstore.Position{}, err
	}
	actor, err := e.shredder.SealSubject(ctx, by)
	if err != nil {
		return eventstore.Position{}, err
	}
	for range 10 { // another erasure may append first: re-read the head and retry
		last, err := e.log.ReadStream(ctx, ErasuresStream, eventstore.ReadStreamOptions{Direction: eventstore.Backwards, From: eventstore.End, Limit: 1})
		if err != nil {
			return eventstore.Position{}, err
		}
		expected, revision, prev := eventstore.NoStream(), uint64(0), eventmeta.GenesisHash
		if len(last) == 1 {
			expected, revision = eventstore.Exact(last[0].Revision), last[0].Revision+1
			if prev, _ = eventmeta.SealedHash(last[0].Metadata); prev == "" {
				return eventstore.Position{}, fmt.Errorf("%s: the last erasure carries no hash", ErasuresStream)
			}
		}
		meta, err := eventmeta.Seal(eventmeta.Metadata{Actor: actor, CorrelationID: "erasure-" + ref, RecordedAt: now.UTC(), PrevHash: prev},
			SubjectErasedType, data, revision)
		if err != nil {
			return eventstore.Position{}, err
		}
		res, err := e.log.Append(ctx, ErasuresStream, expected,
			eventstore.EventData{ID: uuid.Must(uuid.NewV7()).String(), Type: SubjectErasedType, Data: data, Metadata: meta})
		if errors.Is(err, eventstore.ErrWrongExpectedRevision) {
			continue
		}
		return res.Position, err
	}
	return eventstore.Position{}, fmt.Errorf("%s: too many concurrent erasures", ErasuresStream)
}
