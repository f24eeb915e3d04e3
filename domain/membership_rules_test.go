package domain

import (
	"errors"
	"strings"
	"testing"
)

// R1: who may activate.
func TestR1ActivationNeedsMPNLinkedAdmin(t *testing.T) {
	for _, tc := range []struct {
		name string
		user string
		code Code // "" = accepted
	}{
		{"R1 MPN-linked global admin activates", uAdmin, ""},
		{"R1 MPN-linked MPN partner admin activates", uMPNAdmin, ""},
		{"R1 MPN-linked user without admin role is refused", uMember, CodeNotAuthorized},
		{"R1 admin agent not linked to MPN is refused", uAgent, CodeNotAuthorized},
		{"R1 unregistered account is refused", "stranger@fabrikam", CodeNotAuthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newPartner(t, partnerOpts{memberships: []GrantMembership{grant(LevelGold, "Cloud Platform")}})
			cmd := ActivateBenefit{MPNID: mpn, By: as(tc.user)}
			if tc.code != "" {
				w.refused(cmd, tc.code)
				return
			}
			e := oneEvent[BenefitActivated](t, w.must(cmd))
			if e.ActivatedBy != tc.user || e.AccessID == "" || e.ContractID == "" {
				t.Fatalf("activation %+v", e)
			}
		})
	}
}

// R2: a CSP-only account is refused every benefit action, in the article's words.
func TestR2CSPOnlyAccountRefusedBenefitActions(t *testing.T) {
	w := newPartner(t, partnerOpts{memberships: []GrantMembership{grant(LevelGold, "Cloud Platform")}})
	err := w.refused(ActivateBenefit{MPNID: mpn, By: as(uCSP)}, CodeNotAuthorized)
	if !strings.HasPrefix(err.Message, "You are not authorized for this action") {
		t.Fatalf("R2 message %q", err.Message)
	}
	// Accepting case: the same roles on an MPN account activate.
	w.must(ActivateBenefit{MPNID: mpn, By: as(uAdmin)})
	a, _ := w.s.Activation()
	w.refused(LinkContract{MPNID: mpn, By: as(uCSP), AccessID: a.AccessID, ContractID: a.ContractID}, CodeNotAuthorized)
	w.refused(LinkContract{MPNID: mpn, By: as(uAdmin), UserID: uCSP, AccessID: a.AccessID, ContractID: a.ContractID}, CodeNotAuthorized)
	w.refused(OpenIncident{MPNID: mpn, By: as(uCSP), Plan: PlanProductSupport, Product: "SQL Server", Version: "2025", AccessID: a.AccessID, ContractID: a.ContractID}, CodeNotAuthorized)
	w.refused(OpenIncident{MPNID: mpn, By: as(uCSP), Plan: PlanSignatureCloud, Product: "Microsoft 365"}, CodeNotAuthorized)
	if _, ok := w.s.ActivationFor(uCSP); ok {
		t.Fatal("R2/R4: CSP-only account sees the Access ID")
	}
}

// R3: benefits come from active memberships only.
func TestR3NoActiveMembershipNoBenefits(t *testing.T) {
	t.Run("R3 no membership: It looks like you don't have benefits yet", func(t *testing.T) {
		w := newPartner(t, partnerOpts{})
		err := w.refused(ActivateBenefit{MPNID: mpn, By: as(uAdmin)}, CodeNoBenefitsYet)
		if !strings.HasPrefix(err.Message, MsgNoBenefitsYet) {
			t.Fatalf("R3 message %q", err.Message)
		}
	})
	t.Run("R3 ended membership gives no benefits", func(t *testing.T) {
		w := newPartner(t, partnerOpts{memberships: []GrantMembership{grant(LevelSilver, "Data Analytics")}})
		w.must(EndMembership{MPNID: mpn, By: platform, MembershipID: "MS-1"})
		w.refused(ActivateBenefit{MPNID: mpn, By: as(uAdmin)}, CodeNoBenefitsYet)
	})
	t.Run("R3 membership not started yet gives no benefits", func(t *testing.T) {
		m := grant(LevelGold, "Security")
		m.ValidFrom = t0.AddDate(0, 1, 0)
		w := newPartner(t, partnerOpts{memberships: []GrantMembership{m}})
		w.refused(ActivateBenefit{MPNID: mpn, By: as(uAdmin)}, CodeNoBenefitsYet)
	})
	t.Run("R3 active Action Pack gives benefits", func(t *testing.T) {
		w := newPartner(t, partnerOpts{memberships: []GrantMembership{grant(LevelActionPack, "")}})
		oneEvent[BenefitActivated](t, w.must(ActivateBenefit{MPNID: mpn, By: as(uAdmin)}))
	})
}

