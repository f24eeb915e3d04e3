// Package tracing sets up OpenTelemetry tracing for one process and carries a
// command's trace across the places the ledger hands work on: the event's metadata
// (the W3C traceparent of the command that appended it) and the NATS message that
// forwards it.
//
// Tracing is off unless an OTLP endpoint is configured. Off means no tracer at all, not
// a no-op one: the executor, the forwarder and the projectors check for a nil Tracer and
// skip every span, and the HTTP server installs no middleware, so a command costs what
// it cost before tracing existed.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// Config is what the operator chose.
type Config struct {
	// Endpoint is the base URL of an OTLP/HTTP receiver (a collector, Jaeger, Tempo),
	// e.g. http://collector:4318; spans go to <Endpoint>/v1/traces. Empty: tracing is
	// off unless the standard OTEL_EXPORTER_OTLP_ENDPOINT (or _TRACES_ENDPOINT) is set.
	Endpoint string
	// SampleRatio is the share of new traces kept, 0 to 1. A request that arrives with
	// a traceparent follows its caller's decision instead.
	SampleRatio float64
}

// ParseEndpoint checks an OTLP/HTTP base URL: http or https, with a host.
func ParseEndpoint(v string) (string, error) {
	if v == "" {
		return "", nil
	}
	u, err := url.Parse(v)
	if err != nil {
		return "", err
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return "", errors.New("want an http:// or https:// URL with a host, such as http://collector:4318")
	}
	return v, nil
}

// Tracing is one process's tracer provider; the zero value and nil are off.
type Tracing struct {
	provider trace.TracerProvider
	shutdown func(context.Context) error
	// Exporting names where spans go, for the start-up log; "" when off.
	Exporting string
}

// New traces with an existing provider (tests give an SDK provider over an in-memory
// exporter); the caller shuts it down.
func New(provider trace.TracerProvider) *Tracing { return &Tracing{provider: provider} }

// Start builds the provider cfg asks for: an OTLP/HTTP exporter behind a batching
// processor, or nothing. lookupEnv reads the standard OTEL_* variables (os.LookupEnv);
// the exporter itself also reads OTEL_EXPORTER_OTLP_HEADERS, _TIMEOUT, _COMPRESSION and
// the certificate variables, and the resource reads OTEL_SERVICE_NAME and
// OTEL_RESOURCE_ATTRIBUTES, which override service.
func Start(ctx context.Context, cfg Config, service string, lookupEnv func(string) (string, bool)) (*Tracing, error) {
	var opts []otlptracehttp.Option
	exporting := ""
	switch {
	case envTrue(lookupEnv, "OTEL_SDK_DISABLED"), envIs(lookupEnv, "OTEL_TRACES_EXPORTER", "none"):
		return &Tracing{}, nil
	case cfg.Endpoint != "":
		u, err := url.Parse(cfg.Endpoint)
		if err != nil {
			return nil, fmt.Errorf("otlp endpoint: %w", err)
		}
		exporting = u.JoinPath("v1", "traces").String()
		opts = append(opts, otlptracehttp.WithEndpointURL(exporting))
	default:
		for _, name := range []string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"} {
			if v, ok := lookupEnv(name); ok && v != "" {
				exporting = v + " (" + name + ")"
				break
			}
		}
		if exporting == "" {
			return &Tracing{}, nil
		}
	}
	exporter, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("otlp exporter: %w", err)
	}
	res, err := resource.New(ctx, resource.WithAttributes(semconv.ServiceName(service)), resource.WithFromEnv(),
		resource.WithTelemetrySDK(), resource.WithHost())
	if err != nil {
		return nil, fmt.Errorf("trace resource: %w", err)
	}
	provider := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter), sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(cfg.SampleRatio))))
	return &Tracing{provider: provider, shutdown: provider.Shutdown, Exporting: exporting}, nil
}

func envTrue(lookupEnv func(string) (string, bool), name string) bool {
	return envIs(lookupEnv, name, "true")
}

func envIs(lookupEnv func(string) (string, bool), name, want string) bool {
	v, _ := lookupEnv(name)
	return strings.EqualFold(strings.TrimSpace(v), want)
}

// Enabled says whether spans are made.
func (t *Tracing) Enabled() bool { return t != nil && t.provider != nil }

// Tracer is the named tracer, or nil when tracing is off: callers skip their spans.
func (t *Tracing) Tracer(name string) trace.Tracer {
	if !t.Enabled() {
		return nil
	}
	return t.provider.Tracer(name)
}

// Provider is the tracer provider, or nil when tracing is off.
func (t *Tracing) Provider() trace.TracerProvider {
	if !t.Enabled() {
		return nil
	}
	return t.provider
}

// Propagator reads and writes a trace's context in HTTP headers: W3C trace context
// and baggage.
func (t *Tracing) Propagator() propagation.TextMapPropagator {
	return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
}

// Shutdown exports the spans still buffered; call it after everything that makes spans
// has stopped.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t == nil || t.shutdown == nil {
		return nil
	}
	return t.shutdown(ctx)
}
