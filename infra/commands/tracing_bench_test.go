package commands

import (
	"context"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"ledger/domain"
)

// What tracing costs a command (issue 12). Off is the default; compare
// BenchmarkCommandAt5Events on this commit and on the one before tracing, and:
//
//	go test ./infra/commands -run '^$' -bench 'Tracing|CommandAt5Events' -benchmem -count 6

// BenchmarkTracingOffHooks is everything the executor does for tracing on one command
// when tracing is off: the hooks around the command and its append, with no tracer.
func BenchmarkTracingOffHooks(b *testing.B) {
	x := New(nil)
	ctx := context.Background()
	var cmd domain.Command = premierIncident("5200001") // Partner takes the interface
	batch := []sealing{{}}
	b.ReportAllocs()
	for b.Loop() {
		cctx, meta, span := x.startCommand(ctx, cmd, Meta{})
		batch[0].meta = meta
		actx, appendSpan := x.startAppend(cctx, "partner-5200001", batch)
		if meta.traceParent() != "" || actx != ctx {
			b.Fatal("tracing off made a trace")
		}
		endSpan(appendSpan, nil)
		endCommand(span, Outcome{}, nil)
	}
}

// BenchmarkCommandAt5EventsTraced is BenchmarkCommandAt5Events with every command
// traced (sampled, recorded, exported nowhere): the cost of tracing on.
func BenchmarkCommandAt5EventsTraced(b *testing.B) {
	provider := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()))
	b.Cleanup(func() { provider.Shutdown(context.Background()) })
	benchmarkCommandAt(b, 5, WithTracer(provider.Tracer("bench")))
}
