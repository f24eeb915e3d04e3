package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/uptrace/bun"

	"ledger/domain"
	"ledger/handlers"
	"ledger/infra/commands"
	"ledger/infra/eventstore"
	"ledger/infra/metrics"
	"ledger/infra/natsbus"
	"ledger/projections"
)

// routeGroups are the API's command and query routes; a new group is one line here.
var routeGroups = []handlers.RouteGroup{
	handlers.CommandRoutes,
	handlers.QueryRoutes,
}

// process is what wire builds for one `benefits serve`: the HTTP dependencies, the
// background work the role runs (forwarder, projectors), and what to close on the way out.
type process struct {
	deps handlers.Deps
	// background runs until ctx ends; serve starts each and waits for all on shutdown,
	// after the HTTP server has drained (so no command is cut off mid-append).
	background []func(ctx context.Context) error
	// closers run last, in reverse order (stores, NATS connection, embedded server).
	closers []func() error

	// The parts, for subcommands and tests; nil where the role does not need one.
	store     eventstore.Store
	readDB    *bun.DB
	embedded  *natsbus.Embedded // nil when --nats-url names a server
	natsURL   string
	runner    *projections.Runner
	executor  *commands.Executor
	metrics   *metrics.Metrics
	forwarder *natsbus.Forwarder
	// projectorConn is the projectors' own NATS connection (tests cut it).
	projectorConn *natsbus.Conn
}

// close runs the closers in reverse order.
func (p *process) close() error {
	var errs []error
	for i := len(p.closers) - 1; i >= 0; i-- {
		errs = append(errs, p.closers[i]())
	}
	return errors.Join(errs...)
}

// wireOptions are the seams tests use; production passes the zero value.
type wireOptions struct {
	// now is the clock of decisions and of "as of now" answers (time.Now when nil).
	now func() time.Time
	// wrapProjection, when set, wraps every read model the runner runs (fault injection).
	wrapProjection func(projections.Projection) projections.Projection
}

// needs says which parts a role runs.
type needs struct{ readDB, nats, forwarder, projectors, api bool }

func needsOf(r Role) needs {
	switch r {
	case RoleAPI:
		return needs{readDB: true, api: true}
	case RoleProjector:
		return needs{readDB: true, nats: true, projectors: true}
	case RoleForwarder:
		return needs{nats: true, forwarder: true}
	}
	return needs{readDB: true, nats: true, forwarder: true, projectors: true, api: true}
}

// wire connects the parts cfg.Role runs: the event store always; the read database for
// the API and the projectors; NATS (the embedded server unless --nats-url is given) for
// the forwarder and the projectors. Every process serves /healthz, /readyz (pinging
// what it opened), /metrics and /openapi.json; api and all add the routeGroups.
func wire(ctx context.Context, cfg Config, logger *slog.Logger, secret []byte) (*process, error) {
	return wireWith(ctx, cfg, logger, secret, wireOptions{})
}

func wireWith(ctx context.Context, cfg Config, logger *slog.Logger, secret []byte, opts wireOptions) (p *process, err error) {
	m := metrics.New(logger)
	p = &process{metrics: m, deps: handlers.Deps{
		Logger:      logger,
		JWTSecret:   secret,
		QueryWait:   cfg.QueryWait,
		DomainError: domainRefusal,
		Metrics:     m,
		// Long-running routes re-arm the server's write deadline when they answer.
		WriteTimeout:     cfg.WriteTimeout,
		MaxTokenLifetime: cfg.MaxTokenLifetime,
		Limits:           cfg.Limits,
	}}
	defer func() {
		if err != nil {
			err = errors.Join(err, p.close())
			p = nil
		}
	}()
	n := needsOf(cfg.Role)
	if err := p.openEventStore(ctx, cfg, logger); err != nil {
		return p, err
	}
	p.store = p.metrics.ObserveStore(p.store)
	if n.readDB {
		if err := p.openReadDB(ctx, cfg); err != nil {
			return p, err
		}
	}
	if n.nats {
		if err := p.startNATS(ctx, cfg, logger); err != nil {
			return p, err
		}
	}
	if n.forwarder {
		if err := p.addForwarder(ctx, cfg, logger); err != nil {
			return p, err
		}
	}
	if n.projectors {
		if err := p.addProjectors(ctx, cfg, logger, opts); err != nil {
			return p, err
		}
	}
	if n.api {
		p.addAPI(cfg, logger, opts)
		p.addAuditAndOpsRoutes(cfg, logger, opts)
	}
	if err := p.watchProgress(); err != nil {
		return p, err
	}
	return p, nil
}

// addAPI wires the command executor and the read models into the route groups. An
// API-only process reads projection progress from the shared read database.
func (p *process) addAPI(cfg Config, logger *slog.Logger, opts wireOptions) {
	copts := []commands.Option{commands.WithLogger(logger),
		commands.WithStateCacheSize(cfg.StateCacheSize), commands.WithSnapshotEvery(cfg.SnapshotEvery)}
	if opts.now != nil {
		copts = append(copts, commands.WithClock(opts.now))
	}
	p.executor = commands.New(p.store, copts...)
	p.closers = append(p.closers, p.executor.Close) // before the store: a snapshot may be being saved
	if p.runner != nil {
		p.deps.Projections = p.runner.Checkpoints() // wakes waiters on commit, not by polling
	} else {
		p.deps.Projections = projections.NewCheckpoints(p.readDB)
	}
	api := handlers.API{Commands: p.metrics.ObserveCommands(p.executor), ReadModels: projections.NewReadModels(p.readDB), Now: opts.now}
	for _, group := range routeGroups {
		p.deps.Routes = append(p.deps.Routes, group(api)...)
	}
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

// check adds a readiness checker.
func (p *process) check(name string, fn func(ctx context.Context) error) {
	p.deps.Checkers = append(p.deps.Checkers, handlers.CheckFunc(name, fn))
}

func wrapf(err error, format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, err)...)
}
