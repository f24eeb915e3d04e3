package projections

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"ledger/domain"
	"ledger/infra/commands"
	"ledger/infra/eventstore"
)

// Read-your-writes with kept answers, under load: four partners' incidents are opened
// at once (in two partitions: a commit touches several partners, of both), each
// followed by queries of its partner and of the next one naming its position, in the
// projector's process (told which partners each commit touched) and in an API-only
// process (which cannot know): no answer misses an incident at or below the position
// it asked for.
func TestKeptAnswersUnderLoadNeverMissAnIncidentAtOrBelowTheirPosition(t *testing.T) {
	forEachReadDialect(t, func(t *testing.T, h *harness) {
		const writers, incidents = 4, 12 // within a Gold membership's 20 product-support incidents
		h.partitions = 2
		s := newScenario(t, h)
		mpns := make([]string, writers)
		for w := range mpns {
			mpns[w] = fmt.Sprintf("20000%02d", w)
			year := 365 * 24 * time.Hour
			s.activateAndLink(mpns[w], s.enrolWithAdmin(mpns[w], false, domain.LevelGold, "Cloud Platform", t0.Add(-year), t0.Add(year)))
		}
		_, r := s.serve()
		waiters, readers := h.waitProcesses(r), map[string]*ReadModels{}
		for proc, c := range waiters {
			readers[proc] = NewReadModels(h.db, KeepAnswers(DefaultAnswerCacheBytes, c))
		}
		var mu sync.Mutex
		opened := map[string][]eventstore.Position{} // by partner
		openedUpTo := func(mpn string, pos eventstore.Position) (n int) {
			mu.Lock()
			defer mu.Unlock()
			for _, p := range opened[mpn] {
				if !pos.Less(p) {
					n++
				}
			}
			return n
		}
		var wg sync.WaitGroup
		for w, mpn := range mpns {
			wg.Go(func() {
				admin := user(mpn, "admin")
				for range incidents {
					out, err := s.x.Partner(context.Background(), mpn, domain.OpenIncident{MPNID: mpn, By: admin, Plan: domain.PlanProductSupport,
						Product: "SQL Server", Version: "2025"}, commands.Meta{Actor: admin, CorrelationID: "load"})
					if err != nil {
						t.Errorf("open an incident of %s: %v", mpn, err)
						return
					}
					mu.Lock()
					opened[mpn] = append(opened[mpn], out.Position)
					mu.Unlock()
					for proc, rm := range readers {
						for _, reader := range []string{mpn, mpns[(w+1)%writers]} {
							used, err := usedAfter(waiters[proc], rm, reader, out.Position)
							if want := openedUpTo(reader, out.Position); err != nil || used < want {
								t.Errorf("%s: %s asking for %s: %d used (%v); %d incidents opened at or below it", proc, reader, out.Position, used, err, want)
								return
							}
						}
					}
				}
			})
		}
		wg.Wait()
	})
}

// usedAfter is how many product-support incidents mpn's remaining-incidents answer
// shows, asking for pos as a query route does (wait, then read or be served).
func usedAfter(c *Checkpoints, rm *ReadModels, mpn string, pos eventstore.Position) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), answerWithin)
	defer cancel()
	if _, err := c.WaitForPartner(ctx, RemainingIncidentsName, mpn, pos); err != nil {
		return 0, err
	}
	body, err := rm.RemainingIncidentsJSON(ctx, mpn, t0, true)
	if err != nil {
		return 0, err
	}
	var answer RemainingIncidents
	if err := json.Unmarshal(body, &answer); err != nil {
		return 0, err
	}
	for _, c := range answer.Contracts {
		for _, p := range c.Pools {
			if p.Kind == string(domain.PoolProductSupport) {
				return p.Used, nil
			}
		}
	}
	return 0, fmt.Errorf("no product-support pool in %s", body)
}
