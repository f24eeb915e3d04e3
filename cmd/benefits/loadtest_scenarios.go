package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"ledger/handlers"
)

// ltPartner is a partner the run set up: Gold in a cloud competency (Security), its
// benefit activated and the contract linked to the token's user. Its signature-cloud
// pool is unlimited (R7), so incidents on it can repeat for as long as the run lasts
// without exhausting anything; each is one event on the partner's stream.
type ltPartner struct {
	mpn        string
	contractID string
}

// setupEvents is what setting up one partner records: enrolment, membership, user,
// activation, link.
const setupEvents = 5

func (lt loadtest) mpnOf(i int) string { return fmt.Sprintf("%04d%06d", lt.RunID, i) }

// setupPartners sets up n partners with up to 16 at a time.
func (lt loadtest) setupPartners(ctx context.Context, c *ltClient, s *series, n int) ([]ltPartner, error) {
	sub, err := tokenSubject(lt.Token)
	if err != nil {
		return nil, err
	}
	partners := make([]ltPartner, n)
	next := atomic.Int64{}
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	for range min(n, 16) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n && ctx.Err() == nil; i = int(next.Add(1) - 1) {
				p, err := lt.setupPartner(ctx, c, s, lt.mpnOf(i), sub)
				if err != nil {
					select {
					case errs <- fmt.Errorf("setting up partner %s: %w", lt.mpnOf(i), err):
					default:
					}
					return
				}
				partners[i] = p
			}
		})
	}
	wg.Wait()
	select {
	case err := <-errs:
		return nil, err
	default:
		return partners, ctx.Err()
	}
}

func (lt loadtest) setupPartner(ctx context.Context, c *ltClient, s *series, mpn, sub string) (ltPartner, error) {
	base := "/v1/partners/" + mpn
	var act handlers.ActivationAnswer
	steps := []struct {
		method, path string
		body, out    any
	}{
		{http.MethodPost, "/v1/partners", handlers.EnrollPartnerRequest{MPNID: mpn, Name: "Load test " + mpn}, nil},
		{http.MethodPost, base + "/memberships", map[string]any{"offer": "gold", "competency": "Security",
			"validTo": time.Now().UTC().AddDate(2, 0, 0)}, nil},
		{http.MethodPost, base + "/users", handlers.RegisterUserRequest{UserID: sub, AccountType: "aad", MPNLinked: true,
			Roles: []string{"global-admin"}}, nil},
		{http.MethodPost, base + "/technical-support/activate", nil, &act},
	}
	for _, st := range steps {
		if err := c.must(ctx, s, st.method, st.path, st.body, st.out); err != nil {
			return ltPartner{}, err
		}
	}
	link := handlers.LinkContractRequest{AccessID: act.AccessID}
	if err := c.must(ctx, s, http.MethodPost, "/v1/contracts/"+url.PathEscape(act.ContractID)+"/links", link, nil); err != nil {
		return ltPartner{}, err
	}
	return ltPartner{mpn: mpn, contractID: act.ContractID}, nil
}

// openIncident is the repeatable command: an Azure incident on the unlimited
// signature-cloud pool of p's contract.
func openIncident(ctx context.Context, c *ltClient, s *series, start time.Time, p ltPartner) (answer, handlers.IncidentAnswer, error) {
	var out handlers.IncidentAnswer
	a, err := c.call(ctx, s, start, http.MethodPost, "/v1/incidents",
		handlers.OpenIncidentRequest{ContractID: p.contractID, Kind: "signature-cloud", Product: "Azure", Title: "load test"}, &out)
	return a, out, err
}

func remainingPath(mpn string) string { return "/v1/partners/" + mpn + "/remaining-incidents" }

func statePath(mpn string) string { return "/v1/partners/" + mpn + "/state" }

// budget hands out the measured phase's requests: none after the deadline, none beyond
// --requests.
type budget struct {
	deadline time.Time
	limit    int64
	taken    atomic.Int64
}

func (lt loadtest) newBudget() *budget {
	return &budget{deadline: time.Now().Add(lt.Duration), limit: int64(lt.Requests)}
}

// take returns the ticket of the next request, or false when the phase is over.
func (b *budget) take() (int, bool) {
	if !time.Now().Before(b.deadline) {
		return 0, false
	}
	n := b.taken.Add(1)
	if b.limit > 0 && n > b.limit {
		return 0, false
	}
	return int(n - 1), true
}

