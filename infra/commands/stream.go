package commands

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"ledger/domain"
	"ledger/infra/eventmeta"
	"ledger/infra/eventstore"
)

// loadedStream is a stream as read for one decision.
type loadedStream struct {
	events       []domain.Event
	exists       bool
	lastRevision uint64
	lastPosition eventstore.Position
	lastHash     string
}

func (x *Executor) load(ctx context.Context, stream string) (loadedStream, error) {
	recorded, err := x.store.ReadStream(ctx, stream, eventstore.ReadStreamOptions{Direction: eventstore.Forwards})
	if err != nil {
		return loadedStream{}, fmt.Errorf("read %s: %w", stream, err)
	}
	out := loadedStream{events: make([]domain.Event, 0, len(recorded)), lastHash: eventmeta.GenesisHash}
	for _, r := range recorded {
		e, err := domain.Decode(r.Type, r.Data)
		if err != nil {
			return loadedStream{}, fmt.Errorf("%s@%d: %w", stream, r.Revision, err)
		}
		out.events = append(out.events, e)
		out.exists, out.lastRevision, out.lastPosition = true, r.Revision, r.Position
		if m, err := eventmeta.Parse(r.Metadata); err == nil && m.Hash != "" {
			out.lastHash = m.Hash
		}
	}
	return out, nil
}

// append seals events into the stream's hash chain and appends them expecting the
// stream exactly as it was loaded.
func (x *Executor) append(ctx context.Context, stream string, loaded loadedStream, events []domain.Event, rulesVersion int, meta Meta, now time.Time) (eventstore.AppendResult, error) {
	expected := eventstore.NoStream()
	next := uint64(0)
	if loaded.exists {
		expected = eventstore.Exact(loaded.lastRevision)
		next = loaded.lastRevision + 1
	}
	prev := loaded.lastHash
	data := make([]eventstore.EventData, 0, len(events))
	for i, e := range events {
		typ, body, err := domain.Encode(e)
		if err != nil {
			return eventstore.AppendResult{}, fmt.Errorf("encode %T: %w", e, err)
		}
		m := eventmeta.Metadata{
			Actor: meta.Actor.UserID, Roles: append(slices.Clone(meta.Actor.SystemRoles), meta.partnerRoles...),
			CorrelationID: meta.CorrelationID, CausationID: meta.CausationID,
			RulesVersion: rulesVersion, RecordedAt: now, PrevHash: prev,
		}
		sealed, err := eventmeta.Seal(m, typ, body, next+uint64(i))
		if err != nil {
			return eventstore.AppendResult{}, err
		}
		sm, _ := eventmeta.Parse(sealed)
		prev = sm.Hash
		data = append(data, eventstore.EventData{ID: uuid.Must(uuid.NewV7()).String(), Type: typ, Data: body, Metadata: sealed})
	}
	res, err := x.store.Append(ctx, stream, expected, data...)
	if err != nil {
		return res, fmt.Errorf("append %s: %w", stream, err)
	}
	return res, nil
}
