package main

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// history measures what one partner's history costs: at each --history-sizes count of
// events on its stream it times --samples commands (incidents, each one more event),
// --samples queries (remaining-incidents, a read model) and --state-samples requests of
// /state (the auditors' view, which folds the partner's events: the one answer whose
// cost still grows with history), one at a time so that nothing but the history
// differs. Between sizes it grows the history itself with incidents (series "grow").
// --duration bounds the whole run: sizes not reached in time are left out.
func (lt loadtest) history(ctx context.Context, c *ltClient, p ltPartner) []*series {
	deadline := time.Now().Add(lt.Duration)
	in := func() bool { return ctx.Err() == nil && time.Now().Before(deadline) }
	grow := newSeries("grow")
	all := []*series{grow}
	events := setupEvents
	for _, size := range lt.HistorySizes {
		for events < size && in() {
			if a, _, _ := openIncident(ctx, c, grow, time.Now(), p); a.status == http.StatusCreated {
				events++
			}
		}
		if events < size {
			break
		}
		cmd := newSeries(fmt.Sprintf("command@%d", size))
		query := newSeries(fmt.Sprintf("query@%d", size))
		cmd.history, query.history = size, size
		for range lt.Samples {
			if a, _, _ := openIncident(ctx, c, cmd, time.Now(), p); a.status == http.StatusCreated {
				events++
			}
		}
		for range lt.Samples {
			_, _ = c.call(ctx, query, time.Now(), http.MethodGet, remainingPath(p.mpn), nil, nil)
		}
		all = append(all, cmd, query)
		if lt.StateSamples > 0 {
			state := newSeries(fmt.Sprintf("state@%d", size))
			state.history = size
			for range lt.StateSamples {
				_, _ = c.call(ctx, state, time.Now(), http.MethodGet, statePath(p.mpn), nil, nil)
			}
			all = append(all, state)
		}
	}
	return all
}
