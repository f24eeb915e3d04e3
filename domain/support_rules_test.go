package domain

import (
	"testing"
	"time"
)

var goldCloud = partnerOpts{memberships: []GrantMembership{grant(LevelGold, "Cloud Platform")}}
var silverOther = partnerOpts{memberships: []GrantMembership{grant(LevelSilver, "Data Analytics")}}

// R12: the first use needs both IDs (which links the contract); after that neither.
func TestR12FirstUseNeedsBothIDs(t *testing.T) {
	w, a := activated(t, goldCloud)
	w.refused(onPrem(uEngineer, "SQL Server", "2025"), CodeNotLinked)
	w.refused(LinkContract{MPNID: mpn, By: as(uEngineer), AccessID: "AC-wrong", ContractID: a.ContractID}, CodeInvalidAccessID)
	w.refused(LinkContract{MPNID: mpn, By: as(uEngineer), AccessID: a.AccessID, ContractID: ContractID(mpn, "nope")}, CodeInvalidAccessID)
	w.refused(LinkContract{MPNID: mpn, By: as(uEngineer), ContractID: a.ContractID}, CodeValidation)

	// Any AAD or MSA account holding both IDs may use on-premises support: the MSA
	// engineer presents them with its first incident.
	first := onPrem(uEngineer, "SQL Server", "2025")
	first.AccessID, first.ContractID = a.AccessID, a.ContractID
	evs := w.must(first)
	if len(evs) != 2 {
		t.Fatalf("R12: want ContractLinked + IncidentOpened, got %#v", evs)
	}
	if l, ok := evs[0].(ContractLinked); !ok || l.UserID != uEngineer || l.AccountType != AccountMSA {
		t.Fatalf("R12: first event %#v", evs[0])
	}
	// After that the account needs neither ID.
	in := oneEvent[IncidentOpened](t, w.must(onPrem(uEngineer, "Windows Server", "2022")))
	if in.ContractID != a.ContractID || in.Pool != PoolProductSupport {
		t.Fatalf("R12: incident %+v", in)
	}
	// Naming a contract the account has not linked is refused.
	named := onPrem(uMember, "SQL Server", "2025")
	named.ContractID = a.ContractID
	w.refused(named, CodeNotLinked)
	w.checkFold()
}

func TestNoIncidentBeforeActivation(t *testing.T) {
	w := newPartner(t, goldCloud)
	w.refused(onPrem(uAdmin, "SQL Server", "2025"), CodeNotActivated)
	w.refused(LinkContract{MPNID: mpn, By: as(uAdmin), AccessID: "AC-1", ContractID: ContractID(mpn, "1")}, CodeNotActivated)
}

// R13: a contract stays linked until it expires or no incidents remain.
func TestR13LinkedUntilExpiredOrExhausted(t *testing.T) {
	w, a := activated(t, partnerOpts{memberships: []GrantMembership{grant(LevelActionPack, "")}})
	w.link(uMember, a)
	w.now = w.now.AddDate(0, 6, 0)
	w.must(onPrem(uMember, "SQL Server", "2025")) // still linked months later
	if !w.s.IsLinked(a.ContractID, uMember) {
		t.Fatal("R13: link lost")
	}
	w.now = t0.AddDate(1, 0, 0) // the membership period, and so the contract, ended
	w.refused(onPrem(uMember, "SQL Server", "2025"), CodeContractExpired)
	c, _ := w.s.Contract(a.ContractID, w.now)
	if c.Status != ContractExpired {
		t.Fatalf("R13: status %s", c.Status)
	}
}

