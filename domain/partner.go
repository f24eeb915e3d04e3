package domain

import (
	"maps"
	"slices"
	"time"
)

// Partner is the state of one partner's benefit aggregate. The zero value is a partner
// that is not enrolled. Maps are keyed by ID; the read helpers in views.go give sorted,
// computed views. Treat a Partner as a value: Evolve never modifies the maps or slices
// of the state it is given, so earlier states stay valid (copy on write).
type Partner struct {
	MPNID      string
	Name       string
	CSP        bool
	EnrolledAt time.Time

	MembershipByID map[string]Membership
	UserByID       map[string]User
	ContractByID   map[string]Contract
	PaidPlanByID   map[string]PaidPlan
	// IncidentLog holds every incident, persistently (incidents.go): it grows with
	// history, the maps above do not. A view folded by FoldSeqKeeping holds a window;
	// a state folded by FoldDeciding holds every incident compacted.
	IncidentLog IncidentLog

	// CurrentContractID is the contract of the latest activation ("" before any).
	CurrentContractID string
	// Counters behind derived IDs (MS-<n>, IN-<mpnId>-<n>, PL-<n>).
	MembershipCount, IncidentCount, PaidPlanCount int
}

// Membership is a membership offer held for a period.
type Membership struct {
	MembershipID string
	Seq          int
	Level        Level
	Competency   string
	ValidFrom    time.Time
	ValidUntil   time.Time // exclusive
	EndedAt      time.Time // zero unless ended early
}

// ActiveAt reports whether the membership is in force at t.
func (m Membership) ActiveAt(t time.Time) bool {
	return !t.Before(m.ValidFrom) && t.Before(m.ValidUntil) && (m.EndedAt.IsZero() || t.Before(m.EndedAt))
}

// User is a partner's user account.
type User struct {
	UserID       string
	AccountType  AccountType
	MPNLinked    bool
	CSPOnly      bool
	Roles        []Role // shared between states: replaced, never modified in place
	RegisteredAt time.Time
}

// HasRole reports whether the user holds role.
func (u User) HasRole(r Role) bool { return slices.Contains(u.Roles, r) }

// isAdmin: an MPN-linked global admin or MPN partner admin (R1).
func (u User) isAdmin() bool {
	return u.linkedToMPN() && (u.HasRole(RoleGlobalAdmin) || u.HasRole(RoleMPNPartnerAdmin))
}

// Contract is an activated benefit: Access ID, validity, pools and linked accounts.
type Contract struct {
	ContractID   string
	AccessID     string
	ActivatedBy  string
	Level        Level
	RulesVersion int
	ValidFrom    time.Time
	ValidUntil   time.Time // exclusive
	Pools        []Pool    // shared between states: cloned before any change
	Links        []Link    // shared between states: cloned before any change
}

// Pool is a contract's incident allowance of one kind; Granted nil means unlimited.
type Pool struct {
	Kind    PoolKind
	Granted *int
	Used    int
}

// Remaining is nil for an unlimited pool.
func (p Pool) Remaining() *int {
	if p.Granted == nil {
		return nil
	}
	n := max(*p.Granted-p.Used, 0)
	return &n
}

func (p Pool) empty() bool { return p.Granted != nil && p.Used >= *p.Granted }

// Link says a user account may use a contract (R12).
type Link struct {
	UserID      string
	AccountType AccountType
	LinkedAt    time.Time
	LinkedBy    string
}

// Incident is a support request.
type Incident struct {
	IncidentID   string
	Seq          int
	Plan         Plan
	ContractID   string
	Pool         PoolKind
	PaidPlanID   string
	Product      string
	Version      string
	CustomerID   string
	Country      string // the customer's, ISO 3166-1 alpha-2; empty if not given
	Severity     Severity
	Title        string
	OpenedBy     string
	OpenedAt     time.Time
	RulesVersion int
	ClosedAt     time.Time // zero while open
	ClosedBy     string
	Resolution   string
}

// IncidentStatus is open or closed.
type IncidentStatus string

const (
	IncidentStatusOpen   IncidentStatus = "open"
	IncidentStatusClosed IncidentStatus = "closed"
)

// Status of the incident.
func (i Incident) Status() IncidentStatus {
	if i.ClosedAt.IsZero() {
		return IncidentStatusOpen
	}
	return IncidentStatusClosed
}

// PaidPlan is a purchased Premier or Advanced plan (R21).
type PaidPlan struct {
	PlanID      string
	Seq         int
	Plan        Plan
	ValidFrom   time.Time
	ValidUntil  time.Time // exclusive
	PurchasedBy string
	PurchasedAt time.Time
}

// ActiveAt reports whether the plan is in force at t.
func (p PaidPlan) ActiveAt(t time.Time) bool { return !t.Before(p.ValidFrom) && t.Before(p.ValidUntil) }

// Evolve returns the state after e. s itself is left untouched: its small maps are
// cloned before the change (their size does not grow with history) and the incident
// log copies only the nodes the event changes; Fold avoids even that when replaying.
// Events of other aggregates (RulesPublished) leave the state as it is.
func Evolve(s Partner, e Event) Partner {
	s.MembershipByID = maps.Clone(s.MembershipByID)
	s.UserByID = maps.Clone(s.UserByID)
	s.ContractByID = maps.Clone(s.ContractByID)
	s.PaidPlanByID = maps.Clone(s.PaidPlanByID)
	s.apply(e, false)
	return s
}

// FoldOnto returns the state after events, starting from s, which is left untouched:
// its small maps are cloned once and the incident log copies only what changes. The
// command executor brings a kept state up to date with it.
func FoldOnto(s Partner, events []Event) Partner {
	if len(events) == 0 {
		return s
	}
	s.MembershipByID = maps.Clone(s.MembershipByID)
	s.UserByID = maps.Clone(s.UserByID)
	s.ContractByID = maps.Clone(s.ContractByID)
	s.PaidPlanByID = maps.Clone(s.PaidPlanByID)
	for _, e := range events {
		s.apply(e, false)
	}
	return s
}

