package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"ledger/domain"
	"ledger/infra/eventmeta"
	"ledger/infra/eventstore"
	"ledger/infra/natsbus"
	"ledger/infra/partition"
	"ledger/infra/testkit"
	"ledger/infra/tracing"
	"ledger/projections"
)

// callerTraceParent is the trace a client started before it called the API.
const callerTraceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// tracedCommand is one enrolment sent with callerTraceParent to the whole ledger with
// tracing on, its spans kept in memory.
type tracedCommand struct {
	s        *system
	spans    *tracetest.InMemoryExporter
	mpn      string
	position eventstore.Position
	reply    reply
}

func sendTracedCommand(t *testing.T) tracedCommand {
	t.Helper()
	spans := tracetest.NewInMemoryExporter()
	provider := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	t.Cleanup(func() { provider.Shutdown(context.Background()) })
	s := startSystem(t, testConfig(t), wireOptions{tracing: tracing.New(provider)})
	c := tracedCommand{s: s, spans: spans, mpn: "8100001"}
	c.reply = c.enrol(t, "traceparent", callerTraceParent)
	c.position = *s.lastPos.Load()
	return c
}

func (c tracedCommand) enrol(t *testing.T, headers ...string) reply {
	t.Helper()
	return c.s.do(t, http.MethodPost, "/v1/partners", c.s.platform(t),
		map[string]any{"mpnId": c.mpn, "name": "Traced " + c.mpn}, headers...).want(t, http.StatusCreated)
}

// named are the ended spans called name.
func (c tracedCommand) named(name string) []tracetest.SpanStub {
	var found []tracetest.SpanStub
	for _, s := range c.spans.GetSpans() {
		if s.Name == name {
			found = append(found, s)
		}
	}
	return found
}

// span is the only span called name; it fails the test when there is none or several.
func (c tracedCommand) span(t *testing.T, name string) tracetest.SpanStub {
	t.Helper()
	found := c.named(name)
	if len(found) != 1 {
		t.Fatalf("%d spans named %q, want 1; spans: %s", len(found), name, spanNames(c.spans.GetSpans()))
	}
	return found[0]
}

func spanNames(spans tracetest.SpanStubs) string {
	var names []string
	for _, s := range spans {
		names = append(names, s.Name)
	}
	return strings.Join(names, ", ")
}

func callerSpan(t *testing.T) trace.SpanContext {
	sc, ok := tracing.SpanContextOf(callerTraceParent)
	if !ok {
		t.Fatal("the caller's traceparent does not parse")
	}
	return sc
}

// storedEvent is the command's event as the event store holds it.
func (c tracedCommand) storedEvent(t *testing.T) eventstore.RecordedEvent {
	t.Helper()
	events, err := c.s.proc.store.ReadStream(t.Context(), domain.PartnerStream(c.mpn), eventstore.ReadStreamOptions{})
	if err != nil || len(events) != 1 {
		t.Fatalf("stream of %s: %d events, %v", c.mpn, len(events), err)
	}
	return events[0]
}

// forwarded waits until the forwarder has the command's event acknowledged by NATS.
func (c tracedCommand) forwarded(t *testing.T) {
	testkit.Eventually(t, "the forwarder has the command's event acknowledged", func() bool {
		return !c.s.proc.forwarder.Forwarded().Less(c.position)
	})
}