// R14: valid contracts show window and remaining; expired or exhausted ones are listed
// only under unavailable plans, with the reason.
func TestR14UsableAndUnavailablePlans(t *testing.T) {
	w, a := activated(t, silverOther)
	w.link(uMember, a)
	plans := w.s.SupportPlansFor(uMember, w.now)
	if len(plans.Usable) != 2 || len(plans.Unavailable) != 0 {
		t.Fatalf("R14: fresh contract: %+v", plans)
	}
	for _, p := range plans.Usable {
		if p.ContractID != a.ContractID || !p.ValidFrom.Equal(t0) || p.ValidUntil.IsZero() || p.Remaining == nil {
			t.Fatalf("R14: plan without window or remaining: %+v", p)
		}
	}
	for range 5 {
		w.must(cloud(uMember, "Dynamics 365"))
	}
	plans = w.s.SupportPlansFor(uMember, w.now)
	if len(plans.Usable) != 1 || plans.Usable[0].Plan != PlanProductSupport || *plans.Usable[0].Remaining != 15 {
		t.Fatalf("R14: usable after cloud pack used: %+v", plans.Usable)
	}
	if len(plans.Unavailable) != 1 || plans.Unavailable[0].Plan != PlanSignatureCloud || plans.Unavailable[0].Reason != ReasonExhausted {
		t.Fatalf("R14: unavailable %+v", plans.Unavailable)
	}
	for range 15 {
		w.must(onPrem(uMember, "SQL Server", "2022"))
	}
	if c, _ := w.s.Contract(a.ContractID, w.now); c.Status != ContractExhausted || c.Reason != ReasonExhausted {
		t.Fatalf("R14: contract %+v", c)
	}
	later := t0.AddDate(2, 0, 0)
	plans = w.s.SupportPlansFor(uMember, later)
	if len(plans.Usable) != 0 || len(plans.Unavailable) != 2 || plans.Unavailable[0].Reason != ReasonExpired {
		t.Fatalf("R14: after expiry %+v", plans)
	}
	if c, _ := w.s.Contract(a.ContractID, later); c.Status != ContractExpired || c.Reason != ReasonExpired {
		t.Fatalf("R14: contract after expiry %+v", c)
	}
	if got := w.s.SupportPlansFor(uEngineer, w.now); len(got.Usable)+len(got.Unavailable) != 0 {
		t.Fatalf("R14: an unlinked account has no benefit plans: %+v", got)
	}
}

// R15: Signature Cloud Support only for Gold or Silver competency partners.
func TestR15SignatureCloudNeedsCompetency(t *testing.T) {
	w, a := activated(t, goldCloud)
	w.link(uMember, a)
	in := oneEvent[IncidentOpened](t, w.must(cloud(uMember, "Azure")))
	if in.Pool != PoolSignatureCloud || in.ContractID != a.ContractID {
		t.Fatalf("R15: %+v", in)
	}
	w.refused(cloud(uMember, "SQL Server"), CodeProductNotEligible) // cloud products only

	ap, apAct := activated(t, partnerOpts{memberships: []GrantMembership{grant(LevelActionPack, "")}})
	ap.link(uMember, apAct)
	ap.refused(cloud(uMember, "Azure"), CodeNoCloudSupport)
}

// R16: Azure, Dynamics 365 and other cloud products need the IDs the first time;
// Microsoft 365 needs no linked contract.
func TestR16Microsoft365NeedsNoLinkedContract(t *testing.T) {
	w, a := activated(t, silverOther)
	in := oneEvent[IncidentOpened](t, w.must(cloud(uMember, "Microsoft 365")))
	if in.ContractID != a.ContractID || in.Pool != PoolSignatureCloud {
		t.Fatalf("R16: Microsoft 365 draws on the partner's contract: %+v", in)
	}
	if w.s.IsLinked(a.ContractID, uMember) {
		t.Fatal("R16: Microsoft 365 must not link the contract")
	}
	if p := w.pool(a.ContractID, PoolSignatureCloud); *p.Remaining != 4 {
		t.Fatalf("R16: remaining %v", *p.Remaining)
	}
	w.refused(cloud(uMember, "Azure"), CodeNotLinked)
	w.refused(cloud(uMember, "Dynamics 365"), CodeNotLinked)
	w.link(uMember, a)
	w.must(cloud(uMember, "Dynamics 365"))
}

