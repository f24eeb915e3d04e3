package commands

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"ledger/domain"
	"ledger/infra/esdbstore"
	"ledger/infra/esdbstore/esdbprotocolserver"
	"ledger/infra/eventstore"
	"ledger/infra/testkit"
)

// fixedIDs makes ActivateBenefit deterministic, so an executor and a fresh fold decide
// the same events; one activation per partner happens within a property run.
type fixedIDs struct{}

func (fixedIDs) NewAccessID() string               { return "AC-PROPERTY" }
func (fixedIDs) NewContractID(mpnID string) string { return domain.ContractID(mpnID, "PROPERTY") }

// propertyCommand draws a valid or invalid command for partner mpn in state s: random
// actors (including strangers), real and wrong IDs, products inside and outside the
// rules, and enough Premier incidents to fill several leaves of the incident log, dozens
// of them open at once.
func propertyCommand(rng *rand.Rand, mpn string, s domain.Partner, at time.Time) domain.Command {
	admin, member := "admin@"+mpn, "member@"+mpn
	users := []string{admin, member, "stranger", "agent@" + mpn}
	actor := domain.Actor{UserID: users[rng.IntN(len(users))]}
	if rng.IntN(4) > 0 {
		actor = domain.Actor{UserID: []string{admin, member}[rng.IntN(2)]}
	}
	accessID, contractID := "AC-wrong", domain.ContractID(mpn, "wrong")
	if a, ok := s.Activation(); ok && rng.IntN(5) > 0 {
		accessID, contractID = a.AccessID, a.ContractID
	}
	incidentID := domain.IncidentID(mpn, 1+rng.IntN(max(s.IncidentCount, 1)+1))
	products := [][2]string{{"SQL Server", "2025"}, {"SQL Server", "2019"}, {"Azure", ""}, {"Exchange Server", "2016"}, {"", ""}}
	prod := products[rng.IntN(len(products))]
	plans := []domain.Plan{domain.PlanProductSupport, domain.PlanPremier, domain.PlanPremier, domain.PlanSignatureCloud, "bogus"}
	roles := [][]domain.Role{nil, {domain.RoleGlobalAdmin}, {domain.RoleMPNPartnerAdmin}, {domain.RoleAdminAgent}}
	switch {
	case !s.Enrolled() && rng.IntN(4) > 0:
		return domain.EnrollPartner{MPNID: mpn, By: platform, Name: "Contoso " + mpn}
	case len(s.UserByID) == 0 && rng.IntN(2) == 0:
		return domain.RegisterUser{MPNID: mpn, By: platform, UserID: admin, AccountType: domain.AccountAAD, MPNLinked: true, Roles: []domain.Role{domain.RoleGlobalAdmin}}
	}
	switch rng.IntN(16) {
	case 0:
		return domain.GrantMembership{MPNID: mpn, By: platform, Level: []domain.Level{domain.LevelActionPack, domain.LevelGold, "platinum"}[rng.IntN(3)],
			Competency: []string{"", "Cloud Platform"}[rng.IntN(2)], ValidFrom: at.AddDate(0, 0, -1), ValidUntil: at.AddDate(1, 0, 0)}
	case 1:
		return domain.EndMembership{MPNID: mpn, By: platform, MembershipID: fmt.Sprintf("MS-%d", 1+rng.IntN(2))}
	case 2:
		return domain.RegisterUser{MPNID: mpn, By: actor, UserID: users[rng.IntN(len(users))], AccountType: domain.AccountAAD,
			MPNLinked: rng.IntN(3) > 0, Roles: roles[rng.IntN(len(roles))]}
	case 3:
		return domain.ChangeUserRoles{MPNID: mpn, By: actor, UserID: users[rng.IntN(len(users))], Roles: roles[rng.IntN(len(roles))]}
	case 4:
		return domain.ActivateBenefit{MPNID: mpn, By: actor}
	case 5:
		return domain.LinkContract{MPNID: mpn, By: actor, AccessID: accessID, ContractID: contractID}
	case 6, 7:
		return domain.CloseIncident{MPNID: mpn, By: actor, IncidentID: incidentID, Resolution: "done"}
	case 8:
		return domain.PurchaseSupportPlan{MPNID: mpn, By: actor, Plan: domain.PlanPremier, ValidUntil: at.AddDate(1, 0, 0)}
	case 9, 10: // a busy desk: incidents that stay open by the dozen
		return domain.OpenIncident{MPNID: mpn, By: domain.Actor{UserID: admin}, Plan: domain.PlanPremier, Product: "SQL Server", Version: "2019", Title: "busy"}
	}
	return domain.OpenIncident{MPNID: mpn, By: actor, Plan: plans[rng.IntN(len(plans))], Product: prod[0], Version: prod[1],
		AccessID: accessID, ContractID: contractID, Title: "property"}
}

// freshDecision is what the executor must decide: the command decided on the stream
// folded whole from its first event (every incident in full, where the executor keeps
// every one compacted), with the rules folded from theirs, no cache, no snapshot.
func freshDecision(t *testing.T, store eventstore.Store, mpn string, cmd domain.Command, at time.Time) ([]domain.Event, error) {
	t.Helper()
	state := domain.Fold(readEvents(t, store, domain.PartnerStream(mpn)))
	rules := domain.FoldRules(readEvents(t, store, domain.RulesStream)).InForce(at)
	return domain.Decide(state, cmd, rules, at, fixedIDs{})
}

