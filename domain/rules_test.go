package domain

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 12, 0, 0, 0, time.UTC) }

// R11: N and N-1 per product by release order; N-1 only inside mainstream support.
func TestR11RecentOnPremisesProductsOnly(t *testing.T) {
	r := DefaultRules()
	for _, tc := range []struct {
		name            string
		product, ver    string
		at              time.Time
		accept          bool
		messageContains string
	}{
		{"R11/N SQL Server 2025 is current", "SQL Server", "2025", t0, true, ""},
		{"R11/N-1 SQL Server 2022 inside mainstream", "SQL Server", "2022", t0, true, ""},
		{"R11/N-2 SQL Server 2019 is refused", "SQL Server", "2019", t0, false, "older than N-1"},
		{"R11/N-1 SQL Server 2019 on its last mainstream day", "sql server", "2019", day(2025, 2, 28), true, ""},
		{"R11/N-1 SQL Server 2019 the day after mainstream ended", "SQL Server", "2019", day(2025, 3, 1), false, "left mainstream support on 2025-02-28"},
		{"R11/N-1 SQL Server 2019 in mainstream while 2022 is N", "SQL Server", "2019", day(2025, 1, 10), true, ""},
		{"R11/N-1 last day of mainstream is still supported", "SQL Server", "2022", time.Date(2028, 1, 11, 23, 59, 0, 0, time.UTC), true, ""},
		{"R11/N-1 past mainstream is refused", "Windows Server", "2022", day(2026, 10, 14), false, "left mainstream support on 2026-10-13"},
		{"R11/N-1 Windows Server 2022 inside mainstream", "Windows Server", "2022", day(2026, 10, 13), true, ""},
		{"R11/N Windows Server 2025 is current", "Windows Server", "2025", t0, true, ""},
		{"R11/N-1 past mainstream: Windows Server 2019 after 2025 shipped", "Windows Server", "2019", day(2024, 11, 2), false, "older than N-1"},
		{"R11/N-1 past mainstream: Windows Server 2019 while 2022 is N", "Windows Server", "2019", day(2024, 2, 1), false, "left mainstream support"},
		{"R11 an unreleased version is refused", "SQL Server", "2025", day(2025, 11, 1), false, "not a supported"},
		{"R11 a product outside the catalog is refused", "Exchange Server", "2019", t0, false, "not a supported"},
		{"R11 a cloud product is not product support", "Azure", "", t0, false, "cloud product"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := r.CheckProductSupport(tc.product, tc.ver, tc.at)
			if tc.accept {
				if err != nil || !strings.EqualFold(p.Version, tc.ver) {
					t.Fatalf("want accepted, got %v (%+v)", err, p)
				}
				return
			}
			if !errors.Is(err, &Error{Code: CodeProductNotEligible}) || !strings.Contains(err.Error(), tc.messageContains) {
				t.Fatalf("want product_not_eligible containing %q, got %v", tc.messageContains, err)
			}
		})
	}
	t.Run("R11 refused through Decide, with a pointer to paid support", func(t *testing.T) {
		w, a := activated(t, partnerOpts{memberships: []GrantMembership{grant(LevelGold, "Datacenter")}})
		w.link(uEngineer, a)
		err := w.refused(onPrem(uEngineer, "SQL Server", "2019"), CodeProductNotEligible)
		if !strings.Contains(err.Message, "paid support") {
			t.Fatalf("message %q", err.Message)
		}
		e := oneEvent[IncidentOpened](t, w.must(onPrem(uEngineer, "sql server", "2022")))
		if e.Product != "SQL Server" || e.Version != "2022" {
			t.Fatalf("catalog names not recorded: %+v", e)
		}
	})
}

func TestDefaultRulesAreTheArticlesTable(t *testing.T) {
	r := DefaultRules()
	if r.Version != 1 {
		t.Fatalf("version %d", r.Version)
	}
	want := map[Level][3]string{
		LevelActionPack: {`{"incidents":10}`, `null`, `null`},
		LevelSilver:     {`{"incidents":15}`, `{"unlimited":true}`, `{"incidents":5}`},
		LevelGold:       {`{"incidents":20}`, `{"unlimited":true}`, `{"incidents":10}`},
	}
	for l, w := range want {
		e := r.Entitlements[l]
		got := [3]string{js(t, e.ProductSupport), js(t, e.SignatureCloudWithCloudCompetency), js(t, e.SignatureCloudWithOtherCompetency)}
		if got != w {
			t.Errorf("R6/R7 %s: %v, want %v", l, got, w)
		}
	}
	for _, name := range []string{"Azure", "Dynamics 365", "Microsoft 365"} {
		if _, ok := r.cloudProduct(name); !ok {
			t.Errorf("cloud product %s missing", name)
		}
	}
}

