package projections

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"ledger/infra/eventmeta"
	"ledger/infra/eventstore"
	"ledger/infra/tracing"
)

// A live projector commits events in batches, and a batch may hold the events of many
// commands, each its own trace: no single parent fits them all. So each committed batch
// that holds traced events is one span, "commit <projection>", that links to the trace
// context of every command whose events it applied (OpenTelemetry's answer for batch
// processing). When all of them come from one command, which is what an idle system's
// batches look like, the span is also that command's child: the command's trace then
// shows, under the request, when each read model made it visible. The context is read
// from the events' metadata, not the NATS headers, so that events backfilled from the
// store are linked as well as delivered ones.
//
// Batches without a traced event, and rebuilds, make no span.

// maxCommitLinks bounds the links of one commit span (the SDK's default limit); a
// catch-up batch of 500 events from 500 commands keeps the first 128.
const maxCommitLinks = 128

// startCommit starts the commit span of events for projection; without a tracer or a
// traced event it returns ctx and a span that does nothing.
func startCommit(ctx context.Context, tracer trace.Tracer, projection string, events []eventstore.RecordedEvent) (context.Context, trace.Span) {
	if tracer == nil {
		return ctx, trace.SpanFromContext(context.Background())
	}
	var links []trace.Link
	seen := map[trace.SpanID]bool{}
	for _, ev := range events {
		sc, ok := tracing.SpanContextOf(eventmeta.TraceParent(ev.Metadata))
		if !ok || seen[sc.SpanID()] || len(links) == maxCommitLinks {
			continue
		}
		seen[sc.SpanID()] = true
		links = append(links, trace.Link{SpanContext: sc})
	}
	if len(links) == 0 {
		return ctx, trace.SpanFromContext(context.Background())
	}
	opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindConsumer), trace.WithLinks(links...),
		trace.WithAttributes(
			attribute.String("ledger.projection", projection),
			attribute.Int("messaging.batch.message_count", len(events)),
			attribute.String("messaging.operation.type", "process"),
			attribute.String("ledger.position", events[len(events)-1].Position.String()),
		)}
	if len(links) == 1 {
		ctx = trace.ContextWithRemoteSpanContext(ctx, links[0].SpanContext)
	} else {
		opts = append(opts, trace.WithNewRoot())
	}
	return tracer.Start(ctx, "commit "+projection, opts...)
}

// endCommit ends a commit span with what the batch came to.
func endCommit(span trace.Span, deadLettered int, err error) {
	if !span.IsRecording() {
		span.End()
		return
	}
	if deadLettered > 0 {
		span.SetAttributes(attribute.Int("ledger.dead_lettered", deadLettered))
	}
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}
