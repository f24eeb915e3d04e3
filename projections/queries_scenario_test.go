package projections

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"ledger/domain"
	"ledger/infra/commands"
	"ledger/infra/eventstore"
	"ledger/infra/paging"
)

// t0 is "now" in the scenarios; whole seconds, so nothing depends on sub-microsecond
// precision.
var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

var platformActor = domain.Actor{UserID: "partner-center", SystemRoles: []string{domain.SystemPlatform}}

// Partners of the scenario, one per situation the read models must show.
const (
	goldCSP     = "1000001" // Gold, cloud competency, CSP: 20 product-support, unlimited cloud (R6, R7)
	actionPack  = "1000002" // Action Pack, its 10 incidents all used (R22)
	silverOther = "1000003" // Silver, other competency: 15 + Signature 5-pack; membership ended early
	renewed     = "1000004" // first contract expired, a second one activated (R5)
	noBenefits  = "1000005" // enrolled, no membership (R3)
)

var scenarioPartners = []string{goldCSP, actionPack, silverOther, renewed, noBenefits}

// scenario drives the real command path (domain decisions, hash chain, expected
// revisions) against the harness's SQLite event store at controlled instants.
type scenario struct {
	t        *testing.T
	h        *harness
	x        *commands.Executor
	now      time.Time
	head     eventstore.Position
	contract map[string]string // partner -> its current contract ID
	expired  string            // the renewed partner's first contract
	closed   string            // an incident closed in the scenario
}

func newScenario(t *testing.T, h *harness) *scenario {
	s := &scenario{t: t, h: h, now: t0, contract: map[string]string{}}
	s.x = commands.New(h.store, commands.WithClock(func() time.Time { return s.now }))
	return s
}

// do runs a command that must succeed, as actor.
func (s *scenario) do(actor domain.Actor, c domain.PartnerCommand) commands.Outcome {
	s.t.Helper()
	out, err := s.x.Partner(context.Background(), c.Partner(), c, commands.Meta{Actor: actor, CorrelationID: "scenario"})
	if err != nil {
		s.t.Fatalf("%s on %s: %v", c.CommandName(), c.Partner(), err)
	}
	if s.head.Less(out.Position) {
		s.head = out.Position
	}
	return out
}

// refused runs a command the domain must refuse with code.
func (s *scenario) refused(actor domain.Actor, c domain.PartnerCommand, code domain.Code) {
	s.t.Helper()
	_, err := s.x.Partner(context.Background(), c.Partner(), c, commands.Meta{Actor: actor, CorrelationID: "scenario"})
	var de *domain.Error
	if !errors.As(err, &de) || de.Code != code {
		s.t.Fatalf("%s on %s: got %v, want refusal %s", c.CommandName(), c.Partner(), err, code)
	}
}

func user(mpn, name string) domain.Actor { return domain.Actor{UserID: name + "@" + mpn} }

// enrolWithAdmin enrols a partner, grants one membership and registers an MPN-linked
// global admin.
func (s *scenario) enrolWithAdmin(mpn string, csp bool, level domain.Level, competency string, from, until time.Time) domain.Actor {
	s.do(platformActor, domain.EnrollPartner{MPNID: mpn, By: platformActor, Name: "Partner " + mpn, CSP: csp})
	if level != "" {
		s.do(platformActor, domain.GrantMembership{MPNID: mpn, By: platformActor, Level: level, Competency: competency, ValidFrom: from, ValidUntil: until})
	}
	admin := user(mpn, "admin")
	s.do(platformActor, domain.RegisterUser{MPNID: mpn, By: platformActor, UserID: admin.UserID, AccountType: domain.AccountAAD,
		MPNLinked: true, Roles: []domain.Role{domain.RoleGlobalAdmin}})
	return admin
}

// activateAndLink activates the benefit as admin and links the contract to admin.
func (s *scenario) activateAndLink(mpn string, admin domain.Actor) string {
	out := s.do(admin, domain.ActivateBenefit{MPNID: mpn, By: admin})
	act, ok := out.State.Activation()
	if !ok {
		s.t.Fatalf("partner %s: no activation", mpn)
	}
	s.do(admin, domain.LinkContract{MPNID: mpn, By: admin, AccessID: act.AccessID, ContractID: act.ContractID})
	s.contract[mpn] = act.ContractID
	return act.ContractID
}

func (s *scenario) accessID(mpn string) string {
	st, _, err := s.x.LoadPartner(context.Background(), mpn)
	if err != nil {
		s.t.Fatal(err)
	}
	act, _ := st.Activation()
	return act.AccessID
}