func readEvents(t *testing.T, store eventstore.Store, stream string) []domain.Event {
	t.Helper()
	recorded, err := store.ReadStream(context.Background(), stream, eventstore.ReadStreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	events := make([]domain.Event, len(recorded))
	for i, r := range recorded {
		if events[i], err = domain.Decode(r.Type, r.Data); err != nil {
			t.Fatal(err)
		}
	}
	return events
}

// Property: random command sequences on three partners, each command sent to one of
// TWO executors sharing ONE store (small caches that evict, snapshots every few events)
// or to a third executor started cold from the snapshots, decide exactly the events and
// refusals that a fresh whole fold of the stream decides, though they decide on states
// that hold every incident compacted, dozens of them open at once (closes of open and
// closed incidents by their opener, an admin and others included); and every executor's
// kept state is the fresh deciding fold of the stream.
// It runs on every store: the cache reads "the events after revision r" and the
// snapshots through each store's own code.
func TestPropertyCachedExecutorsDecideLikeAFreshFold(t *testing.T) {
	for name, open := range everyStore(t) {
		t.Run(name, func(t *testing.T) { cachedExecutorsDecideLikeAFreshFold(t, open(t)) })
	}
}

// everyStore is stores plus EventStoreDB (through the in-process protocol server).
func everyStore(t *testing.T) map[string]func(t *testing.T) eventstore.Store {
	all := stores(t)
	all["esdb"] = func(t *testing.T) eventstore.Store {
		s, err := esdbstore.Open(context.Background(), esdbprotocolserver.Start(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	return all
}

func cachedExecutorsDecideLikeAFreshFold(t *testing.T, store eventstore.Store) {
	ctx := context.Background()
	at := now
	clock := func() time.Time { return at }
	opts := func(cacheSize int) []Option {
		return []Option{WithClock(clock), WithIDs(fixedIDs{}), WithStateCacheSize(cacheSize), WithSnapshotEvery(4)}
	}
	executors := []*Executor{New(store, opts(2)...), New(store, opts(1)...)}
	partners := []string{"5100001", "5100002", "5100003"}
	rng := rand.New(rand.NewPCG(7, 11))
	seen := map[string]int{}
	mostOpen := 0            // incidents open at once on a partner
	const probed = "5100004" // a Gold partner, activated: only the rules refuse its probes
	goldPartner(t, executors[0], probed)
	for step := range 900 {
		at = at.Add(time.Hour)
		mpn := partners[rng.IntN(len(partners))]
		x := executors[rng.IntN(len(executors))]
		if rng.IntN(50) == 0 {
			x = New(store, opts(4)...) // a process starting cold, from the snapshots
		}
		probe := rng.IntN(30) == 0
		if probe { // rules change through one process; the other, its book stale, decides
			publisher := rng.IntN(len(executors))
			publishToggledRules(t, executors[publisher], store, at)
			x = executors[(publisher+1)%len(executors)]
			seen["rules published"]++
		}
		if probe {
			mpn = probed
		}
		state := domain.Fold(readEvents(t, store, domain.PartnerStream(mpn)))
		cmd := propertyCommand(rng, mpn, state, at)
		if probe {
			cmd = rulesProbe(mpn, state)
		}
		wantEvents, wantErr := freshDecision(t, store, mpn, cmd, at)
		out, err := x.Partner(ctx, mpn, cmd, Meta{Actor: cmd.(domain.PartnerCommand).Actor(), CorrelationID: "property"})
		if fmt.Sprint(err) != fmt.Sprint(wantErr) {
			t.Fatalf("step %d %s on %s: error %v, a fresh fold decides %v", step, cmd.CommandName(), mpn, err, wantErr)
		}
		if !reflect.DeepEqual(out.Events, wantEvents) && (len(out.Events) > 0 || len(wantEvents) > 0) {
			t.Fatalf("step %d %s on %s: events\n%+v\na fresh fold decides\n%+v", step, cmd.CommandName(), mpn, out.Events, wantEvents)
		}
		var de *domain.Error
		outcome := "accepted"
		if errors.As(err, &de) {
			seen[string(de.Code)]++
			outcome = string(de.Code)
		}
		if c, ok := cmd.(domain.CloseIncident); ok { // the executor holds every incident compacted
			if in, found := state.Incident(c.IncidentID); found {
				seen[fmt.Sprintf("close, the incident %s: %d events, %s", in.Status(), len(out.Events), outcome)]++
			}
		}
		mostOpen = max(mostOpen, openIncidents(state))
		for _, e := range out.Events {
			seen[fmt.Sprintf("%T", e)]++
		}
	}
	for _, x := range executors {
		for _, mpn := range partners {
			kept, _, err := x.LoadPartner(ctx, mpn)
			if err != nil {
				t.Fatal(err)
			}
			if fresh := domain.FoldDeciding(readEvents(t, store, domain.PartnerStream(mpn))); !reflect.DeepEqual(kept, fresh) {
				t.Fatalf("partner %s: the kept state differs from the fresh deciding fold", mpn)
			}
		}
	}
	// The walk must have gone far: incidents over several leaves of the log, closes,
	// refusals, and snapshots that a cold executor started from.
	for _, want := range []string{"domain.IncidentOpened", "domain.IncidentClosed", "domain.BenefitActivated", "domain.ContractLinked", string(domain.CodeNotAuthorized), string(domain.CodeNotFound),
		"close, the incident closed: 0 events, accepted", "close, the incident closed: 0 events, not_authorized",
		"close, the incident open: 1 events, accepted", "close, the incident open: 0 events, not_authorized"} {
		if seen[want] == 0 {
			t.Errorf("the walk never saw %s: %v", want, seen)
		}
	}
	if seen["rules published"] < 10 || seen[string(domain.CodeProductNotEligible)] < 3 {
		t.Errorf("rules published %d times, %d product_not_eligible refusals: the walk did not decide on stale rule books", seen["rules published"], seen[string(domain.CodeProductNotEligible)])
	}
	if seen["domain.IncidentOpened"] < 40 || mostOpen < 32 {
		t.Errorf("only %d incidents opened, at most %d open at once: the walk did not fill several leaves of the incident log with open ones", seen["domain.IncidentOpened"], mostOpen)
	}
	testkit.Eventually(t, "a snapshot of the first partner is saved", func() bool {
		snap, found, err := store.(eventstore.SnapshotStore).LoadSnapshot(ctx, domain.PartnerStream(partners[0]))
		return err == nil && found && snap.Version == domain.PartnerSnapshotVersion
	})
	t.Logf("walk: %v; at most %d incidents open at once", seen, mostOpen)
}

// openIncidents counts the open incidents of a whole state.
func openIncidents(s domain.Partner) int {
	n := 0
	for _, in := range s.Incidents() {
		if in.Status() == domain.IncidentStatusOpen {
			n++
		}
	}
	return n
}

// publishToggledRules publishes the next rules version through x, in force at once,
// with SQL Server 2025 withdrawn if the latest version supports it and restored if not:
// incidents on it flip between accepted and refused with each version.
func publishToggledRules(t *testing.T, x *Executor, store eventstore.Store, at time.Time) {
	t.Helper()
	latest := domain.FoldRules(readEvents(t, store, domain.RulesStream)).Latest()
	next := domain.DefaultRules()
	next.Version, next.EffectiveFrom = latest.Version+1, at
	if slices.ContainsFunc(latest.Products, isSQLServer2025) {
		next.Products = slices.DeleteFunc(slices.Clone(next.Products), isSQLServer2025)
	}
	ops := domain.Actor{UserID: "ops", SystemRoles: []string{domain.SystemOps}}
	if _, err := x.Rules(context.Background(), domain.PublishRules{By: ops, Rules: next}, Meta{Actor: ops}); err != nil {
		t.Fatalf("publish rules v%d: %v", next.Version, err)
	}
}

// goldPartner enrols a Gold partner (a product-support pool of 20), registers its
// admin, activates the benefit and links the contract.
func goldPartner(t *testing.T, x *Executor, mpn string) {
	t.Helper()
	admin := domain.Actor{UserID: "admin@" + mpn}
	for _, c := range []domain.Command{
		domain.EnrollPartner{MPNID: mpn, By: platform, Name: "Contoso " + mpn},
		domain.GrantMembership{MPNID: mpn, By: platform, Level: domain.LevelGold, Competency: "Cloud Platform", ValidFrom: now.AddDate(0, -1, 0), ValidUntil: now.AddDate(1, 0, 0)},
		domain.RegisterUser{MPNID: mpn, By: platform, UserID: admin.UserID, AccountType: domain.AccountAAD, MPNLinked: true, Roles: []domain.Role{domain.RoleGlobalAdmin}},
		domain.ActivateBenefit{MPNID: mpn, By: admin},
		domain.LinkContract{MPNID: mpn, By: admin, AccessID: "AC-PROPERTY", ContractID: domain.ContractID(mpn, "PROPERTY")},
	} {
		if _, err := x.Partner(context.Background(), mpn, c, Meta{Actor: c.(domain.PartnerCommand).Actor()}); err != nil {
			t.Fatalf("%s: %v", c.CommandName(), err)
		}
	}
}

// rulesProbe is an incident on SQL Server 2025 by the partner's admin, with the real
// contract when there is one: accepted or refused as the rules in force say.
func rulesProbe(mpn string, s domain.Partner) domain.Command {
	c := domain.OpenIncident{MPNID: mpn, By: domain.Actor{UserID: "admin@" + mpn}, Plan: domain.PlanProductSupport,
		Product: "SQL Server", Version: "2025", Title: "rules probe"}
	if a, ok := s.Activation(); ok {
		c.AccessID, c.ContractID = a.AccessID, a.ContractID
	}
	return c
}

func isSQLServer2025(p domain.Product) bool { return p.Name == "SQL Server" && p.Version == "2025" }
