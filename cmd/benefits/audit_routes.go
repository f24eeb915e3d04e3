package main

import (
	"log/slog"
	"time"

	"ledger/handlers"
	"ledger/projections"
)

// addAuditAndOpsRoutes adds the auditors' routes (verify, history, state as of), the
// operators' (projection overview, rebuild and dead letters) and GET /v1/rules. They read the event
// store itself and the read database, so every API process serves them.
func (p *process) addAuditAndOpsRoutes(cfg Config, logger *slog.Logger, opts wireOptions) {
	var now func() time.Time = opts.now
	ops := &projections.Operations{DB: p.readDB, Store: p.store, DataDir: cfg.DataDir, Logger: logger}
	deadLetters := &projections.DeadLetterOps{DB: p.readDB, Events: p.store}
	p.deps.Routes = append(p.deps.Routes, handlers.AuditRoutes(handlers.AuditAPI{Log: p.store, Partners: p.executor, Now: now})...)
	p.deps.Routes = append(p.deps.Routes, handlers.OpsRoutes(handlers.OpsAPI{Projections: ops, DeadLetters: deadLetters})...)
	p.deps.Routes = append(p.deps.Routes, handlers.RulesRoutes(handlers.RulesAPI{Rules: p.executor, Now: now})...)
}
