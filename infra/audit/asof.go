package audit

import (
	"context"
	"fmt"
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
// partner with no event by then reads as not enrolled (Partner.Enrolled false).
func PartnerAsOf(ctx context.Context, log Log, mpnID string, at time.Time) (PartnerState, error) {
	if err := domain.ValidateMPNID(mpnID); err != nil {
		return PartnerState{}, err
	}
	at = at.UTC()
	out := PartnerState{AsOf: at}
	var events []domain.Event
	for rec, err := range readStream(ctx, log, domain.PartnerStream(mpnID), 0) {
		if err != nil {
			return PartnerState{}, fmt.Errorf("state of %s as of %s: %w", mpnID, at.Format(time.RFC3339), err)
		}
		e, err := domain.Decode(rec.Type, rec.Data)
		if err != nil {
			return PartnerState{}, fmt.Errorf("state of %s: %s@%d: %w", mpnID, rec.Stream, rec.Revision, err)
		}
		if e.Meta().OccurredAt.After(at) {
			continue
		}
		events = append(events, e)
		out.Position, out.Revision = rec.Position, rec.Revision
	}
	out.Partner, out.Events = domain.FoldAsOf(events, at), len(events)
	return out, nil
}
