package domain

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"
)

const mpn = "4711001"

// t0 is "now" in most tests: SQL Server 2025 and Windows Server 2025 are N, 2022 is N-1.
var t0 = time.Date(2026, 1, 15, 9, 0, 0, 0, time.UTC)

var (
	platform = Actor{UserID: "", SystemRoles: []string{SystemPlatform}}
	ops      = Actor{SystemRoles: []string{SystemOps}}
)

func as(userID string) Actor { return Actor{UserID: userID} }

// seqIDs is a deterministic ID source.
type seqIDs struct{ n int }

func (g *seqIDs) NewAccessID() string { g.n++; return fmt.Sprintf("AC-%04d", g.n) }
func (g *seqIDs) NewContractID(mpnID string) string {
	g.n++
	return ContractID(mpnID, fmt.Sprintf("%04d", g.n))
}

// world runs commands the way the executor will: decide, then evolve and record. Every
// command is decided on the whole state s and on kept, the deciding state the executor
// keeps (FoldDeciding, every incident compacted): both must decide it alike, so every
// rule test also proves that compacting loses nothing a decision needs.
type world struct {
	t      testing.TB
	s      Partner
	kept   Partner
	events []Event
	rules  Rules
	now    time.Time
	ids    *seqIDs
}

func newWorld(t testing.TB) *world {
	return &world{t: t, kept: FoldDeciding(nil), rules: DefaultRules(), now: t0, ids: &seqIDs{}}
}

func (w *world) do(c Command) ([]Event, error) {
	w.t.Helper()
	ids := *w.ids // the same IDs for both decisions
	evs, err := Decide(w.s, c, w.rules, w.now, w.ids)
	keptEvs, keptErr := Decide(w.kept, c, w.rules, w.now, &ids)
	if fmt.Sprint(err) != fmt.Sprint(keptErr) || !reflect.DeepEqual(evs, keptEvs) {
		w.t.Fatalf("%s %#v: the whole state decides %v %#v, the deciding state %v %#v", c.CommandName(), c, err, evs, keptErr, keptEvs)
	}
	if err != nil {
		return nil, err
	}
	for _, e := range evs {
		w.s, w.kept = Evolve(w.s, e), Evolve(w.kept, e)
		w.events = append(w.events, e)
	}
	return evs, nil
}

func (w *world) must(c Command) []Event {
	w.t.Helper()
	evs, err := w.do(c)
	if err != nil {
		w.t.Fatalf("%s: unexpected refusal: %v", c.CommandName(), err)
	}
	return evs
}

// refused asserts the command is refused with code and records nothing.
func (w *world) refused(c Command, code Code) *Error {
	w.t.Helper()
	before := len(w.events)
	evs, err := w.do(c)
	var de *Error
	if !errors.As(err, &de) {
		w.t.Fatalf("%s: want refusal %s, got events %v err %v", c.CommandName(), code, evs, err)
	}
	if de.Code != code {
		w.t.Fatalf("%s: want code %s, got %s (%s)", c.CommandName(), code, de.Code, de.Message)
	}
	if len(w.events) != before {
		w.t.Fatalf("%s: refusal recorded events", c.CommandName())
	}
	return de
}

// noop asserts the command is accepted without events (idempotent outcomes).
func (w *world) noop(c Command) {
	w.t.Helper()
	if evs := w.must(c); len(evs) != 0 {
		w.t.Fatalf("%s: want no events, got %d: %#v", c.CommandName(), len(evs), evs)
	}
}

func oneEvent[T Event](t testing.TB, evs []Event) T {
	t.Helper()
	if len(evs) != 1 {
		t.Fatalf("want 1 event, got %d: %#v", len(evs), evs)
	}
	e, ok := evs[0].(T)
	if !ok {
		t.Fatalf("want %T, got %T", *new(T), evs[0])
	}
	return e
}

