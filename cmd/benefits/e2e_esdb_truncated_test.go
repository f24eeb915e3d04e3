package main

import (
	"context"
	"net/http"
	"testing"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"ledger/domain"
	"ledger/handlers"
	"ledger/infra/metrics/metricstest"
)

// An operator deletes or tombstones a partner's stream on EventStoreDB. The ledger must
// not decide on what is left of it: the next command is refused 500 stream_truncated,
// stores nothing, and the process raises an alert (a metric and an error log).
func TestACommandOnADeletedPartnerStreamIsRefusedWithAnAlert(t *testing.T) {
	cfg := esdbConfig(t)
	s := startSystem(t, cfg, wireOptions{})
	operator := esdbClient(t, cfg.EventStore.DSN)
	for k, c := range []struct {
		name   string
		remove func(ctx context.Context, stream string) error
	}{
		{"soft delete", func(ctx context.Context, stream string) error {
			_, err := operator.DeleteStream(ctx, stream, esdb.DeleteStreamOptions{})
			return err
		}},
		{"tombstone", func(ctx context.Context, stream string) error {
			_, err := operator.TombstoneStream(ctx, stream, esdb.TombstoneStreamOptions{})
			return err
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := s.ready(t, mpnFor(71, k+1), actionPack)
			if err := c.remove(t.Context(), domain.PartnerStream(p.mpn)); err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			head := s.head(t)
			before := truncatedReads(t, s)
			s.open(t, p.adminTok, productIncident(p.contractID, "SQL Server", "2025")).
				refused(t, http.StatusInternalServerError, handlers.CodeStreamTruncated)
			if now := s.head(t); now != head {
				t.Errorf("the refused command moved the head from %s to %s", head, now)
			}
			if after := truncatedReads(t, s); after <= before {
				t.Errorf("benefits_event_store_truncated_stream_reads_total %v after the refused command, was %v: no alert", after, before)
			}
		})
	}
}

func truncatedReads(t *testing.T, s *system) float64 {
	t.Helper()
	page, err := metricstest.Scrape(s.client, s.url+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	n, _ := page.Value("benefits_event_store_truncated_stream_reads_total", nil)
	return n
}

// esdbClient is an operator's own connection to the node under the system.
func esdbClient(t *testing.T, conn string) *esdb.Client {
	t.Helper()
	config, err := esdb.ParseConnectionString(conn)
	if err != nil {
		t.Fatal(err)
	}
	config.Logger = esdb.NoopLogging()
	c, err := esdb.NewClient(config)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