func TestTracingARequestContinuesTheCallersTraceIntoTheCommandAndItsAppend(t *testing.T) {
	c := sendTracedCommand(t)
	caller := callerSpan(t)
	request := c.span(t, "POST /v1/partners")
	command := c.span(t, "command "+domain.EnrollPartner{}.CommandName())
	appended := c.span(t, "append")
	if request.SpanKind != trace.SpanKindServer || request.SpanContext.TraceID() != caller.TraceID() || request.Parent.SpanID() != caller.SpanID() {
		t.Errorf("request span %s (kind %s) has parent %s; want a server span in the caller's trace under its span %s",
			request.SpanContext.TraceID(), request.SpanKind, request.Parent.SpanID(), caller.SpanID())
	}
	if command.Parent.SpanID() != request.SpanContext.SpanID() || command.SpanContext.TraceID() != caller.TraceID() {
		t.Errorf("command span's parent %s, want the request span %s", command.Parent.SpanID(), request.SpanContext.SpanID())
	}
	if appended.Parent.SpanID() != command.SpanContext.SpanID() || appended.SpanContext.TraceID() != caller.TraceID() {
		t.Errorf("append span's parent %s, want the command span %s", appended.Parent.SpanID(), command.SpanContext.SpanID())
	}
	correlation := c.reply.header.Get("X-Correlation-ID")
	if got := attr(request, "ledger.correlation_id"); correlation == "" || got != correlation {
		t.Errorf("request span's correlation ID %q, the answer's %q", got, correlation)
	}
}

func TestTracingStoresTheCommandsTraceparentInItsEventsMetadata(t *testing.T) {
	c := sendTracedCommand(t)
	command := c.span(t, "command "+domain.EnrollPartner{}.CommandName())
	meta, err := eventmeta.Parse(c.storedEvent(t).Metadata)
	if err != nil {
		t.Fatal(err)
	}
	if want := tracing.TraceParent(command.SpanContext); meta.TraceParent != want {
		t.Errorf("event metadata traceparent %q, want the command span's %q", meta.TraceParent, want)
	}
}

func TestTracingForwarderPublishesEachEventInItsCommandsTraceWithATraceparentHeader(t *testing.T) {
	c := sendTracedCommand(t)
	c.forwarded(t)
	command := c.span(t, "command "+domain.EnrollPartner{}.CommandName())
	publish := c.span(t, "publish "+natsbus.StreamName)
	if publish.SpanKind != trace.SpanKindProducer || publish.Parent.SpanID() != command.SpanContext.SpanID() ||
		publish.SpanContext.TraceID() != command.SpanContext.TraceID() {
		t.Errorf("publish span (kind %s) has parent %s in trace %s; want a producer span under the command span %s",
			publish.SpanKind, publish.Parent.SpanID(), publish.SpanContext.TraceID(), command.SpanContext.SpanID())
	}
	msg := c.lastNATSMessage(t)
	if got, want := msg.Header.Get(tracing.HeaderTraceParent), tracing.TraceParent(publish.SpanContext); got != want {
		t.Errorf("NATS message traceparent %q, want the publish span's %q", got, want)
	}
}

