package domain

import (
	"errors"
	"testing"
)

var (
	auditor = Actor{UserID: "auditor-1", SystemRoles: []string{SystemAuditor}}
	pc      = Actor{UserID: "partner-center", SystemRoles: []string{SystemPlatform}}
)

// refusedRead fails unless err is a not_authorized refusal.
func refusedRead(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, &Error{Code: CodeNotAuthorized}) {
		t.Errorf("%s: want a not_authorized refusal, got %v", what, err)
	}
}

// R4 (and R2): only MPN-linked accounts of the partner and the system readers see the
// Access ID and Contract ID; unlinked and CSP-only accounts read the partner without
// them; strangers and ops read nothing.
func TestR4UnlinkedUserNeverSeesContractIDs(t *testing.T) {
	w, _ := activated(t, partnerOpts{memberships: []GrantMembership{grant(LevelGold, "Cloud Platform")}})
	users := w.s.PartnerUsers()
	for _, tc := range []struct {
		name          string
		by            Actor
		reads, seeIDs bool
	}{
		{"MPN-linked global admin", as(uAdmin), true, true},
		{"MPN-linked partner admin", as(uMPNAdmin), true, true},
		{"MPN-linked member without roles", as(uMember), true, true},
		{"auditor", auditor, true, true},
		{"platform", pc, true, true},
		{"MSA account not linked to MPN", as(uEngineer), true, false},
		{"admin agent not linked to MPN", as(uAgent), true, false},
		{"CSP-only global admin (R2)", as(uCSP), true, false},
		{"account of no partner", as("stranger@fabrikam"), false, false},
		{"ops", ops, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := CanRead(tc.by, users); tc.reads != (err == nil) {
				t.Errorf("CanRead = %v, want reads %v", err, tc.reads)
			}
			err := CanSeeContractIDs(tc.by, users)
			if tc.seeIDs != (err == nil) {
				t.Fatalf("CanSeeContractIDs = %v, want sees %v", err, tc.seeIDs)
			}
			if !tc.seeIDs {
				refusedRead(t, "CanSeeContractIDs", err)
			}
			if _, ok := w.s.ActivationFor(tc.by.UserID); ok != (tc.seeIDs && tc.by.UserID != "" && len(tc.by.SystemRoles) == 0) {
				t.Errorf("ActivationFor(%s) shows the IDs: %v", tc.by.UserID, ok)
			}
		})
	}
}

// R4, shared-account decision: an account registered with two partners is read under
// each partner's own users. Partner A's admin registering B's admin gives A no view of
// what that account holds with B, and B's other admin no view of what it holds with A.
func TestR4SharedAccountIsReadOnlyUnderEachPartnersOwnUsers(t *testing.T) {
	const mpnB, sharedAdmin, adminB2 = "4711002", "admin@b", "admin2@b"
	a := newPartner(t, partnerOpts{})
	b := newWorld(t)
	b.must(EnrollPartner{MPNID: mpnB, By: platform, Name: "Fabrikam"})
	for _, id := range []string{sharedAdmin, adminB2} {
		b.must(RegisterUser{MPNID: mpnB, By: platform, UserID: id, AccountType: AccountAAD, MPNLinked: true, Roles: []Role{RoleGlobalAdmin}})
	}
	// The decision: A's global admin may register an account B already registered.
	oneEvent[UserRegistered](t, a.must(RegisterUser{MPNID: mpn, By: as(uAdmin), UserID: sharedAdmin, AccountType: AccountAAD, MPNLinked: true}))
	usersA, usersB := a.s.PartnerUsers(), b.s.PartnerUsers()

	refusedRead(t, "A's admin reads the shared account's plans with B", CanReadAccount(as(uAdmin), usersB, sharedAdmin))
	refusedRead(t, "B's other admin reads the shared account's plans with A", CanReadAccount(as(adminB2), usersA, sharedAdmin))
	refusedRead(t, "A's member without an admin role reads them with A", CanReadAccount(as(uMember), usersA, sharedAdmin))
	refusedRead(t, "A's CSP-only global admin reads them with A (R2)", CanReadAccount(as(uCSP), usersA, sharedAdmin))
	refusedRead(t, "A's admin reads B's data", CanRead(as(uAdmin), usersB))
	refusedRead(t, "B's other admin reads A's data", CanRead(as(adminB2), usersA))
	for _, ok := range []struct {
		what  string
		by    Actor
		users PartnerUsers
	}{
		{"A's admin, with A", as(uAdmin), usersA},
		{"A's partner admin, with A", as(uMPNAdmin), usersA},
		{"B's other admin, with B", as(adminB2), usersB},
		{"the account itself, with A", as(sharedAdmin), usersA},
		{"the account itself, with B", as(sharedAdmin), usersB},
		{"an auditor, with B", auditor, usersB},
	} {
		if err := CanReadAccount(ok.by, ok.users, sharedAdmin); err != nil {
			t.Errorf("%s: %v", ok.what, err)
		}
	}
}
