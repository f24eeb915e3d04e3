package projections

import (
	"fmt"

	"ledger/domain"
	"ledger/infra/paging"
)

// incidentKey is where a page of incidents ends: the last incident's number at its
// partner (domain.IncidentSeq). The read model and the as-of answer page by the same
// key, so a cursor means the same place in both.
type incidentKey struct {
	Seq int64 `json:"q"`
}

func incidentsScope(mpnID string, status domain.IncidentStatus) string {
	return "incidents/" + mpnID + "/" + string(status)
}

func incidentsCursor(mpnID string, status domain.IncidentStatus, lastSeq int64) string {
	return paging.Encode(incidentsScope(mpnID, status), incidentKey{Seq: lastSeq})
}

// IncidentsPageWindow is which incidents RenderIncidentsPage of every incident
// (status "") reads for page: those after the cursor, the page's and the one after it
// that says whether a next page follows. A fold keeping only them
// (domain.FoldSeqKeeping) renders the same page as the whole state.
func IncidentsPageWindow(mpnID string, page paging.Page) (domain.IncidentWindow, error) {
	limit, after, err := incidentsPage(mpnID, "", page)
	if err != nil {
		return domain.IncidentWindow{}, err
	}
	return domain.IncidentWindow{After: int(after.Seq), Keep: limit + 1}, nil
}

// incidentsPage reads the size and the start of a page of the partner's incidents.
func incidentsPage(mpnID string, status domain.IncidentStatus, page paging.Page) (int, incidentKey, error) {
	limit, err := page.Size()
	if err != nil {
		return 0, incidentKey{}, err
	}
	after, err := paging.Decode[incidentKey](incidentsScope(mpnID, status), page.Cursor)
	if err != nil {
		return 0, incidentKey{}, err
	}
	if after.Seq < 0 {
		return 0, incidentKey{}, fmt.Errorf("%w: no incident has a negative number", paging.ErrBadCursor)
	}
	return limit, after, nil
}
