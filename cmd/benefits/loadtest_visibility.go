package main

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"ledger/handlers"
)

// visibility offers commands at --rate whether or not earlier ones were answered (an
// open loop: a slow server is not given time by its clients), and follows every 201 with
// remaining-incidents queries carrying its position as minPosition until one is answered
// 200, i.e. until the read model shows the command. Three series: the commands (latency
// from the instant each was due), every query sent, and "visible": per accepted
// command, the time from its 201 to the query that showed it.
// The offered scenario is the same open loop without the queries: what the server does
// with a command rate it may not sustain.
func (lt loadtest) visibility(ctx context.Context, c *ltClient, partners []ltPartner, follow bool) []*series {
	cmds, queries, visible := newSeries("open-incident"), newSeries("visibility-query"), newSeries("visible")
	visible.derived = true
	lt.openLoop(ctx, lt.newBudget(), func(ticket int, due time.Time) {
		p := partners[ticket%len(partners)]
		a, out, err := openIncident(ctx, c, cmds, due, p)
		if err != nil || a.status != http.StatusCreated || !follow {
			return
		}
		lt.awaitVisible(ctx, c, queries, visible, p.mpn, out.Position)
	})
	if !follow {
		return []*series{cmds}
	}
	return []*series{cmds, queries, visible}
}

// awaitVisible queries until the read model has reached pos; a 503 (projection behind
// after the server's --query-wait, or overloaded) is asked again until --timeout.
func (lt loadtest) awaitVisible(ctx context.Context, c *ltClient, queries, visible *series, mpn, pos string) {
	accepted := time.Now()
	path := remainingPath(mpn) + "?" + handlers.QueryMinPosition + "=" + url.QueryEscape(pos)
	for {
		a, err := c.call(ctx, queries, time.Now(), http.MethodGet, path, nil, nil)
		switch {
		case err == nil && a.status == http.StatusServiceUnavailable && time.Since(accepted) < lt.Timeout:
			if a.retryAfter > 0 && sleepCtx(ctx, a.retryAfter) != nil {
				visible.record(accepted, 0, errCanceled)
				return
			}
			continue
		case err != nil:
			visible.record(accepted, 0, errTimeout)
		default:
			visible.record(accepted, a.status, "")
		}
		return
	}
}