// Users of the standard partner.
const (
	uAdmin    = "admin@contoso"    // AAD, MPN-linked, global-admin
	uMPNAdmin = "mpnadmin@contoso" // AAD, MPN-linked, mpn-partner-admin
	uMember   = "member@contoso"   // AAD, MPN-linked, no roles
	uEngineer = "engineer@live"    // MSA, not linked to MPN
	uCSP      = "csp@contoso"      // AAD, CSP only, global-admin + admin-agent (R2)
	uAgent    = "agent@contoso"    // AAD, not MPN-linked, admin-agent
)

type partnerOpts struct {
	csp         bool
	memberships []GrantMembership
}

func grant(level Level, competency string) GrantMembership {
	return GrantMembership{Level: level, Competency: competency, ValidFrom: t0.AddDate(0, -1, 0), ValidUntil: t0.AddDate(1, 0, 0)}
}

// newPartner enrols the standard partner with its users and the given memberships.
func newPartner(t testing.TB, o partnerOpts) *world {
	t.Helper()
	w := newWorld(t)
	w.must(EnrollPartner{MPNID: mpn, By: platform, Name: "Contoso", CSP: o.csp})
	users := []RegisterUser{
		{UserID: uAdmin, AccountType: AccountAAD, MPNLinked: true, Roles: []Role{RoleGlobalAdmin}},
		{UserID: uMPNAdmin, AccountType: AccountAAD, MPNLinked: true, Roles: []Role{RoleMPNPartnerAdmin}},
		{UserID: uMember, AccountType: AccountAAD, MPNLinked: true},
		{UserID: uEngineer, AccountType: AccountMSA},
		{UserID: uCSP, AccountType: AccountAAD, CSPOnly: true, Roles: []Role{RoleGlobalAdmin, RoleAdminAgent}},
		{UserID: uAgent, AccountType: AccountAAD, Roles: []Role{RoleAdminAgent}},
	}
	for _, u := range users {
		u.MPNID, u.By = mpn, platform
		w.must(u)
	}
	for _, m := range o.memberships {
		m.MPNID, m.By = mpn, platform
		w.must(m)
	}
	return w
}

// activated is a partner with memberships, activated by the admin.
func activated(t testing.TB, o partnerOpts) (*world, Activation) {
	t.Helper()
	w := newPartner(t, o)
	w.must(ActivateBenefit{MPNID: mpn, By: as(uAdmin)})
	a, ok := w.s.Activation()
	if !ok {
		t.Fatal("no activation after ActivateBenefit")
	}
	return w, a
}

func (w *world) link(userID string, a Activation) {
	w.t.Helper()
	w.must(LinkContract{MPNID: mpn, By: as(userID), AccessID: a.AccessID, ContractID: a.ContractID})
}

func onPrem(by, product, version string) OpenIncident {
	return OpenIncident{MPNID: mpn, By: as(by), Plan: PlanProductSupport, Product: product, Version: version, Title: "it broke"}
}

func cloud(by, product string) OpenIncident {
	return OpenIncident{MPNID: mpn, By: as(by), Plan: PlanSignatureCloud, Product: product, Title: "it broke"}
}

func (w *world) pool(contractID string, kind PoolKind) PoolView {
	w.t.Helper()
	c, ok := w.s.Contract(contractID, w.now)
	if !ok {
		w.t.Fatalf("contract %s unknown", contractID)
	}
	for _, p := range c.Pools {
		if p.Kind == kind {
			return p
		}
	}
	w.t.Fatalf("contract %s has no %s pool", contractID, kind)
	return PoolView{}
}

func (w *world) checkFold() {
	w.t.Helper()
	if got := Fold(w.events); !reflect.DeepEqual(got, w.s) {
		w.t.Fatalf("fold from scratch differs from live state:\nfold %#v\nlive %#v", got, w.s)
	}
	if got := FoldDeciding(w.events); !reflect.DeepEqual(got, w.kept) {
		w.t.Fatalf("deciding fold from scratch differs from the live deciding state:\nfold %#v\nlive %#v", got, w.kept)
	}
}

func intp(n int) *int { return &n }