// run plays the whole scenario; it ends with the clock at t0.
func (s *scenario) run() {
	year := 365 * 24 * time.Hour

	// renewed: a contract activated 300 days ago that expired 30 days ago, then a new
	// membership period and a new contract (R5).
	s.now = t0.Add(-300 * 24 * time.Hour)
	rAdmin := s.enrolWithAdmin(renewed, false, domain.LevelActionPack, "", t0.Add(-400*24*time.Hour), t0.Add(-30*24*time.Hour))
	s.expired = s.activateAndLink(renewed, rAdmin)
	s.do(rAdmin, domain.OpenIncident{MPNID: renewed, By: rAdmin, Plan: domain.PlanProductSupport, Product: "SQL Server", Version: "2022", Title: "old"})
	s.now = t0.Add(-10 * 24 * time.Hour)
	s.do(platformActor, domain.GrantMembership{MPNID: renewed, By: platformActor, Level: domain.LevelActionPack, ValidFrom: t0.Add(-30 * 24 * time.Hour), ValidUntil: t0.Add(year)})
	s.activateAndLink(renewed, rAdmin)

	s.now = t0.Add(-24 * time.Hour)
	// goldCSP: admin, an admin agent, a plain MPN-linked reader, a CSP-only account.
	gAdmin := s.enrolWithAdmin(goldCSP, true, domain.LevelGold, "Cloud Platform", t0.Add(-year), t0.Add(year))
	agent, reader, cspOnly := user(goldCSP, "agent"), user(goldCSP, "reader"), user(goldCSP, "csponly")
	s.do(platformActor, domain.RegisterUser{MPNID: goldCSP, By: platformActor, UserID: agent.UserID, AccountType: domain.AccountMSA, MPNLinked: true, Roles: []domain.Role{domain.RoleAdminAgent}})
	s.do(platformActor, domain.RegisterUser{MPNID: goldCSP, By: platformActor, UserID: reader.UserID, AccountType: domain.AccountAAD, MPNLinked: true})
	s.do(platformActor, domain.PurchaseSupportPlan{MPNID: goldCSP, By: platformActor, Plan: domain.PlanPremier, ValidFrom: t0.Add(-24 * time.Hour), ValidUntil: t0.Add(30 * 24 * time.Hour)})
	s.do(platformActor, domain.RegisterUser{MPNID: goldCSP, By: platformActor, UserID: cspOnly.UserID, AccountType: domain.AccountAAD, CSPOnly: true})
	gContract := s.activateAndLink(goldCSP, gAdmin)
	s.do(gAdmin, domain.LinkContract{MPNID: goldCSP, By: gAdmin, UserID: agent.UserID, AccessID: s.accessID(goldCSP), ContractID: gContract})
	s.do(gAdmin, domain.LinkContract{MPNID: goldCSP, By: gAdmin, AccessID: s.accessID(goldCSP), ContractID: gContract}) // R17: nothing new
	s.do(gAdmin, domain.OpenIncident{MPNID: goldCSP, By: gAdmin, Plan: domain.PlanProductSupport, Product: "SQL Server", Version: "2025", Title: "slow queries"})
	s.do(agent, domain.OpenIncident{MPNID: goldCSP, By: agent, Plan: domain.PlanSignatureCloud, Product: "Azure", CustomerID: "cust-1", Title: "vm down"})
	s.do(agent, domain.OpenIncident{MPNID: goldCSP, By: agent, Plan: domain.PlanCSP, Product: "Azure", CustomerID: "cust-2", Title: "quota"})
	opened := s.do(gAdmin, domain.OpenIncident{MPNID: goldCSP, By: gAdmin, Plan: domain.PlanPremier, Product: "Exchange Server", Version: "2010", Title: "legacy"})
	s.closed = opened.Events[0].(domain.IncidentOpened).IncidentID
	s.do(gAdmin, domain.CloseIncident{MPNID: goldCSP, By: gAdmin, IncidentID: s.closed, Resolution: "fixed"})
	// The reader becomes an admin agent (gets the CSP plan), the agent stops being one.
	s.do(platformActor, domain.ChangeUserRoles{MPNID: goldCSP, By: platformActor, UserID: reader.UserID, Roles: []domain.Role{domain.RoleAdminAgent}})
	s.do(platformActor, domain.ChangeUserRoles{MPNID: goldCSP, By: platformActor, UserID: agent.UserID, Roles: nil})

	// actionPack: 10 incidents, all used; the eleventh is refused (R22).
	aAdmin := s.enrolWithAdmin(actionPack, false, domain.LevelActionPack, "", t0.Add(-year), t0.Add(year))
	s.activateAndLink(actionPack, aAdmin)
	for range 10 {
		s.do(aAdmin, domain.OpenIncident{MPNID: actionPack, By: aAdmin, Plan: domain.PlanProductSupport, Product: "Windows Server", Version: "2025"})
	}
	s.refused(aAdmin, domain.OpenIncident{MPNID: actionPack, By: aAdmin, Plan: domain.PlanProductSupport, Product: "Windows Server", Version: "2025"}, domain.CodePoolExhausted)

	// silverOther: 15 + Signature 5-pack (R7); the membership ends early afterwards.
	sAdmin := s.enrolWithAdmin(silverOther, false, domain.LevelSilver, "Data Analytics", t0.Add(-year), t0.Add(year))
	s.activateAndLink(silverOther, sAdmin)
	s.do(sAdmin, domain.OpenIncident{MPNID: silverOther, By: sAdmin, Plan: domain.PlanSignatureCloud, Product: "Dynamics 365", Title: "sync"})
	s.now = t0
	s.do(platformActor, domain.EndMembership{MPNID: silverOther, By: platformActor, MembershipID: "MS-1"})

	// noBenefits: enrolled, nothing else (R3).
	s.do(platformActor, domain.EnrollPartner{MPNID: noBenefits, By: platformActor, Name: "Partner " + noBenefits})
}