// R4: after activation every MPN-linked account sees the IDs; others do not.
func TestR4MPNLinkedAccountsSeeIDs(t *testing.T) {
	w := newPartner(t, partnerOpts{memberships: []GrantMembership{grant(LevelActionPack, "")}})
	if _, ok := w.s.ActivationFor(uMember); ok {
		t.Fatal("R4: IDs visible before activation")
	}
	w.must(ActivateBenefit{MPNID: mpn, By: as(uAdmin)})
	a, ok := w.s.ActivationFor(uMember)
	if !ok || a.AccessID == "" || a.ContractID == "" {
		t.Fatalf("R4: MPN-linked member does not see the IDs: %+v", a)
	}
	for _, u := range []string{uEngineer, uAgent, uCSP, "stranger"} {
		if _, ok := w.s.ActivationFor(u); ok {
			t.Fatalf("R4: %s, not linked to MPN, sees the IDs", u)
		}
	}
}

// R5: activation happens once per membership period; again is no error and no event.
func TestR5ActivationOncePerPeriod(t *testing.T) {
	w, first := activated(t, partnerOpts{memberships: []GrantMembership{grant(LevelGold, "Cloud Platform")}})
	w.now = w.now.AddDate(0, 2, 0)
	w.noop(ActivateBenefit{MPNID: mpn, By: as(uMPNAdmin)})
	if again, _ := w.s.Activation(); again != first {
		t.Fatalf("R5: activation changed: %+v -> %+v", first, again)
	}
	// Refusing side: repeating is still subject to R1.
	w.refused(ActivateBenefit{MPNID: mpn, By: as(uMember)}, CodeNotAuthorized)

	// A new period: the contract has expired and a new membership is active.
	w.now = t0.AddDate(1, 0, 1)
	w.refused(ActivateBenefit{MPNID: mpn, By: as(uAdmin)}, CodeNoBenefitsYet)
	w.must(GrantMembership{MPNID: mpn, By: platform, Level: LevelGold, Competency: "Cloud Platform", ValidUntil: w.now.AddDate(1, 0, 0)})
	e := oneEvent[BenefitActivated](t, w.must(ActivateBenefit{MPNID: mpn, By: as(uAdmin)}))
	if e.ContractID == first.ContractID || e.AccessID == first.AccessID {
		t.Fatal("R5: a new period must issue new IDs")
	}
	w.checkFold()
}

func TestActivationContractValidityFollowsMembershipPeriod(t *testing.T) {
	ap := grant(LevelActionPack, "")
	silver := grant(LevelSilver, "Data Analytics")
	silver.ValidUntil = t0.AddDate(2, 0, 0)
	w, a := activated(t, partnerOpts{memberships: []GrantMembership{ap, silver}})
	c, _ := w.s.Contract(a.ContractID, w.now)
	if !c.ValidFrom.Equal(t0) || !c.ValidUntil.Equal(silver.ValidUntil) {
		t.Fatalf("R5 decision: contract window %s..%s, want %s..%s", c.ValidFrom, c.ValidUntil, t0, silver.ValidUntil)
	}
	// Decision: ending a membership does not shorten an issued contract (R13).
	w.must(EndMembership{MPNID: mpn, By: platform, MembershipID: "MS-2"})
	if c2, _ := w.s.Contract(a.ContractID, w.now); !c2.ValidUntil.Equal(c.ValidUntil) || c2.Status != ContractActive {
		t.Fatalf("ending a membership changed the contract: %+v", c2)
	}
}

// R6: product-support incidents by the highest active level.
func TestR6ProductSupportByHighestLevel(t *testing.T) {
	for _, tc := range []struct {
		name string
		ms   []GrantMembership
		want int
	}{
		{"R6 Action Pack gives 10", []GrantMembership{grant(LevelActionPack, "")}, 10},
		{"R6 Silver gives 15", []GrantMembership{grant(LevelSilver, "Data Analytics")}, 15},
		{"R6 Gold gives 20", []GrantMembership{grant(LevelGold, "Data Analytics")}, 20},
		{"R6 Action Pack and Silver: highest level counts", []GrantMembership{grant(LevelActionPack, ""), grant(LevelSilver, "Security")}, 15},
		{"R6 Silver and Gold: highest level counts", []GrantMembership{grant(LevelSilver, "Security"), grant(LevelGold, "Data Analytics")}, 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, a := activated(t, partnerOpts{memberships: tc.ms})
			p := w.pool(a.ContractID, PoolProductSupport)
			if p.Granted == nil || *p.Granted != tc.want || *p.Remaining != tc.want {
				t.Fatalf("granted %v remaining %v, want %d", p.Granted, p.Remaining, tc.want)
			}
		})
	}
	t.Run("R6 refusing: the 11th Action Pack incident is refused", func(t *testing.T) {
		w, a := activated(t, partnerOpts{memberships: []GrantMembership{grant(LevelActionPack, "")}})
		w.link(uEngineer, a)
		for range 10 {
			w.must(onPrem(uEngineer, "SQL Server", "2025"))
		}
		w.refused(onPrem(uEngineer, "SQL Server", "2025"), CodePoolExhausted)
	})
}

