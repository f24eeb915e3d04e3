package domain

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Decide decides a partner command against the partner's state s, the rules in force at
// now (r) and an ID source. It returns the events to append, none for an idempotent
// repeat (R5, R17), or a refusal as *Error. Other errors are programming faults (an
// unknown command type, a broken ID source).
func Decide(s Partner, c Command, r Rules, now time.Time, ids IDs) ([]Event, error) {
	now = now.UTC()
	pc, ok := c.(PartnerCommand)
	if !ok {
		return nil, fmt.Errorf("decide: %T is not a partner command", c)
	}
	if err := ValidateMPNID(pc.Partner()); err != nil {
		return nil, err
	}
	if s.MPNID != "" && s.MPNID != pc.Partner() {
		return nil, fmt.Errorf("decide: state of partner %s given for a command on partner %s", s.MPNID, pc.Partner())
	}
	if enroll, ok := c.(EnrollPartner); ok {
		return decideEnroll(s, enroll, r, now)
	}
	if s.MPNID == "" {
		return nil, refusef(CodeNotFound, "partner %s is not enrolled", pc.Partner())
	}
	d := decision{s: s, r: r, now: now, meta: EventMeta{OccurredAt: now, RulesVersion: r.Version}}
	switch c := c.(type) {
	case GrantMembership:
		return d.grantMembership(c)
	case EndMembership:
		return d.endMembership(c)
	case RegisterUser:
		return d.registerUser(c)
	case ChangeUserRoles:
		return d.changeUserRoles(c)
	case ActivateBenefit:
		if ids == nil {
			return nil, errors.New("decide ActivateBenefit: no ID source")
		}
		return d.activate(c, ids)
	case LinkContract:
		return d.link(c)
	case OpenIncident:
		return d.openIncident(c)
	case CloseIncident:
		return d.closeIncident(c)
	case PurchaseSupportPlan:
		return d.purchase(c)
	}
	return nil, fmt.Errorf("decide: unknown command %T", c)
}

// decision carries what every partner decision needs.
type decision struct {
	s    Partner
	r    Rules
	now  time.Time
	meta EventMeta
}

func decideEnroll(s Partner, c EnrollPartner, r Rules, now time.Time) ([]Event, error) {
	if !c.By.HasSystemRole(SystemPlatform) {
		return nil, notAuthorized("only the platform enrols partners")
	}
	if s.MPNID != "" {
		return nil, refusef(CodeConflict, "partner %s is already enrolled", c.MPNID)
	}
	name := strings.TrimSpace(c.Name)
	if name == "" {
		return nil, refuse(CodeValidation, "partner name is required")
	}
	return []Event{PartnerEnrolled{
		EventMeta: EventMeta{OccurredAt: now, RulesVersion: r.Version},
		MPNID:     c.MPNID, Name: name, CSP: c.CSP, EnrolledBy: actorName(c.By),
	}}, nil
}

func (d decision) grantMembership(c GrantMembership) ([]Event, error) {
	if !c.By.HasSystemRole(SystemPlatform) {
		return nil, notAuthorized("only the platform grants memberships")
	}
	competency := strings.TrimSpace(c.Competency)
	switch {
	case !c.Level.valid():
		return nil, refusef(CodeValidation, "membership level %q: want action-pack, silver or gold", c.Level)
	case c.Level == LevelActionPack && competency != "":
		return nil, refuse(CodeValidation, "Action Pack has no competency")
	case c.Level != LevelActionPack && competency == "":
		return nil, refusef(CodeValidation, "a %s membership names its competency", c.Level)
	}
	from, until, err := d.window(c.ValidFrom, c.ValidUntil)
	if err != nil {
		return nil, err
	}
	// One membership per offer (Action Pack, or one competency) at a time: an upgrade
	// from Silver to Gold ends the Silver membership first.
	for _, m := range d.s.MembershipByID {
		overlaps := from.Before(m.effectiveEnd()) && m.ValidFrom.Before(until)
		if overlaps && strings.EqualFold(m.Competency, competency) && (competency != "" || m.Level == c.Level) {
			return nil, refusef(CodeConflict, "membership %s already covers that offer in that period", m.MembershipID)
		}
	}
	return []Event{MembershipGranted{
		EventMeta: d.meta, MPNID: d.s.MPNID, MembershipID: fmt.Sprintf("MS-%d", d.s.MembershipCount+1),
		Level: c.Level, Competency: competency, ValidFrom: from, ValidUntil: until,
	}}, nil
}

func (m Membership) effectiveEnd() time.Time {
	if !m.EndedAt.IsZero() && m.EndedAt.Before(m.ValidUntil) {
		return m.EndedAt
	}
	return m.ValidUntil
}

