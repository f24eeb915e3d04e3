package domain

import (
	"fmt"
	"runtime"
	"testing"
)

// partnerHistory is a partner's events as the executor reads them (decoded, so every
// string is its own allocation): enrolment, users, a membership, an activation with
// links, a Premier plan and incidents opened, every closeEvery-th closed (0: none).
func partnerHistory(t testing.TB, mpnID string, users, incidents, closeEvery int) []Event {
	t.Helper()
	at := EventMeta{OccurredAt: t0}
	ten := 10
	contract := ContractID(mpnID, fmt.Sprintf("%08x", len(mpnID)*7919))
	events := []Event{
		PartnerEnrolled{EventMeta: at, MPNID: mpnID, Name: "Contoso " + mpnID},
		MembershipGranted{EventMeta: at, MPNID: mpnID, MembershipID: "MS-1", Level: LevelGold, Competency: "Cloud Platform", ValidFrom: t0, ValidUntil: t0.AddDate(1, 0, 0)},
		BenefitActivated{EventMeta: at, MPNID: mpnID, AccessID: "AC-" + mpnID, ContractID: contract, ActivatedBy: "user-0@" + mpnID, Level: LevelGold,
			ValidFrom: t0, ValidUntil: t0.AddDate(1, 0, 0), Pools: []PoolGranted{{Kind: PoolProductSupport, Granted: &ten}, {Kind: PoolSignatureCloud}}},
		SupportPlanPurchased{EventMeta: at, MPNID: mpnID, PlanID: "PL-1", Plan: PlanPremier, ValidFrom: t0, ValidUntil: t0.AddDate(1, 0, 0), PurchasedBy: "user-0@" + mpnID},
	}
	for u := range users {
		user := fmt.Sprintf("user-%d@%s", u, mpnID)
		events = append(events,
			UserRegistered{EventMeta: at, MPNID: mpnID, UserID: user, AccountType: AccountAAD, MPNLinked: true, Roles: []Role{RoleGlobalAdmin}},
			ContractLinked{EventMeta: at, MPNID: mpnID, ContractID: contract, UserID: user, AccountType: AccountAAD, LinkedBy: user})
	}
	for seq := 1; seq <= incidents; seq++ {
		events = append(events, IncidentOpened{EventMeta: at, MPNID: mpnID, IncidentID: IncidentID(mpnID, seq), Plan: PlanPremier, PaidPlanID: "PL-1",
			Product: "SQL Server", Version: "2019", Severity: SeverityModerate, Title: "a query plan regressed after the upgrade", OpenedBy: fmt.Sprintf("user-%d@%s", seq%max(users, 1), mpnID)})
		if closeEvery > 0 && seq%closeEvery == 0 {
			events = append(events, IncidentClosed{EventMeta: at, MPNID: mpnID, IncidentID: IncidentID(mpnID, seq), ClosedBy: "ops", Resolution: "fixed"})
		}
	}
	decoded := make([]Event, len(events))
	for i, e := range events {
		typ, data, err := Encode(e)
		if err == nil {
			decoded[i], err = Decode(typ, data)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return decoded
}

func heapAlloc() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// measureStates folds the history of each of n partners into a state by fold, keeping
// them all, and gives the heap they hold and what SizeEstimate reckons, per state.
func measureStates(t testing.TB, n int, fold func([]Event) Partner, history func(mpnID string) []Event) (measured, estimated float64) {
	t.Helper()
	states := make([]Partner, n)
	before := heapAlloc()
	for i := range states {
		states[i] = fold(history(fmt.Sprintf("61%05d", i)))
	}
	held := heapAlloc() - before
	var sum int64
	for _, s := range states {
		sum += s.SizeEstimate()
	}
	runtime.KeepAlive(states)
	return float64(held) / float64(n), float64(sum) / float64(n)
}

// The byte bound of the executor's cache of states is only as good as SizeEstimate:
// over many states of each shape it is kept (small partners, thousands of open or
// mostly closed incidents, a whole state's log, users by the hundred), the estimate
// is within a factor of two of the heap the states really hold.
func TestSizeEstimateIsWithinAFactorOfTwoOfTheHeap(t *testing.T) {
	if testing.Short() {
		t.Skip("folds a few hundred thousand events")
	}
	for _, c := range []struct {
		name                                   string
		partners, users, incidents, closeEvery int
		fold                                   func([]Event) Partner
	}{
		{"small partners, deciding", 2000, 3, 5, 2, FoldDeciding},
		{"3,000 open incidents, deciding", 40, 5, 3000, 0, FoldDeciding},
		{"3,000 incidents, two in three closed, deciding", 40, 5, 3000, 3, FoldDeciding},
		{"300 users, deciding", 40, 300, 20, 2, FoldDeciding},
		{"2,000 incidents, whole", 20, 5, 2000, 2, Fold},
	} {
		measured, estimated := measureStates(t, c.partners, c.fold, func(mpnID string) []Event {
			return partnerHistory(t, mpnID, c.users, c.incidents, c.closeEvery)
		})
		t.Logf("%s: %.0f bytes/state estimated, %.0f measured (%.2f)", c.name, estimated, measured, estimated/measured)
		if estimated < measured/2 || estimated > measured*2 {
			t.Errorf("%s: %.0f bytes/state estimated, %.0f measured on the heap: not within a factor of two", c.name, estimated, measured)
		}
	}
}