// R7: Signature Cloud pool by competency kind and level.
func TestR7SignatureCloudByCompetency(t *testing.T) {
	for _, tc := range []struct {
		name string
		ms   []GrantMembership
		want *int // nil = unlimited
	}{
		{"R7 Silver cloud competency: unlimited", []GrantMembership{grant(LevelSilver, "Cloud Platform")}, nil},
		{"R7 Gold cloud competency: unlimited", []GrantMembership{grant(LevelGold, "Security")}, nil},
		{"R7 Silver other competency: Signature 5-pack", []GrantMembership{grant(LevelSilver, "Data Analytics")}, intp(5)},
		{"R7 Gold other competency: Signature 10-pack", []GrantMembership{grant(LevelGold, "Application Development")}, intp(10)},
		{"R7 Gold other and Silver cloud: the cloud competency's unlimited wins", []GrantMembership{grant(LevelGold, "Data Analytics"), grant(LevelSilver, "Cloud Productivity")}, nil},
		{"R7 Silver other and Gold other: the larger pack", []GrantMembership{grant(LevelSilver, "Data Analytics"), grant(LevelGold, "Application Development")}, intp(10)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, a := activated(t, partnerOpts{memberships: tc.ms})
			p := w.pool(a.ContractID, PoolSignatureCloud)
			if (p.Granted == nil) != (tc.want == nil) || (tc.want != nil && *p.Granted != *tc.want) {
				t.Fatalf("granted %v, want %v", p.Granted, tc.want)
			}
		})
	}
	t.Run("R7 refusing: the 6th cloud incident on a Silver 5-pack is refused", func(t *testing.T) {
		w, a := activated(t, partnerOpts{memberships: []GrantMembership{grant(LevelSilver, "Data Analytics")}})
		w.link(uMember, a)
		for range 5 {
			w.must(cloud(uMember, "Azure"))
		}
		err := w.refused(cloud(uMember, "Azure"), CodePoolExhausted)
		if err.Remaining == nil || *err.Remaining != 0 {
			t.Fatalf("remaining %v", err.Remaining)
		}
	})
}

// R8: the cloud-competency list.
func TestR8CloudCompetencies(t *testing.T) {
	r := DefaultRules()
	for _, c := range []string{"Security", "Cloud Business Applications", "Cloud Platform", "Cloud Productivity", "Enterprise Mobility Management", "Small and Midmarket Cloud Solutions", "cloud platform"} {
		if !r.IsCloudCompetency(c) {
			t.Errorf("R8: %q is a cloud competency", c)
		}
	}
	for _, c := range []string{"Data Analytics", "Application Development", "Datacenter", ""} {
		if r.IsCloudCompetency(c) {
			t.Errorf("R8: %q is an other competency", c)
		}
	}
}

// R9: Action Pack alone gives product support only; with a competency, cloud by it.
func TestR9ActionPackCloudOnlyWithCompetency(t *testing.T) {
	t.Run("R9 Action Pack alone: no Signature Cloud Support", func(t *testing.T) {
		w, a := activated(t, partnerOpts{memberships: []GrantMembership{grant(LevelActionPack, "")}})
		c, _ := w.s.Contract(a.ContractID, w.now)
		if len(c.Pools) != 1 || c.Pools[0].Kind != PoolProductSupport {
			t.Fatalf("pools %+v", c.Pools)
		}
		w.link(uMember, a)
		w.refused(cloud(uMember, "Azure"), CodeNoCloudSupport)
		w.must(onPrem(uMember, "Windows Server", "2025"))
	})
	t.Run("R9 Action Pack with a Silver competency: cloud by that competency", func(t *testing.T) {
		w, a := activated(t, partnerOpts{memberships: []GrantMembership{grant(LevelActionPack, ""), grant(LevelSilver, "Data Analytics")}})
		if p := w.pool(a.ContractID, PoolSignatureCloud); p.Granted == nil || *p.Granted != 5 {
			t.Fatalf("cloud pool %+v", p)
		}
	})
}