// R17: linking again is not an error and records nothing.
func TestR17LinkingAgainIsNoError(t *testing.T) {
	w, a := activated(t, goldCloud)
	w.link(uEngineer, a)
	w.noop(LinkContract{MPNID: mpn, By: as(uEngineer), AccessID: a.AccessID, ContractID: a.ContractID})
	if !w.s.IsLinked(a.ContractID, uEngineer) || len(w.s.LinkedAccounts(a.ContractID)) != 1 {
		t.Fatalf("R17: links %+v", w.s.LinkedAccounts(a.ContractID))
	}
	// Refusing side: being linked does not excuse a wrong Access ID.
	w.refused(LinkContract{MPNID: mpn, By: as(uEngineer), AccessID: "AC-other", ContractID: a.ContractID}, CodeInvalidAccessID)
	// Presenting the IDs again with an incident is fine too and links nothing new.
	again := onPrem(uEngineer, "SQL Server", "2025")
	again.AccessID, again.ContractID = a.AccessID, a.ContractID
	oneEvent[IncidentOpened](t, w.must(again))
}

func TestLinkedAccountsRecordWhoAndWhen(t *testing.T) {
	w, a := activated(t, goldCloud)
	w.must(LinkContract{MPNID: mpn, By: as(uAdmin), UserID: uEngineer, AccessID: a.AccessID, ContractID: a.ContractID})
	w.now = w.now.Add(time.Hour)
	w.link(uMember, a)
	links := w.s.LinkedAccounts(a.ContractID)
	want := []Link{
		{UserID: uEngineer, AccountType: AccountMSA, LinkedAt: t0, LinkedBy: uAdmin},
		{UserID: uMember, AccountType: AccountAAD, LinkedAt: t0.Add(time.Hour), LinkedBy: uMember},
	}
	if len(links) != 2 || links[0] != want[0] || links[1] != want[1] {
		t.Fatalf("links %+v", links)
	}
	w.refused(LinkContract{MPNID: mpn, By: as(uMember), UserID: uEngineer, AccessID: a.AccessID, ContractID: a.ContractID}, CodeNotAuthorized)
	w.refused(LinkContract{MPNID: mpn, By: as(uAdmin), UserID: "ghost", AccessID: a.AccessID, ContractID: a.ContractID}, CodeNotFound)
}

// R18: linking an expired or exhausted contract gives no incidents.
func TestR18ExpiredOrExhaustedContractCannotBeLinked(t *testing.T) {
	t.Run("R18 exhausted contract is refused with its reason", func(t *testing.T) {
		w, a := activated(t, partnerOpts{memberships: []GrantMembership{grant(LevelActionPack, "")}})
		w.link(uMember, a)
		for range 10 {
			w.must(onPrem(uMember, "SQL Server", "2025"))
		}
		w.refused(LinkContract{MPNID: mpn, By: as(uEngineer), AccessID: a.AccessID, ContractID: a.ContractID}, CodeContractExhausted)
		// Decision: also when already linked, the reason beats "already linked".
		w.refused(LinkContract{MPNID: mpn, By: as(uMember), AccessID: a.AccessID, ContractID: a.ContractID}, CodeContractExhausted)
	})
	t.Run("R18 expired contract is refused", func(t *testing.T) {
		w, a := activated(t, goldCloud)
		w.now = t0.AddDate(1, 0, 0)
		w.refused(LinkContract{MPNID: mpn, By: as(uEngineer), AccessID: a.AccessID, ContractID: a.ContractID}, CodeContractExpired)
	})
	t.Run("R18 a valid contract with incidents links", func(t *testing.T) {
		w, a := activated(t, goldCloud)
		oneEvent[ContractLinked](t, w.must(LinkContract{MPNID: mpn, By: as(uEngineer), AccessID: a.AccessID, ContractID: a.ContractID}))
	})
}

// R19: cloud requests for a customer come from an admin agent.
func TestR19CustomerRequestsNeedAdminAgent(t *testing.T) {
	w, a := activated(t, goldCloud)
	w.link(uAgent, a)
	w.link(uMember, a)
	forCust := func(by string) OpenIncident {
		c := cloud(by, "Azure")
		c.CustomerID = "customer-fabrikam"
		return c
	}
	in := oneEvent[IncidentOpened](t, w.must(forCust(uAgent)))
	if in.CustomerID != "customer-fabrikam" {
		t.Fatalf("R19: %+v", in)
	}
	w.refused(forCust(uMember), CodeNotAuthorized)
	w.must(cloud(uMember, "Azure")) // for its own organisation
	onPremForCustomer := onPrem(uMember, "SQL Server", "2025")
	onPremForCustomer.CustomerID = "customer-fabrikam" // on-premises: any account may
	w.must(onPremForCustomer)
}

