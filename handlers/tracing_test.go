package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"ledger/handlers"
)

const callerTraceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// tracedFixture is the fixture with tracing on, its spans kept in memory.
func tracedFixture(t *testing.T) (*fixture, *tracetest.InMemoryExporter) {
	spans := tracetest.NewInMemoryExporter()
	provider := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	t.Cleanup(func() { provider.Shutdown(context.Background()) })
	return newFixture(t, func(d *handlers.Deps) { d.TracerProvider = provider }), spans
}

func TestTracedRequestIsNamedByItsRouteAndItsLogLineNamesTheTrace(t *testing.T) {
	f, spans := tracedFixture(t)
	rec := f.do(http.MethodPost, "/v1/partners/1/grants", strings.NewReader(validGrant), "Authorization", bearer(t, "alice", handlers.RolePlatform),
		"Content-Type", "application/json", "traceparent", callerTraceParent)
	if rec.Code != http.StatusCreated {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	got := spans.GetSpans()
	if len(got) != 1 || got[0].Name != "POST /v1/partners/:mpnId/grants" || got[0].SpanContext.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Fatalf("spans %v, want one named by the route in the caller's trace", got)
	}
	var line map[string]any
	for l := range bytes.SplitSeq([]byte(f.logs.String()), []byte("\n")) {
		if bytes.Contains(l, []byte(`"http request"`)) {
			if err := json.Unmarshal(l, &line); err != nil {
				t.Fatal(err)
			}
		}
	}
	if line["trace_id"] != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("request log %v does not name the trace", line)
	}
}

func TestFailedRequestsSpanEndsWithTheStatusTheClientGot(t *testing.T) {
	f, spans := tracedFixture(t)
	rec := f.do(http.MethodGet, "/v1/broken", nil, "Authorization", bearer(t, "alice"))
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("status %d", rec.Code)
	}
	got := spans.GetSpans()
	if len(got) != 1 {
		t.Fatalf("%d spans", len(got))
	}
	status := ""
	for _, kv := range got[0].Attributes {
		if kv.Key == "http.response.status_code" {
			status = kv.Value.Emit()
		}
	}
	if status != "500" || got[0].Status.Code != codes.Error {
		t.Errorf("span status code %q, status %v; the client got 500", status, got[0].Status)
	}
}

func TestProbesAndScrapesAreNotTraced(t *testing.T) {
	f, spans := tracedFixture(t)
	for _, path := range []string{"/healthz", "/readyz"} {
		f.do(http.MethodGet, path, nil)
	}
	if got := spans.GetSpans(); len(got) != 0 {
		t.Errorf("probes made spans %v", got)
	}
}

func TestUntracedServerLogsNoTraceIDEvenWhenTheCallerSendsOne(t *testing.T) {
	f := newFixture(t)
	f.do(http.MethodGet, "/v1/things/t1", nil, "Authorization", bearer(t, "alice"), "traceparent", callerTraceParent)
	if strings.Contains(f.logs.String(), "trace_id") {
		t.Errorf("tracing off, yet the log names a trace: %s", f.logs.String())
	}
}
