package audit

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"time"

	"ledger/domain"
	"ledger/infra/eventstore"
)

// ExportFilter narrows an export; the zero value exports the whole log.
type ExportFilter struct {
	MPNID string    // only this partner's stream
	Since time.Time // only events recorded at or after this instant
}

// Export writes one JSON Record per line (NDJSON) to w, in log order (or stream order
// for one partner), streaming: memory holds one page of events whatever the log's size.
// It returns how many events it wrote.
func Export(ctx context.Context, log Log, w io.Writer, f ExportFilter) (int, error) {
	var events iter.Seq2[eventstore.RecordedEvent, error]
	if f.MPNID != "" {
		if err := domain.ValidateMPNID(f.MPNID); err != nil {
			return 0, err
		}
		events = readStream(ctx, log, domain.PartnerStream(f.MPNID), 0, pageSize)
	} else {
		events = log.ReadAll(ctx, eventstore.Start)
	}
	buf := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	n := 0
	for e, err := range events {
		if err != nil {
			return n, fmt.Errorf("export: read: %w", err)
		}
		if !f.Since.IsZero() && e.RecordedAt.Before(f.Since) {
			continue
		}
		if err := enc.Encode(RecordOf(e)); err != nil {
			return n, fmt.Errorf("export: write: %w", err)
		}
		n++
	}
	if err := buf.Flush(); err != nil {
		return n, fmt.Errorf("export: write: %w", err)
	}
	return n, nil
}
