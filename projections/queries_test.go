package projections

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"

	"ledger/domain"
	"ledger/infra/paging"
	"ledger/infra/sqldb"
)

// The read models answer exactly what the domain answers from the folded event
// streams, now and at instants when contracts, plans and memberships have run out
// without any event (R13, R14, R23), however their rows were built: from history in
// large batches, live one command at a time, or rebuilt from the store one event per
// batch (every row then crosses a batch boundary).
func TestReadModelsAnswerLikeTheDomain(t *testing.T) {
	instants := []time.Time{t0, t0.Add(45 * 24 * time.Hour), t0.Add(2 * 365 * 24 * time.Hour), t0.Add(-200 * 24 * time.Hour)}
	check := func(t *testing.T, s *scenario, rm *ReadModels) {
		for _, at := range instants {
			t.Run(at.Format(time.DateOnly), func(t *testing.T) {
				s.t = t
				s.assertMatchesDomain(rm, at)
			})
		}
	}
	for _, d := range readDialects {
		t.Run(d.name, func(t *testing.T) {
			t.Run("history, then the runner", func(t *testing.T) {
				h := newHarness(t, sqldb.Dialect(d.name), d.target(t))
				s := newScenario(t, h)
				s.run()
				rm, r := s.serve()
				check(t, s, rm)

				t.Run("rebuilt from the store, one event per batch, row for row the live one", func(t *testing.T) {
					for _, p := range All() {
						rep, err := RebuildAndCompare(context.Background(), h.db, h.store, p, RebuildOptions{BatchSize: 1, Logger: h.log})
						if err != nil {
							t.Fatalf("rebuild %s: %v", p.Name(), err)
						}
						if !rep.Unchanged() || !rep.Swapped || rep.LiveAt != "" {
							t.Fatalf("%s rebuilt differs from the live projection: %+v", p.Name(), rep.Tables)
						}
						if st, err := r.Checkpoints().State(context.Background(), p.Name()); err != nil || st.Generation != 2 {
							t.Fatalf("%s after the rebuild: %+v, %v; want generation 2", p.Name(), st, err)
						}
					}
					check(t, s, rm)
				})
			})
			t.Run("the runner, then live commands", func(t *testing.T) {
				h := newHarness(t, sqldb.Dialect(d.name), d.target(t))
				s := newScenario(t, h)
				rm, r := s.serve()
				s.run()
				s.waitAll(r.Checkpoints())
				check(t, s, rm)
			})
		})
	}
}