func js(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func rulesV2(t *testing.T, effective time.Time) Rules {
	t.Helper()
	var r Rules
	if err := json.Unmarshal(rulesV1JSON, &r); err != nil {
		t.Fatal(err)
	}
	r.Version, r.EffectiveFrom = 2, effective
	r.Entitlements[LevelGold] = LevelEntitlement{
		ProductSupport:                    &Allowance{Incidents: 25},
		SignatureCloudWithCloudCompetency: &Allowance{Unlimited: true},
		SignatureCloudWithOtherCompetency: &Allowance{Incidents: 12},
	}
	return r
}

// R10: rules are versioned data; a command is decided by the version in force and
// its events record that version.
func TestR10VersionedRules(t *testing.T) {
	var book RuleBook
	if got := book.InForce(t0); got.Version != 1 {
		t.Fatalf("R10: with nothing published version 1 is in force, got %d", got.Version)
	}
	effective := t0.AddDate(0, 1, 0)
	evs, err := DecideRules(book, PublishRules{By: ops, Rules: rulesV2(t, effective)}, t0)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		book = EvolveRules(book, e)
	}
	if book.InForce(t0).Version != 1 || book.InForce(effective).Version != 2 || book.Latest().Version != 2 {
		t.Fatal("R10: version 2 must take effect at its effective-from instant only")
	}
	if _, ok := book.Version(2); !ok {
		t.Fatal("version 2 not found")
	}

	decideAt := func(at time.Time) BenefitActivated {
		w := newPartner(t, partnerOpts{memberships: []GrantMembership{grant(LevelGold, "Datacenter")}})
		w.now, w.rules = at, book.InForce(at)
		return oneEvent[BenefitActivated](t, w.must(ActivateBenefit{MPNID: mpn, By: as(uAdmin)}))
	}
	before, after := decideAt(t0), decideAt(effective)
	if before.RulesVersion != 1 || *before.Pools[0].Granted != 20 {
		t.Fatalf("R10: before v2 Gold gets 20 under v1: %+v", before)
	}
	if after.RulesVersion != 2 || *after.Pools[0].Granted != 25 || *after.Pools[1].Granted != 12 {
		t.Fatalf("R10: after v2 Gold gets 25/12 under v2: %+v", after)
	}

	for _, tc := range []struct {
		name string
		by   Actor
		r    Rules
		code Code
	}{
		{"R10 only the platform or ops publish: a partner admin is refused", as(uAdmin), rulesV2(t, effective), CodeNotAuthorized},
		{"R10 versions are consecutive", ops, func() Rules { r := rulesV2(t, effective); r.Version = 4; return r }(), CodeConflict},
		{"R10 no retroactive rules", ops, func() Rules { r := rulesV2(t, t0.Add(-time.Hour)); r.Version = 3; return r }(), CodeValidation},
		{"R10 not before the latest version", ops, func() Rules { r := rulesV2(t, t0.Add(time.Hour)); r.Version = 3; return r }(), CodeValidation},
		{"R10 incomplete entitlement table", ops, func() Rules {
			r := rulesV2(t, effective)
			r.Version = 3
			delete(r.Entitlements, LevelSilver)
			return r
		}(), CodeValidation},
		{"R10 on-premises product without lifecycle", ops, func() Rules {
			r := rulesV2(t, effective)
			r.Version = 3
			r.Products = append(r.Products, Product{Name: "Exchange Server", Version: "2019", Deployment: OnPremises})
			return r
		}(), CodeValidation},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs, err := DecideRules(book, PublishRules{By: tc.by, Rules: tc.r}, t0)
			if !errors.Is(err, &Error{Code: tc.code}) || evs != nil {
				t.Fatalf("want %s, got %v %v", tc.code, evs, err)
			}
		})
	}
	t.Run("R10 effective-from zero means now", func(t *testing.T) {
		r := rulesV2(t, time.Time{})
		r.Version = 3
		evs, err := DecideRules(book, PublishRules{By: ops, Rules: r}, effective)
		if err != nil {
			t.Fatal(err)
		}
		if p := evs[0].(RulesPublished); !p.Rules.EffectiveFrom.Equal(effective) || p.RulesVersion != 3 {
			t.Fatalf("%+v", p)
		}
	})
}

func TestParseRulesRefusesUnknownFields(t *testing.T) {
	bad := strings.Replace(string(rulesV1JSON), `"version": 1`, `"version": 1, "entitlement": {}`, 1)
	if _, err := ParseRules([]byte(bad)); !errors.Is(err, &Error{Code: CodeValidation}) {
		t.Fatalf("want validation error, got %v", err)
	}
}
