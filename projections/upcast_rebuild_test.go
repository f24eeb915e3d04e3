package projections

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"ledger/domain"
	"ledger/infra/audit"
	"ledger/infra/commands"
	"ledger/infra/eventmeta"
	"ledger/infra/eventstore"
	"ledger/infra/paging"
	"ledger/infra/sqlstore"
	"ledger/infra/testkit"
)

// TestMixedVersionLogRebuildsToTheSameReadModelsAsAnAllV2Log: a log where the incidents
// opened before severities existed are stored as IncidentOpened.v1 (re-sealed, so its
// chain verifies) rebuilds every read model to exactly the rows the all-v2 log gives:
// the upcaster's defaults are what a v2 command without details records.
func TestMixedVersionLogRebuildsToTheSameReadModelsAsAnAllV2Log(t *testing.T) {
	forEachReadDialect(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		w := newPartnerWriter(t, h.store, testkit.NewClock(rebuildT0))
		const mpn = "1000001"
		admin := domain.Actor{UserID: "admin@" + mpn}
		w.member(mpn, domain.LevelGold, "Cloud Platform", true)
		w.do(mpn, domain.PurchaseSupportPlan{MPNID: mpn, By: admin, Plan: domain.PlanPremier, ValidUntil: rebuildT0.AddDate(1, 0, 0)})
		w.do(mpn, domain.OpenIncident{MPNID: mpn, By: admin, Plan: domain.PlanPremier, Product: "SQL Server", Version: "2012", Title: "old"})
		w.do(mpn, domain.OpenIncident{MPNID: mpn, By: admin, Plan: domain.PlanPremier, Product: "Exchange Server", Version: "2019", CustomerID: "cust-1",
			CustomerCountry: "NL", Severity: domain.SeverityCritical, Title: "down"})
		w.do(mpn, domain.OpenIncident{MPNID: mpn, By: admin, Plan: domain.PlanPremier, Product: "SQL Server", Version: "2022", CustomerID: "cust-2"})
		w.do(mpn, domain.CloseIncident{MPNID: mpn, By: admin, IncidentID: domain.IncidentID(mpn, 1)})

		mixed, v1s := storeWithV1Incidents(t, h.store)
		if v1s != 2 {
			t.Fatalf("%d incidents stored as v1, want the 2 without details", v1s)
		}
		if v, err := audit.Verify(ctx, mixed, ""); err != nil || !v.Intact {
			t.Fatalf("the mixed log's chain: %+v %v", v, err)
		}

		setUpLive(t, h, All()...) // generation 1: the all-v2 log
		for _, p := range All() {
			rep, err := RebuildAndCompare(ctx, h.db, mixed, p, RebuildOptions{BatchSize: 3, Logger: h.log})
			if err != nil {
				t.Fatal(err)
			}
			if !rep.Swapped || !rep.Unchanged() {
				t.Errorf("%s: rebuilt over the mixed log it differs from the all-v2 log: %+v", p.Name(), rep.Tables)
			}
		}
		got, err := NewReadModels(h.db).Incidents(ctx, mpn, "", paging.Page{})
		if err != nil || len(got.Incidents) != 3 {
			t.Fatalf("incidents after the rebuild: %+v %v", got, err)
		}
		for i, want := range []string{"minimal  closed", "critical NL open", "minimal  open"} {
			in := got.Incidents[i]
			if s := in.Severity + " " + in.CustomerCountry + " " + in.Status; s != want {
				t.Errorf("incident %s: %q, want %q", in.IncidentID, s, want)
			}
		}

		page, err := audit.History(ctx, mixed, mpn, paging.Page{})
		if err != nil {
			t.Fatal(err)
		}
		var upcast int
		for _, r := range page.Events {
			if r.Type == "IncidentOpened.v1" {
				if r.ReadAs == nil || r.ReadAs.Type != "IncidentOpened.v2" || !json.Valid(r.ReadAs.Data) {
					t.Errorf("history shows a v1 event without its v2 reading: %+v", r)
				}
				upcast++
			}
		}
		if upcast != 2 {
			t.Errorf("history lists %d v1 events, want 2", upcast)
		}
		st, err := audit.PartnerAsOf(ctx, mixed, mpn, rebuildT0.AddDate(0, 1, 0))
		if err != nil || st.Partner.IncidentCount != 3 {
			t.Fatalf("as-of over the mixed log: %d incidents, %v", st.Partner.IncidentCount, err)
		}
		if in, _ := st.Partner.IncidentLog.ByID(domain.IncidentID(mpn, 3)); in.Severity != domain.SeverityDefault {
			t.Errorf("as-of reads the v1 incident with severity %q, want %q", in.Severity, domain.SeverityDefault)
		}

		// Commands decide over the mixed log too: the v1 incident is closed by its opener,
		// and the next one is numbered after all three.
		x := commands.New(mixed, commands.WithClock(func() time.Time { return rebuildT0.AddDate(0, 2, 0) }))
		t.Cleanup(func() { x.Close() })
		if _, err := x.Partner(ctx, mpn, domain.CloseIncident{MPNID: mpn, By: admin, IncidentID: domain.IncidentID(mpn, 3)}, commands.Meta{Actor: admin}); err != nil {
			t.Fatalf("closing the v1 incident: %v", err)
		}
		out, err := x.Partner(ctx, mpn, domain.OpenIncident{MPNID: mpn, By: admin, Plan: domain.PlanPremier, Product: "SQL Server", Version: "2022"}, commands.Meta{Actor: admin})
		if err != nil || out.State.IncidentCount != 4 {
			t.Fatalf("a command over the mixed log: %v, %d incidents", err, out.State.IncidentCount)
		}
	})
}