func (d decision) endMembership(c EndMembership) ([]Event, error) {
	if !c.By.HasSystemRole(SystemPlatform) {
		return nil, notAuthorized("only the platform ends memberships")
	}
	m, ok := d.s.MembershipByID[c.MembershipID]
	if !ok {
		return nil, refusef(CodeNotFound, "membership %q not found", c.MembershipID)
	}
	if !d.now.Before(m.effectiveEnd()) {
		return nil, nil // already over: nothing to record
	}
	// Decision: ending a membership does not shorten contracts already issued; they
	// stay valid until their end date or until no incidents remain (R13).
	return []Event{MembershipEnded{EventMeta: d.meta, MPNID: d.s.MPNID, MembershipID: m.MembershipID, EndedBy: actorName(c.By)}}, nil
}

// window normalises a validity period: zero from means now; until must come later.
func (d decision) window(from, until time.Time) (time.Time, time.Time, error) {
	if from.IsZero() {
		from = d.now
	}
	from, until = from.UTC(), until.UTC()
	if !until.After(from) {
		return time.Time{}, time.Time{}, refuse(CodeValidation, "validUntil must be after validFrom")
	}
	return from, until, nil
}

// canManageUsers: the platform, or the partner's MPN-linked global admin.
func (d decision) canManageUsers(a Actor) bool {
	if a.HasSystemRole(SystemPlatform) {
		return true
	}
	u, ok := d.s.UserByID[a.UserID]
	return ok && u.linkedToMPN() && u.HasRole(RoleGlobalAdmin)
}

func validRoles(roles []Role) ([]Role, error) {
	out := make([]Role, 0, len(roles))
	for _, r := range roles {
		if !r.valid() {
			return nil, refusef(CodeValidation, "role %q: want global-admin, mpn-partner-admin or admin-agent", r)
		}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	slices.Sort(out)
	return out, nil
}

func (d decision) registerUser(c RegisterUser) ([]Event, error) {
	if !d.canManageUsers(c.By) {
		return nil, notAuthorized("only the platform or the partner's global admin registers users")
	}
	userID := strings.TrimSpace(c.UserID)
	switch {
	case userID == "":
		return nil, refuse(CodeValidation, "userId is required")
	case !c.AccountType.valid():
		return nil, refusef(CodeValidation, "account type %q: want aad or msa", c.AccountType)
	case c.CSPOnly && c.MPNLinked:
		return nil, refuse(CodeValidation, "an account linked only to CSP cannot be linked to MPN")
	}
	roles, err := validRoles(c.Roles)
	if err != nil {
		return nil, err
	}
	if _, ok := d.s.UserByID[userID]; ok {
		return nil, refusef(CodeConflict, "user %s is already registered; change roles with ChangeUserRoles", userID)
	}
	return []Event{UserRegistered{
		EventMeta: d.meta, MPNID: d.s.MPNID, UserID: userID, AccountType: c.AccountType,
		MPNLinked: c.MPNLinked, CSPOnly: c.CSPOnly, Roles: roles,
	}}, nil
}

func (d decision) changeUserRoles(c ChangeUserRoles) ([]Event, error) {
	if !d.canManageUsers(c.By) {
		return nil, notAuthorized("only the platform or the partner's global admin changes roles")
	}
	u, ok := d.s.UserByID[c.UserID]
	if !ok {
		return nil, refusef(CodeNotFound, "user %q not found", c.UserID)
	}
	roles, err := validRoles(c.Roles)
	if err != nil {
		return nil, err
	}
	if slices.Equal(roles, u.Roles) {
		return nil, nil // no change, nothing to record
	}
	return []Event{UserRolesChanged{EventMeta: d.meta, MPNID: d.s.MPNID, UserID: u.UserID, Roles: roles, ChangedBy: actorName(c.By)}}, nil
}

func (d decision) purchase(c PurchaseSupportPlan) ([]Event, error) {
	if !c.By.HasSystemRole(SystemPlatform) {
		if u, ok := d.s.UserByID[c.By.UserID]; !ok || !u.isAdmin() {
			return nil, notAuthorized("buying a support plan needs the platform or an MPN-linked global admin or MPN partner admin")
		}
	}
	if !c.Plan.paid() {
		return nil, refusef(CodeValidation, "plan %q: want premier or advanced (R21)", c.Plan)
	}
	from, until, err := d.window(c.ValidFrom, c.ValidUntil)
	if err != nil {
		return nil, err
	}
	return []Event{SupportPlanPurchased{
		EventMeta: d.meta, MPNID: d.s.MPNID, PlanID: fmt.Sprintf("PL-%d", d.s.PaidPlanCount+1),
		Plan: c.Plan, ValidFrom: from, ValidUntil: until, PurchasedBy: actorName(c.By),
	}}, nil
}

// actorName is the actor as recorded in events: the user ID, or the system role.
func actorName(a Actor) string {
	if a.UserID != "" {
		return a.UserID
	}
	if len(a.SystemRoles) > 0 {
		return a.SystemRoles[0]
	}
	return "unknown"
}
