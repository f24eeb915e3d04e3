package domain

import (
	"cmp"
	"maps"
	"slices"
	"time"
)

// Read helpers: pure views of a Partner at an instant, for projections and the API.

// Enrolled reports whether the partner exists.
func (s Partner) Enrolled() bool { return s.MPNID != "" }

// MembershipView is a membership with whether it is active at the asked instant.
type MembershipView struct {
	Membership
	Active bool
}

// Memberships lists all memberships in the order granted.
func (s Partner) Memberships(at time.Time) []MembershipView {
	ms := s.sortedMemberships()
	out := make([]MembershipView, len(ms))
	for i, m := range ms {
		out[i] = MembershipView{Membership: m, Active: m.ActiveAt(at)}
	}
	return out
}

// Level is the partner's highest active membership at `at`, "" with none (R6).
func (s Partner) Level(at time.Time) Level {
	var l Level
	for _, m := range s.activeMemberships(at) {
		if m.Level.rank() > l.rank() {
			l = m.Level
		}
	}
	return l
}

// Activation is what the benefits page shows after activating (R4).
type Activation struct {
	AccessID    string
	ContractID  string
	ActivatedBy string
	ActivatedAt time.Time
}

// Activation is the latest activation, if any. After an idempotent ActivateBenefit (R5)
// it holds the IDs to answer with.
func (s Partner) Activation() (Activation, bool) {
	c, ok := s.currentContract()
	if !ok {
		return Activation{}, false
	}
	return Activation{AccessID: c.AccessID, ContractID: c.ContractID, ActivatedBy: c.ActivatedBy, ActivatedAt: c.ValidFrom}, true
}

// ActivationFor is the activation as userID may see it: only MPN-linked accounts of the
// partner see the Access ID and Contract ID (R4, decided by CanSeeContractIDs).
func (s Partner) ActivationFor(userID string) (Activation, bool) {
	if CanSeeContractIDs(Actor{UserID: userID}, s.PartnerUsers()) != nil {
		return Activation{}, false
	}
	return s.Activation()
}

// ContractStatus is a contract's state at an instant (R14).
type ContractStatus string

const (
	ContractActive    ContractStatus = "active"
	ContractExpired   ContractStatus = "expired"
	ContractExhausted ContractStatus = "exhausted"
)

// Reasons shown with unavailable plans (R14).
const (
	ReasonExpired     = "the contract has expired"
	ReasonNotYetValid = "the plan is not valid yet"
	ReasonExhausted   = "no incidents remain"
)

// PoolView is a pool's figures; Granted and Remaining are nil when unlimited.
type PoolView struct {
	Kind      PoolKind
	Granted   *int
	Used      int
	Remaining *int
}

// ContractView is a contract at an instant: window, status and reason (R14), pools and
// the accounts linked to it.
type ContractView struct {
	ContractID   string
	AccessID     string
	ActivatedBy  string
	Level        Level
	RulesVersion int
	ValidFrom    time.Time
	ValidUntil   time.Time
	Status       ContractStatus
	Reason       string // empty while active
	Pools        []PoolView
	Links        []Link
}

// Contracts lists every contract, oldest first, as of at.
func (s Partner) Contracts(at time.Time) []ContractView {
	cs := make([]ContractView, 0, len(s.ContractByID))
	for _, c := range s.ContractByID {
		cs = append(cs, c.view(at))
	}
	slices.SortFunc(cs, func(a, b ContractView) int {
		return cmp.Or(a.ValidFrom.Compare(b.ValidFrom), cmp.Compare(a.ContractID, b.ContractID))
	})
	return cs
}

// ContractsSteady gives the instants around at between which Contracts answers as it
// does at at: [since, until), the zero time meaning no bound on that side. A contract's
// view depends on the instant only through validAt, so it can change only where a
// window opens or closes; an answer rendered at at may be served again within them.
func (s Partner) ContractsSteady(at time.Time) (since, until time.Time) {
	for _, c := range s.ContractByID {
		for _, edge := range [2]time.Time{c.ValidFrom, c.ValidUntil} {
			switch {
			case !at.Before(edge) && (since.IsZero() || edge.After(since)):
				since = edge
			case at.Before(edge) && (until.IsZero() || edge.Before(until)):
				until = edge
			}
		}
	}
	return since, until
}

// Contract is one contract as of at.
func (s Partner) Contract(contractID string, at time.Time) (ContractView, bool) {
	c, ok := s.ContractByID[contractID]
	if !ok {
		return ContractView{}, false
	}
	return c.view(at), true
}