// storeWithV1Incidents copies a log into a new store, writing each IncidentOpened that
// carries no severity or country of its own as the v1 the old code wrote, and re-sealing
// every stream's chain. It returns the store and how many events it wrote as v1.
func storeWithV1Incidents(t *testing.T, from *sqlstore.Store) (*sqlstore.Store, int) {
	t.Helper()
	ctx := context.Background()
	to, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "mixed.db"), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { to.Close() })
	prev := map[string]string{}
	v1s := 0
	for ev, err := range from.ReadAll(ctx, eventstore.Start) {
		if err != nil {
			t.Fatal(err)
		}
		typ, data := ev.Type, ev.Data
		if e, err := domain.Decode(ev.Type, ev.Data); err == nil {
			if in, ok := e.(domain.IncidentOpened); ok && in.Severity == domain.SeverityDefault && in.CustomerCountry == "" {
				v1 := domain.IncidentOpenedV1{EventMeta: in.EventMeta, MPNID: in.MPNID, IncidentID: in.IncidentID, Plan: in.Plan,
					ContractID: in.ContractID, Pool: in.Pool, PaidPlanID: in.PaidPlanID, Product: in.Product, Version: in.Version,
					CustomerID: in.CustomerID, Title: in.Title, OpenedBy: in.OpenedBy}
				if data, err = json.Marshal(v1); err != nil {
					t.Fatal(err)
				}
				typ = "IncidentOpened.v1"
				v1s++
			}
		}
		m, err := eventmeta.Parse(ev.Metadata)
		if err != nil {
			t.Fatal(err)
		}
		m.PrevHash = prev[ev.Stream]
		sealed, err := eventmeta.Seal(m, typ, data, ev.Revision)
		if err != nil {
			t.Fatal(err)
		}
		prev[ev.Stream], _ = eventmeta.SealedHash(sealed)
		if _, err := to.Append(ctx, ev.Stream, eventstore.Any(), eventstore.EventData{ID: ev.ID, Type: typ, Data: data, Metadata: sealed}); err != nil {
			t.Fatal(err)
		}
	}
	return to, v1s
}