// Each rule the read models show, named, on the scenario served live.
func TestReadModelsShowTheRules(t *testing.T) {
	forEachReadDialect(t, func(t *testing.T, h *harness) {
		s := newScenario(t, h)
		s.run()
		rm, _ := s.serve()
		ctx := context.Background()
		for _, tc := range []struct {
			rule  string
			check func(t *testing.T)
		}{
			{"R6/R7 Gold with a cloud competency: 20 product-support incidents and unlimited Signature Cloud", func(t *testing.T) {
				c := onlyContract(t, rm, goldCSP)
				wantPools(t, c, pool("product-support", ptr(20), 1, ptr(19)), pool("signature-cloud", nil, 1, nil))
				if c.Status != "active" {
					t.Errorf("status %s, want active", c.Status)
				}
			}},
			{"R7 Silver with another competency: 15 product support and a Signature 5-pack", func(t *testing.T) {
				wantPools(t, onlyContract(t, rm, silverOther), pool("product-support", ptr(15), 0, ptr(15)), pool("signature-cloud", ptr(5), 1, ptr(4)))
			}},
			{"R22 every incident took one from its pool; the used-up pool shows 0 and the contract exhausted", func(t *testing.T) {
				c := onlyContract(t, rm, actionPack)
				wantPools(t, c, pool("product-support", ptr(10), 10, ptr(0)))
				if c.Status != "exhausted" {
					t.Errorf("status %s, want exhausted", c.Status)
				}
			}},
			{"R20/R21 incidents under the CSP plan or a paid plan draw on no pool", func(t *testing.T) {
				in, err := rm.Incidents(ctx, goldCSP, "", paging.Page{})
				must(t, err)
				plans := map[string]Incident{}
				for _, i := range in.Incidents {
					plans[i.Plan] = i
				}
				if csp := plans["cloud-solution-provider"]; csp.Pool != "" || csp.ContractID != "" || csp.CustomerID != "cust-2" {
					t.Errorf("CSP incident %+v", csp)
				}
				if prem := plans["premier"]; prem.Pool != "" || prem.PaidPlanID == "" {
					t.Errorf("premier incident %+v", prem)
				}
			}},
			{"R22 closing an incident gives nothing back; the filter lists it as closed", func(t *testing.T) {
				closed, err := rm.Incidents(ctx, goldCSP, domain.IncidentStatusClosed, paging.Page{})
				must(t, err)
				if len(closed.Incidents) != 1 || closed.Incidents[0].IncidentID != s.closed || closed.Incidents[0].ClosedAt == nil || closed.Incidents[0].Resolution != "fixed" {
					t.Fatalf("closed incidents %+v", closed.Incidents)
				}
				open, err := rm.Incidents(ctx, goldCSP, domain.IncidentStatusOpen, paging.Page{})
				must(t, err)
				if len(open.Incidents) != 3 {
					t.Errorf("%d open incidents, want 3", len(open.Incidents))
				}
				if _, err := rm.Incidents(ctx, goldCSP, "pending", paging.Page{}); !errors.Is(err, ErrBadStatusFilter) {
					t.Errorf("status filter pending: %v, want ErrBadStatusFilter", err)
				}
			}},
			{"R12/R17 linked accounts with who linked them; linking again added nobody", func(t *testing.T) {
				la, err := rm.LinkedAccounts(ctx, s.contract[goldCSP], paging.Page{})
				must(t, err)
				var got []string
				for _, a := range la.Accounts {
					got = append(got, a.UserID+" "+a.AccountType+" by "+a.LinkedBy)
				}
				want := []string{"admin@1000001 aad by admin@1000001", "agent@1000001 msa by admin@1000001"}
				if !slices.Equal(got, want) {
					t.Errorf("linked accounts %q, want %q", got, want)
				}
			}},
			{"R14 an exhausted contract is not usable: listed unavailable with its reason", func(t *testing.T) {
				sp, err := rm.SupportPlans(ctx, user(actionPack, "admin").UserID, t0)
				must(t, err)
				if len(sp.Usable) != 0 || len(sp.Unavailable) != 1 || sp.Unavailable[0].Reason != domain.ReasonExhausted ||
					sp.Unavailable[0].ContractID != s.contract[actionPack] {
					t.Errorf("support plans %+v", sp)
				}
			}},
			{"R13/R14/R23 an expired contract is unavailable, the renewed one usable", func(t *testing.T) {
				sp, err := rm.SupportPlans(ctx, user(renewed, "admin").UserID, t0)
				must(t, err)
				if len(sp.Usable) != 1 || sp.Usable[0].ContractID != s.contract[renewed] || *sp.Usable[0].Remaining != 10 {
					t.Errorf("usable %+v", sp.Usable)
				}
				if len(sp.Unavailable) != 1 || sp.Unavailable[0].ContractID != s.expired || sp.Unavailable[0].Reason != domain.ReasonExpired {
					t.Errorf("unavailable %+v", sp.Unavailable)
				}
				ri, err := rm.RemainingIncidents(ctx, renewed, t0)
				must(t, err)
				if len(ri.Contracts) != 2 || ri.Contracts[0].Status != "expired" || ri.Contracts[1].Status != "active" {
					t.Errorf("remaining incidents %+v", ri.Contracts)
				}
			}},
			{"R14 expiry needs no event: two years on, every contract and plan is expired", func(t *testing.T) {
				later := t0.Add(2 * 365 * 24 * time.Hour)
				ri, err := rm.RemainingIncidents(ctx, goldCSP, later)
				must(t, err)
				if ri.Contracts[0].Status != "expired" {
					t.Errorf("status two years on: %s", ri.Contracts[0].Status)
				}
				sp, err := rm.SupportPlans(ctx, user(goldCSP, "admin").UserID, later)
				must(t, err)
				if len(sp.Usable) != 0 || len(sp.Unavailable) != 3 {
					t.Errorf("support plans two years on %+v", sp)
				}
			}},
			{"R20 the CSP plan belongs to admin agents of a CSP partner, following role changes", func(t *testing.T) {
				hasCSP := func(who string) bool {
					sp, err := rm.SupportPlans(ctx, user(goldCSP, who).UserID, t0)
					must(t, err)
					return slices.ContainsFunc(sp.Usable, func(p SupportPlan) bool { return p.Plan == "cloud-solution-provider" })
				}
				if !hasCSP("reader") || hasCSP("agent") || hasCSP("admin") {
					t.Errorf("CSP plan: reader %v (want true), agent %v, admin %v (want false)", hasCSP("reader"), hasCSP("agent"), hasCSP("admin"))
				}
			}},
			{"R21 a paid plan is usable in its window and unavailable after it, with the reason", func(t *testing.T) {
				for at, want := range map[time.Time]string{t0: "", t0.Add(45 * 24 * time.Hour): domain.ReasonExpired, t0.Add(-48 * time.Hour): domain.ReasonNotYetValid} {
					sp, err := rm.SupportPlans(ctx, user(goldCSP, "csponly").UserID, at)
					must(t, err)
					all := slices.Concat(sp.Usable, sp.Unavailable)
					if len(all) != 1 || all[0].Plan != "premier" || all[0].Reason != want {
						t.Errorf("at %s: plans %+v, want premier with reason %q", at, all, want)
					}
				}
			}},
			{"R2 an account linked only to CSP gets no contract plans", func(t *testing.T) {
				sp, err := rm.SupportPlans(ctx, user(goldCSP, "csponly").UserID, t0)
				must(t, err)
				for _, p := range slices.Concat(sp.Usable, sp.Unavailable) {
					if p.ContractID != "" {
						t.Errorf("CSP-only account has contract plan %+v", p)
					}
				}
			}},
			{"R4 Access ID and Contract ID only when the caller may see them", func(t *testing.T) {
				hidden, err := rm.Benefits(ctx, goldCSP, t0, false)
				must(t, err)
				shown, err := rm.Benefits(ctx, goldCSP, t0, true)
				must(t, err)
				if hidden.Activation.AccessID != "" || hidden.Activation.ContractID != "" {
					t.Errorf("IDs shown without revealIDs: %+v", hidden.Activation)
				}
				if shown.Activation.AccessID != s.accessID(goldCSP) || shown.Activation.ContractID != s.contract[goldCSP] {
					t.Errorf("IDs with revealIDs: %+v", shown.Activation)
				}
				reader, err := rm.PartnerUser(ctx, goldCSP, user(goldCSP, "reader").UserID)
				must(t, err)
				cspOnly, err := rm.PartnerUser(ctx, goldCSP, user(goldCSP, "csponly").UserID)
				must(t, err)
				if !reader.User().SeesContractIDs() || cspOnly.User().SeesContractIDs() {
					t.Errorf("SeesContractIDs: MPN-linked reader %v (want true), CSP-only %v (want false)", reader.User().SeesContractIDs(), cspOnly.User().SeesContractIDs())
				}
			}},
			{"R3/R6 level is the highest active membership, none once it has ended", func(t *testing.T) {
				for mpn, want := range map[string]string{goldCSP: "gold", actionPack: "action-pack", silverOther: "", noBenefits: ""} {
					b, err := rm.Benefits(ctx, mpn, t0, false)
					must(t, err)
					if b.Level != want {
						t.Errorf("%s level %q, want %q", mpn, b.Level, want)
					}
				}
				b, err := rm.Benefits(ctx, silverOther, t0, false)
				must(t, err)
				if len(b.Memberships) != 1 || b.Memberships[0].Status != MembershipEnded || b.Memberships[0].EndedAt == nil {
					t.Errorf("ended membership %+v", b.Memberships)
				}
				none, err := rm.Benefits(ctx, noBenefits, t0, true)
				must(t, err)
				if none.Activation != nil || len(none.Entitlements) != 0 || len(none.Memberships) != 0 {
					t.Errorf("partner without benefits %+v", none)
				}
			}},
			{"R5 the benefits page shows the latest activation and what it granted", func(t *testing.T) {
				b, err := rm.Benefits(ctx, renewed, t0, true)
				must(t, err)
				if b.Activation == nil || b.Activation.ContractID != s.contract[renewed] || len(b.Entitlements) != 1 || *b.Entitlements[0].Granted != 10 {
					t.Errorf("renewed partner's page %+v, entitlements %+v", b.Activation, b.Entitlements)
				}
			}},
			{"unknown partners and accounts: not found, or empty lists", func(t *testing.T) {
				if _, err := rm.Benefits(ctx, "9999999", t0, true); !errors.Is(err, ErrNotFound) {
					t.Errorf("benefits of an unknown partner: %v", err)
				}
				if _, err := rm.PartnerUser(ctx, goldCSP, "nobody"); !errors.Is(err, ErrNotFound) {
					t.Errorf("unknown account: %v", err)
				}
				ri, err := rm.RemainingIncidents(ctx, "9999999", t0)
				must(t, err)
				sp, err := rm.SupportPlans(ctx, "nobody", t0)
				must(t, err)
				if ri.Contracts == nil || sp.Usable == nil || sp.Unavailable == nil {
					t.Errorf("empty answers must be empty lists, not null: %+v %+v", ri, sp)
				}
			}},
		} {
			t.Run(tc.rule, tc.check)
		}
	})
}

