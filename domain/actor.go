package domain

import "slices"

// Actor is who sends a command, as the API read it from the token.
type Actor struct {
	UserID string
	// SystemRoles: SystemPlatform, SystemAuditor, SystemOps.
	SystemRoles []string
}

// System roles carried by tokens. Partner roles (Role) live in the partner's state.
const (
	// SystemPlatform is Partner Center itself: it enrols partners, grants and ends
	// memberships, registers users and records purchases.
	SystemPlatform = "platform"
	// SystemAuditor may read everything and decide nothing.
	SystemAuditor = "auditor"
	// SystemOps publishes rule versions (R10), like the platform, and may close incidents.
	SystemOps = "ops"
)

// HasSystemRole reports whether the actor's token carries role.
func (a Actor) HasSystemRole(role string) bool { return slices.Contains(a.SystemRoles, role) }

// Role is a partner user's role (article: "Juiste rollen").
type Role string

const (
	RoleGlobalAdmin     Role = "global-admin"
	RoleMPNPartnerAdmin Role = "mpn-partner-admin"
	RoleAdminAgent      Role = "admin-agent" // CSP role: files cloud requests for customers (R19)
)

func (r Role) valid() bool { return slices.Contains(Roles(), r) }

// Roles lists every partner user role.
func Roles() []Role { return []Role{RoleGlobalAdmin, RoleMPNPartnerAdmin, RoleAdminAgent} }

// AccountType is the kind of user account (R12: any AAD or MSA account).
type AccountType string

const (
	AccountAAD AccountType = "aad" // work account
	AccountMSA AccountType = "msa" // personal account
)

func (t AccountType) valid() bool { return slices.Contains(AccountTypes(), t) }

// AccountTypes lists every kind of user account.
func AccountTypes() []AccountType { return []AccountType{AccountAAD, AccountMSA} }
