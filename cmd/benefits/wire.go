package main

import (
	"context"
	"errors"
	"log/slog"

	"ledger/domain"
	"ledger/handlers"
)

// process is what wire builds for one `benefits serve`: the HTTP dependencies, the
// background work the role runs (forwarder, projectors), and what to close on the way out.
type process struct {
	deps handlers.Deps
	// background runs until ctx ends; serve starts each and waits for all on shutdown,
	// after the HTTP server has drained (so no command is cut off mid-append).
	background []func(ctx context.Context) error
	// closers run last, in reverse order (stores, NATS connection, embedded server).
	closers []func() error
}

// close runs the closers in reverse order.
func (p *process) close() error {
	var errs []error
	for i := len(p.closers) - 1; i >= 0; i-- {
		errs = append(errs, p.closers[i]())
	}
	return errors.Join(errs...)
}

// wire connects the parts cfg.Role runs.
//
// ┌──────────────────────────────────────────────────────────────────────────────┐
// │ LEAD: CONNECT HERE. Today only the HTTP scaffolding (health, readiness,      │
// │ OpenAPI) is wired. Still to connect, by cfg:                                  │
// │  1. event store: cfg.EventStore (sqlite file under cfg.DataDir | postgres DSN │
// │     | esdb URL) → append a closer; add a handlers.Checker pinging it.         │
// │  2. read database: cfg.ReadDB (sqlite under cfg.DataDir | postgres DSN).     │
// │  3. NATS: cfg.NATSURL, or the embedded server under cfg.DataDir when empty.   │
// │  4. role all|forwarder: the forwarder → p.background.                         │
// │  5. role all|projector: the projection runner → p.background, and            │
// │     p.deps.Projections = its checkpoints (handlers.PositionWaiter).           │
// │  6. role all|api: command and query routes → p.deps.Routes (handlers.Route),  │
// │     /metrics as a Public route so the OpenAPI document lists it.             │
// │ Processes with role projector or forwarder still serve /healthz and /readyz. │
// └──────────────────────────────────────────────────────────────────────────────┘
func wire(ctx context.Context, cfg Config, logger *slog.Logger, secret []byte) (*process, error) {
	_ = ctx
	p := &process{deps: handlers.Deps{
		Logger:      logger,
		JWTSecret:   secret,
		QueryWait:   cfg.QueryWait,
		DomainError: domainRefusal,
	}}
	return p, nil
}

// domainRefusal tells the HTTP layer what a domain refusal means; the status of each
// code is handlers' table.
func domainRefusal(err error) (handlers.Refusal, bool) {
	var de *domain.Error
	if !errors.As(err, &de) {
		return handlers.Refusal{}, false
	}
	r := handlers.Refusal{Code: string(de.Code), Message: de.Message}
	if de.Remaining != nil {
		r.Extra = map[string]any{"remaining": *de.Remaining}
	}
	return r, true
}
