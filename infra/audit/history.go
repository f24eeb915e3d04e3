package audit

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"ledger/domain"
)

// HistoryPage is one page of a partner's events in stream order. NextCursor, when not
// empty, fetches the page after it.
type HistoryPage struct {
	MPNID      string   `json:"mpnId"`
	Events     []Record `json:"events"`
	NextCursor string   `json:"nextCursor,omitempty"`
}

// History limits.
const (
	DefaultHistoryLimit = 100
	MaxHistoryLimit     = 1000
)

// ErrBadCursor: a cursor History did not hand out.
var ErrBadCursor = errors.New("invalid history cursor")

// History reads up to limit events of the partner's stream, starting at cursor (empty:
// the first event). The cursor is the next revision, so pages stay stable while the
// stream grows: an event, once listed, is always on the same page.
func History(ctx context.Context, log Log, mpnID, cursor string, limit int) (HistoryPage, error) {
	if err := domain.ValidateMPNID(mpnID); err != nil {
		return HistoryPage{}, err
	}
	from, err := parseCursor(cursor)
	if err != nil {
		return HistoryPage{}, err
	}
	if limit <= 0 {
		limit = DefaultHistoryLimit
	}
	limit = min(limit, MaxHistoryLimit)
	stream := domain.PartnerStream(mpnID)
	page := HistoryPage{MPNID: mpnID, Events: []Record{}}
	for e, err := range readStream(ctx, log, stream, from) {
		if err != nil {
			return HistoryPage{}, fmt.Errorf("history of %s: %w", mpnID, err)
		}
		if len(page.Events) == limit {
			page.NextCursor = formatCursor(e.Revision)
			break
		}
		page.Events = append(page.Events, RecordOf(e))
	}
	return page, nil
}

// Cursors are "r" and the next revision: opaque to clients, readable in logs.
func formatCursor(revision uint64) string { return "r" + strconv.FormatUint(revision, 10) }

func parseCursor(c string) (uint64, error) {
	if c == "" {
		return 0, nil
	}
	if len(c) < 2 || c[0] != 'r' {
		return 0, fmt.Errorf("%w %q", ErrBadCursor, c)
	}
	n, err := strconv.ParseUint(c[1:], 10, 63)
	if err != nil {
		return 0, fmt.Errorf("%w %q", ErrBadCursor, c)
	}
	return n, nil
}
