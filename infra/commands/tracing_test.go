package commands

import (
	"context"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"ledger/domain"
	"ledger/infra/eventmeta"
	"ledger/infra/eventstore"
	"ledger/infra/testkit"
	"ledger/infra/tracing"
)

// Two commands from two callers' traces wait on one stream and are appended together:
// each event names its own command's span, and the one append span belongs to the
// first command's trace and links to both commands.
func TestAppendOfCommandsFromTwoTracesLinksBothAndEachEventNamesItsOwnCommand(t *testing.T) {
	spans := tracetest.NewInMemoryExporter()
	provider := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	t.Cleanup(func() { provider.Shutdown(context.Background()) })
	base := stores(t)["sqlite"](t)
	gated := &interleavingStore{Store: base}
	x := New(gated, WithClock(func() time.Time { return now }), WithTracer(provider.Tracer("ledger/commands")))
	const mpn = "4712099"
	admin, contract := actionPackPartner(t, x, mpn)
	stream := domain.PartnerStream(mpn)

	first := make(chan error, 1)
	held, release := gated.holdNextAppend() // the first command's append waits
	go func() {
		_, err := x.Partner(context.Background(), mpn, domain.RegisterUser{MPNID: mpn, By: platform, UserID: "member@" + mpn, AccountType: domain.AccountAAD}, Meta{Actor: platform})
		first <- err
	}()
	testkit.Eventually(t, "the first command is appending", closed(held))
	callers := make([]trace.Span, 2)
	answers := make([]chan answer, 2)
	for i := range callers {
		var ctx context.Context
		ctx, callers[i] = provider.Tracer("client").Start(context.Background(), "caller")
		answers[i] = make(chan answer, 1)
		go func() {
			out, err := x.Partner(ctx, mpn, openIncident(mpn, admin, contract), Meta{Actor: admin})
			answers[i] <- answer{out, err}
		}()
		testkit.Eventually(t, "the command waits in the queue", func() bool { return x.queued(stream) == i+1 })
	}
	release()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	commandOf := map[trace.TraceID]trace.SpanContext{} // caller's trace -> its command span
	var revisions []uint64
	for i := range answers {
		a := <-answers[i]
		if a.err != nil {
			t.Fatal(a.err)
		}
		revisions = append(revisions, a.out.Revision)
		callers[i].End()
	}
	for _, s := range spans.GetSpans() {
		if s.Name == "command "+(domain.OpenIncident{}).CommandName() {
			commandOf[s.SpanContext.TraceID()] = s.SpanContext
		}
	}
	for i, c := range callers {
		cmd, ok := commandOf[c.SpanContext().TraceID()]
		if !ok {
			t.Fatalf("caller %d: no command span in its trace", i)
		}
		events, err := base.ReadStream(context.Background(), stream, eventstore.ReadStreamOptions{From: revisions[i], Limit: 1})
		if err != nil || len(events) != 1 {
			t.Fatalf("event of command %d: %v", i, err)
		}
		if got, want := eventmeta.TraceParent(events[0].Metadata), tracing.TraceParent(cmd); got != want {
			t.Errorf("command %d's event names %q, want its own command span %q", i, got, want)
		}
	}
	var together []tracetest.SpanStub
	for _, s := range spans.GetSpans() {
		if s.Name == "append" && len(s.Links) == 2 {
			together = append(together, s)
		}
	}
	if len(together) != 1 {
		t.Fatalf("%d appends linked to two commands, want 1", len(together))
	}
	firstCmd := commandOf[callers[0].SpanContext().TraceID()]
	if together[0].Parent.SpanID() != firstCmd.SpanID() {
		t.Errorf("the shared append's parent %s, want the first waiting command %s", together[0].Parent.SpanID(), firstCmd.SpanID())
	}
	for i, c := range callers {
		cmd := commandOf[c.SpanContext().TraceID()]
		if l := together[0].Links[i].SpanContext; l.SpanID() != cmd.SpanID() {
			t.Errorf("link %d to %s, want command %d's span %s", i, l.SpanID(), i, cmd.SpanID())
		}
	}
}
