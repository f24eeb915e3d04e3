package audit

import (
	"context"
	"fmt"
	"iter"
	"time"

	"ledger/domain"
	"ledger/infra/eventstore"
)

// PartnerState is a partner's state folded from its own stream up to an instant.
type PartnerState struct {
	Partner domain.Partner
	AsOf    time.Time
	// Position and Revision are those of the last event folded; Events counts them.
	Position eventstore.Position
	Revision uint64
	Events   int
}

// PartnerAsOf folds the partner's events that occurred at or before at (their
// occurredAt, the instant the decision took effect): what the ledger held then. A
// partner with no event by then reads as not enrolled (Partner.Enrolled false). The
// stream is read and folded one page at a time: memory holds the state and one page,
// whatever the length of the partner's history.
func PartnerAsOf(ctx context.Context, log Log, mpnID string, at time.Time) (PartnerState, error) {
	return partnerAsOf(ctx, log, mpnID, at, domain.FoldSeq)
}

// PartnerViewAsOf is PartnerAsOf keeping, of the incidents, only those in keep
// (domain.FoldSeqKeeping): its memory holds one page of incidents whatever the length
// of the partner's history. Everything else in it is PartnerAsOf's.
func PartnerViewAsOf(ctx context.Context, log Log, mpnID string, at time.Time, keep domain.IncidentWindow) (PartnerState, error) {
	return partnerAsOf(ctx, log, mpnID, at, func(events iter.Seq2[domain.Event, error]) (domain.Partner, error) {
		return domain.FoldSeqKeeping(events, keep)
	})
}

func partnerAsOf(ctx context.Context, log Log, mpnID string, at time.Time, fold func(iter.Seq2[domain.Event, error]) (domain.Partner, error)) (PartnerState, error) {
	if err := domain.ValidateMPNID(mpnID); err != nil {
		return PartnerState{}, err
	}
	at = at.UTC()
	out := PartnerState{AsOf: at}
	events := func(yield func(domain.Event, error) bool) {
		for rec, err := range readStream(ctx, log, domain.PartnerStream(mpnID), 0, pageSize) {
			if err != nil {
				yield(nil, fmt.Errorf("state of %s as of %s: %w", mpnID, at.Format(time.RFC3339), err))
				return
			}
			e, err := domain.Decode(rec.Type, rec.Data)
			if err != nil {
				yield(nil, fmt.Errorf("state of %s: %s@%d: %w", mpnID, rec.Stream, rec.Revision, err))
				return
			}
			if e.Meta().OccurredAt.After(at) {
				continue
			}
			out.Position, out.Revision, out.Events = rec.Position, rec.Revision, out.Events+1
			if !yield(e, nil) {
				return
			}
		}
	}
	p, err := fold(events)
	if err != nil {
		return PartnerState{}, err
	}
	out.Partner = p
	return out, nil
}
