package natsbus

import (
	"context"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"ledger/infra/eventmeta"
	"ledger/infra/eventstore"
	"ledger/infra/tracing"
)

// A traced event (its metadata names the command that appended it) is published in a
// span of its own, "publish <stream>", a child of that command's span, from the publish
// to its PubAck; the message carries the span's context in a W3C traceparent header,
// as OpenTelemetry's messaging conventions have producers do. An event without a trace
// (appended while tracing was off, or before it existed) makes no span: a forwarder
// catching up on a million old events does not invent a million traces.

// startPublish starts ev's publish span and puts its traceparent on msg; without a
// tracer, or for an untraced event, it returns a span that does nothing.
func (f *Forwarder) startPublish(ctx context.Context, ev eventstore.RecordedEvent, msg *nats.Msg) trace.Span {
	if f.cfg.Tracer == nil {
		return trace.SpanFromContext(context.Background())
	}
	parent, ok := tracing.SpanContextOf(eventmeta.TraceParent(ev.Metadata))
	if !ok {
		return trace.SpanFromContext(context.Background())
	}
	_, span := f.cfg.Tracer.Start(trace.ContextWithRemoteSpanContext(ctx, parent), "publish "+StreamName,
		trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(
			attribute.String("messaging.system", "nats"),
			attribute.String("messaging.operation.type", "send"),
			attribute.String("messaging.destination.name", msg.Subject),
			attribute.String("messaging.message.id", MsgID(ev)),
			attribute.String("ledger.event.type", ev.Type),
			attribute.String("ledger.stream", ev.Stream),
		))
	msg.Header.Set(tracing.HeaderTraceParent, tracing.TraceParent(span.SpanContext()))
	return span
}

// endPublish ends a publish span: acknowledged (err nil) or not.
func endPublish(span trace.Span, err error) {
	if err != nil && span.IsRecording() {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}
