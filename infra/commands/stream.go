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

// sealing is one command's events with the metadata they are stored with.
type sealing struct {
	events []domain.Event
	meta   Meta
}

// appendSealed seals the events of every command into the stream's hash chain, in
// order, and appends them in one append expecting the stream exactly at head (and,
// with a guard, the guarded stream where it says). It returns the stream's new head.
func (x *Executor) appendSealed(ctx context.Context, stream string, head streamHead, guard *eventstore.Guard, commands []sealing, rulesVersion int, now time.Time) (_ streamHead, err error) {
	ctx, span := x.startAppend(ctx, stream, commands)
	defer func() { endSpan(span, err) }()
	var data []eventstore.EventData
	next, prev := head.next(), head.lastHash
	for _, c := range commands {
		roles := append(slices.Clone(c.meta.Actor.SystemRoles), c.meta.partnerRoles...)
		traceParent := c.meta.traceParent()
		actor := c.meta.Actor.UserID
		if x.subjects != nil {
			var err error
			if actor, err = x.subjects.SealSubject(ctx, actor); err != nil {
				return head, fmt.Errorf("seal the actor: %w", err)
			}
		}
		for _, e := range c.events {
			typ, body, err := domain.Encode(e)
			if err != nil {
				return head, fmt.Errorf("encode %T: %w", e, err)
			}
			m := eventmeta.Metadata{
				Actor: actor, Roles: roles,
				CorrelationID: c.meta.CorrelationID, CausationID: c.meta.CausationID, TraceParent: traceParent,
				IdempotencyKey: c.meta.IdempotencyKey, RequestDigest: c.meta.RequestDigest,
				RulesVersion: rulesVersion, RecordedAt: now, PrevHash: prev,
			}
			sealed, err := eventmeta.Seal(m, typ, body, next)
			if err != nil {
				return head, err
			}
			if prev, _ = eventmeta.SealedHash(sealed); prev == "" {
				return head, fmt.Errorf("seal %s: no hash in the sealed metadata", typ)
			}
			next++
			data = append(data, eventstore.EventData{ID: uuid.Must(uuid.NewV7()).String(), Type: typ, Data: body, Metadata: sealed})
		}
	}
	var res eventstore.AppendResult
	if guard != nil {
		res, err = x.guarded.AppendGuarded(ctx, stream, head.expected(), *guard, data...)
	} else {
		res, err = x.store.Append(ctx, stream, head.expected(), data...)
	}
	if err != nil {
		return head, fmt.Errorf("append %s: %w", stream, err)
	}
	return streamHead{exists: true, revision: res.NextRevision, position: res.Position, lastHash: prev}, nil
}