// R20: a CSP partner's Azure request may use the CSP plan, no contract, no pool.
func TestR20CSPPlanDrawsOnNoPool(t *testing.T) {
	w, _ := activated(t, partnerOpts{csp: true, memberships: goldCloud.memberships})
	cspReq := func(by, product string) OpenIncident {
		return OpenIncident{MPNID: mpn, By: as(by), Plan: PlanCSP, Product: product, CustomerID: "customer-1"}
	}
	before := w.s.Contracts(w.now)
	in := oneEvent[IncidentOpened](t, w.must(cspReq(uAgent, "Azure")))
	if in.Pool != "" || in.ContractID != "" || in.Plan != PlanCSP {
		t.Fatalf("R20: %+v", in)
	}
	// Decision: the CSP plan is not a benefit action, so a CSP-only admin agent may use it.
	w.must(cspReq(uCSP, "Azure"))
	after := w.s.Contracts(w.now)
	if *after[0].Pools[0].Remaining != *before[0].Pools[0].Remaining || after[0].Pools[1].Used != 0 {
		t.Fatalf("R20: pools changed: %+v", after[0].Pools)
	}
	w.refused(cspReq(uAgent, "Dynamics 365"), CodeProductNotEligible)
	w.refused(cspReq(uMember, "Azure"), CodeNotAuthorized)
	noCustomer := cspReq(uAgent, "Azure")
	noCustomer.CustomerID = ""
	w.refused(noCustomer, CodeValidation)
	if plans := w.s.SupportPlansFor(uAgent, w.now); plans.Usable[len(plans.Usable)-1].Plan != PlanCSP {
		t.Fatalf("R20: CSP plan not listed: %+v", plans)
	}

	nonCSP, _ := activated(t, goldCloud)
	nonCSP.refused(cspReq(uAgent, "Azure"), CodeNoSupportPlan)
}

// R21: Premier (all products) and Advanced (cloud only) draw on no pool.
func TestR21PaidPlans(t *testing.T) {
	w, a := activated(t, partnerOpts{memberships: []GrantMembership{grant(LevelActionPack, "")}})
	premier := OpenIncident{MPNID: mpn, By: as(uMember), Plan: PlanPremier, Product: "SQL Server", Version: "2012"}
	w.refused(premier, CodeNoSupportPlan)
	w.refused(PurchaseSupportPlan{MPNID: mpn, By: as(uMember), Plan: PlanPremier, ValidUntil: t0.AddDate(1, 0, 0)}, CodeNotAuthorized)
	w.refused(PurchaseSupportPlan{MPNID: mpn, By: as(uAdmin), Plan: "gold-plus", ValidUntil: t0.AddDate(1, 0, 0)}, CodeValidation)
	w.must(PurchaseSupportPlan{MPNID: mpn, By: as(uAdmin), Plan: PlanPremier, ValidUntil: t0.AddDate(1, 0, 0)})
	in := oneEvent[IncidentOpened](t, w.must(premier))
	if in.Pool != "" || in.PaidPlanID != "PL-1" || in.Version != "2012" {
		t.Fatalf("R21: premier incident %+v", in)
	}
	w.must(OpenIncident{MPNID: mpn, By: as(uMember), Plan: PlanPremier, Product: "Azure"})
	if p := w.pool(a.ContractID, PoolProductSupport); p.Used != 0 {
		t.Fatalf("R21: premier drew on the pool: %+v", p)
	}

	advanced := OpenIncident{MPNID: mpn, By: as(uMember), Plan: PlanAdvanced, Product: "Dynamics 365"}
	w.refused(advanced, CodeNoSupportPlan)
	w.must(PurchaseSupportPlan{MPNID: mpn, By: platform, Plan: PlanAdvanced, ValidFrom: t0, ValidUntil: t0.AddDate(0, 1, 0)})
	w.must(advanced)
	w.refused(OpenIncident{MPNID: mpn, By: as(uMember), Plan: PlanAdvanced, Product: "Windows Server", Version: "2025"}, CodeProductNotEligible)
	w.now = t0.AddDate(0, 2, 0)
	w.refused(advanced, CodeNoSupportPlan) // the plan ended
	plans := w.s.SupportPlansFor(uMember, w.now)
	if len(plans.Unavailable) != 1 || plans.Unavailable[0].PaidPlanID != "PL-2" || plans.Unavailable[0].Reason != ReasonExpired {
		t.Fatalf("R21: %+v", plans)
	}
	w.checkFold()
}

