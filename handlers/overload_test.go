package handlers_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"ledger/domain"
	"ledger/handlers"
	"ledger/infra/commands"
	"ledger/infra/eventstore"
	"ledger/infra/metrics"
	"ledger/infra/metrics/metricstest"
)

// heldCommands decides every command only once the test lets it: each command reports
// its partner on entered, then waits for release. So the test knows, without timing,
// exactly how many commands are in flight.
type heldCommands struct {
	entered chan string
	release chan struct{}
}

func newHeldCommands() *heldCommands {
	return &heldCommands{entered: make(chan string, 64), release: make(chan struct{})}
}

func (h *heldCommands) Partner(ctx context.Context, mpnID string, cmd domain.Command, _ commands.Meta) (commands.Outcome, error) {
	h.entered <- mpnID
	select {
	case <-h.release:
	case <-ctx.Done():
		return commands.Outcome{}, ctx.Err()
	}
	out := commands.Outcome{Position: eventstore.Position{Commit: 1, Prepare: 1}}
	if open, ok := cmd.(domain.OpenIncident); ok {
		out.Events = []domain.Event{domain.IncidentOpened{MPNID: mpnID, IncidentID: domain.IncidentID(mpnID, 1), Plan: open.Plan}}
	}
	return out, nil
}

func (h *heldCommands) Rules(context.Context, domain.PublishRules, commands.Meta) (commands.Outcome, error) {
	return commands.Outcome{}, nil
}

func (h *heldCommands) LoadPartner(context.Context, string) (domain.Partner, eventstore.Position, error) {
	return domain.Partner{}, eventstore.Start, nil
}

// overloadFixture serves the real command routes over held commands, beside the
// fixture's routes, with the limits.
func overloadFixture(t *testing.T, limits handlers.InFlightLimits) (*fixture, *heldCommands, *metrics.Metrics) {
	held := newHeldCommands()
	m := metrics.New(nil)
	f := newFixture(t, func(d *handlers.Deps) {
		d.Routes = append(d.Routes, handlers.CommandRoutes(handlers.API{Commands: held})...)
		d.Limits = limits
		d.Metrics = m
	})
	return f, held, m
}

func enrolBody(mpn string) string { return fmt.Sprintf(`{"mpnId":%q,"name":"Partner %s"}`, mpn, mpn) }

func incidentBody(mpn string) string {
	return fmt.Sprintf(`{"contractId":%q,"kind":"premier","product":"SQL Server"}`, domain.ContractID(mpn, "X"))
}

// holdAll sends each command in the background and returns once every one is inside
// the command handler; wait collects their statuses after the release.
func holdAll(t *testing.T, f *fixture, held *heldCommands, path string, bodies []string, tok string) (wait func() []int) {
	t.Helper()
	sends := make([]func() *httptest.ResponseRecorder, len(bodies))
	for i, body := range bodies {
		sends[i] = func() *httptest.ResponseRecorder {
			return f.do(http.MethodPost, path, jsonBody(body), "Authorization", tok, "Content-Type", "application/json")
		}
	}
	return holdRequests(t, held.entered, "POST "+path, sends)
}

// holdRequests sends each request in the background and returns once every one has
// reported on entered (it is in flight, held by the test); wait collects their statuses
// after the release.
func holdRequests(t *testing.T, entered <-chan string, what string, sends []func() *httptest.ResponseRecorder) (wait func() []int) {
	t.Helper()
	statuses := make([]int, len(sends))
	done := make(chan *httptest.ResponseRecorder, len(sends))
	var wg sync.WaitGroup
	for i, send := range sends {
		wg.Go(func() {
			rec := send()
			statuses[i] = rec.Code
			done <- rec
		})
	}
	for range sends {
		select {
		case <-entered:
		case rec := <-done:
			t.Fatalf("%s answered %d before the test released it: %s", what, rec.Code, rec.Body)
		}
	}
	return func() []int { wg.Wait(); return statuses }
}

