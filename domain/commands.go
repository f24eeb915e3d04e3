package domain

import "time"

// Command is anything Decide or DecideRules accepts. Stream names the aggregate the
// command is decided against, so the executor knows what to load.
type Command interface {
	CommandName() string
	Stream() string
}

// PartnerCommand is a command on a partner's stream.
type PartnerCommand interface {
	Command
	Partner() string // MPN ID
	Actor() Actor
}

// EnrollPartner starts a partner's aggregate (platform only).
type EnrollPartner struct {
	MPNID string
	By    Actor
	Name  string
	// CSP: the partner is a Cloud Solution Provider and may use the CSP plan (R20).
	CSP bool
}

// GrantMembership records an active membership offer for a period (platform only).
// Level is action-pack, silver or gold; silver and gold name their Competency.
type GrantMembership struct {
	MPNID      string
	By         Actor
	Level      Level
	Competency string
	ValidFrom  time.Time // zero: now
	ValidUntil time.Time // exclusive
}

// EndMembership ends a membership early (platform only).
type EndMembership struct {
	MPNID        string
	By           Actor
	MembershipID string
}

// RegisterUser adds a user account to the partner (platform or the partner's global admin).
type RegisterUser struct {
	MPNID       string
	By          Actor
	UserID      string
	AccountType AccountType
	MPNLinked   bool // linked to the partner's MPN account (R1, R4)
	CSPOnly     bool // linked only to CSP, not to MPN (R2)
	Roles       []Role
}

// ChangeUserRoles replaces a user's roles (platform or the partner's global admin).
type ChangeUserRoles struct {
	MPNID  string
	By     Actor
	UserID string
	Roles  []Role
}

// ActivateBenefit activates the technical-support benefit (R1, R3, R5).
type ActivateBenefit struct {
	MPNID string
	By    Actor
}

// LinkContract links an activated contract to a user account by presenting its Access
// ID and Contract ID (R12, R16, R17, R18). UserID is the account to link; empty means
// the actor's own account.
type LinkContract struct {
	MPNID      string
	By         Actor
	UserID     string
	AccessID   string
	ContractID string
}

// OpenIncident files a support request under Plan. For benefit plans the contract is
// ContractID if given, else the account's most recent linked contract; presenting
// AccessID with ContractID links it first (R12: the first use needs both IDs).
type OpenIncident struct {
	MPNID      string
	By         Actor
	Plan       Plan
	Product    string
	Version    string // on-premises products (R11)
	CustomerID string // CSP customer the request is for (R19)
	// CustomerCountry is the customer's ISO 3166-1 alpha-2 country; it needs CustomerID.
	CustomerCountry string
	Severity        Severity // empty: SeverityDefault
	Title           string
	ContractID      string
	AccessID        string
}

// CloseIncident closes an open incident; it gives nothing back to the pool (R22).
type CloseIncident struct {
	MPNID      string
	By         Actor
	IncidentID string
	Resolution string
}

// PurchaseSupportPlan records a paid plan (R21): premier or advanced.
type PurchaseSupportPlan struct {
	MPNID      string
	By         Actor
	Plan       Plan
	ValidFrom  time.Time // zero: now
	ValidUntil time.Time // exclusive
}

// PublishRules adds a rules version (R10, ops only). Rules.EffectiveFrom zero means now.
type PublishRules struct {
	By    Actor
	Rules Rules
}

func (EnrollPartner) CommandName() string       { return "EnrollPartner" }
func (GrantMembership) CommandName() string     { return "GrantMembership" }
func (EndMembership) CommandName() string       { return "EndMembership" }
func (RegisterUser) CommandName() string        { return "RegisterUser" }
func (ChangeUserRoles) CommandName() string     { return "ChangeUserRoles" }
func (ActivateBenefit) CommandName() string     { return "ActivateBenefit" }
func (LinkContract) CommandName() string        { return "LinkContract" }
func (OpenIncident) CommandName() string        { return "OpenIncident" }
func (CloseIncident) CommandName() string       { return "CloseIncident" }
func (PurchaseSupportPlan) CommandName() string { return "PurchaseSupportPlan" }
func (PublishRules) CommandName() string        { return "PublishRules" }

func (c EnrollPartner) Stream() string       { return PartnerStream(c.MPNID) }
func (c GrantMembership) Stream() string     { return PartnerStream(c.MPNID) }
func (c EndMembership) Stream() string       { return PartnerStream(c.MPNID) }
func (c RegisterUser) Stream() string        { return PartnerStream(c.MPNID) }
func (c ChangeUserRoles) Stream() string     { return PartnerStream(c.MPNID) }
func (c ActivateBenefit) Stream() string     { return PartnerStream(c.MPNID) }
func (c LinkContract) Stream() string        { return PartnerStream(c.MPNID) }
func (c OpenIncident) Stream() string        { return PartnerStream(c.MPNID) }
func (c CloseIncident) Stream() string       { return PartnerStream(c.MPNID) }
func (c PurchaseSupportPlan) Stream() string { return PartnerStream(c.MPNID) }
func (PublishRules) Stream() string          { return RulesStream }

func (c EnrollPartner) Partner() string       { return c.MPNID }
func (c GrantMembership) Partner() string     { return c.MPNID }
func (c EndMembership) Partner() string       { return c.MPNID }
func (c RegisterUser) Partner() string        { return c.MPNID }
func (c ChangeUserRoles) Partner() string     { return c.MPNID }
func (c ActivateBenefit) Partner() string     { return c.MPNID }
func (c LinkContract) Partner() string        { return c.MPNID }
func (c OpenIncident) Partner() string        { return c.MPNID }
func (c CloseIncident) Partner() string       { return c.MPNID }
func (c PurchaseSupportPlan) Partner() string { return c.MPNID }

func (c EnrollPartner) Actor() Actor       { return c.By }
func (c GrantMembership) Actor() Actor     { return c.By }
func (c EndMembership) Actor() Actor       { return c.By }
func (c RegisterUser) Actor() Actor        { return c.By }
func (c ChangeUserRoles) Actor() Actor     { return c.By }
func (c ActivateBenefit) Actor() Actor     { return c.By }
func (c LinkContract) Actor() Actor        { return c.By }
func (c OpenIncident) Actor() Actor        { return c.By }
func (c CloseIncident) Actor() Actor       { return c.By }
func (c PurchaseSupportPlan) Actor() Actor { return c.By }
func (c PublishRules) Actor() Actor        { return c.By }