// partnerState folds a partner's stream from the event store: the truth the read
// models are compared with.
func (s *scenario) partnerState(mpn string) domain.Partner {
	s.t.Helper()
	recs, err := s.h.store.ReadStream(context.Background(), domain.PartnerStream(mpn), eventstore.ReadStreamOptions{})
	if err != nil {
		s.t.Fatal(err)
	}
	events := make([]domain.Event, len(recs))
	for i, r := range recs {
		if events[i], err = domain.Decode(r.Type, r.Data); err != nil {
			s.t.Fatal(err)
		}
	}
	return domain.Fold(events)
}

// serve runs the forwarder and a runner with every read model, and waits until each
// has applied the scenario.
func (s *scenario) serve() (*ReadModels, *Runner) {
	s.t.Helper()
	s.h.runForwarder()
	r := s.h.runner(nil, All()...)
	s.h.background("runner", r.Run)
	s.waitAll(r.Checkpoints())
	return NewReadModels(s.h.db), r
}

func (s *scenario) waitAll(c *Checkpoints) {
	s.t.Helper()
	for _, p := range All() {
		s.h.waitFor(c, p.Name(), s.head)
	}
}

// assertMatchesDomain checks that every answer of the read models at `at` equals the
// answer rendered from the folded event stream: the same JSON a client would get.
func (s *scenario) assertMatchesDomain(rm *ReadModels, at time.Time) {
	s.t.Helper()
	ctx := context.Background()
	for _, mpn := range scenarioPartners {
		p := s.partnerState(mpn)
		ri, err := rm.RemainingIncidents(ctx, mpn, at)
		s.sameJSON("remaining incidents of "+mpn, ri, err, RenderRemainingIncidents(p, at))
		for _, reveal := range []bool{false, true} {
			b, err := rm.Benefits(ctx, mpn, at, reveal)
			s.sameJSON("benefits of "+mpn, b, err, RenderBenefits(p, at, reveal))
		}
		for _, status := range []domain.IncidentStatus{"", domain.IncidentStatusOpen, domain.IncidentStatusClosed} {
			s.samePagesOfIncidents(rm, p, status)
		}
		for id := range p.ContractByID {
			la, err := rm.LinkedAccounts(ctx, id, paging.Page{})
			s.sameJSON("accounts linked to "+id, la, err, RenderLinkedAccounts(p, id))
		}
		for id := range p.UserByID {
			sp, err := rm.SupportPlans(ctx, id, at)
			s.sameJSON("support plans of "+id, sp, err, RenderSupportPlans(p, id, at))
		}
	}
}

// samePagesOfIncidents walks the read model's incident pages and the domain's in step,
// two incidents a page: the same pages, the same cursors, and together the whole list.
func (s *scenario) samePagesOfIncidents(rm *ReadModels, p domain.Partner, status domain.IncidentStatus) {
	s.t.Helper()
	what := "incidents (" + string(status) + ") of " + p.MPNID
	all := Incidents{Incidents: []Incident{}}
	page := paging.Page{Limit: 2}
	for range p.IncidentCount + 1 {
		in, err := rm.Incidents(context.Background(), p.MPNID, status, page)
		want, werr := RenderIncidentsPage(p, status, page)
		if werr != nil {
			s.t.Fatalf("%s: domain page: %v", what, werr)
		}
		s.sameJSON(what+" after "+page.Cursor, in, err, want)
		all.Incidents = append(all.Incidents, want.Incidents...)
		if page.Cursor = want.NextCursor; page.Cursor == "" {
			break
		}
	}
	s.sameJSON(what+", every page", all, nil, RenderIncidents(p, status))
}

func (s *scenario) sameJSON(what string, got any, err error, want any) {
	s.t.Helper()
	if err != nil {
		s.t.Errorf("%s: %v", what, err)
		return
	}
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if !bytes.Equal(g, w) {
		s.t.Errorf("%s differs from the domain\n read model: %s\n domain:     %s", what, g, w)
	}
}