// Fold replays events from scratch.
func Fold(events []Event) Partner {
	var s Partner
	for _, e := range events {
		s.apply(e, true) // s owns its maps and log: no cloning needed
	}
	return s
}

// FoldDeciding replays events from scratch into a state to decide on, the state the
// command executor keeps (and snapshots): it decides every command as Fold's state
// does, but holds an incident, open or closed, only as what decisions ask of it (16
// bytes; SizeEstimate reckons the rest). It is never a view: its
// incidents are not to be shown (IncidentLog). FoldOnto and Evolve keep it so.
func FoldDeciding(events []Event) Partner {
	s := Partner{IncidentLog: IncidentLog{deciding: true}}
	for _, e := range events {
		s.apply(e, true) // s owns its maps and log: no cloning needed
	}
	return s
}

// FoldAsOf replays the events that occurred at or before at: the state an auditor sees
// "as of" that instant.
func FoldAsOf(events []Event, at time.Time) Partner {
	var s Partner
	for _, e := range events {
		if !e.Meta().OccurredAt.After(at) {
			s.apply(e, true)
		}
	}
	return s
}

// apply changes s in place. It may write to s's maps (the caller owns them) but treats
// slices inside map values as shared and replaces rather than modifies them; the
// incident log is changed in place only when owned (a fold from scratch).
func (s *Partner) apply(e Event, owned bool) {
	if _, ok := e.(RulesPublished); ok {
		return
	}
	s.ensureMaps()
	switch e := e.(type) {
	case PartnerEnrolled:
		s.MPNID, s.Name, s.CSP, s.EnrolledAt = e.MPNID, e.Name, e.CSP, e.OccurredAt
	case MembershipGranted:
		s.MembershipCount++
		s.MembershipByID[e.MembershipID] = Membership{
			MembershipID: e.MembershipID, Seq: s.MembershipCount, Level: e.Level,
			Competency: e.Competency, ValidFrom: e.ValidFrom, ValidUntil: e.ValidUntil,
		}
	case MembershipEnded:
		m := s.MembershipByID[e.MembershipID]
		m.EndedAt = e.OccurredAt
		s.MembershipByID[e.MembershipID] = m
	case UserRegistered:
		s.UserByID[e.UserID] = User{
			UserID: e.UserID, AccountType: e.AccountType, MPNLinked: e.MPNLinked,
			CSPOnly: e.CSPOnly, Roles: slices.Clone(e.Roles), RegisteredAt: e.OccurredAt,
		}
	case UserRolesChanged:
		u := s.UserByID[e.UserID]
		u.Roles = slices.Clone(e.Roles)
		s.UserByID[e.UserID] = u
	case BenefitActivated:
		c := Contract{
			ContractID: e.ContractID, AccessID: e.AccessID, ActivatedBy: e.ActivatedBy,
			Level: e.Level, RulesVersion: e.RulesVersion, ValidFrom: e.ValidFrom, ValidUntil: e.ValidUntil,
		}
		for _, p := range e.Pools {
			c.Pools = append(c.Pools, Pool{Kind: p.Kind, Granted: cloneInt(p.Granted)})
		}
		s.ContractByID[e.ContractID] = c
		s.CurrentContractID = e.ContractID
	case ContractLinked:
		c := s.ContractByID[e.ContractID]
		c.Links = append(slices.Clip(c.Links), Link{
			UserID: e.UserID, AccountType: e.AccountType, LinkedAt: e.OccurredAt, LinkedBy: e.LinkedBy,
		})
		s.ContractByID[e.ContractID] = c
	case IncidentOpened:
		s.IncidentCount++
		s.IncidentLog.put(Incident{
			IncidentID: e.IncidentID, Seq: s.IncidentCount, Plan: e.Plan, ContractID: e.ContractID,
			Pool: e.Pool, PaidPlanID: e.PaidPlanID, Product: e.Product, Version: e.Version,
			CustomerID: e.CustomerID, Country: e.CustomerCountry, Severity: e.Severity, Title: e.Title,
			OpenedBy: e.OpenedBy, OpenedAt: e.OccurredAt,
			RulesVersion: e.RulesVersion,
		}, owned)
		if e.Pool != "" {
			c := s.ContractByID[e.ContractID]
			c.Pools = slices.Clone(c.Pools)
			if i := slices.IndexFunc(c.Pools, func(p Pool) bool { return p.Kind == e.Pool }); i >= 0 {
				c.Pools[i].Used++
			}
			s.ContractByID[e.ContractID] = c
		}
	case IncidentClosed:
		s.IncidentLog.close(e, owned)
	case SupportPlanPurchased:
		s.PaidPlanCount++
		s.PaidPlanByID[e.PlanID] = PaidPlan{
			PlanID: e.PlanID, Seq: s.PaidPlanCount, Plan: e.Plan, ValidFrom: e.ValidFrom,
			ValidUntil: e.ValidUntil, PurchasedBy: e.PurchasedBy, PurchasedAt: e.OccurredAt,
		}
	}
}

func (s *Partner) ensureMaps() {
	if s.MembershipByID == nil {
		s.MembershipByID = map[string]Membership{}
	}
	if s.UserByID == nil {
		s.UserByID = map[string]User{}
	}
	if s.ContractByID == nil {
		s.ContractByID = map[string]Contract{}
	}
	if s.PaidPlanByID == nil {
		s.PaidPlanByID = map[string]PaidPlan{}
	}
}

func cloneInt(p *int) *int {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
