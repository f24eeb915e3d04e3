package main

import (
	"log/slog"
	"time"

	"ledger/handlers"
	"ledger/projections"
)

// addAuditAndOpsRoutes adds the auditors' routes (verify, history, state as of), the
// operators' (projection overview and rebuild) and GET /v1/rules. They read the event
// store itself and the read database, so every API process serves them.
func (p *process) addAuditAndOpsRoutes(cfg Config, logger *slog.Logger, opts wireOptions) {
	var now func() time.Time = opts.now
	ops := &projections.Operations{DB: p.readDB, Store: p.store, DataDir: cfg.DataDir, Logger: logger}
	p.deps.Routes = append(p.deps.Routes, handlers.AuditRoutes(handlers.AuditAPI{Log: p.store, Partners: p.executor, Now: now})...)
	// Rebuilds started over HTTP run in the background; closing the process stops them
	// (resumable) before the read database closes.
	jobs := projections.NewRebuildJobs(ops)
	p.closers = append(p.closers, func() error { jobs.Close(); return nil })
	p.deps.Routes = append(p.deps.Routes, handlers.OpsRoutes(handlers.OpsAPI{Projections: ops, Rebuilds: jobs})...)
	p.deps.Routes = append(p.deps.Routes, handlers.RulesRoutes(handlers.RulesAPI{Rules: p.executor, Now: now})...)
}
