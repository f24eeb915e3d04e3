package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/uptrace/bun"

	"ledger/handlers"
	"ledger/infra/commands"
	"ledger/infra/eventstore"
	"ledger/infra/metrics"
	"ledger/infra/natsbus"
	"ledger/infra/privacy"
	"ledger/infra/tracing"
	"ledger/projections"
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

	// The parts, for subcommands and tests; nil where the role does not need one.
	store     eventstore.Store
	readDB    *bun.DB
	embedded  *natsbus.Embedded // nil when --nats-url names a server
	natsURL   string
	runner    *projections.Runner
	executor  *commands.Executor
	metrics   *metrics.Metrics
	forwarder *natsbus.Forwarder
	tracing   *tracing.Tracing  // off unless configured; never nil after wire
	sqlStore  eventstore.Store  // the store as opened, before the metrics wrapper
	shredder  *privacy.Shredder // crypto-shredding, nil when no process part reads events
	// projectorConn is the projectors' own NATS connection (tests cut it).
	projectorConn *natsbus.Conn
	// servesAPI: the process serves the API, and so the console (wire_console.go).
	servesAPI bool
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
	// tracing, when set, replaces the tracing cfg configures (an in-memory exporter).
	tracing *tracing.Tracing
	// wrapRebuildModel and wrapRebuilds, when set, wrap the read models ops rebuilds build
	// and the rebuild jobs the API starts (a test holds a rebuild mid-way, in small batches).
	wrapRebuildModel func(projections.Projection) projections.Projection
	wrapRebuilds     func(handlers.RebuildJobs) handlers.RebuildJobs
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
// what it opened), /metrics and /openapi.json; api and all add apiRoutes.
func wire(ctx context.Context, cfg Config, logger *slog.Logger, secret []byte) (*process, error) {
	return wireWith(ctx, cfg, logger, secret, wireOptions{})
}

func wireWith(ctx context.Context, cfg Config, logger *slog.Logger, secret []byte, opts wireOptions) (p *process, err error) {
	m := metrics.New(logger)
	if err := m.RegisterBuildInfo(buildVersion()); err != nil {
		return nil, err
	}
	p = &process{metrics: m, deps: handlers.Deps{
		Build:     buildVersion(),
		Logger:    logger,
		JWTSecret: secret,
		QueryWait: cfg.QueryWait,
		Metrics:   m,
		// Long-running routes re-arm the server's write deadline when they answer.
		WriteTimeout:     cfg.WriteTimeout,
		MaxTokenLifetime: cfg.MaxTokenLifetime,
		OIDC:             cfg.OIDC,
		Limits:           cfg.Limits,
	}}
	defer func() {
		if err != nil {
			err = errors.Join(err, p.close())
			p = nil
		}
	}()
	n := needsOf(cfg.Role)
	if err := p.startTracing(ctx, cfg, opts); err != nil {
		return p, err
	}
	if err := p.openEventStore(ctx, cfg, logger); err != nil {
		return p, err
	}
	p.sqlStore = p.store
	p.store = p.metrics.ObserveStore(p.store)
	if n.readDB {
		if err := p.openReadDB(ctx, cfg); err != nil {
			return p, err
		}
	}
	if n.api || n.projectors {
		if err := p.addPersonalData(ctx, cfg.ErasureFollowEvery); err != nil {
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
		p.servesAPI = true
		checkpoints, err := p.addCheckpoints(ctx, cfg, logger)
		if err != nil {
			return p, err
		}
		if err := p.addAPI(cfg, logger, opts, routeAPIs{transparency: checkpoints, privacy: p.addErasures(cfg, logger, opts)}); err != nil {
			return p, err
		}
	}
	if err := p.watchProgress(); err != nil {
		return p, err
	}
	return p, nil
}

// addAPI wires the command executor, the event store and the read models into the
// routes (apiRoutes). An API-only process reads projection progress from the shared
// read database. The audit, ops and rules routes read the event store and the read
// database themselves, so every API process serves them.
func (p *process) addAPI(cfg Config, logger *slog.Logger, opts wireOptions, apis routeAPIs) error {
	copts := []commands.Option{commands.WithLogger(logger), commands.WithTracer(p.tracing.Tracer("ledger/commands")),
		commands.WithStateCacheSize(cfg.StateCacheSize), commands.WithSnapshotEvery(cfg.SnapshotEvery),
		commands.WithReadStaleness(cfg.ReadStaleness)}
	if cfg.StateCacheMiB > 0 { // else the default (a Config built by hand)
		copts = append(copts, commands.WithStateCacheBytes(int64(cfg.StateCacheMiB)<<20))
	}
	if p.shredder != nil {
		copts = append(copts, commands.WithPersonalData(p.shredder))
	}
	if opts.now != nil {
		copts = append(copts, commands.WithClock(opts.now))
	}
	p.executor = commands.New(p.store, copts...)
	p.closers = append(p.closers, p.executor.Close) // before the store: a snapshot may be being saved
	if err := p.metrics.WatchStates(p.executor); err != nil {
		return err
	}
	// The runner's wakes waiters on commit, not by polling, and tells which partners each
	// commit touched, so a kept answer outlives the commits of other partners; an
	// API-only process learns of commits by polling, and retires a partition's answers.
	var progress *projections.Checkpoints
	if p.runner != nil {
		progress = p.runner.Checkpoints()
	} else {
		progress = projections.NewCheckpoints(p.readDB)
	}
	p.deps.Projections = p.metrics.ObserveWaits(progress)
	now := opts.now
	readModels := projections.NewReadModels(p.readDB, projections.KeepAnswers(int64(cfg.AnswerCacheMiB)<<20, progress))
	if err := p.metrics.WatchAnswers(readModels.Answers()); err != nil {
		return err
	}
	ops := &projections.Operations{DB: p.readDB, Store: p.store, DataDir: cfg.DataDir, Logger: logger, Answers: readModels.Answers()}
	// Rebuilds started over HTTP run in the background; closing the process stops them
	// (resumable) before the read database closes.
	if opts.wrapRebuildModel != nil {
		for _, m := range projections.All() {
			ops.Projections = append(ops.Projections, opts.wrapRebuildModel(m))
		}
	}
	jobs := projections.NewRebuildJobs(ops)
	p.closers = append(p.closers, func() error { jobs.Close(); return nil })
	var rebuilds handlers.RebuildJobs = jobs
	if opts.wrapRebuilds != nil {
		rebuilds = opts.wrapRebuilds(jobs)
	}
	apis.api = handlers.API{Commands: p.metrics.ObserveCommands(p.executor), ReadModels: readModels, Now: now}
	apis.audit = handlers.AuditAPI{Log: p.store, Partners: p.executor, Now: now}
	// The dead-letter routes (list, inspect, retry, discard) need the store to retry.
	apis.ops = handlers.OpsAPI{Projections: ops, Rebuilds: rebuilds, DeadLetters: &projections.DeadLetterOps{DB: p.readDB, Events: p.store, Answers: readModels.Answers()}}
	apis.rules = handlers.RulesAPI{Rules: p.executor, Now: now}
	p.deps.Routes = apiRoutes(apis)
	return nil
}

// check adds a readiness checker.
func (p *process) check(name string, fn func(ctx context.Context) error) {
	p.deps.Checkers = append(p.deps.Checkers, handlers.CheckFunc(name, fn))
}

func wrapf(err error, format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, err)...)
}
