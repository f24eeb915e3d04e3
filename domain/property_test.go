package domain

import (
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

var propertySeeds = flag.Int("property.seeds", 40, "number of seeds the property test runs")

// randomCommand draws a valid or invalid command: random actors (including strangers
// and CSP-only accounts), real or wrong IDs, products inside and outside the rules.
func randomCommand(rng *rand.Rand, s Partner) Command {
	users := []string{uAdmin, uMPNAdmin, uMember, uEngineer, uCSP, uAgent, "stranger", "new-" + string(rune('a'+rng.IntN(5)))}
	pick := func(xs []string) string { return xs[rng.IntN(len(xs))] }
	actor := as(pick(users))
	if rng.IntN(3) > 0 { // mostly users who may act, so pools really run dry
		actor = as(pick([]string{uAdmin, uMember, uEngineer}))
	}
	if rng.IntN(8) == 0 {
		actor = platform
	}
	accessID, contractID := "AC-wrong", ContractID(mpn, "wrong")
	if a, ok := s.Activation(); ok && rng.IntN(5) > 0 {
		accessID, contractID = a.AccessID, a.ContractID
	}
	products := [][2]string{{"SQL Server", "2025"}, {"SQL Server", "2022"}, {"SQL Server", "2019"}, {"Windows Server", "2022"}, {"Azure", ""}, {"Dynamics 365", ""}, {"Microsoft 365", ""}, {"Exchange Server", "2016"}, {"", ""}}
	prod := products[rng.IntN(len(products))]
	if rng.IntN(2) == 0 {
		prod = products[rng.IntN(5)] // eligible for some plan
	}
	plans := []Plan{PlanProductSupport, PlanProductSupport, PlanSignatureCloud, PlanSignatureCloud, PlanCSP, PlanPremier, PlanAdvanced, "bogus"}
	levels := []Level{LevelActionPack, LevelSilver, LevelGold, "platinum"}
	competencies := []string{"", "Cloud Platform", "Security", "Data Analytics", "Application Development"}
	roles := [][]Role{nil, {RoleGlobalAdmin}, {RoleMPNPartnerAdmin}, {RoleAdminAgent}, {"owner"}}
	var incidentID string
	if s.IncidentCount > 0 {
		incidentID = IncidentID(mpn, 1+rng.IntN(s.IncidentCount))
	}
	if rng.IntN(6) == 0 { // unknown: past the last, of another partner, not of the ID's form
		incidentID = []string{IncidentID(mpn, s.IncidentCount+1), IncidentID("999999", 1), "IN-" + mpn + "-01", "nonsense"}[rng.IntN(4)]
	}
	switch rng.IntN(20) {
	case 0:
		return GrantMembership{MPNID: mpn, By: platform, Level: levels[rng.IntN(4)], Competency: pick(competencies),
			ValidUntil: t0.AddDate(0, 1+rng.IntN(24), 0)}
	case 1:
		return EndMembership{MPNID: mpn, By: platform, MembershipID: "MS-" + string(rune('1'+rng.IntN(4)))}
	case 2:
		return RegisterUser{MPNID: mpn, By: actor, UserID: pick(users), AccountType: []AccountType{AccountAAD, AccountMSA, "x"}[rng.IntN(3)],
			MPNLinked: rng.IntN(2) == 0, CSPOnly: rng.IntN(4) == 0, Roles: roles[rng.IntN(len(roles))]}
	case 3:
		return ChangeUserRoles{MPNID: mpn, By: actor, UserID: pick(users), Roles: roles[rng.IntN(len(roles))]}
	case 4, 5:
		return ActivateBenefit{MPNID: mpn, By: actor}
	case 6, 7:
		return LinkContract{MPNID: mpn, By: actor, AccessID: accessID, ContractID: contractID}
	case 8:
		return CloseIncident{MPNID: mpn, By: actor, IncidentID: incidentID}
	case 9:
		return PurchaseSupportPlan{MPNID: mpn, By: actor, Plan: plans[rng.IntN(len(plans))], ValidUntil: t0.AddDate(0, rng.IntN(12), 0)}
	}
	c := OpenIncident{MPNID: mpn, By: actor, Plan: plans[rng.IntN(len(plans))], Product: prod[0], Version: prod[1]}
	if rng.IntN(3) == 0 {
		c.CustomerID = "customer-1"
		c.CustomerCountry = []string{"", "nl", "DE", "", "", "", "", "", "", "XX"}[rng.IntN(10)]
	}
	c.Severity = []Severity{"", "", "", "", "", "", SeverityCritical, SeverityModerate, " Minimal", "urgent"}[rng.IntN(10)]
	if rng.IntN(4) == 0 {
		c.AccessID, c.ContractID = accessID, contractID
	}
	return c
}

// Property: whatever sequence of valid and invalid commands arrives, every limited pool
// has used ≤ granted, refusals record nothing, every event round-trips through JSON
// unchanged, Evolve leaves earlier states untouched, folding the recorded events from
// scratch gives the live state, and the deciding state (every incident compacted)
// decides every command, closes of open, closed and unknown incidents by openers,
// admins and strangers included, exactly as the whole state does (world.do), also
// when dozens of incidents are open at once.
func TestPropertyPoolsNeverOverdrawnAndFoldEqualsLive(t *testing.T) {
	seen := map[string]int{} // refusal codes and event types, to show the walk went far
	mostOpen := 0
	for seed := range uint64(*propertySeeds) {
		rng := rand.New(rand.NewPCG(seed, 0xbe7ef175))
		w := newPartner(t, partnerOpts{csp: seed%2 == 0, memberships: []GrantMembership{
			grant([]Level{LevelActionPack, LevelSilver, LevelGold}[seed%3], []string{"", "Data Analytics", "Cloud Platform"}[seed%3]),
		}})
		// Every fourth walk is a busy support desk: a Premier plan for years and half the
		// commands opening incidents on it, so many stay open at once.
		busy := seed%4 == 3
		if busy {
			w.must(PurchaseSupportPlan{MPNID: mpn, By: as(uAdmin), Plan: PlanPremier, ValidUntil: t0.AddDate(5, 0, 0)})
		}
		accepted := 0
		for step := range 250 {
			w.now = w.now.Add(time.Duration(rng.IntN(72)) * time.Hour)
			before, prev := len(w.events), w.s
			c := randomCommand(rng, w.s)
			if busy && rng.IntN(2) == 0 {
				c = OpenIncident{MPNID: mpn, By: as([]string{uAdmin, uMember, uMPNAdmin}[rng.IntN(3)]), Plan: PlanPremier, Product: "SQL Server", Version: "2019"}
			}
			closing, compactedOpen := closesCompacted(w.kept, c)
			evs, err := w.do(c)
			var de *Error
			switch {
			case err != nil && !errors.As(err, &de):
				t.Fatalf("seed %d step %d %#v: not a refusal: %v", seed, step, c, err)
			case err != nil && len(w.events) != before:
				t.Fatalf("seed %d step %d: refusal recorded events", seed, step)
			case err == nil:
				accepted += len(evs)
			default:
				seen[string(de.Code)]++
			}
			for _, e := range evs {
				seen[e.EventType()]++
			}
			if closing {
				seen[fmt.Sprintf("close of a compacted %s incident: %d events, %v", map[bool]string{true: "open", false: "closed"}[compactedOpen], len(evs), errors.Is(err, &Error{Code: CodeNotAuthorized}))]++
			}
			mostOpen = max(mostOpen, openIncidents(w.s))
			if !reflect.DeepEqual(prev, Fold(w.events[:before])) {
				t.Fatalf("seed %d step %d: Evolve changed the earlier state", seed, step)
			}
			for _, ct := range w.s.ContractByID {
				for _, p := range ct.Pools {
					if p.Granted != nil && p.Used > *p.Granted {
						t.Fatalf("seed %d step %d: pool %s of %s over-drawn: %d > %d", seed, step, p.Kind, ct.ContractID, p.Used, *p.Granted)
					}
				}
			}
			for _, e := range evs {
				typ, data, err := Encode(e)
				if err != nil {
					t.Fatal(err)
				}
				back, err := Decode(typ, data)
				if err != nil || !reflect.DeepEqual(back, e) {
					t.Fatalf("seed %d: %s does not round-trip: %v\n%#v\n%#v", seed, typ, err, e, back)
				}
			}
			w.checkFold()
		}
		if accepted == 0 {
			t.Fatalf("seed %d: the generator produced no accepted command", seed)
		}
	}
	for _, must := range []string{string(CodePoolExhausted), string(CodeNotAuthorized), string(CodeContractExpired), string(CodeNotFound), IncidentOpened{}.EventType(), "ContractLinked.v1", "BenefitActivated.v1", "IncidentClosed.v1",
		"close of a compacted closed incident: 0 events, false", "close of a compacted closed incident: 0 events, true",
		"close of a compacted open incident: 1 events, false", "close of a compacted open incident: 0 events, true"} {
		if seen[must] == 0 {
			t.Errorf("the random walk never reached %s: %v", must, seen)
		}
	}
	if mostOpen < 2*incidentLeafSize {
		t.Errorf("the random walk held at most %d open incidents at once: too few to fill the deciding log's leaves", mostOpen)
	}
	t.Logf("reached: %v; at most %d open incidents at once", seen, mostOpen)
}

// closesCompacted: c closes an incident the deciding state holds compacted, and
// whether it holds it open.
func closesCompacted(kept Partner, c Command) (compacted, open bool) {
	ci, ok := c.(CloseIncident)
	seq, known := IncidentSeq(ci.IncidentID)
	if !ok || !known || seq > kept.IncidentLog.Len() {
		return false, false
	}
	k := kept.IncidentLog.kept.at(seq - 1)
	return k.whole == nil, k.open
}

// openIncidents counts the open incidents of a whole state.
func openIncidents(s Partner) int {
	n := 0
	for _, in := range s.Incidents() {
		if in.Status() == IncidentStatusOpen {
			n++
		}
	}
	return n
}

// The property test must actually exhaust pools, or its invariant proves little.
func TestPropertyGeneratorReachesExhaustion(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	w, a := activated(t, partnerOpts{memberships: []GrantMembership{grant(LevelActionPack, "")}})
	w.link(uMember, a)
	refusedEmpty := false
	for range 2000 {
		c := randomCommand(rng, w.s)
		if oi, ok := c.(OpenIncident); ok {
			oi.By = as(uMember)
			c = oi
		}
		if _, err := w.do(c); errors.Is(err, &Error{Code: CodePoolExhausted}) {
			refusedEmpty = true
		}
	}
	if !refusedEmpty {
		t.Fatal("random commands never hit an empty pool")
	}
}
