package tracing

import (
	"context"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// HeaderTraceParent is the W3C trace-context header, also the key of an event's trace
// in its metadata and the NATS header of a forwarded event.
const HeaderTraceParent = "traceparent"

// w3c formats and parses traceparent values: the metadata and NATS headers always
// carry W3C trace context, whatever propagator the HTTP side uses.
var w3c propagation.TraceContext

// TraceParent is the W3C traceparent of the span context sc ("00-<trace>-<span>-<flags>"),
// or "" when sc is not valid.
func TraceParent(sc trace.SpanContext) string {
	if !sc.IsValid() {
		return ""
	}
	var c traceParentCarrier
	w3c.Inject(trace.ContextWithSpanContext(context.Background(), sc), &c)
	return c.value
}

// SpanContextOf parses a W3C traceparent into a remote span context; ok is false when
// v is empty or malformed (the caller then traces nothing for it).
func SpanContextOf(v string) (sc trace.SpanContext, ok bool) {
	if v == "" {
		return trace.SpanContext{}, false
	}
	sc = trace.SpanContextFromContext(w3c.Extract(context.Background(), &traceParentCarrier{value: v}))
	return sc, sc.IsValid()
}

// traceParentCarrier holds the traceparent header alone: formatting one value needs no
// map (tracestate is not carried; the ledger adds none).
type traceParentCarrier struct{ value string }

func (c traceParentCarrier) Get(key string) string {
	if key == HeaderTraceParent {
		return c.value
	}
	return ""
}

func (c *traceParentCarrier) Set(key, value string) {
	if key == HeaderTraceParent {
		c.value = value
	}
}

func (c traceParentCarrier) Keys() []string { return []string{HeaderTraceParent} }
