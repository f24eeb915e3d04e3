package main

import (
	"ledger/infra/metrics"
	"ledger/projections"
)

// watchProgress reports, at every scrape of /metrics, what this process can see: the
// event store's head always, and its LISTEN reconnects on PostgreSQL; every
// projection's checkpoint, lag and dead letters when it has the read database; its
// runner's counts on a projector; the forwarder's lag on a forwarder. (Nil parts are
// left out explicitly: a nil pointer in an interface is not a nil interface.)
func (p *process) watchProgress() error {
	prog := metrics.Progress{Log: p.store}
	switch {
	case p.runner != nil:
		prog.Projections, prog.Runner = p.runner.Checkpoints(), p.runner
	case p.readDB != nil:
		prog.Projections = projections.NewCheckpoints(p.readDB)
	}
	if p.forwarder != nil {
		prog.Forwarder = p.forwarder
	}
	if s, ok := p.eventSQL(); ok {
		if err := p.metrics.WatchListener(s); err != nil {
			return err
		}
	}
	return p.metrics.WatchProgress(prog)
}
