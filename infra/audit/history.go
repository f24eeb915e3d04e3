package audit

import (
	"context"
	"fmt"

	"ledger/domain"
	"ledger/infra/paging"
)

// HistoryPage is one page of a partner's events in stream order. NextCursor, when not
// empty, fetches the page after it.
type HistoryPage struct {
	MPNID      string   `json:"mpnId"`
	Events     []Record `json:"events"`
	NextCursor string   `json:"nextCursor,omitempty"`
}

// historyKey is what a history cursor carries: the next revision to read. Pages stay
// stable while the stream grows: an event, once listed, is always on the same page.
type historyKey struct {
	Revision uint64 `json:"r"`
}

// History reads one page of the partner's stream: at most page.Limit events (see
// paging.Page) after page.Cursor. It reads exactly one more event than it answers, to
// know whether a next page exists, so its memory is bounded by the limit. A cursor
// another list handed out, or none at all, is paging.ErrBadCursor.
func History(ctx context.Context, log Log, mpnID string, page paging.Page) (HistoryPage, error) {
	if err := domain.ValidateMPNID(mpnID); err != nil {
		return HistoryPage{}, err
	}
	limit, err := page.Size()
	if err != nil {
		return HistoryPage{}, err
	}
	scope := "history/" + mpnID
	from, err := paging.Decode[historyKey](scope, page.Cursor)
	if err != nil {
		return HistoryPage{}, err
	}
	out := HistoryPage{MPNID: mpnID, Events: []Record{}}
	for e, err := range readStream(ctx, log, domain.PartnerStream(mpnID), from.Revision, limit+1) {
		if err != nil {
			return HistoryPage{}, fmt.Errorf("history of %s: %w", mpnID, err)
		}
		if len(out.Events) == limit {
			out.NextCursor = paging.Encode(scope, historyKey{Revision: e.Revision})
			break
		}
		out.Events = append(out.Events, RecordOf(e))
	}
	return out, nil
}