func (c Contract) view(at time.Time) ContractView {
	v := ContractView{
		ContractID: c.ContractID, AccessID: c.AccessID, ActivatedBy: c.ActivatedBy, Level: c.Level,
		RulesVersion: c.RulesVersion, ValidFrom: c.ValidFrom, ValidUntil: c.ValidUntil,
		Status: ContractActive, Links: slices.Clone(c.Links),
	}
	switch {
	case !c.validAt(at):
		v.Status, v.Reason = ContractExpired, ReasonExpired
	case c.exhausted():
		v.Status, v.Reason = ContractExhausted, ReasonExhausted
	}
	for _, p := range c.Pools {
		v.Pools = append(v.Pools, PoolView{Kind: p.Kind, Granted: cloneInt(p.Granted), Used: p.Used, Remaining: p.Remaining()})
	}
	return v
}

// LinkedAccounts lists the accounts linked to a contract, in link order.
func (s Partner) LinkedAccounts(contractID string) []Link {
	return slices.Clone(s.ContractByID[contractID].Links)
}

// IsLinked reports whether the contract is linked to the user's account; after an
// idempotent LinkContract (R17) it is how the caller answers "already linked".
func (s Partner) IsLinked(contractID, userID string) bool {
	return s.ContractByID[contractID].linkedTo(userID)
}

// SupportPlan is one plan an account can or cannot use now (R14).
type SupportPlan struct {
	Plan       Plan
	ContractID string // benefit plans
	PaidPlanID string // premier / advanced
	ValidFrom  time.Time
	ValidUntil time.Time
	Granted    *int // benefit plans; nil = unlimited or not counted
	Remaining  *int
	Reason     string // why it is unavailable; empty when usable
}

// SupportPlans splits an account's plans into usable and unavailable ones (R14).
type SupportPlans struct {
	Usable      []SupportPlan
	Unavailable []SupportPlan
}

// SupportPlansFor lists the plans userID can use at `at` and the unavailable ones with
// their reason: each pool of each contract linked to the account (R13, R14, R18), the
// partner's paid plans (R21) and, for admin agents of CSP partners, the CSP plan (R20).
// Decision: Microsoft 365's contract-free use (R16) is not listed as a plan of its own.
func (s Partner) SupportPlansFor(userID string, at time.Time) SupportPlans {
	var out SupportPlans
	u, ok := s.UserByID[userID]
	if !ok {
		return out
	}
	add := func(p SupportPlan) {
		if p.Reason == "" {
			out.Usable = append(out.Usable, p)
		} else {
			out.Unavailable = append(out.Unavailable, p)
		}
	}
	for _, c := range s.Contracts(at) {
		if u.CSPOnly || !s.IsLinked(c.ContractID, userID) {
			continue
		}
		for _, p := range c.Pools {
			sp := SupportPlan{Plan: Plan(p.Kind), ContractID: c.ContractID, ValidFrom: c.ValidFrom, ValidUntil: c.ValidUntil, Granted: p.Granted, Remaining: p.Remaining}
			switch {
			case c.Status == ContractExpired:
				sp.Reason = ReasonExpired
			case p.Remaining != nil && *p.Remaining == 0:
				sp.Reason = ReasonExhausted
			}
			add(sp)
		}
	}
	for _, p := range s.sortedPaidPlans() {
		sp := SupportPlan{Plan: p.Plan, PaidPlanID: p.PlanID, ValidFrom: p.ValidFrom, ValidUntil: p.ValidUntil}
		switch {
		case at.Before(p.ValidFrom):
			sp.Reason = ReasonNotYetValid
		case !at.Before(p.ValidUntil):
			sp.Reason = ReasonExpired
		}
		add(sp)
	}
	if s.CSP && u.HasRole(RoleAdminAgent) {
		add(SupportPlan{Plan: PlanCSP})
	}
	return out
}

// Incidents lists every incident in the order opened. Not for a deciding state
// (FoldDeciding), whose closed incidents are compacted: it panics there.
func (s Partner) Incidents() []Incident { return s.IncidentLog.All() }

// Incident finds one incident; like Incidents, not on a deciding state.
func (s Partner) Incident(incidentID string) (Incident, bool) {
	return s.IncidentLog.ByID(incidentID)
}

// Users lists the partner's user accounts by ID.
func (s Partner) Users() []User {
	return sortedValues(s.UserByID, func(a, b User) int { return cmp.Compare(a.UserID, b.UserID) })
}

// PaidPlans lists purchased plans in the order bought.
func (s Partner) PaidPlans() []PaidPlan { return s.sortedPaidPlans() }

func (s Partner) sortedMemberships() []Membership {
	return sortedValues(s.MembershipByID, func(a, b Membership) int { return cmp.Compare(a.Seq, b.Seq) })
}

func (s Partner) sortedPaidPlans() []PaidPlan {
	return sortedValues(s.PaidPlanByID, func(a, b PaidPlan) int { return cmp.Compare(a.Seq, b.Seq) })
}

// sortedValues lists a state map's values in the given order; an empty map gives an
// empty, non-nil list, so answers built from it encode as [] rather than null.
func sortedValues[K comparable, V any](m map[K]V, by func(a, b V) int) []V {
	out := slices.AppendSeq(make([]V, 0, len(m)), maps.Values(m))
	slices.SortFunc(out, by)
	return out
}