func TestMembershipCommandsValidateAndAuthorize(t *testing.T) {
	w := newPartner(t, partnerOpts{memberships: []GrantMembership{grant(LevelSilver, "Security")}})
	g := grant(LevelGold, "Security")
	g.MPNID, g.By = mpn, platform
	w.refused(g, CodeConflict) // one membership per competency at a time
	g.By = as(uAdmin)
	w.refused(g, CodeNotAuthorized)
	for _, bad := range []GrantMembership{
		{Level: "platinum", Competency: "Security"},
		{Level: LevelActionPack, Competency: "Security"},
		{Level: LevelGold},
		{Level: LevelGold, Competency: "Datacenter", ValidFrom: t0, ValidUntil: t0},
	} {
		bad.MPNID, bad.By = mpn, platform
		if bad.ValidUntil.IsZero() && bad.ValidFrom.IsZero() {
			bad.ValidUntil = t0.AddDate(1, 0, 0)
		}
		w.refused(bad, CodeValidation)
	}
	w.refused(EndMembership{MPNID: mpn, By: platform, MembershipID: "MS-9"}, CodeNotFound)
	w.must(EndMembership{MPNID: mpn, By: platform, MembershipID: "MS-1"})
	w.noop(EndMembership{MPNID: mpn, By: platform, MembershipID: "MS-1"})
	g.By, g.ValidFrom = platform, w.now
	w.must(g) // after the Silver ended, Gold on the same competency is fine
	if w.s.Level(w.now) != LevelGold {
		t.Fatalf("level %s", w.s.Level(w.now))
	}
}

func TestEnrolAndUserCommands(t *testing.T) {
	w := newWorld(t)
	w.refused(EnrollPartner{MPNID: "12a45", By: platform, Name: "X"}, CodeValidation)
	w.refused(EnrollPartner{MPNID: mpn, By: as(uAdmin), Name: "X"}, CodeNotAuthorized)
	w.refused(EnrollPartner{MPNID: mpn, By: platform, Name: "  "}, CodeValidation)
	w.refused(RegisterUser{MPNID: mpn, By: platform, UserID: "u", AccountType: AccountAAD}, CodeNotFound)
	w = newPartner(t, partnerOpts{})
	w.refused(EnrollPartner{MPNID: mpn, By: platform, Name: "Again"}, CodeConflict)
	w.refused(RegisterUser{MPNID: mpn, By: platform, UserID: "x", AccountType: "google"}, CodeValidation)
	w.refused(RegisterUser{MPNID: mpn, By: platform, UserID: "x", AccountType: AccountAAD, MPNLinked: true, CSPOnly: true}, CodeValidation)
	w.refused(RegisterUser{MPNID: mpn, By: platform, UserID: "x", AccountType: AccountAAD, Roles: []Role{"owner"}}, CodeValidation)
	w.refused(RegisterUser{MPNID: mpn, By: as(uMember), UserID: "x", AccountType: AccountAAD}, CodeNotAuthorized)
	w.refused(RegisterUser{MPNID: mpn, By: platform, UserID: uMember, AccountType: AccountAAD}, CodeConflict)
	w.must(RegisterUser{MPNID: mpn, By: as(uAdmin), UserID: "x", AccountType: AccountAAD, MPNLinked: true})
	w.must(ChangeUserRoles{MPNID: mpn, By: as(uAdmin), UserID: "x", Roles: []Role{RoleMPNPartnerAdmin, RoleMPNPartnerAdmin}})
	w.noop(ChangeUserRoles{MPNID: mpn, By: platform, UserID: "x", Roles: []Role{RoleMPNPartnerAdmin}})
	w.refused(ChangeUserRoles{MPNID: mpn, By: platform, UserID: "nobody"}, CodeNotFound)
	w.refused(ChangeUserRoles{MPNID: mpn, By: as(uMPNAdmin), UserID: "x"}, CodeNotAuthorized)
	if u := w.s.UserByID["x"]; len(u.Roles) != 1 || u.Roles[0] != RoleMPNPartnerAdmin {
		t.Fatalf("roles %v", u.Roles)
	}
	_, err := Decide(w.s, EnrollPartner{MPNID: "99999", By: platform, Name: "Y"}, w.rules, w.now, w.ids)
	var de *Error
	if err == nil || errors.As(err, &de) {
		t.Fatalf("state of another partner must be a programming error, got %v", err)
	}
	w.checkFold()
}
