package domain

import (
	"fmt"
	"time"
)

// benefitUser is the acting user of a benefit action: registered with the partner and
// not a CSP-only account (R2).
func (d decision) benefitUser(a Actor) (User, error) {
	u, ok := d.s.UserByID[a.UserID]
	if !ok {
		return User{}, notAuthorized(fmt.Sprintf("%q is not a user account of partner %s", a.UserID, d.s.MPNID))
	}
	if u.CSPOnly {
		return User{}, notAuthorized("this account is linked only to CSP; you need an MPN account (R2)")
	}
	return u, nil
}

// activate: R1 (who), R5 (once per period), R3 (active memberships), R6/R7/R9 (pools).
func (d decision) activate(c ActivateBenefit, ids IDs) ([]Event, error) {
	u, err := d.benefitUser(c.By)
	if err != nil {
		return nil, err
	}
	if !u.isAdmin() {
		return nil, notAuthorized("activating the benefit needs an MPN-linked global admin or MPN partner admin (R1)")
	}
	if cur, ok := d.s.currentContract(); ok && cur.validAt(d.now) {
		return nil, nil // R5: already active this period; the caller reads s.Activation()
	}
	active := d.s.activeMemberships(d.now)
	if len(active) == 0 {
		return nil, refuse(CodeNoBenefitsYet, MsgNoBenefitsYet+" (R3: no active Gold, Silver or Action Pack membership)")
	}
	// Decision (R5): the contract is valid from activation until the latest end of the
	// memberships active now; that is the "membership period" of R5. A new activation is
	// possible once it has expired and a membership is active again.
	var until time.Time
	for _, m := range active {
		if end := m.effectiveEnd(); end.After(until) {
			until = end
		}
	}
	level, pools := d.r.entitledPools(active)
	accessID, contractID := ids.NewAccessID(), ids.NewContractID(d.s.MPNID)
	if mpn, ok := PartnerOfContract(contractID); !ok || mpn != d.s.MPNID || accessID == "" {
		return nil, fmt.Errorf("activate: ID source gave access %q, contract %q for partner %s", accessID, contractID, d.s.MPNID)
	}
	if _, taken := d.s.ContractByID[contractID]; taken {
		return nil, fmt.Errorf("activate: ID source repeated contract ID %s", contractID)
	}
	granted := make([]PoolGranted, 0, len(pools))
	for _, p := range pools {
		granted = append(granted, PoolGranted{Kind: p.Kind, Granted: p.Granted})
	}
	return []Event{BenefitActivated{
		EventMeta: d.meta, MPNID: d.s.MPNID, AccessID: accessID, ContractID: contractID,
		ActivatedBy: u.UserID, Level: level, ValidFrom: d.now, ValidUntil: until, Pools: granted,
	}}, nil
}

// link: R12 (present both IDs), R17 (again is no error), R18 (expired/exhausted refused).
func (d decision) link(c LinkContract) ([]Event, error) {
	actor, err := d.benefitUser(c.By)
	if err != nil {
		return nil, err
	}
	target := actor
	if c.UserID != "" && c.UserID != actor.UserID {
		if !actor.isAdmin() {
			return nil, notAuthorized("only an MPN-linked admin links another user's account")
		}
		t, ok := d.s.UserByID[c.UserID]
		if !ok {
			return nil, refusef(CodeNotFound, "user %q not found", c.UserID)
		}
		if t.CSPOnly {
			return nil, notAuthorized(fmt.Sprintf("account %s is linked only to CSP; it needs an MPN account (R2)", t.UserID))
		}
		target = t
	}
	contract, err := d.presentedContract(c.AccessID, c.ContractID)
	if err != nil {
		return nil, err
	}
	// Decision (R17 after R18): an expired or exhausted contract is refused with its
	// reason even when already linked; that is the "useful diagnostic" the article asks
	// for. A valid contract linked again is no error and records nothing.
	if contract.linkedTo(target.UserID) {
		return nil, nil
	}
	return []Event{d.linked(contract, target, actor.UserID)}, nil
}

func (d decision) linked(c Contract, u User, by string) ContractLinked {
	return ContractLinked{EventMeta: d.meta, MPNID: d.s.MPNID, ContractID: c.ContractID, UserID: u.UserID, AccountType: u.AccountType, LinkedBy: by}
}

// presentedContract checks an Access ID and Contract ID pair (R12) and that the contract
// still gives incidents (R13, R18).
func (d decision) presentedContract(accessID, contractID string) (Contract, error) {
	if accessID == "" || contractID == "" {
		return Contract{}, refuse(CodeValidation, "both the Access ID and the Contract ID are required (R12)")
	}
	if d.s.CurrentContractID == "" {
		return Contract{}, d.notActivated()
	}
	c, ok := d.s.ContractByID[contractID]
	if !ok || c.AccessID != accessID {
		return Contract{}, refusef(CodeInvalidAccessID, "the Access ID and Contract ID do not match an activated contract of partner %s", d.s.MPNID)
	}
	if !c.validAt(d.now) {
		return Contract{}, d.expired(c)
	}
	if c.exhausted() {
		return Contract{}, refusef(CodeContractExhausted, "contract %s has no incidents left; the partner needs a new support plan (R18)", c.ContractID)
	}
	return c, nil
}

func (d decision) notActivated() *Error {
	return refusef(CodeNotActivated, "the technical-support benefit of partner %s is not activated; an MPN-linked global admin or MPN partner admin activates it (R1)", d.s.MPNID)
}

func (d decision) expired(c Contract) *Error {
	return refusef(CodeContractExpired, "contract %s is valid from %s until %s, not at %s; the partner needs a new support plan (R18, R23)",
		c.ContractID, c.ValidFrom.Format(time.RFC3339), c.ValidUntil.Format(time.RFC3339), d.now.Format(time.RFC3339))
}

func (c Contract) validAt(t time.Time) bool { return !t.Before(c.ValidFrom) && t.Before(c.ValidUntil) }

// exhausted: no pool has an incident left (R13); an unlimited pool never runs out.
func (c Contract) exhausted() bool {
	for _, p := range c.Pools {
		if !p.empty() {
			return false
		}
	}
	return true
}

func (c Contract) linkedTo(userID string) bool {
	for _, l := range c.Links {
		if l.UserID == userID {
			return true
		}
	}
	return false
}

func (c Contract) pool(kind PoolKind) (Pool, bool) {
	for _, p := range c.Pools {
		if p.Kind == kind {
			return p, true
		}
	}
	return Pool{}, false
}

func (s Partner) currentContract() (Contract, bool) {
	c, ok := s.ContractByID[s.CurrentContractID]
	return c, ok
}

func (s Partner) activeMemberships(at time.Time) []Membership {
	var active []Membership
	for _, m := range s.sortedMemberships() {
		if m.ActiveAt(at) {
			active = append(active, m)
		}
	}
	return active
}