// lastNATSMessage is the message the forwarder published for the command's event.
func (c tracedCommand) lastNATSMessage(t *testing.T) *jetstream.RawStreamMsg {
	t.Helper()
	conn, err := natsbus.Connect(t.Context(), c.s.proc.natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	stream, err := conn.JetStream.Stream(t.Context(), natsbus.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	partnerStream, partitions := domain.PartnerStream(c.mpn), 1 // testConfig leaves --projection-partitions at 1
	subject := natsbus.PartitionSubject(partnerStream, partition.OfStream(partnerStream, partitions), partitions)
	msg, err := stream.GetLastMsgForSubject(t.Context(), subject)
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

func TestTracingEveryReadModelsCommitJoinsTheCommandsTrace(t *testing.T) {
	c := sendTracedCommand(t)
	command := c.span(t, "command "+domain.EnrollPartner{}.CommandName())
	for _, p := range projections.All() {
		if _, err := c.s.proc.runner.Checkpoints().WaitFor(t.Context(), p.Name(), c.position); err != nil {
			t.Fatalf("%s: %v", p.Name(), err)
		}
		// The commit span ends just after the commit, which WaitFor may have seen first
		// by polling the checkpoint rows.
		testkit.Eventually(t, "the commit span of "+p.Name()+" ends", func() bool { return len(c.named("commit "+p.Name())) > 0 })
		commit := c.span(t, "commit "+p.Name())
		if commit.SpanKind != trace.SpanKindConsumer || commit.Parent.SpanID() != command.SpanContext.SpanID() ||
			commit.SpanContext.TraceID() != command.SpanContext.TraceID() {
			t.Errorf("%s: commit span (kind %s) has parent %s in trace %s; want a consumer span under the command span %s",
				p.Name(), commit.SpanKind, commit.Parent.SpanID(), commit.SpanContext.TraceID(), command.SpanContext.SpanID())
		}
		if len(commit.Links) != 1 || commit.Links[0].SpanContext.SpanID() != command.SpanContext.SpanID() {
			t.Errorf("%s: commit span links %v, want the command span", p.Name(), commit.Links)
		}
	}
}

func TestTracingIsOffByDefaultAndStoresNoTraceparent(t *testing.T) {
	s := startSystem(t, testConfig(t), wireOptions{})
	c := tracedCommand{s: s, mpn: "8100002"}
	c.enrol(t, "traceparent", callerTraceParent)
	c.position = *s.lastPos.Load()
	if s.proc.tracing.Enabled() {
		t.Fatal("tracing is on without an endpoint")
	}
	if ev := c.storedEvent(t); bytes.Contains(ev.Metadata, []byte("traceparent")) {
		t.Errorf("metadata %s holds a traceparent with tracing off", ev.Metadata)
	}
	c.forwarded(t)
	if h := c.lastNATSMessage(t).Header.Get(tracing.HeaderTraceParent); h != "" {
		t.Errorf("NATS message carries traceparent %q with tracing off", h)
	}
}

func TestTracingExportsOverOTLPHTTPToTheConfiguredEndpoint(t *testing.T) {
	receiver := newOTLPReceiver(t)
	cfg := testConfig(t)
	cfg.Tracing = tracing.Config{Endpoint: receiver.URL, SampleRatio: 1}
	s := startSystem(t, cfg, wireOptions{})
	c := tracedCommand{s: s, mpn: "8100003"}
	c.enrol(t)
	s.stopBG() // shutting down exports what the batching processor holds
	spans := receiver.spans()
	for _, want := range []string{"POST /v1/partners", "command " + domain.EnrollPartner{}.CommandName(), "append"} {
		if spans[want] != "benefits" {
			t.Errorf("no span %q from service benefits arrived at %s/v1/traces; got %v", want, receiver.URL, spans)
		}
	}
}

// otlpReceiver is an OTLP/HTTP trace receiver: it decodes each export request as the
// collector does and keeps the span names with their service.name.
type otlpReceiver struct {
	*httptest.Server
	mu    sync.Mutex
	names map[string]string // span name -> service.name
	t     *testing.T
}

func newOTLPReceiver(t *testing.T) *otlpReceiver {
	r := &otlpReceiver{names: map[string]string{}, t: t}
	r.Server = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.Close)
	return r
}

func (r *otlpReceiver) serve(w http.ResponseWriter, req *http.Request) {
	if req.URL.Path != "/v1/traces" || req.Header.Get("Content-Type") != "application/x-protobuf" {
		r.t.Errorf("export to %s as %q, want /v1/traces as application/x-protobuf", req.URL.Path, req.Header.Get("Content-Type"))
		http.Error(w, "not OTLP traces", http.StatusNotFound)
		return
	}
	var body io.Reader = req.Body
	if req.Header.Get("Content-Encoding") == "gzip" {
		gz, err := gzip.NewReader(req.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = gz
	}
	raw, err := io.ReadAll(body)
	var export collectortrace.ExportTraceServiceRequest
	if err == nil {
		err = proto.Unmarshal(raw, &export)
	}
	if err != nil {
		r.t.Errorf("undecodable export: %v", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rs := range export.ResourceSpans {
		service := ""
		for _, kv := range rs.GetResource().GetAttributes() {
			if kv.Key == "service.name" {
				service = kv.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				r.names[s.Name] = service
			}
		}
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	out, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
	w.Write(out)
}

func (r *otlpReceiver) spans() map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]string, len(r.names))
	for k, v := range r.names {
		out[k] = v
	}
	return out
}

// attr is a span's string attribute.
func attr(s tracetest.SpanStub, key string) string {
	for _, kv := range s.Attributes {
		if string(kv.Key) == key {
			return kv.Value.Emit()
		}
	}
	return ""
}
