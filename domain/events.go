package domain

import "time"

// Event is a past-tense fact. Type names carry the schema version (".v1"); a changed
// schema is a new type with its own struct, so stored events always decode as written.
type Event interface {
	EventType() string
	Meta() EventMeta
}

// EventMeta is in every event's data, so auditors can fold "as of" an instant and know
// which rules decided each fact from the data alone (R10).
type EventMeta struct {
	OccurredAt   time.Time `json:"occurredAt"`
	RulesVersion int       `json:"rulesVersion"`
}

// Meta returns the event's common fields.
func (m EventMeta) Meta() EventMeta { return m }

// PartnerEnrolled starts a partner stream.
type PartnerEnrolled struct {
	EventMeta
	MPNID      string `json:"mpnId"`
	Name       string `json:"name"`
	CSP        bool   `json:"csp"`
	EnrolledBy string `json:"enrolledBy"`
}

// MembershipGranted: the partner holds a membership offer for [ValidFrom, ValidUntil).
type MembershipGranted struct {
	EventMeta
	MPNID        string    `json:"mpnId"`
	MembershipID string    `json:"membershipId"`
	Level        Level     `json:"level"`
	Competency   string    `json:"competency,omitempty"`
	ValidFrom    time.Time `json:"validFrom"`
	ValidUntil   time.Time `json:"validUntil"`
}

// MembershipEnded: the membership stopped at OccurredAt.
type MembershipEnded struct {
	EventMeta
	MPNID        string `json:"mpnId"`
	MembershipID string `json:"membershipId"`
	EndedBy      string `json:"endedBy"`
}

// UserRegistered: a user account now belongs to the partner.
type UserRegistered struct {
	EventMeta
	MPNID       string      `json:"mpnId"`
	UserID      string      `json:"userId"`
	AccountType AccountType `json:"accountType"`
	MPNLinked   bool        `json:"mpnLinked"`
	CSPOnly     bool        `json:"cspOnly"`
	Roles       []Role      `json:"roles"`
}

// UserRolesChanged: the user's roles are now Roles.
type UserRolesChanged struct {
	EventMeta
	MPNID     string `json:"mpnId"`
	UserID    string `json:"userId"`
	Roles     []Role `json:"roles"`
	ChangedBy string `json:"changedBy"`
}

// BenefitActivated: a contract was issued with its Access ID, validity and pools, sized
// by the rules version in RulesVersion (R5, R6, R7).
type BenefitActivated struct {
	EventMeta
	MPNID       string        `json:"mpnId"`
	AccessID    string        `json:"accessId"`
	ContractID  string        `json:"contractId"`
	ActivatedBy string        `json:"activatedBy"`
	Level       Level         `json:"level"`
	ValidFrom   time.Time     `json:"validFrom"`
	ValidUntil  time.Time     `json:"validUntil"`
	Pools       []PoolGranted `json:"pools"`
}

// PoolGranted is one pool of a new contract; Granted null means unlimited.
type PoolGranted struct {
	Kind    PoolKind `json:"kind"`
	Granted *int     `json:"granted"`
}

// ContractLinked: the contract is linked to the user's account (R12).
type ContractLinked struct {
	EventMeta
	MPNID       string      `json:"mpnId"`
	ContractID  string      `json:"contractId"`
	UserID      string      `json:"userId"`
	AccountType AccountType `json:"accountType"`
	LinkedBy    string      `json:"linkedBy"`
}

// IncidentOpened: an incident was filed; if Pool is set it took one incident from that
// pool of ContractID at once (R22). Version 2 added Severity and CustomerCountry; a
// stored IncidentOpened.v1 is read as this type through upcastIncidentOpenedV1.
type IncidentOpened struct {
	EventMeta
	MPNID      string   `json:"mpnId"`
	IncidentID string   `json:"incidentId"`
	Plan       Plan     `json:"plan"`
	ContractID string   `json:"contractId,omitempty"`
	Pool       PoolKind `json:"pool,omitempty"`
	PaidPlanID string   `json:"paidPlanId,omitempty"`
	Product    string   `json:"product"`
	Version    string   `json:"version,omitempty"`
	CustomerID string   `json:"customerId,omitempty"`
	// CustomerCountry is the ISO 3166-1 alpha-2 country of the customer (empty: not given).
	CustomerCountry string   `json:"customerCountry,omitempty"`
	Severity        Severity `json:"severity"`
	Title           string   `json:"title,omitempty"`
	OpenedBy        string   `json:"openedBy"`
}

// IncidentClosed: the incident is closed; nothing is given back (R22).
type IncidentClosed struct {
	EventMeta
	MPNID      string `json:"mpnId"`
	IncidentID string `json:"incidentId"`
	ClosedBy   string `json:"closedBy"`
	Resolution string `json:"resolution,omitempty"`
}

// SupportPlanPurchased: the partner bought a paid plan (R21).
type SupportPlanPurchased struct {
	EventMeta
	MPNID       string    `json:"mpnId"`
	PlanID      string    `json:"planId"`
	Plan        Plan      `json:"plan"`
	ValidFrom   time.Time `json:"validFrom"`
	ValidUntil  time.Time `json:"validUntil"`
	PurchasedBy string    `json:"purchasedBy"`
}

// RulesPublished: a new rules version (R10). Its RulesVersion is the version it publishes.
type RulesPublished struct {
	EventMeta
	Rules       Rules  `json:"rules"`
	PublishedBy string `json:"publishedBy"`
}

func (PartnerEnrolled) EventType() string      { return "PartnerEnrolled.v1" }
func (MembershipGranted) EventType() string    { return "MembershipGranted.v1" }
func (MembershipEnded) EventType() string      { return "MembershipEnded.v1" }
func (UserRegistered) EventType() string       { return "UserRegistered.v1" }
func (UserRolesChanged) EventType() string     { return "UserRolesChanged.v1" }
func (BenefitActivated) EventType() string     { return "BenefitActivated.v1" }
func (ContractLinked) EventType() string       { return "ContractLinked.v1" }
func (IncidentOpened) EventType() string       { return "IncidentOpened.v2" }
func (IncidentClosed) EventType() string       { return "IncidentClosed.v1" }
func (SupportPlanPurchased) EventType() string { return "SupportPlanPurchased.v1" }
func (RulesPublished) EventType() string       { return "RulesPublished.v1" }
