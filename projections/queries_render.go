package projections

import (
	"cmp"
	"slices"
	"time"

	"ledger/domain"
	"ledger/infra/paging"
)

// Render functions give the read models' answers from a partner's state at an instant:
// the as-of answers of issue 5 (fold the events up to the instant, then render) and the
// reference the read models are tested against. Some queries rebuild the part of the
// state they need from rows and render through these very functions.

// RenderRemainingIncidents is RemainingIncidents from state at at.
func RenderRemainingIncidents(p domain.Partner, at time.Time) RemainingIncidents {
	out := RemainingIncidents{Contracts: []ContractIncidents{}}
	for _, c := range p.Contracts(at) {
		ci := ContractIncidents{ContractID: c.ContractID, ValidFrom: utc(c.ValidFrom), ValidTo: utc(c.ValidUntil),
			Status: string(c.Status), Pools: make([]PoolIncidents, len(c.Pools))}
		for i, pool := range c.Pools {
			ci.Pools[i] = PoolIncidents{Kind: string(pool.Kind), Granted: pool.Granted, Used: pool.Used, Remaining: pool.Remaining}
		}
		out.Contracts = append(out.Contracts, ci)
	}
	return out
}

// RenderLinkedAccounts is LinkedAccounts of one contract from state.
func RenderLinkedAccounts(p domain.Partner, contractID string) LinkedAccounts {
	links := p.LinkedAccounts(contractID)
	out := LinkedAccounts{Accounts: make([]LinkedAccount, len(links))}
	for i, l := range links {
		out.Accounts[i] = LinkedAccount{UserID: l.UserID, AccountType: string(l.AccountType), LinkedAt: utc(l.LinkedAt), LinkedBy: l.LinkedBy}
	}
	return out
}

// RenderSupportPlans is SupportPlans of one account of p at at (R14, R20, R21).
func RenderSupportPlans(p domain.Partner, userID string, at time.Time) SupportPlans {
	plans := p.SupportPlansFor(userID, at)
	out := SupportPlans{Usable: []SupportPlan{}, Unavailable: []SupportPlan{}}
	for _, sp := range slices.Concat(plans.Usable, plans.Unavailable) {
		out.add(SupportPlan{Plan: string(sp.Plan), MPNID: p.MPNID, ContractID: sp.ContractID, PaidPlanID: sp.PaidPlanID,
			ValidFrom: utcPtr(sp.ValidFrom), ValidTo: utcPtr(sp.ValidUntil), Granted: sp.Granted, Remaining: sp.Remaining,
			Reason: sp.Reason})
	}
	return out
}

// RenderIncidents is every incident of state as one list; status "" lists all.
func RenderIncidents(p domain.Partner, status domain.IncidentStatus) Incidents {
	out := Incidents{Incidents: []Incident{}}
	for _, in := range p.Incidents() {
		if status == "" || in.Status() == status {
			out.Incidents = append(out.Incidents, incidentOf(p.MPNID, in))
		}
	}
	return out
}

// RenderIncidentsPage is the page of Incidents from state that ReadModels.Incidents
// answers from the read model: same order, same cursors. It looks incidents up by
// number from the cursor on, so it reads only the page, not the partner's history.
func RenderIncidentsPage(p domain.Partner, status domain.IncidentStatus, page paging.Page) (Incidents, error) {
	if err := checkStatusFilter(status); err != nil {
		return Incidents{}, err
	}
	limit, after, err := incidentsPage(p.MPNID, status, page)
	if err != nil {
		return Incidents{}, err
	}
	out, last := Incidents{Incidents: []Incident{}}, after.Seq
	for seq := after.Seq + 1; seq <= int64(p.IncidentCount); seq++ {
		in, ok := p.Incident(domain.IncidentID(p.MPNID, int(seq)))
		if !ok || (status != "" && in.Status() != status) {
			continue
		}
		if len(out.Incidents) == limit {
			out.NextCursor = incidentsCursor(p.MPNID, status, last)
			break
		}
		out.Incidents, last = append(out.Incidents, incidentOf(p.MPNID, in)), seq
	}
	return out, nil
}

func incidentOf(mpnID string, in domain.Incident) Incident {
	return Incident{IncidentID: in.IncidentID, MPNID: mpnID, Plan: string(in.Plan),
		ContractID: in.ContractID, Pool: string(in.Pool), PaidPlanID: in.PaidPlanID, Product: in.Product,
		Version: in.Version, CustomerID: in.CustomerID, CustomerCountry: in.Country, Severity: string(in.Severity), Title: in.Title, Status: string(in.Status()),
		OpenedBy: in.OpenedBy, OpenedAt: utc(in.OpenedAt), ClosedAt: utcPtr(in.ClosedAt), ClosedBy: in.ClosedBy,
		Resolution: in.Resolution}
}

// RenderBenefits is Benefits from state at at; the IDs only when revealIDs (R4).
func RenderBenefits(p domain.Partner, at time.Time, revealIDs bool) Benefits {
	out := Benefits{MPNID: p.MPNID, Name: p.Name, CSP: p.CSP, Level: string(p.Level(at)),
		Memberships: []Membership{}, Entitlements: []Entitlement{}}
	for _, m := range p.Memberships(at) {
		out.Memberships = append(out.Memberships, Membership{MembershipID: m.MembershipID, Level: string(m.Level),
			Competency: m.Competency, ValidFrom: utc(m.ValidFrom), ValidTo: utc(m.ValidUntil),
			EndedAt: utcPtr(m.EndedAt), Status: membershipStatus(m, at)})
	}
	act, ok := p.Activation()
	if !ok {
		return out
	}
	c := p.ContractByID[act.ContractID]
	out.Activation = &Activation{ActivatedBy: act.ActivatedBy, ActivatedAt: utc(act.ActivatedAt),
		Level: string(c.Level), ValidTo: utc(c.ValidUntil)}
	if revealIDs {
		out.Activation.AccessID, out.Activation.ContractID = act.AccessID, act.ContractID
	}
	for _, pool := range c.Pools {
		out.Entitlements = append(out.Entitlements, Entitlement{Kind: string(pool.Kind), Granted: pool.Granted})
	}
	return out
}

func membershipStatus(m domain.MembershipView, at time.Time) string {
	switch {
	case m.Active:
		return MembershipActive
	case at.Before(m.ValidFrom) && (m.EndedAt.IsZero() || at.Before(m.EndedAt)):
		return MembershipUpcoming
	}
	return MembershipEnded
}

// sortSupportPlanRows puts an account's plan rows in the order SupportPlansFor lists
// them: per partner, the pools of linked contracts (by start, contract, pool), then the
// paid plans as bought, then the CSP plan.
func sortSupportPlanRows(rows []supportPlanRow) {
	group := func(r supportPlanRow) int {
		switch {
		case r.ContractID != "":
			return 0
		case r.PaidPlanID != "":
			return 1
		}
		return 2
	}
	slices.SortFunc(rows, func(a, b supportPlanRow) int {
		if c := cmp.Or(cmp.Compare(a.MPNID, b.MPNID), cmp.Compare(group(a), group(b))); c != 0 {
			return c
		}
		if group(a) == 0 {
			if c := cmp.Or(a.ValidFrom.Compare(*b.ValidFrom), cmp.Compare(a.ContractID, b.ContractID)); c != 0 {
				return c
			}
		}
		return cmp.Compare(a.Ordinal, b.Ordinal)
	})
}