// beyondBound sends one command the bounds must refuse: it fails the test if the
// command reaches the command handler instead of being answered.
func beyondBound(t *testing.T, f *fixture, held *heldCommands, path, body, tok string) *httptest.ResponseRecorder {
	t.Helper()
	return refusedAtOnce(t, held.entered, "POST "+path, func() *httptest.ResponseRecorder {
		var rd io.Reader
		if body != "" {
			rd = jsonBody(body)
		}
		return f.do(http.MethodPost, path, rd, "Authorization", tok, "Content-Type", "application/json")
	})
}

// refusedAtOnce sends one request the bounds must answer without letting it in: it
// fails the test if the request reports on entered instead.
func refusedAtOnce(t *testing.T, entered <-chan string, what string, send func() *httptest.ResponseRecorder) *httptest.ResponseRecorder {
	t.Helper()
	done := make(chan *httptest.ResponseRecorder, 1)
	go func() { done <- send() }()
	select {
	case rec := <-done:
		return rec
	case mpn := <-entered:
		t.Fatalf("%s for partner %s was let in past the bound", what, mpn)
		return nil
	}
}

// wantOverloaded checks a 503 overloaded problem with a Retry-After of whole seconds.
func wantOverloaded(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503: %s", rec.Code, rec.Body)
	}
	if p := problemOf(t, rec); p.Code != handlers.CodeOverloaded {
		t.Errorf("code %q, want %q", p.Code, handlers.CodeOverloaded)
	}
	if ra := rec.Header().Get("Retry-After"); ra != "1" {
		t.Errorf("Retry-After %q, want 1", ra)
	}
}

func rejected(t *testing.T, f *fixture, class, scope string) float64 {
	t.Helper()
	v, _ := scrape(t, f).Value("benefits_http_rejected_total", metricstest.Labels{"class": class, "scope": scope})
	return v
}

func TestCommandsBeyondTheProcessBoundAnswer503OverloadedAtOnceAndServeAgainOnceLoadFalls(t *testing.T) {
	const bound, beyond = 4, 3
	f, held, _ := overloadFixture(t, handlers.InFlightLimits{Commands: bound})
	platform := bearer(t, "pc", handlers.RolePlatform)
	var bodies []string
	for i := range bound {
		bodies = append(bodies, enrolBody(fmt.Sprint(10000+i)))
	}
	wait := holdAll(t, f, held, "/v1/partners", bodies, platform)

	for i := range beyond {
		wantOverloaded(t, beyondBound(t, f, held, "/v1/partners", enrolBody(fmt.Sprint(20000+i)), platform))
	}
	for _, path := range []string{"/healthz", "/readyz", "/metrics", "/openapi.json"} {
		if rec := f.do(http.MethodGet, path, nil); rec.Code != http.StatusOK {
			t.Errorf("GET %s while overloaded: %d, want 200 (never limited)", path, rec.Code)
		}
	}
	if got := rejected(t, f, handlers.LoadClassCommand, handlers.RejectScopeProcess); got != beyond {
		t.Errorf("benefits_http_rejected_total{command,process} = %v, want %d", got, beyond)
	}

	close(held.release)
	for i, st := range wait() {
		if st != http.StatusCreated {
			t.Errorf("held command %d: %d, want 201", i, st)
		}
	}
	for i := range bound + beyond { // the load has fallen: every slot is free again
		if rec := f.do(http.MethodPost, "/v1/partners", jsonBody(enrolBody(fmt.Sprint(30000+i))),
			"Authorization", platform, "Content-Type", "application/json"); rec.Code != http.StatusCreated {
			t.Fatalf("command %d after the load fell: %d %s", i, rec.Code, rec.Body)
		}
		<-held.entered
	}
}

