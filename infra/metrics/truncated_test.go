package metrics_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"ledger/infra/esdbstore"
	"ledger/infra/esdbstore/esdbprotocolserver"
	"ledger/infra/eventstore"
	"ledger/infra/metrics"
	"ledger/infra/metrics/metricstest"
)

// A read refused because an operator deleted the stream's start is an alert: counted on
// /metrics and logged as an error naming the stream.
func TestATruncatedStreamReadIsCountedAndLoggedAsAnError(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn := esdbprotocolserver.Start(t)
	raw, err := esdbstore.Open(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	var logged bytes.Buffer
	m := metrics.New(slog.New(slog.NewTextHandler(&logged, nil)))
	store := m.ObserveStore(raw)
	if _, err := store.Append(ctx, "partner-gone", eventstore.NoStream(),
		eventstore.EventData{ID: uuid.NewString(), Type: "Tick", Data: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	config, err := esdb.ParseConnectionString(conn)
	if err != nil {
		t.Fatal(err)
	}
	config.Logger = esdb.NoopLogging()
	operator, err := esdb.NewClient(config)
	if err != nil {
		t.Fatal(err)
	}
	defer operator.Close()
	if _, err := operator.DeleteStream(ctx, "partner-gone", esdb.DeleteStreamOptions{}); err != nil {
		t.Fatal(err)
	}

	if _, err := store.ReadStream(ctx, "partner-gone", eventstore.ReadStreamOptions{}); !errors.Is(err, eventstore.ErrStreamTruncated) {
		t.Fatalf("read of the deleted stream: %v, want ErrStreamTruncated", err)
	}
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	page, err := metricstest.Scrape(srv.Client(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if got := value(t, page, "benefits_event_store_truncated_stream_reads_total", nil); got != 1 {
		t.Errorf("truncated stream reads %v, want 1", got)
	}
	if line := logged.String(); !strings.Contains(line, "level=ERROR") || !strings.Contains(line, "stream=partner-gone") {
		t.Errorf("log %q, want an error naming stream=partner-gone", line)
	}
}