func onlyContract(t *testing.T, rm *ReadModels, mpn string) ContractIncidents {
	t.Helper()
	ri, err := rm.RemainingIncidents(context.Background(), mpn, t0)
	must(t, err)
	if len(ri.Contracts) != 1 {
		t.Fatalf("partner %s: %d contracts, want 1", mpn, len(ri.Contracts))
	}
	return ri.Contracts[0]
}

func pool(kind string, granted *int, used int, remaining *int) PoolIncidents {
	return PoolIncidents{Kind: kind, Granted: granted, Used: used, Remaining: remaining}
}

func wantPools(t *testing.T, c ContractIncidents, want ...PoolIncidents) {
	t.Helper()
	if !slices.EqualFunc(c.Pools, want, func(a, b PoolIncidents) bool {
		return a.Kind == b.Kind && a.Used == b.Used && eqInt(a.Granted, b.Granted) && eqInt(a.Remaining, b.Remaining)
	}) {
		t.Errorf("pools %s, want %s", describePools(c.Pools), describePools(want))
	}
}

func describePools(ps []PoolIncidents) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Kind+" granted "+intOrUnlimited(p.Granted)+" used "+intOrUnlimited(&p.Used)+" remaining "+intOrUnlimited(p.Remaining))
	}
	return out
}

func intOrUnlimited(p *int) string {
	if p == nil {
		return "unlimited"
	}
	return strconv.Itoa(*p)
}

func eqInt(a, b *int) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

func ptr(n int) *int { return &n }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