// R22: an incident takes one from its pool at once; an empty pool refuses with 0;
// unlimited pools never run out; closing gives nothing back.
func TestR22PoolsAndClosing(t *testing.T) {
	w, a := activated(t, silverOther)
	w.link(uMember, a)
	in := oneEvent[IncidentOpened](t, w.must(onPrem(uMember, "SQL Server", "2025")))
	if p := w.pool(a.ContractID, PoolProductSupport); p.Used != 1 || *p.Remaining != 14 {
		t.Fatalf("R22: pool after one incident %+v", p)
	}
	if in.IncidentID != IncidentID(mpn, 1) {
		t.Fatalf("incident id %s", in.IncidentID)
	}
	w.refused(CloseIncident{MPNID: mpn, By: as(uEngineer), IncidentID: in.IncidentID}, CodeNotAuthorized)
	w.refused(CloseIncident{MPNID: mpn, By: as(uMember), IncidentID: "IN-4711001-99"}, CodeNotFound)
	closed := oneEvent[IncidentClosed](t, w.must(CloseIncident{MPNID: mpn, By: as(uMember), IncidentID: in.IncidentID, Resolution: "fixed"}))
	if closed.ClosedBy != uMember {
		t.Fatalf("%+v", closed)
	}
	w.noop(CloseIncident{MPNID: mpn, By: ops, IncidentID: in.IncidentID})
	if got, _ := w.s.Incident(in.IncidentID); got.Status() != IncidentStatusClosed || got.Resolution != "fixed" {
		t.Fatalf("R22: incident %+v", got)
	}
	if p := w.pool(a.ContractID, PoolProductSupport); p.Used != 1 {
		t.Fatalf("R22: closing gave something back: %+v", p)
	}
	for range 5 {
		w.must(cloud(uMember, "Azure"))
	}
	err := w.refused(cloud(uMember, "Azure"), CodePoolExhausted)
	if err.Remaining == nil || *err.Remaining != 0 {
		t.Fatalf("R22: refusal must carry remaining 0, got %v", err.Remaining)
	}
}

func TestR22UnlimitedPoolNeverRunsOut(t *testing.T) {
	w, a := activated(t, goldCloud)
	w.link(uMember, a)
	for range 100 {
		w.must(cloud(uMember, "Azure"))
	}
	p := w.pool(a.ContractID, PoolSignatureCloud)
	if p.Granted != nil || p.Remaining != nil || p.Used != 100 {
		t.Fatalf("R22: unlimited pool %+v", p)
	}
	if got := len(w.s.Incidents()); got != 100 {
		t.Fatalf("incidents %d", got)
	}
}

// R23: no incident outside the contract's validity period.
func TestR23NoIncidentOutsideValidity(t *testing.T) {
	w, a := activated(t, goldCloud)
	w.link(uMember, a)
	c, _ := w.s.Contract(a.ContractID, w.now)
	w.now = c.ValidUntil.Add(-time.Nanosecond)
	w.must(cloud(uMember, "Azure"))
	w.now = c.ValidUntil
	err := w.refused(cloud(uMember, "Azure"), CodeContractExpired)
	if err.Message == "" {
		t.Fatal("R23: empty message")
	}
	w.refused(cloud(uMember, "Microsoft 365"), CodeContractExpired)
}