// closedLoop runs clients that each send a request as soon as their previous one was
// answered; a 503 with Retry-After makes that client wait as asked (a well-behaved
// client), within the deadline.
func (lt loadtest) closedLoop(ctx context.Context, b *budget, send func(ticket int) answer) {
	var wg sync.WaitGroup
	for range lt.Clients {
		wg.Go(func() {
			for ctx.Err() == nil {
				ticket, ok := b.take()
				if !ok {
					return
				}
				if a := send(ticket); a.status == http.StatusServiceUnavailable && a.retryAfter > 0 {
					_ = sleepCtx(ctx, min(a.retryAfter, time.Until(b.deadline)))
				}
			}
		})
	}
	wg.Wait()
}

// openLoop calls send for each request of the measured phase at the instant it is due,
// --rate of them a second, each on a goroutine of its own, whether or not the earlier
// ones were answered (a slow server is not given time by its clients), and waits for
// them all.
func (lt loadtest) openLoop(ctx context.Context, b *budget, send func(ticket int, due time.Time)) {
	start := time.Now()
	var wg sync.WaitGroup
	for i := 0; ctx.Err() == nil; i++ {
		due := start.Add(time.Duration(float64(i) / lt.Rate * float64(time.Second)))
		if sleepCtx(ctx, time.Until(due)) != nil {
			break
		}
		ticket, ok := b.take()
		if !ok {
			break
		}
		wg.Go(func() { send(ticket, due) })
	}
	wg.Wait()
}

// run sets up what the scenario needs, measures, and reports every series.
func (lt loadtest) run(ctx context.Context) (Report, error) {
	c := newLTClient(ctx, lt, max(lt.Clients, 64))
	rep := Report{Scenario: lt.Scenario, Target: lt.APIURL.Redacted(), Partners: lt.Partners}
	if lt.Scenario == scenarioHistory {
		rep.Partners = 1
	}
	setup := newSeries("setup")
	all := []*series{setup}
	partners, err := lt.setupPartners(ctx, c, setup, rep.Partners)
	if err != nil {
		return rep, err
	}
	server := watchServer(ctx, c)
	switch lt.Scenario {
	case scenarioCommands:
		rep.Clients = lt.Clients
		all = append(all, lt.commands(ctx, c, partners))
	case scenarioQueries:
		rep.Clients = lt.Clients
		all = append(all, lt.queries(ctx, c, partners))
	case scenarioVisibility, scenarioOffered:
		rep.OfferedRate = lt.Rate
		all = append(all, lt.visibility(ctx, c, partners, lt.Scenario == scenarioVisibility)...)
	case scenarioOfferedQueries:
		rep.OfferedRate = lt.Rate
		all = append(all, lt.offeredQueries(ctx, c, partners))
	case scenarioHistory:
		all = append(all, lt.history(ctx, c, partners[0])...)
	}
	rep.ServerMaxRSSBytes, rep.ServerCPUSeconds = server.finish(context.WithoutCancel(ctx), c)
	answers := 0
	for i, s := range all {
		r := s.report()
		rep.Series = append(rep.Series, r)
		if i > 0 && !s.derived { // all[0] is setup
			answers += r.OK
		}
	}
	if answers > 0 {
		rep.ServerCPUPerAnswer = rep.ServerCPUSeconds / float64(answers) * 1e6
	}
	return rep, ctx.Err()
}

// commands: closed-loop incidents spread over the partners.
func (lt loadtest) commands(ctx context.Context, c *ltClient, partners []ltPartner) *series {
	s := newSeries("open-incident")
	lt.closedLoop(ctx, lt.newBudget(), func(ticket int) answer {
		a, _, _ := openIncident(ctx, c, s, time.Now(), partners[ticket%len(partners)])
		return a
	})
	return s
}

// queries: closed-loop remaining-incidents reads spread over the partners.
func (lt loadtest) queries(ctx context.Context, c *ltClient, partners []ltPartner) *series {
	s := newSeries("remaining-incidents")
	lt.closedLoop(ctx, lt.newBudget(), func(ticket int) answer {
		a, _ := c.call(ctx, s, time.Now(), http.MethodGet, remainingPath(partners[ticket%len(partners)].mpn), nil, nil)
		return a
	})
	return s
}

// offeredQueries: remaining-incidents reads at --rate, spread over the partners, each
// timed from the instant it was due, so a server that falls behind the rate shows it in
// the latency instead of in fewer requests sent.
func (lt loadtest) offeredQueries(ctx context.Context, c *ltClient, partners []ltPartner) *series {
	s := newSeries("remaining-incidents")
	lt.openLoop(ctx, lt.newBudget(), func(ticket int, due time.Time) {
		_, _ = c.call(ctx, s, due, http.MethodGet, remainingPath(partners[ticket%len(partners)].mpn), nil, nil)
	})
	return s
}
