package projections

import (
	"context"
	"testing"

	"github.com/uptrace/bun"

	"ledger/domain"
	"ledger/infra/commands"
)

// dashboardPool is what a dashboard sees reading the remaining_incidents view directly.
type dashboardPool struct {
	MPNID             string `bun:"mpn_id"`
	PoolKind          string `bun:"pool_kind"`
	Granted           *int   `bun:"granted"`
	Used              int    `bun:"used"`
	Remaining         *int   `bun:"remaining"`
	Status            string `bun:"status"`
	ProjectionVersion int    `bun:"projection_version"`
	RulesVersion      int    `bun:"rules_version"`
}

// A dashboard reads the table by its logical name and gets the figures, NULL for
// unlimited, the event-driven status, and the versions that produced each row; a
// rule change shows in the rows its later events touch, not in the ones before (R10).
func TestDashboardReadsRemainingIncidentsFromTheView(t *testing.T) {
	forEachReadDialect(t, func(t *testing.T, h *harness) {
		s := newScenario(t, h)
		s.run()
		rules := domain.DefaultRules()
		rules.Version, rules.EffectiveFrom = 2, t0
		if _, err := s.x.Rules(context.Background(), domain.PublishRules{By: platformActor, Rules: rules}, commands.Meta{Actor: platformActor}); err != nil {
			t.Fatal(err)
		}
		gAdmin := user(goldCSP, "admin")
		s.do(gAdmin, domain.OpenIncident{MPNID: goldCSP, By: gAdmin, Plan: domain.PlanProductSupport, Product: "SQL Server", Version: "2022"})
		s.serve()

		var rows []dashboardPool
		if err := h.db.NewRaw(`SELECT mpn_id, pool_kind, granted, used, remaining, status, projection_version, rules_version
			FROM remaining_incidents WHERE mpn_id IN (?) ORDER BY mpn_id, pool_index`, bun.In([]string{goldCSP, actionPack})).
			Scan(context.Background(), &rows); err != nil {
			t.Fatal(err)
		}
		want := []dashboardPool{
			{goldCSP, "product-support", ptr(20), 2, ptr(18), "active", 1, 2}, // sized by rules 1, last drawn on under rules 2
			{goldCSP, "signature-cloud", nil, 1, nil, "active", 1, 1},
			{actionPack, "product-support", ptr(10), 10, ptr(0), "exhausted", 1, 1},
		}
		if len(rows) != len(want) {
			t.Fatalf("rows %+v, want %+v", rows, want)
		}
		for i := range want {
			g, w := rows[i], want[i]
			if g.MPNID != w.MPNID || g.PoolKind != w.PoolKind || !eqInt(g.Granted, w.Granted) || g.Used != w.Used ||
				!eqInt(g.Remaining, w.Remaining) || g.Status != w.Status || g.ProjectionVersion != w.ProjectionVersion || g.RulesVersion != w.RulesVersion {
				t.Errorf("row %d: %s, want %s", i, describeRow(g), describeRow(w))
			}
		}

		var versions []struct {
			IncidentID   string `bun:"incident_id"`
			RulesVersion int    `bun:"rules_version"`
		}
		if err := h.db.NewRaw(`SELECT incident_id, rules_version FROM incidents WHERE mpn_id = ? ORDER BY opened_position`, goldCSP).
			Scan(context.Background(), &versions); err != nil {
			t.Fatal(err)
		}
		if n := len(versions); n != 5 || versions[0].RulesVersion != 1 || versions[n-1].RulesVersion != 2 {
			t.Errorf("incident rules versions %+v: want rules 1 before the change, 2 after", versions)
		}
	})
}

func describeRow(r dashboardPool) string {
	return r.MPNID + " " + r.PoolKind + " granted " + intOrUnlimited(r.Granted) + " used " + intOrUnlimited(&r.Used) +
		" remaining " + intOrUnlimited(r.Remaining) + " " + r.Status + " p" + intOrUnlimited(&r.ProjectionVersion) +
		" r" + intOrUnlimited(&r.RulesVersion)
}