func TestOneHotPartnerIsBoundedWithoutStarvingTheOthers(t *testing.T) {
	const perPartner = 2
	f, held, _ := overloadFixture(t, handlers.InFlightLimits{Commands: 16, PerPartner: perPartner})
	tok := bearer(t, "admin@40001")
	// The partner of POST /v1/incidents is found from the contract in the body.
	wait := holdAll(t, f, held, "/v1/incidents", []string{incidentBody("40001"), incidentBody("40001")}, tok)

	wantOverloaded(t, beyondBound(t, f, held, "/v1/incidents", incidentBody("40001"), tok))
	wantOverloaded(t, beyondBound(t, f, held, "/v1/partners/40001/technical-support/activate", "", tok))
	if got := rejected(t, f, handlers.LoadClassCommand, handlers.RejectScopePartner); got != 2 {
		t.Errorf("benefits_http_rejected_total{command,partner} = %v, want 2", got)
	}

	other := make(chan int, 1)
	go func() {
		other <- f.do(http.MethodPost, "/v1/incidents", jsonBody(incidentBody("40002")),
			"Authorization", bearer(t, "admin@40002"), "Content-Type", "application/json").Code
	}()
	if mpn := <-held.entered; mpn != "40002" { // another partner still gets in
		t.Fatalf("entered %s, want 4002", mpn)
	}
	close(held.release)
	if st := <-other; st != http.StatusCreated {
		t.Errorf("other partner's incident: %d, want 201", st)
	}
	for i, st := range wait() {
		if st != http.StatusCreated {
			t.Errorf("held incident %d: %d, want 201", i, st)
		}
	}
	if rec := f.do(http.MethodPost, "/v1/incidents", jsonBody(incidentBody("40001")),
		"Authorization", tok, "Content-Type", "application/json"); rec.Code != http.StatusCreated {
		t.Fatalf("hot partner once its commands finished: %d %s", rec.Code, rec.Body)
	}
}

func TestQueriesHaveTheirOwnBoundSoACommandFloodLeavesThemAnswering(t *testing.T) {
	f, held, _ := overloadFixture(t, handlers.InFlightLimits{Commands: 1, Queries: 1})
	platform := bearer(t, "pc", handlers.RolePlatform)
	wait := holdAll(t, f, held, "/v1/partners", []string{enrolBody("50001")}, platform)
	wantOverloaded(t, beyondBound(t, f, held, "/v1/partners", enrolBody("50002"), platform))
	// A query route: the command bound being full does not touch it.
	if rec := f.do(http.MethodGet, "/v1/whoami", nil, "Authorization", platform); rec.Code != http.StatusOK {
		t.Errorf("query while commands are saturated: %d %s", rec.Code, rec.Body)
	}
	close(held.release)
	wait()
}

// A query waiting for its read model to reach minPosition does no work: it must not
// hold a slot of the query bound, or a burst of read-your-writes waits after a burst of
// commands turns every other read into 503 overloaded (issue 10: a second of visibility
// latency per refused read). Nor does it hold a slot of its partner's bound.
func TestQueryWaitingForMinPositionDoesNotHoldAQuerySlot(t *testing.T) {
	for _, tc := range []struct {
		bound          string
		limits         handlers.InFlightLimits
		parked, beside string
	}{
		{"process", handlers.InFlightLimits{Queries: 1}, "/v1/things/a", "/v1/things/b"},
		{"partner", handlers.InFlightLimits{PerPartnerQueries: 1}, "/v1/partners/40001/things", "/v1/partners/40001/things"},
	} {
		t.Run(tc.bound, func(t *testing.T) {
			f, _, _ := overloadFixture(t, tc.limits)
			f.board.waiting = make(chan eventstore.Position, 1)
			auth := bearer(t, "alice")
			parked := make(chan int, 1)
			go func() {
				parked <- f.do(http.MethodGet, tc.parked+"?minPosition=5", nil, "Authorization", auth).Code
			}()
			<-f.board.waiting // the first query is parked on position 5
			if rec := f.do(http.MethodGet, tc.beside, nil, "Authorization", auth); rec.Code != http.StatusOK {
				t.Fatalf("a query beside one waiting for minPosition: %d %s, want 200", rec.Code, rec.Body)
			}
			f.board.advance("things", eventstore.Position{Commit: 5, Prepare: 5})
			if code := <-parked; code != http.StatusOK {
				t.Fatalf("the waiting query: %d, want 200 once the read model reached it", code)
			}
		})
	}
}
