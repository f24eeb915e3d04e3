package handlers_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"ledger/domain"
	"ledger/handlers"
	"ledger/infra/commands"
	"ledger/infra/eventstore"
	"ledger/infra/metrics"
	"ledger/projections"
)

// heldLoads is the real command executor whose partner loads wait until the test lets
// them: the access check of every query about a partner loads it first, and reports its
// partner on entered. So the test knows, without timing, exactly how many queries are
// in flight, and about which partner.
type heldLoads struct {
	*commands.Executor
	entered chan string
	release chan struct{}
}

func (h *heldLoads) LoadPartner(ctx context.Context, mpnID string) (domain.Partner, eventstore.Position, error) {
	h.entered <- mpnID
	select {
	case <-h.release:
	case <-ctx.Done():
		return domain.Partner{}, eventstore.Position{}, ctx.Err()
	}
	return h.Executor.LoadPartner(ctx, mpnID)
}

// queryOverloadFixture serves the real query and audit routes, with the limits, over a
// real store and read models holding two Gold partners, 40001 and 40002; it returns
// each partner's contract.
func queryOverloadFixture(t *testing.T, limits handlers.InFlightLimits) (*fixture, *heldLoads, map[string]string) {
	w := newAuditWorld(t)
	contracts := map[string]string{}
	for _, mpn := range []string{"40001", "40002"} {
		w.goldPartner(mpn)
		st, _, err := w.x.LoadPartner(context.Background(), mpn)
		if err != nil {
			t.Fatal(err)
		}
		act, _ := st.Activation()
		contracts[mpn] = act.ContractID
	}
	w.rebuildAll()
	held := &heldLoads{Executor: w.x, entered: make(chan string, 64), release: make(chan struct{})}
	clock := func() time.Time { return w.now }
	routes := append(handlers.QueryRoutes(handlers.API{Commands: held, ReadModels: projections.NewReadModels(w.db), Now: clock}),
		handlers.AuditRoutes(handlers.AuditAPI{Log: w.store, Partners: held, Now: clock})...)
	f := &fixture{board: newPositionBoard(), logs: &syncBuffer{}}
	f.e = handlers.NewServer(handlers.Deps{JWTSecret: testSecret, Routes: routes, Projections: projections.NewCheckpoints(w.db),
		Limits: limits, Metrics: metrics.New(nil), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	return f, held, contracts
}

// getAs is a GET with a token of sub, to send in the background.
func getAs(t *testing.T, f *fixture, path, sub string) func() *httptest.ResponseRecorder {
	tok := bearer(t, sub)
	return func() *httptest.ResponseRecorder { return f.do(http.MethodGet, path, nil, "Authorization", tok) }
}

func TestOneHotPartnersQueriesAreRefusedAtOnceWhileOtherPartnersQueriesAreServed(t *testing.T) {
	f, held, contracts := queryOverloadFixture(t, handlers.InFlightLimits{Queries: 16, PerPartnerQueries: 2})
	wait := holdRequests(t, held.entered, "40001's queries", []func() *httptest.ResponseRecorder{
		getAs(t, f, "/v1/partners/40001/benefits", "admin@40001"),
		getAs(t, f, "/v1/partners/40001/remaining-incidents", "admin@40001"),
	})

	// Every route naming 40001 counts against its bound: by MPN ID, by a contract ID
	// (which holds its partner's MPN ID), and the audit routes.
	for _, path := range []string{"/v1/partners/40001/incidents", "/v1/contracts/" + contracts["40001"] + "/linked-accounts",
		"/v1/partners/40001/state", "/v1/partners/40001/history"} {
		rec := refusedAtOnce(t, held.entered, "GET "+path, getAs(t, f, path, "admin@40001"))
		wantOverloaded(t, rec)
		if detail := problemOf(t, rec).Detail; !strings.Contains(detail, "partner 40001 has too many queries in flight") {
			t.Errorf("GET %s: detail %q, want it to name the partner and its queries", path, detail)
		}
	}
	if got := rejected(t, f, handlers.LoadClassQuery, handlers.RejectScopePartner); got != 4 {
		t.Errorf("benefits_http_rejected_total{query,partner} = %v, want 4", got)
	}
	if got := rejected(t, f, handlers.LoadClassQuery, handlers.RejectScopeProcess); got != 0 {
		t.Errorf("benefits_http_rejected_total{query,process} = %v, want 0", got)
	}

	// In the same moment, another partner's queries get in (by MPN ID and by contract),
	// and so does a query by account, which names no single partner, although the
	// account is 40001's: it is bound only per process.
	var others []func() []int
	for _, q := range []struct{ path, sub, loads string }{
		{"/v1/partners/40002/benefits", "admin@40002", "40002"},
		{"/v1/contracts/" + contracts["40002"] + "/linked-accounts", "admin@40002", "40002"},
		{"/v1/accounts/admin@40001/support-plans", "admin@40001", "40001"},
	} {
		others = append(others, holdRequests(t, held.entered, "GET "+q.path, []func() *httptest.ResponseRecorder{getAs(t, f, q.path, q.sub)}))
	}
	close(held.release)
	for i, st := range wait() {
		if st != http.StatusOK {
			t.Errorf("held query %d of 40001: %d, want 200", i, st)
		}
	}
	for i, w := range others {
		if st := w()[0]; st != http.StatusOK {
			t.Errorf("query %d served beside the hot partner: %d, want 200", i, st)
		}
	}
	if rec := f.do(http.MethodGet, "/v1/partners/40001/incidents", nil, "Authorization", bearer(t, "admin@40001")); rec.Code != http.StatusOK {
		t.Fatalf("hot partner once its queries finished: %d %s", rec.Code, rec.Body)
	}
}

func TestAPerPartnerQueryBoundOfZeroLeavesOnlyTheProcessBound(t *testing.T) {
	const processBound = 4
	f, held, _ := queryOverloadFixture(t, handlers.InFlightLimits{Queries: processBound, PerPartnerQueries: 0})
	var sends []func() *httptest.ResponseRecorder
	for range processBound { // one partner takes every query slot of the process
		sends = append(sends, getAs(t, f, "/v1/partners/40001/benefits", "admin@40001"))
	}
	wait := holdRequests(t, held.entered, "40001's queries", sends)
	wantOverloaded(t, refusedAtOnce(t, held.entered, "GET 40002's benefits", getAs(t, f, "/v1/partners/40002/benefits", "admin@40002")))
	if got := rejected(t, f, handlers.LoadClassQuery, handlers.RejectScopeProcess); got != 1 {
		t.Errorf("benefits_http_rejected_total{query,process} = %v, want 1", got)
	}
	if got := rejected(t, f, handlers.LoadClassQuery, handlers.RejectScopePartner); got != 0 {
		t.Errorf("benefits_http_rejected_total{query,partner} = %v, want 0", got)
	}
	close(held.release)
	for i, st := range wait() {
		if st != http.StatusOK {
			t.Errorf("held query %d: %d, want 200", i, st)
		}
	}
}
