package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"testing"
	"time"

	"ledger/domain"
	"ledger/handlers"
	"ledger/infra/audit"
	"ledger/infra/commands"
	"ledger/infra/paging"
)

// GET /state keeps of the incidents only the asked page while it folds, yet answers
// byte for byte what rendering the full fold answers: on random histories of opened
// and closed incidents, linked and registered users, at random instants, for every
// page of random sizes, cursors included. Closed incidents show every detail (the
// command executor's state, which keeps them compacted, is never rendered).
func TestStateAsOfAnswersWhatTheFullFoldRendersOnEveryPage(t *testing.T) {
	pagesWalked, closedShown := 0, 0 // the histories must page and close, or this proves little
	for seed := range uint64(3) {
		rng := rand.New(rand.NewPCG(seed, 0x57a7e))
		w := newAuditWorld(t)
		mpn := fmt.Sprintf("47110%02d", seed)
		w.goldPartner(mpn)
		w.randomHistory(rng, mpn, 60)
		for range 4 {
			at := auditT0.Add(time.Duration(rng.IntN(int(w.now.Sub(auditT0)/time.Hour)+2)) * time.Hour)
			full, err := audit.PartnerAsOf(context.Background(), w.store, mpn, at)
			if err != nil {
				t.Fatal(err)
			}
			limit, cursor := 1+rng.IntN(7), ""
			for pages := 1; ; pages++ {
				want, err := handlers.RenderAsOf(full, paging.Page{Cursor: cursor, Limit: limit})
				if err != nil {
					t.Fatal(err)
				}
				wantBody, _ := json.Marshal(want)
				code, body := w.get(fmt.Sprintf("/v1/partners/%s/state?asOf=%s&limit=%d&cursor=%s", mpn, at.Format(time.RFC3339), limit, cursor), "auditor-1", handlers.RoleAuditor)
				if code != http.StatusOK || !bytes.Equal(bytes.TrimSpace(body), wantBody) {
					t.Fatalf("seed %d as of %s, page %d of %d: %d\n got %s\nwant %s", seed, at, pages, limit, code, body, wantBody)
				}
				pagesWalked++
				for _, in := range want.Incidents.Incidents { // in full, though the executor keeps them compacted
					if in.ClosedAt != nil && in.Product != "" && in.Title != "" && in.Severity != "" && in.ClosedBy != "" && in.Resolution == "fixed" {
						closedShown++
					}
				}
				if cursor = want.Incidents.NextCursor; cursor == "" {
					if pages < full.Partner.IncidentCount/limit {
						t.Fatalf("%d incidents in pages of %d ended after %d pages", full.Partner.IncidentCount, limit, pages)
					}
					break
				}
			}
		}
	}
	if pagesWalked < 30 || closedShown < 10 {
		t.Fatalf("the histories gave %d pages and %d closed incidents", pagesWalked, closedShown)
	}
	t.Logf("%d pages, %d closed incidents shown", pagesWalked, closedShown)
}

// randomHistory runs n random commands on a goldPartner an hour apart: incidents opened
// on either pool and closed, users registered and linked. Refusals (an empty pool, an
// incident closed twice) are part of a history and record nothing.
func (w *auditWorld) randomHistory(rng *rand.Rand, mpn string, n int) {
	w.t.Helper()
	ctx := context.Background()
	admin := domain.Actor{UserID: "admin@" + mpn}
	st, _, err := w.x.LoadPartner(ctx, mpn)
	if err != nil {
		w.t.Fatal(err)
	}
	act, _ := st.Activation()
	for i := range n {
		var cmd domain.Command
		switch r := rng.IntN(10); {
		case r < 4:
			cmd = domain.OpenIncident{MPNID: mpn, By: admin, Plan: domain.PlanProductSupport, Product: "SQL Server", Version: "2025",
				ContractID: act.ContractID, AccessID: act.AccessID, Title: fmt.Sprintf("step %d", i)}
		case r < 6:
			cmd = domain.OpenIncident{MPNID: mpn, By: admin, Plan: domain.PlanSignatureCloud, Product: "Azure",
				ContractID: act.ContractID, AccessID: act.AccessID, Title: fmt.Sprintf("step %d", i)}
		case r < 8:
			st, _, _ := w.x.LoadPartner(ctx, mpn)
			cmd = domain.CloseIncident{MPNID: mpn, By: admin, IncidentID: domain.IncidentID(mpn, 1+rng.IntN(st.IncidentCount)), Resolution: "fixed"}
		case r < 9:
			cmd = domain.RegisterUser{MPNID: mpn, By: admin, UserID: fmt.Sprintf("user-%d@%s", i, mpn), AccountType: domain.AccountAAD, MPNLinked: true}
		default:
			cmd = domain.LinkContract{MPNID: mpn, By: admin, UserID: admin.UserID, AccessID: act.AccessID, ContractID: act.ContractID}
		}
		if _, err := w.x.Partner(ctx, mpn, cmd, commands.Meta{Actor: admin, CorrelationID: "random"}); err != nil && !errors.As(err, new(*domain.Error)) {
			w.t.Fatalf("%s: %v", cmd.CommandName(), err)
		}
		w.now = w.now.Add(time.Hour)
	}
}
