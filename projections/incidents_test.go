package projections

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"ledger/domain"
	"ledger/infra/eventstore"
	"ledger/infra/paging"
)

// An event a read model needs but cannot read, or that contradicts what it holds, is
// dead-lettered with the reason: never skipped silently, and the read model goes on.
// Event types a read model does not need, even unknown ones, are not its business.
func TestAnEventAReadModelCannotApplyIsDeadLetteredNotSkipped(t *testing.T) {
	forEachReadDialect(t, func(t *testing.T, h *harness) {
		s := newScenario(t, h)
		s.run()
		for _, bad := range []eventstore.EventData{
			{Type: "IncidentOpened.v1", Data: []byte(`{"mpnId": 9999999}`)},                              // wrong type: cannot decode
			{Type: "IncidentClosed.v1", Data: []byte(`{"mpnId":"9999999","incidentId":"IN-9999999-1"}`)}, // never opened
			{Type: "SomethingNew.v1", Data: []byte(`{"whatever":true}`)},                                 // not any read model's
		} {
			bad.ID = uuid.NewString()
			if _, err := h.store.Append(context.Background(), domain.PartnerStream("9999999"), eventstore.Any(), bad); err != nil {
				t.Fatal(err)
			}
		}
		gAdmin := user(goldCSP, "admin")
		after := s.do(gAdmin, domain.OpenIncident{MPNID: goldCSP, By: gAdmin, Plan: domain.PlanProductSupport, Product: "SQL Server", Version: "2025", Title: "after"})
		rm, r := s.serve()

		want := map[string]int{IncidentsName: 2, RemainingIncidentsName: 1, SupportPlansName: 1, LinkedAccountsName: 0, BenefitsOverviewName: 0}
		for name, n := range want {
			st, err := r.Checkpoints().State(context.Background(), name)
			if err != nil {
				t.Fatal(err)
			}
			wantStatus := StatusLive
			if n > 0 {
				wantStatus = StatusDegraded
			}
			if st.DeadLetters != n || st.Status != wantStatus {
				t.Errorf("%s: %d dead letters, status %s; want %d, %s", name, st.DeadLetters, st.Status, n, wantStatus)
			}
		}
		in, err := rm.Incidents(context.Background(), goldCSP, domain.IncidentStatusOpen, paging.Page{})
		must(t, err)
		last := in.Incidents[len(in.Incidents)-1]
		if last.IncidentID != after.Events[0].(domain.IncidentOpened).IncidentID {
			t.Errorf("the incident opened after the bad events is missing: last is %+v", last)
		}
	})
}
