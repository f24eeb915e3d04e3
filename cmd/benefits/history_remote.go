package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"

	"ledger/infra/audit"
)

// exportRemote is `history export --api-url`: the API serves one partner's history at
// a time (GET /v1/partners/{mpnId}/history, paged), so --partner is required; the lines
// are the same NDJSON records a local export writes.
func exportRemote(ctx context.Context, remote remoteAPI, f audit.ExportFilter, out string, stdout, stderr io.Writer) error {
	if f.MPNID == "" {
		return usageError{errors.New("history export --api-url needs --partner: the API serves one partner's history at a time")}
	}
	if out == "" || out == "-" {
		_, err := writeRemoteHistory(ctx, remote, f, stdout)
		return err
	}
	return exportToFile(out, stderr, func(w io.Writer) (int, error) { return writeRemoteHistory(ctx, remote, f, w) })
}

func writeRemoteHistory(ctx context.Context, remote remoteAPI, f audit.ExportFilter, w io.Writer) (int, error) {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	n, cursor := 0, ""
	for {
		q := url.Values{"limit": {"500"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var page audit.HistoryPage
		if _, err := remote.call(ctx, http.MethodGet, "/v1/partners/"+url.PathEscape(f.MPNID)+"/history", q, &page); err != nil {
			return n, err
		}
		for _, r := range page.Events {
			if !f.Since.IsZero() && r.RecordedAt.Before(f.Since) {
				continue
			}
			if err := enc.Encode(r); err != nil {
				return n, err
			}
			n++
		}
		if page.NextCursor == "" {
			return n, nil
		}
		cursor = page.NextCursor
	}
}
