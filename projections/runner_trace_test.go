package projections

import (
	"context"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"ledger/infra/eventmeta"
	"ledger/infra/eventstore"
	"ledger/infra/tracing"
)

// commitSpanOf commits nothing: it is the span a live projector makes for a batch of
// events, ended at once.
func commitSpanOf(t *testing.T, events ...eventstore.RecordedEvent) tracetest.SpanStubs {
	t.Helper()
	spans := tracetest.NewInMemoryExporter()
	provider := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	t.Cleanup(func() { provider.Shutdown(context.Background()) })
	_, span := startCommit(context.Background(), provider.Tracer("test"), "incidents", events)
	endCommit(span, 0, nil)
	return spans.GetSpans()
}

// eventOf is an event stored by the command whose span is tp ("" for an untraced one).
func eventOf(t *testing.T, pos uint64, tp string) eventstore.RecordedEvent {
	t.Helper()
	meta, err := eventmeta.Seal(eventmeta.Metadata{Actor: "a", CorrelationID: "c", TraceParent: tp, RecordedAt: time.Unix(1, 0)},
		"IncidentOpened", []byte(`{}`), pos)
	if err != nil {
		t.Fatal(err)
	}
	return eventstore.RecordedEvent{Type: "IncidentOpened", Position: eventstore.Position{Commit: pos, Prepare: pos}, Metadata: meta}
}

const (
	commandA = "00-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-00000000000000a1-01"
	commandB = "00-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-00000000000000b1-01"
)

func spanOf(t *testing.T, tp string) trace.SpanContext {
	sc, ok := tracing.SpanContextOf(tp)
	if !ok {
		t.Fatal(tp)
	}
	return sc
}

func TestCommitOfOneCommandsEventsIsThatCommandsChild(t *testing.T) {
	spans := commitSpanOf(t, eventOf(t, 1, commandA), eventOf(t, 2, commandA))
	a := spanOf(t, commandA)
	if len(spans) != 1 || spans[0].Parent.SpanID() != a.SpanID() || spans[0].SpanContext.TraceID() != a.TraceID() {
		t.Fatalf("spans %+v, want one commit span under command A", spans)
	}
	if len(spans[0].Links) != 1 || spans[0].Links[0].SpanContext.SpanID() != a.SpanID() {
		t.Errorf("links %v, want command A once", spans[0].Links)
	}
}

func TestCommitOfSeveralCommandsEventsIsARootLinkingEachCommand(t *testing.T) {
	spans := commitSpanOf(t, eventOf(t, 1, commandA), eventOf(t, 2, ""), eventOf(t, 3, commandB), eventOf(t, 4, commandA))
	if len(spans) != 1 {
		t.Fatalf("%d spans, want one commit span", len(spans))
	}
	s := spans[0]
	if s.Parent.IsValid() {
		t.Errorf("parent %s: a batch of two traces belongs to neither", s.Parent.SpanID())
	}
	linked := map[trace.SpanID]bool{}
	for _, l := range s.Links {
		linked[l.SpanContext.SpanID()] = true
	}
	if len(s.Links) != 2 || !linked[spanOf(t, commandA).SpanID()] || !linked[spanOf(t, commandB).SpanID()] {
		t.Errorf("links %v, want commands A and B once each", s.Links)
	}
}

func TestCommitOfUntracedEventsMakesNoSpan(t *testing.T) {
	if spans := commitSpanOf(t, eventOf(t, 1, ""), eventOf(t, 2, "")); len(spans) != 0 {
		t.Errorf("spans %+v for events no command traced", spans)
	}
}
