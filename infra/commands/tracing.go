package commands

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"ledger/domain"
	"ledger/infra/tracing"
)

// A traced command has a span of its own ("command <Name>", a child of the HTTP
// request's) from its arrival to its answer, queue wait included; the span's context
// goes into each of its events' metadata, where the forwarder and the projectors pick
// the trace up again. The append that stores a batch of commands is one span too, a
// child of the first command with events and linked to the others: commands that wait
// together are stored together, so the append belongs to several traces at once.
//
// Without a tracer (tracing off) none of this runs: no span, no context, no metadata.

// WithTracer traces commands and appends (nil: off).
func WithTracer(t trace.Tracer) Option { return func(x *Executor) { x.tracer = t } }

// Attributes of the command and append spans.
const (
	attrStream  = attribute.Key("ledger.stream")
	attrEvents  = attribute.Key("ledger.events")
	attrRefusal = attribute.Key("ledger.refusal")
)

// startCommand starts cmd's span and records its context in meta; without a tracer it
// returns ctx, meta and a span that does nothing, without allocating.
func (x *Executor) startCommand(ctx context.Context, cmd domain.Command, meta Meta) (context.Context, Meta, trace.Span) {
	if x.tracer == nil {
		return ctx, meta, trace.SpanFromContext(context.Background())
	}
	ctx, span := x.tracer.Start(ctx, "command "+cmd.CommandName(), trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(attrStream.String(cmd.Stream())))
	meta.span = span.SpanContext()
	return ctx, meta, span
}

// endCommand ends a command's span with its outcome: a refusal is an answer, not a
// fault, so it is an attribute; any other error sets the span's status.
func endCommand(span trace.Span, out Outcome, err error) {
	if !span.IsRecording() {
		span.End()
		return
	}
	var refusal *domain.Error
	switch {
	case errors.As(err, &refusal):
		span.SetAttributes(attrRefusal.String(string(refusal.Code)))
	case err != nil:
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	default:
		span.SetAttributes(attrEvents.Int(len(out.Events)))
	}
	span.End()
}

// startAppend starts the span of one append of commands' events to stream.
func (x *Executor) startAppend(ctx context.Context, stream string, commands []sealing) (context.Context, trace.Span) {
	if x.tracer == nil {
		return ctx, trace.SpanFromContext(context.Background())
	}
	var links []trace.Link
	events := 0
	for _, c := range commands {
		events += len(c.events)
		if c.meta.span.IsValid() {
			links = append(links, trace.Link{SpanContext: c.meta.span})
		}
	}
	if commands[0].meta.span.IsValid() {
		ctx = trace.ContextWithSpanContext(ctx, commands[0].meta.span)
	}
	return x.tracer.Start(ctx, "append", trace.WithSpanKind(trace.SpanKindClient), trace.WithLinks(links...),
		trace.WithAttributes(attrStream.String(stream), attrEvents.Int(events), attribute.Int("ledger.commands", len(commands))))
}

// endSpan ends a span, marking it failed when err is set.
func endSpan(span trace.Span, err error) {
	if err != nil && span.IsRecording() {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// traceParent is the W3C traceparent stored in the events of the command meta belongs
// to; "" when it is not traced.
func (m Meta) traceParent() string { return tracing.TraceParent(m.span) }
