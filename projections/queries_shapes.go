package projections

import "time"

// The answers of ReadModels and of the Render functions: the JSON bodies of the HTTP
// API (issue 4), camelCase. Timestamps are UTC at microsecond precision. A nil *int
// count means unlimited. Lists are never null.

// RemainingIncidents is GET /v1/partners/{mpnId}/remaining-incidents.
type RemainingIncidents struct {
	Contracts []ContractIncidents `json:"contracts"`
}

// ContractIncidents is one contract: its window, its status at the asked moment
// (active | expired | exhausted, R14) and its pools; its ID only for readers who may
// see it (R4).
type ContractIncidents struct {
	ContractID string          `json:"contractId,omitempty"`
	ValidFrom  time.Time       `json:"validFrom"`
	ValidTo    time.Time       `json:"validTo"` // exclusive
	Status     string          `json:"status"`
	Pools      []PoolIncidents `json:"pools"`
}

// PoolIncidents is one pool: granted and remaining are null when unlimited (R7).
type PoolIncidents struct {
	Kind      string `json:"kind"`
	Granted   *int   `json:"granted"`
	Used      int    `json:"used"`
	Remaining *int   `json:"remaining"`
}

// LinkedAccounts is GET /v1/contracts/{contractId}/linked-accounts: one page of the
// accounts, in link order. NextCursor, when present, fetches the page after it.
type LinkedAccounts struct {
	Accounts   []LinkedAccount `json:"accounts"`
	NextCursor string          `json:"nextCursor,omitempty"`
}

// LinkedAccount is one account linked to the contract (R12).
type LinkedAccount struct {
	UserID      string    `json:"userId"`
	AccountType string    `json:"accountType"`
	LinkedAt    time.Time `json:"linkedAt"`
	LinkedBy    string    `json:"linkedBy"`
}

// SupportPlans is GET /v1/accounts/{userId}/support-plans (R14).
type SupportPlans struct {
	Usable      []SupportPlan `json:"usable"`
	Unavailable []SupportPlan `json:"unavailable"`
}

func (s *SupportPlans) add(p SupportPlan) {
	if p.Reason == "" {
		s.Usable = append(s.Usable, p)
	} else {
		s.Unavailable = append(s.Unavailable, p)
	}
}

// SupportPlan is one plan an account can file under: a pool of a linked contract
// (product-support, signature-cloud), a paid plan (premier, advanced, R21) or the Cloud
// Solution Provider plan (R20). Granted and remaining are given for pools only; null
// there means unlimited. Reason says why an unavailable plan cannot be used.
type SupportPlan struct {
	Plan       string     `json:"plan"`
	MPNID      string     `json:"mpnId"`
	ContractID string     `json:"contractId,omitempty"`
	PaidPlanID string     `json:"paidPlanId,omitempty"`
	ValidFrom  *time.Time `json:"validFrom,omitempty"`
	ValidTo    *time.Time `json:"validTo,omitempty"`
	Granted    *int       `json:"granted"`
	Remaining  *int       `json:"remaining"`
	Reason     string     `json:"reason,omitempty"`
}

// Incidents is GET /v1/partners/{mpnId}/incidents: one page of the incidents, in the
// order opened. NextCursor, when present, fetches the page after it.
type Incidents struct {
	Incidents  []Incident `json:"incidents"`
	NextCursor string     `json:"nextCursor,omitempty"`
}

// Incident is one support request; contractId and pool are set when it drew on a
// benefit pool (R22), paidPlanId when filed under a paid plan (R21).
type Incident struct {
	IncidentID string `json:"incidentId"`
	MPNID      string `json:"mpnId"`
	Plan       string `json:"plan"`
	ContractID string `json:"contractId,omitempty"`
	Pool       string `json:"pool,omitempty"`
	PaidPlanID string `json:"paidPlanId,omitempty"`
	Product    string `json:"product"`
	Version    string `json:"version,omitempty"`
	CustomerID string `json:"customerId,omitempty"`
	// CustomerCountry is the customer's ISO 3166-1 alpha-2 country, when given.
	CustomerCountry string     `json:"customerCountry,omitempty"`
	Severity        string     `json:"severity"` // critical | moderate | minimal
	Title           string     `json:"title,omitempty"`
	Status          string     `json:"status"` // open | closed
	OpenedBy        string     `json:"openedBy"`
	OpenedAt        time.Time  `json:"openedAt"`
	ClosedAt        *time.Time `json:"closedAt"`
	ClosedBy        string     `json:"closedBy,omitempty"`
	Resolution      string     `json:"resolution,omitempty"`
}

// Benefits is GET /v1/partners/{mpnId}/benefits: the partner's benefits page.
type Benefits struct {
	MPNID string `json:"mpnId"`
	Name  string `json:"name"`
	CSP   bool   `json:"csp"`
	// Level is the highest active membership (R6); "" with none, when the page says
	// "It looks like you don't have benefits yet" (R3).
	Level        string        `json:"level"`
	Memberships  []Membership  `json:"memberships"`
	Activation   *Activation   `json:"activation"` // null before the first activation
	Entitlements []Entitlement `json:"entitlements"`
}

// Membership statuses at the asked moment.
const (
	MembershipActive   = "active"
	MembershipEnded    = "ended"
	MembershipUpcoming = "upcoming"
)

// Membership is a membership offer with its window and status at the asked moment.
type Membership struct {
	MembershipID string     `json:"membershipId"`
	Level        string     `json:"level"`
	Competency   string     `json:"competency,omitempty"`
	ValidFrom    time.Time  `json:"validFrom"`
	ValidTo      time.Time  `json:"validTo"` // exclusive
	EndedAt      *time.Time `json:"endedAt,omitempty"`
	Status       string     `json:"status"` // active | ended | upcoming
}

// Activation is the latest activation of the benefit. The Access ID and Contract ID are
// present only for callers allowed to see them (R4).
type Activation struct {
	AccessID    string    `json:"accessId,omitempty"`
	ContractID  string    `json:"contractId,omitempty"`
	ActivatedBy string    `json:"activatedBy"`
	ActivatedAt time.Time `json:"activatedAt"`
	Level       string    `json:"level"`   // the level the contract was sized for
	ValidTo     time.Time `json:"validTo"` // exclusive
}

// Entitlement is one pool the latest activation granted (R6, R7, R9); granted null
// means unlimited.
type Entitlement struct {
	Kind    string `json:"kind"`
	Granted *int   `json:"granted"`
}

// PartnerUser is a user account of a partner, as the API needs it to authorise reads.
type PartnerUser struct {
	MPNID        string    `json:"mpnId"`
	UserID       string    `json:"userId"`
	AccountType  string    `json:"accountType"`
	MPNLinked    bool      `json:"mpnLinked"`
	CSPOnly      bool      `json:"cspOnly"`
	Roles        []string  `json:"roles"`
	RegisteredAt time.Time `json:"registeredAt"`
}
