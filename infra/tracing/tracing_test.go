package tracing

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"go.opentelemetry.io/otel/trace"
)

func envOf(kv ...string) func(string) (string, bool) {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestNoEndpointMeansNoTracerAtAll(t *testing.T) {
	tr, err := Start(t.Context(), Config{SampleRatio: 1}, "benefits", envOf())
	if err != nil {
		t.Fatal(err)
	}
	if tr.Enabled() || tr.Tracer("x") != nil || tr.Provider() != nil {
		t.Errorf("tracing without an endpoint: enabled %v, tracer %v", tr.Enabled(), tr.Tracer("x"))
	}
}

func TestOTELSDKDisabledWinsOverAnEndpoint(t *testing.T) {
	tr, err := Start(t.Context(), Config{Endpoint: "http://127.0.0.1:1", SampleRatio: 1}, "benefits",
		envOf("OTEL_SDK_DISABLED", "true"))
	if err != nil {
		t.Fatal(err)
	}
	if tr.Enabled() {
		t.Error("OTEL_SDK_DISABLED=true left tracing on")
	}
}

// receiver counts OTLP/HTTP trace exports.
func receiver(t *testing.T) (*httptest.Server, *atomic.Int32) {
	var exports atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if r.URL.Path == "/v1/traces" {
			exports.Add(1)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &exports
}

func TestTheStandardOTLPEndpointVariableTurnsTracingOn(t *testing.T) {
	srv, exports := receiver(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL)
	tr, err := Start(t.Context(), Config{SampleRatio: 1}, "benefits", envOf("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	if !tr.Enabled() {
		t.Fatal("OTEL_EXPORTER_OTLP_ENDPOINT did not turn tracing on")
	}
	_, span := tr.Tracer("test").Start(context.Background(), "one")
	span.End()
	if err := tr.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if exports.Load() == 0 {
		t.Errorf("no export reached %s/v1/traces", srv.URL)
	}
}

func TestEndpointMustBeAnHTTPURL(t *testing.T) {
	for _, bad := range []string{"collector:4318", "grpc://collector:4317", "http://", "::"} {
		if _, err := ParseEndpoint(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	for _, good := range []string{"", "http://collector:4318", "https://otlp.example.com/tenant"} {
		if _, err := ParseEndpoint(good); err != nil {
			t.Errorf("%q refused: %v", good, err)
		}
	}
}

func TestTraceParentRoundTripsASpanContext(t *testing.T) {
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	sc, ok := SpanContextOf(tp)
	if !ok || !sc.IsRemote() || !sc.IsSampled() {
		t.Fatalf("%q: ok %v, remote %v, sampled %v", tp, ok, sc.IsRemote(), sc.IsSampled())
	}
	if got := TraceParent(sc); got != tp {
		t.Errorf("formatted back as %q", got)
	}
	if TraceParent(trace.SpanContext{}) != "" {
		t.Error("an invalid span context has a traceparent")
	}
	for _, bad := range []string{"", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", "hello"} {
		if _, ok := SpanContextOf(bad); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}
