package main

import (
	"context"
	"errors"
	"os"
	"strconv"
	"time"

	"ledger/infra/tracing"
)

// tracingSettings choose where traces go; with neither --otlp-endpoint nor the
// standard OTEL_EXPORTER_OTLP_ENDPOINT, tracing is off and costs nothing.
func tracingSettings(c *Config) []setting {
	return []setting{
		{name: "otlp-endpoint", def: "", usage: "base URL of an OTLP/HTTP trace receiver (collector, Jaeger, Tempo), e.g. http://collector:4318; spans go to <url>/v1/traces. Empty: tracing is off unless OTEL_EXPORTER_OTLP_ENDPOINT is set",
			apply: func(v string) (err error) {
				c.Tracing.Endpoint, err = tracing.ParseEndpoint(v)
				return err
			}},
		{name: "trace-sample-ratio", def: "1", usage: "share of new traces kept when tracing is on, 0 to 1; a request that arrives with a traceparent follows its caller's choice",
			apply: func(v string) error {
				r, err := strconv.ParseFloat(v, 64)
				if err != nil || r < 0 || r > 1 {
					return errors.New("want a number from 0 to 1, such as 0.1")
				}
				c.Tracing.SampleRatio = r
				return nil
			}},
	}
}

// serviceName names the process in traces: one service per role, so a trace shows
// which process each span ran in (OTEL_SERVICE_NAME overrides it).
func serviceName(r Role) string {
	if r == RoleAll || r == "" {
		return "benefits"
	}
	return "benefits-" + string(r)
}

// startTracing sets up cfg's tracing (or the test's) and shuts it down last, after
// everything that makes spans has stopped, so the buffered spans are exported.
func (p *process) startTracing(ctx context.Context, cfg Config, opts wireOptions) error {
	t := opts.tracing
	if t == nil {
		var err error
		if t, err = tracing.Start(ctx, cfg.Tracing, serviceName(cfg.Role), os.LookupEnv); err != nil {
			return wrapf(err, "set up tracing (--otlp-endpoint %s)", cfg.Tracing.Endpoint)
		}
	}
	p.tracing = t
	p.closers = append(p.closers, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return t.Shutdown(ctx)
	})
	if t.Enabled() {
		p.deps.TracerProvider, p.deps.Propagator = t.Provider(), t.Propagator()
	}
	return nil
}
