package main

import (
	"bytes"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"ledger/handlers"
	"ledger/projections"
)

// Every rule of shared/domain-rules.md driven through HTTP against the whole system,
// accepted and refused, on the embedded default, on PostgreSQL and on EventStoreDB.

func TestRulesEndToEndOnTheEmbeddedDefault(t *testing.T) {
	runRuleSuite(t, startSystem(t, testConfig(t), wireOptions{}))
}

func TestRulesEndToEndOnPostgreSQL(t *testing.T) {
	runRuleSuite(t, startSystem(t, postgresConfig(t), wireOptions{}))
}

// The same suite with EventStoreDB as the event store, through the real esdb client
// against the in-process protocol server: positions are commit/prepare pairs with gaps
// between them, and every rule still holds.
func TestRulesEndToEndOnEventStoreDB(t *testing.T) {
	cfg := esdbConfig(t)
	runRuleSuite(t, startSystem(t, cfg, wireOptions{}))
}

// ruleCase is one rule's scenario; its subtests name the accepting and refusing cases.
type ruleCase struct {
	rule string
	run  func(t *testing.T, s *system)
}

func runRuleSuite(t *testing.T, s *system) {
	// R10 publishes a new rules version for the whole system, so it runs last.
	cases := []ruleCase{
		{"R1", ruleR1}, {"R2", ruleR2}, {"R3", ruleR3}, {"R4", ruleR4}, {"R5", ruleR5},
		{"R6", ruleR6}, {"R7", ruleR7}, {"R8", ruleR8}, {"R9", ruleR9}, {"R11", ruleR11},
		{"R12", ruleR12}, {"R13", ruleR13}, {"R14", ruleR14}, {"R15", ruleR15}, {"R16", ruleR16},
		{"R17", ruleR17}, {"R18", ruleR18}, {"R19", ruleR19}, {"R20", ruleR20}, {"R21", ruleR21},
		{"R22", ruleR22}, {"R23", ruleR23}, {"R10", ruleR10},
	}
	for _, c := range cases {
		t.Run(c.rule, func(t *testing.T) { c.run(t, s) })
	}
}

func ruleR1(t *testing.T, s *system) {
	p := s.enrol(t, mpnFor(1, 1), false, actionPack)
	plain := s.user(t, p.mpn, "plain@"+p.mpn, userSpec{mpnLinked: true})
	unlinkedAdmin := s.user(t, p.mpn, "unlinked-admin@"+p.mpn, userSpec{roles: []string{"global-admin"}})
	partnerAdmin := s.user(t, p.mpn, "mpn-admin@"+p.mpn, userSpec{mpnLinked: true, roles: []string{"mpn-partner-admin"}})
	t.Run("refused: an MPN-linked user without an admin role", func(t *testing.T) {
		before := s.head(t)
		s.activate(t, p.mpn, plain).refused(t, http.StatusForbidden, "not_authorized")
		if s.head(t) != before {
			t.Error("a refused activation stored events")
		}
	})
	t.Run("refused: a global admin not linked to MPN", func(t *testing.T) {
		s.activate(t, p.mpn, unlinkedAdmin).refused(t, http.StatusForbidden, "not_authorized")
	})
	t.Run("accepted: an MPN-linked mpn-partner-admin", func(t *testing.T) {
		var ids handlers.ActivationAnswer
		s.activate(t, p.mpn, partnerAdmin).want(t, http.StatusCreated).decode(t, &ids)
		if !strings.HasPrefix(ids.AccessID, "AC-") || !strings.HasPrefix(ids.ContractID, "CT-"+p.mpn+"-") || ids.Position == "" {
			t.Errorf("activation answer %+v", ids)
		}
	})
	t.Run("accepted: an MPN-linked global admin", func(t *testing.T) {
		q := s.enrol(t, mpnFor(1, 2), false, actionPack)
		s.activate(t, q.mpn, q.adminTok).want(t, http.StatusCreated)
	})
}

func ruleR2(t *testing.T, s *system) {
	p := s.ready(t, mpnFor(2, 1), actionPack)
	cspOnly := s.user(t, p.mpn, "csp-only@"+p.mpn, userSpec{cspOnly: true, roles: []string{"global-admin"}})
	mpnUser := s.user(t, p.mpn, "mpn-user@"+p.mpn, userSpec{mpnLinked: true})
	t.Run("refused: a CSP-only account, with the article's words", func(t *testing.T) {
		prob := s.link(t, p, cspOnly).refused(t, http.StatusForbidden, "not_authorized")
		if !strings.Contains(prob.Detail, "You are not authorized for this action") {
			t.Errorf("detail %q", prob.Detail)
		}
		s.activate(t, p.mpn, cspOnly).refused(t, http.StatusForbidden, "not_authorized")
	})
	t.Run("accepted: an MPN-linked account links the contract", func(t *testing.T) {
		s.link(t, p, mpnUser).want(t, http.StatusCreated)
	})
}

func ruleR3(t *testing.T, s *system) {
	t.Run("refused: no active membership, with the article's words", func(t *testing.T) {
		p := s.enrol(t, mpnFor(3, 1), false)
		prob := s.activate(t, p.mpn, p.adminTok).refused(t, http.StatusConflict, "no_benefits_yet")
		if !strings.Contains(prob.Detail, "It looks like you don't have benefits yet") {
			t.Errorf("detail %q", prob.Detail)
		}
		if b := s.benefits(t, p.mpn, p.adminTok); b.Level != "" || b.Activation != nil {
			t.Errorf("benefits without a membership: %+v", b)
		}
	})
	t.Run("refused: only a membership that has ended", func(t *testing.T) {
		p := s.enrol(t, mpnFor(3, 2), false)
		now := s.clock.Now()
		s.grant(t, p.mpn, actionPack, now.AddDate(-2, 0, 0), now.AddDate(-1, 0, 0)).want(t, http.StatusCreated)
		s.activate(t, p.mpn, p.adminTok).refused(t, http.StatusConflict, "no_benefits_yet")
	})
	t.Run("accepted: an active Action Pack membership", func(t *testing.T) {
		p := s.enrol(t, mpnFor(3, 3), false, actionPack)
		s.activate(t, p.mpn, p.adminTok).want(t, http.StatusCreated)
		if b := s.benefits(t, p.mpn, p.adminTok); b.Level != "action-pack" || len(b.Memberships) != 1 || b.Memberships[0].Status != "active" {
			t.Errorf("benefits %+v", b)
		}
	})
}

func ruleR4(t *testing.T, s *system) {
	p := s.ready(t, mpnFor(4, 1), actionPack)
	linked := s.user(t, p.mpn, "linked@"+p.mpn, userSpec{mpnLinked: true})
	unlinked := s.user(t, p.mpn, "unlinked@"+p.mpn, userSpec{})
	t.Run("accepted: every MPN-linked account sees the Access ID and Contract ID", func(t *testing.T) {
		for who, tok := range map[string]string{"admin": p.adminTok, "linked user": linked, "auditor": s.auditor(t)} {
			b := s.benefits(t, p.mpn, tok)
			if b.Activation == nil || b.Activation.AccessID != p.accessID || b.Activation.ContractID != p.contractID {
				t.Errorf("%s sees activation %+v", who, b.Activation)
			}
		}
	})
	t.Run("refused: an account not linked to MPN does not see them", func(t *testing.T) {
		b := s.benefits(t, p.mpn, unlinked)
		if b.Activation == nil || b.Activation.AccessID != "" || b.Activation.ContractID != "" {
			t.Errorf("unlinked account sees activation %+v", b.Activation)
		}
	})
	t.Run("refused: a user of another partner reads nothing", func(t *testing.T) {
		other := s.enrol(t, mpnFor(4, 2), false, actionPack)
		s.get(t, "/v1/partners/"+p.mpn+"/benefits", other.adminTok).refused(t, http.StatusForbidden, "forbidden")
		s.get(t, "/v1/partners/"+p.mpn+"/remaining-incidents", other.adminTok).refused(t, http.StatusForbidden, "forbidden")
		s.get(t, "/v1/contracts/"+p.contractID+"/linked-accounts", other.adminTok).refused(t, http.StatusForbidden, "forbidden")
		s.get(t, "/v1/partners/"+p.mpn+"/incidents", other.adminTok).refused(t, http.StatusForbidden, "forbidden")
		s.get(t, "/v1/accounts/"+p.admin+"/support-plans", other.adminTok).refused(t, http.StatusForbidden, "forbidden")
	})
	t.Run("refused: an account not linked to MPN reads no Contract ID on any route", func(t *testing.T) {
		ruleR4NoIDsWithoutMPNLink(t, s)
	})
	t.Run("refused: a partner that registers another partner's account reads nothing it holds there", func(t *testing.T) {
		ruleR4SharedAccount(t, s)
	})
}

// ruleR4NoIDsWithoutMPNLink: an MSA account not linked to MPN, linked by the admin to
// the contract so it can file incidents, and a CSP-only admin agent read the partner
// without the Access ID and Contract ID: the pages that carry them leave them out, the
// ones that exist to show them refuse (decided per route in domain.CanSeeContractIDs).
func ruleR4NoIDsWithoutMPNLink(t *testing.T, s *system) {
	p := s.ready(t, mpnFor(4, 3), actionPack)
	engineer := "engineer@" + p.mpn
	readers := map[string]string{
		"unlinked MSA account": s.user(t, p.mpn, engineer, userSpec{msa: true}),
		"CSP-only admin agent": s.user(t, p.mpn, "agent@"+p.mpn, userSpec{cspOnly: true, roles: []string{"admin-agent"}}),
	}
	s.post(t, "/v1/contracts/"+p.contractID+"/links", p.adminTok, map[string]any{"accessId": p.accessID, "userId": engineer}).
		want(t, http.StatusCreated)
	var opened handlers.IncidentAnswer
	s.open(t, readers["unlinked MSA account"], incident{"mpnId": p.mpn, "kind": "product-support", "product": "SQL Server", "version": "2025"}).
		want(t, http.StatusCreated).decode(t, &opened)
	if opened.ContractID != "" || intOf(opened.Remaining) != "9" {
		t.Errorf("the unlinked account's incident answer %+v: want no contractId, 9 remaining", opened)
	}
	noIDs := func(t *testing.T, route string, r reply) {
		t.Helper()
		if bytes.Contains(r.body, []byte(p.contractID)) || bytes.Contains(r.body, []byte(p.accessID)) {
			t.Errorf("%s answers %d with the IDs: %s", route, r.status, r.body)
		}
	}
	for who, tok := range readers {
		t.Run(who, func(t *testing.T) {
			noIDs(t, "benefits", s.get(t, "/v1/partners/"+p.mpn+"/benefits", tok).want(t, http.StatusOK))
			var pools projections.RemainingIncidents
			r := s.get(t, "/v1/partners/"+p.mpn+"/remaining-incidents", tok).want(t, http.StatusOK)
			noIDs(t, "remaining-incidents", r)
			if r.decode(t, &pools); len(pools.Contracts) != 1 || len(pools.Contracts[0].Pools) != 1 || pools.Contracts[0].Pools[0].Used != 1 {
				t.Errorf("remaining-incidents without IDs %+v: want the contract's pool, one used", pools)
			}
			var incidents projections.Incidents
			r = s.get(t, "/v1/partners/"+p.mpn+"/incidents", tok).want(t, http.StatusOK)
			noIDs(t, "incidents", r)
			if r.decode(t, &incidents); len(incidents.Incidents) != 1 || incidents.Incidents[0].Pool != "product-support" {
				t.Errorf("incidents without IDs %+v", incidents)
			}
			s.get(t, "/v1/contracts/"+p.contractID+"/linked-accounts", tok).refused(t, http.StatusForbidden, "forbidden")
			s.do(t, http.MethodGet, "/v1/partners/"+p.mpn+"/history", tok, nil).refused(t, http.StatusForbidden, "forbidden")
			s.do(t, http.MethodGet, "/v1/partners/"+p.mpn+"/state", tok, nil).refused(t, http.StatusForbidden, "forbidden")
		})
	}
	t.Run("unlinked MSA account's own support plans", func(t *testing.T) {
		var plans projections.SupportPlans
		r := s.get(t, "/v1/accounts/"+engineer+"/support-plans", readers["unlinked MSA account"]).want(t, http.StatusOK)
		noIDs(t, "support-plans", r)
		if r.decode(t, &plans); len(plans.Usable) != 1 || plans.Usable[0].Plan != "product-support" || intOf(plans.Usable[0].Remaining) != "9" {
			t.Errorf("the linked pool without its ID: %+v", plans)
		}
	})
	t.Run("accepted: an MPN-linked account reads the same routes with the IDs", func(t *testing.T) {
		if _, ok := pool(t, s.remaining(t, p.mpn, p.adminTok), p.contractID, "product-support"); !ok {
			t.Error("the admin's remaining-incidents lack the contract ID")
		}
		var incidents projections.Incidents
		s.get(t, "/v1/partners/"+p.mpn+"/incidents", p.adminTok).want(t, http.StatusOK).decode(t, &incidents)
		if len(incidents.Incidents) != 1 || incidents.Incidents[0].ContractID != p.contractID {
			t.Errorf("the admin's incidents %+v", incidents)
		}
		s.get(t, "/v1/contracts/"+p.contractID+"/linked-accounts", p.adminTok).want(t, http.StatusOK)
		if plans := s.supportPlans(t, engineer, p.adminTok); len(plans.Usable) != 1 || plans.Usable[0].ContractID != p.contractID {
			t.Errorf("the admin reads the engineer's plans %+v", plans)
		}
	})
}

// ruleR4SharedAccount: the shared-account decision (domain/access.go). Partner A's
// admin registers B's admin with A and links it to A's contract; then A's admin reads
// only what the account holds with A, B's other admin only what it holds with B, and
// the account itself both.
func ruleR4SharedAccount(t *testing.T, s *system) {
	a, b := s.ready(t, mpnFor(4, 4), actionPack), s.ready(t, mpnFor(4, 5), actionPack)
	otherAdminOfB := s.user(t, b.mpn, "admin2@"+b.mpn, userSpec{mpnLinked: true, roles: []string{"global-admin"}})
	s.post(t, "/v1/partners/"+a.mpn+"/users", a.adminTok, map[string]any{"userId": b.admin, "accountType": "aad",
		"mpnLinked": true, "cspOnly": false, "roles": []string{}}).want(t, http.StatusCreated)
	s.post(t, "/v1/contracts/"+a.contractID+"/links", a.adminTok, map[string]any{"accessId": a.accessID, "userId": b.admin}).
		want(t, http.StatusCreated)
	s.benefits(t, a.mpn, a.adminTok) // waits for the users' read model too: both partners know the account
	plansOf := func(t *testing.T, tok string) (partners map[string]bool, body []byte) {
		t.Helper()
		var plans projections.SupportPlans
		r := s.get(t, "/v1/accounts/"+b.admin+"/support-plans", tok).want(t, http.StatusOK)
		r.decode(t, &plans)
		partners = map[string]bool{}
		for _, p := range slices.Concat(plans.Usable, plans.Unavailable) {
			partners[p.MPNID] = true
		}
		return partners, r.body
	}
	t.Run("A's admin sees nothing of B through the shared account", func(t *testing.T) {
		partners, body := plansOf(t, a.adminTok)
		if !partners[a.mpn] || partners[b.mpn] || bytes.Contains(body, []byte(b.contractID)) {
			t.Errorf("A's admin reads the shared account's plans with partners %v: %s", partners, body)
		}
	})
	t.Run("B's other admin sees nothing of A through the shared account", func(t *testing.T) {
		partners, body := plansOf(t, otherAdminOfB)
		if !partners[b.mpn] || partners[a.mpn] || bytes.Contains(body, []byte(a.contractID)) {
			t.Errorf("B's other admin reads the shared account's plans with partners %v: %s", partners, body)
		}
	})
	t.Run("accepted: the account itself sees its plans with both partners", func(t *testing.T) {
		partners, body := plansOf(t, b.adminTok)
		if !partners[a.mpn] || !partners[b.mpn] || !bytes.Contains(body, []byte(a.contractID)) || !bytes.Contains(body, []byte(b.contractID)) {
			t.Errorf("the shared account reads its plans with partners %v: %s", partners, body)
		}
	})
}

func ruleR5(t *testing.T, s *system) {
	p := s.ready(t, mpnFor(5, 1), actionPack)
	t.Run("accepted: activating again answers 200 with the same IDs and records nothing", func(t *testing.T) {
		before := s.head(t)
		var again handlers.ActivationAnswer
		s.activate(t, p.mpn, p.adminTok).want(t, http.StatusOK).decode(t, &again)
		if again.AccessID != p.accessID || again.ContractID != p.contractID {
			t.Errorf("second activation %+v, first %s/%s", again, p.accessID, p.contractID)
		}
		if s.head(t) != before {
			t.Error("the second activation stored events")
		}
	})
	t.Run("refused: a second activation by someone who may not activate", func(t *testing.T) {
		plain := s.user(t, p.mpn, "plain@"+p.mpn, userSpec{mpnLinked: true})
		s.activate(t, p.mpn, plain).refused(t, http.StatusForbidden, "not_authorized")
	})
}

func ruleR6(t *testing.T, s *system) {
	for k, c := range []struct {
		name   string
		offers []offer
		level  string
		want   string
	}{
		{"accepted: Action Pack gives 10", []offer{actionPack}, "action-pack", "10"},
		{"accepted: Silver gives 15", []offer{silverOther}, "silver", "15"},
		{"accepted: Gold gives 20", []offer{goldOther}, "gold", "20"},
		{"accepted: the highest active membership decides", []offer{actionPack, silverOther, goldCloud}, "gold", "20"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := s.ready(t, mpnFor(6, k+1), c.offers...)
			got, ok := pool(t, s.remaining(t, p.mpn, p.adminTok), p.contractID, "product-support")
			if !ok || intOf(got.Granted) != c.want || intOf(got.Remaining) != c.want {
				t.Errorf("product-support pool %+v, want %s", got, c.want)
			}
			if b := s.benefits(t, p.mpn, p.adminTok); b.Level != c.level {
				t.Errorf("level %q, want %q", b.Level, c.level)
			}
		})
	}
	t.Run("refused: a membership level that does not exist", func(t *testing.T) {
		p := s.enrol(t, mpnFor(6, 9), false)
		s.grant(t, p.mpn, offer{"platinum", "Security"}, s.clock.Now(), s.clock.Now().Add(yearOfValidity)).
			refused(t, http.StatusBadRequest, "validation")
	})
}

// cloudPool is the signature-cloud pool of a fresh partner with the offers.
func cloudPool(t *testing.T, s *system, mpn string, offers ...offer) (projections.PoolIncidents, bool) {
	p := s.ready(t, mpn, offers...)
	return pool(t, s.remaining(t, p.mpn, p.adminTok), p.contractID, "signature-cloud")
}

func ruleR7(t *testing.T, s *system) {
	for k, c := range []struct {
		name  string
		offer offer
		want  string
	}{
		{"accepted: Silver cloud competency is unlimited", silverCloud, "unlimited"},
		{"accepted: Gold cloud competency is unlimited", goldCloud, "unlimited"},
		{"accepted: Silver other competency is a 5-pack", silverOther, "5"},
		{"accepted: Gold other competency is a 10-pack", goldOther, "10"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, ok := cloudPool(t, s, mpnFor(7, k+1), c.offer)
			if !ok || intOf(got.Granted) != c.want || intOf(got.Remaining) != c.want {
				t.Errorf("signature-cloud pool %+v (present %v), want %s", got, ok, c.want)
			}
		})
	}
	t.Run("refused: silver or gold without a competency", func(t *testing.T) {
		p := s.enrol(t, mpnFor(7, 9), false)
		s.grant(t, p.mpn, offer{"gold", ""}, s.clock.Now(), s.clock.Now().Add(yearOfValidity)).
			refused(t, http.StatusBadRequest, "validation")
	})
}

func ruleR8(t *testing.T, s *system) {
	cloud := []string{"Security", "Cloud Business Applications", "Cloud Platform", "Cloud Productivity",
		"Enterprise Mobility Management", "Small and Midmarket Cloud Solutions"}
	t.Run("accepted: each of the six cloud competencies is unlimited", func(t *testing.T) {
		for k, name := range cloud {
			got, ok := cloudPool(t, s, mpnFor(8, k+1), offer{"silver", name})
			if !ok || got.Granted != nil {
				t.Errorf("%s: signature-cloud pool %+v (present %v), want unlimited", name, got, ok)
			}
		}
	})
	t.Run("refused: any other competency is not a cloud one", func(t *testing.T) {
		got, ok := cloudPool(t, s, mpnFor(8, 9), offer{"silver", "Datacenter"})
		if !ok || intOf(got.Granted) != "5" {
			t.Errorf("Datacenter: signature-cloud pool %+v, want the 5-pack", got)
		}
	})
}

func ruleR9(t *testing.T, s *system) {
	t.Run("refused: Action Pack alone gives no Signature Cloud Support", func(t *testing.T) {
		p := s.ready(t, mpnFor(9, 1), actionPack)
		if got, ok := pool(t, s.remaining(t, p.mpn, p.adminTok), p.contractID, "signature-cloud"); ok {
			t.Errorf("Action Pack has a signature-cloud pool %+v", got)
		}
		s.open(t, p.adminTok, cloudIncident(p.contractID, "Azure")).refused(t, http.StatusForbidden, "no_cloud_support")
	})
	t.Run("accepted: Action Pack with a competency gets cloud support by it", func(t *testing.T) {
		got, ok := cloudPool(t, s, mpnFor(9, 2), actionPack, silverCloud)
		if !ok || got.Granted != nil {
			t.Errorf("signature-cloud pool %+v (present %v), want unlimited", got, ok)
		}
	})
}

func ruleR10(t *testing.T, s *system) {
	before := s.ready(t, mpnFor(10, 1), actionPack)
	rules := defaultRulesJSON(t)
	rules["version"] = 2
	rules["effectiveFrom"] = s.clock.Now()
	rules["entitlements"].(map[string]any)["action-pack"] = map[string]any{"productSupport": map[string]any{"incidents": 12}}
	t.Run("refused: a partner user may not publish rules", func(t *testing.T) {
		s.post(t, "/v1/rules", before.adminTok, rules).refused(t, http.StatusForbidden, "forbidden")
	})
	t.Run("accepted: a partner user reads the rules, its entitlements (README: GET /v1/rules is for every signed-in caller)", func(t *testing.T) {
		var book handlers.RulesVersions
		s.do(t, http.MethodGet, "/v1/rules", before.adminTok, nil).want(t, http.StatusOK).decode(t, &book)
		if book.InForce != 1 || len(book.Versions) == 0 {
			t.Errorf("rules read by a partner user: %+v", book)
		}
		s.do(t, http.MethodGet, "/v1/rules", "", nil).refused(t, http.StatusUnauthorized, "unauthenticated")
	})
	t.Run("refused: a version that skips one", func(t *testing.T) {
		skip := clone(rules)
		skip["version"] = 3
		s.post(t, "/v1/rules", s.platform(t), skip).refused(t, http.StatusConflict, "conflict")
	})
	t.Run("accepted: a new version decides what follows, not what was decided", func(t *testing.T) {
		var answer handlers.RulesAnswer
		s.post(t, "/v1/rules", s.platform(t), rules).want(t, http.StatusCreated).decode(t, &answer)
		if answer.Version != 2 {
			t.Errorf("published %+v", answer)
		}
		after := s.ready(t, mpnFor(10, 2), actionPack)
		if got, _ := pool(t, s.remaining(t, after.mpn, after.adminTok), after.contractID, "product-support"); intOf(got.Granted) != "12" {
			t.Errorf("activated under rules v2: %+v, want 12", got)
		}
		if got, _ := pool(t, s.remaining(t, before.mpn, before.adminTok), before.contractID, "product-support"); intOf(got.Granted) != "10" {
			t.Errorf("activated under rules v1: %+v, want 10 still", got)
		}
	})
}

func ruleR11(t *testing.T, s *system) {
	p := s.ready(t, mpnFor(11, 1), actionPack)
	for _, c := range []struct{ name, product, version string }{
		{"accepted: the current version N", "SQL Server", "2025"},
		{"accepted: N-1 inside mainstream support", "Windows Server", "2022"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s.open(t, p.adminTok, productIncident(p.contractID, c.product, c.version)).want(t, http.StatusCreated)
		})
	}
	for _, c := range []struct{ name, product, version string }{
		{"refused: older than N-1", "SQL Server", "2019"},
		{"refused: a cloud product", "Azure", ""},
		{"refused: a product outside the catalog", "Exchange Server", "2010"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s.open(t, p.adminTok, productIncident(p.contractID, c.product, c.version)).
				refused(t, http.StatusUnprocessableEntity, "product_not_eligible")
		})
	}
	t.Run("refused: N-1 past mainstream support", func(t *testing.T) {
		s.clock.travel(t, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
		prob := s.open(t, p.adminTok, productIncident(p.contractID, "Windows Server", "2022")).
			refused(t, http.StatusUnprocessableEntity, "product_not_eligible")
		if !strings.Contains(prob.Detail, "mainstream") {
			t.Errorf("detail %q", prob.Detail)
		}
	})
}

func ruleR12(t *testing.T, s *system) {
	p := s.ready(t, mpnFor(12, 1), actionPack)
	aad := s.user(t, p.mpn, "aad@"+p.mpn, userSpec{mpnLinked: true})
	msa := s.user(t, p.mpn, "msa@"+p.mpn, userSpec{msa: true, mpnLinked: true})
	t.Run("refused: the first use without the Access ID", func(t *testing.T) {
		s.open(t, aad, productIncident(p.contractID, "SQL Server", "2025")).
			refused(t, http.StatusUnprocessableEntity, "contract_not_linked")
	})
	t.Run("refused: a wrong Access ID", func(t *testing.T) {
		in := productIncident(p.contractID, "SQL Server", "2025")
		in["accessId"] = "AC-WRONG"
		s.open(t, aad, in).refused(t, http.StatusUnprocessableEntity, "invalid_access_id")
	})
	t.Run("accepted: both IDs the first time, neither after", func(t *testing.T) {
		in := productIncident(p.contractID, "SQL Server", "2025")
		in["accessId"] = p.accessID
		s.open(t, aad, in).want(t, http.StatusCreated)
		s.open(t, aad, productIncident(p.contractID, "SQL Server", "2025")).want(t, http.StatusCreated)
		s.open(t, aad, incident{"mpnId": p.mpn, "kind": "product-support", "product": "SQL Server", "version": "2025"}).
			want(t, http.StatusCreated)
	})
	t.Run("accepted: an MSA account holding both IDs", func(t *testing.T) {
		s.link(t, p, msa).want(t, http.StatusCreated)
		s.open(t, msa, productIncident(p.contractID, "SQL Server", "2025")).want(t, http.StatusCreated)
		var linked projections.LinkedAccounts
		s.get(t, "/v1/contracts/"+p.contractID+"/linked-accounts", p.adminTok).want(t, http.StatusOK).decode(t, &linked)
		types := map[string]string{}
		for _, a := range linked.Accounts {
			types[a.UserID] = a.AccountType
		}
		if types["aad@"+p.mpn] != "aad" || types["msa@"+p.mpn] != "msa" || types[p.admin] != "aad" {
			t.Errorf("linked accounts %+v", linked.Accounts)
		}
	})
}

// exhaust opens incidents on the product-support pool until it is empty.
func exhaust(t *testing.T, s *system, p *partner, n int) {
	t.Helper()
	for range n {
		s.open(t, p.adminTok, productIncident(p.contractID, "SQL Server", "2025")).want(t, http.StatusCreated)
	}
}

func ruleR13(t *testing.T, s *system) {
	p := s.ready(t, mpnFor(13, 1), actionPack)
	t.Run("accepted: a linked contract keeps serving the account without IDs", func(t *testing.T) {
		exhaust(t, s, p, 3)
	})
	t.Run("refused: once the contract has expired", func(t *testing.T) {
		s.clock.travel(t, s.clock.Now().Add(yearOfValidity+48*time.Hour))
		s.open(t, p.adminTok, productIncident(p.contractID, "SQL Server", "2025")).refused(t, http.StatusConflict, "contract_expired")
	})
	t.Run("refused: once no incidents remain", func(t *testing.T) {
		exhaust(t, s, p, 7)
		s.open(t, p.adminTok, productIncident(p.contractID, "SQL Server", "2025")).refused(t, http.StatusConflict, "pool_exhausted")
	})
}

func ruleR14(t *testing.T, s *system) {
	p := s.ready(t, mpnFor(14, 1), actionPack)
	t.Run("accepted: a valid linked contract is usable with its dates and remaining incidents", func(t *testing.T) {
		plans := s.supportPlans(t, p.admin, p.adminTok)
		if len(plans.Usable) != 1 || plans.Usable[0].ContractID != p.contractID || intOf(plans.Usable[0].Remaining) != "10" ||
			plans.Usable[0].ValidFrom == nil || plans.Usable[0].ValidTo == nil || len(plans.Unavailable) != 0 {
			t.Errorf("support plans %+v", plans)
		}
	})
	t.Run("refused: an expired contract is listed as unavailable with its reason", func(t *testing.T) {
		s.clock.travel(t, s.clock.Now().Add(yearOfValidity+48*time.Hour))
		plans := s.supportPlans(t, p.admin, p.adminTok)
		if len(plans.Usable) != 0 || len(plans.Unavailable) != 1 || plans.Unavailable[0].Reason != "the contract has expired" {
			t.Errorf("support plans after expiry %+v", plans)
		}
		if st := s.contractStatus(t, p); st != "expired" {
			t.Errorf("status %q, want expired", st)
		}
	})
	t.Run("refused: an exhausted contract is listed as unavailable with its reason", func(t *testing.T) {
		exhaust(t, s, p, 10)
		plans := s.supportPlans(t, p.admin, p.adminTok)
		if len(plans.Usable) != 0 || len(plans.Unavailable) != 1 || plans.Unavailable[0].Reason != "no incidents remain" {
			t.Errorf("support plans after exhaustion %+v", plans)
		}
		if st := s.contractStatus(t, p); st != "exhausted" {
			t.Errorf("status %q, want exhausted", st)
		}
	})
}

func ruleR15(t *testing.T, s *system) {
	t.Run("accepted: a Gold cloud competency files a Signature Cloud incident", func(t *testing.T) {
		p := s.ready(t, mpnFor(15, 1), goldCloud)
		var answer handlers.IncidentAnswer
		s.open(t, p.adminTok, cloudIncident(p.contractID, "Azure")).want(t, http.StatusCreated).decode(t, &answer)
		if answer.Remaining != nil {
			t.Errorf("unlimited pool answered remaining %d", *answer.Remaining)
		}
	})
	t.Run("refused: an Action Pack partner", func(t *testing.T) {
		p := s.ready(t, mpnFor(15, 2), actionPack)
		s.open(t, p.adminTok, cloudIncident(p.contractID, "Dynamics 365")).refused(t, http.StatusForbidden, "no_cloud_support")
	})
}

func ruleR16(t *testing.T, s *system) {
	p := s.ready(t, mpnFor(16, 1), silverOther)
	fresh := s.user(t, p.mpn, "fresh@"+p.mpn, userSpec{mpnLinked: true})
	t.Run("accepted: Microsoft 365 needs no linked contract", func(t *testing.T) {
		s.open(t, fresh, incident{"mpnId": p.mpn, "kind": "signature-cloud", "product": "Microsoft 365"}).want(t, http.StatusCreated)
	})
	t.Run("refused: Azure without the IDs the first time", func(t *testing.T) {
		s.open(t, fresh, cloudIncident(p.contractID, "Azure")).refused(t, http.StatusUnprocessableEntity, "contract_not_linked")
	})
	t.Run("accepted: Dynamics 365 with both IDs the first time", func(t *testing.T) {
		in := cloudIncident(p.contractID, "Dynamics 365")
		in["accessId"] = p.accessID
		var answer handlers.IncidentAnswer
		s.open(t, fresh, in).want(t, http.StatusCreated).decode(t, &answer)
		if intOf(answer.Remaining) != "3" { // the 5-pack, after Microsoft 365 and this one
			t.Errorf("remaining %s, want 3", intOf(answer.Remaining))
		}
	})
}

func ruleR17(t *testing.T, s *system) {
	p := s.ready(t, mpnFor(17, 1), actionPack)
	t.Run("accepted: linking again says already linked and records nothing", func(t *testing.T) {
		before := s.head(t)
		var answer handlers.LinkAnswer
		s.link(t, p, p.adminTok).want(t, http.StatusOK).decode(t, &answer)
		if answer.Status != "already-linked" || s.head(t) != before {
			t.Errorf("answer %+v; head moved: %v", answer, s.head(t) != before)
		}
	})
	t.Run("refused: linking with an Access ID of another contract", func(t *testing.T) {
		q := s.ready(t, mpnFor(17, 2), actionPack)
		s.post(t, "/v1/contracts/"+p.contractID+"/links", p.adminTok, map[string]any{"accessId": q.accessID}).
			refused(t, http.StatusUnprocessableEntity, "invalid_access_id")
	})
}

func ruleR18(t *testing.T, s *system) {
	t.Run("refused: linking an exhausted contract", func(t *testing.T) {
		p := s.ready(t, mpnFor(18, 1), actionPack)
		exhaust(t, s, p, 10)
		late := s.user(t, p.mpn, "late@"+p.mpn, userSpec{mpnLinked: true})
		s.link(t, p, late).refused(t, http.StatusConflict, "contract_exhausted")
		if plans := s.supportPlans(t, "late@"+p.mpn, late); len(plans.Usable)+len(plans.Unavailable) != 0 {
			t.Errorf("a refused link left plans %+v", plans)
		}
	})
	t.Run("refused: linking an expired contract", func(t *testing.T) {
		p := s.ready(t, mpnFor(18, 2), actionPack)
		late := s.user(t, p.mpn, "late@"+p.mpn, userSpec{mpnLinked: true})
		s.clock.travel(t, s.clock.Now().Add(yearOfValidity+48*time.Hour))
		s.link(t, p, late).refused(t, http.StatusConflict, "contract_expired")
	})
	t.Run("accepted: linking a valid contract", func(t *testing.T) {
		p := s.ready(t, mpnFor(18, 3), actionPack)
		s.link(t, p, s.user(t, p.mpn, "on-time@"+p.mpn, userSpec{mpnLinked: true})).want(t, http.StatusCreated)
	})
}

func ruleR19(t *testing.T, s *system) {
	p := s.ready(t, mpnFor(19, 1), goldCloud)
	agent := s.user(t, p.mpn, "agent@"+p.mpn, userSpec{mpnLinked: true, roles: []string{"admin-agent"}})
	s.link(t, p, agent).want(t, http.StatusCreated)
	forCustomer := cloudIncident(p.contractID, "Azure")
	forCustomer["customerId"] = "customer-42"
	t.Run("accepted: an admin agent files for a CSP customer", func(t *testing.T) {
		s.open(t, agent, forCustomer).want(t, http.StatusCreated)
	})
	t.Run("refused: a global admin without admin-agent files for a customer", func(t *testing.T) {
		s.open(t, p.adminTok, forCustomer).refused(t, http.StatusForbidden, "not_authorized")
	})
}

func ruleR20(t *testing.T, s *system) {
	p := s.activated(t, s.enrol(t, mpnFor(20, 1), true, actionPack))
	agent := s.user(t, p.mpn, "agent@"+p.mpn, userSpec{cspOnly: true, roles: []string{"admin-agent"}})
	csp := incident{"mpnId": p.mpn, "kind": "cloud-solution-provider", "product": "Azure", "customerId": "customer-7"}
	t.Run("accepted: a CSP partner's Azure request without a contract draws on no pool", func(t *testing.T) {
		var answer handlers.IncidentAnswer
		s.open(t, agent, csp).want(t, http.StatusCreated).decode(t, &answer)
		if answer.Remaining != nil || answer.ContractID != "" {
			t.Errorf("answer %+v", answer)
		}
		if got, _ := pool(t, s.remaining(t, p.mpn, p.adminTok), p.contractID, "product-support"); got.Used != 0 {
			t.Errorf("the CSP plan drew on a pool: %+v", got)
		}
	})
	t.Run("refused: the CSP plan for another product", func(t *testing.T) {
		other := clone(csp)
		other["product"] = "Dynamics 365"
		s.open(t, agent, incident(other)).refused(t, http.StatusUnprocessableEntity, "product_not_eligible")
	})
	t.Run("refused: a partner that is not a CSP", func(t *testing.T) {
		q := s.ready(t, mpnFor(20, 2), actionPack)
		qAgent := s.user(t, q.mpn, "agent@"+q.mpn, userSpec{mpnLinked: true, roles: []string{"admin-agent"}})
		other := clone(csp)
		other["mpnId"] = q.mpn
		s.open(t, qAgent, incident(other)).refused(t, http.StatusForbidden, "no_support_plan")
	})
}

func ruleR21(t *testing.T, s *system) {
	p := s.ready(t, mpnFor(21, 1), actionPack)
	buy := func(plan string) reply {
		return s.post(t, "/v1/partners/"+p.mpn+"/support-plans", s.platform(t),
			map[string]any{"plan": plan, "validTo": s.clock.Now().Add(yearOfValidity)})
	}
	t.Run("refused: a paid plan the partner does not hold", func(t *testing.T) {
		s.open(t, p.adminTok, incident{"mpnId": p.mpn, "kind": "premier", "product": "SQL Server", "version": "2019"}).
			refused(t, http.StatusForbidden, "no_support_plan")
	})
	t.Run("accepted: Premier covers every product and draws on no pool", func(t *testing.T) {
		buy("premier").want(t, http.StatusCreated)
		var answer handlers.IncidentAnswer
		s.open(t, p.adminTok, incident{"mpnId": p.mpn, "kind": "premier", "product": "SQL Server", "version": "2019"}).
			want(t, http.StatusCreated).decode(t, &answer)
		if answer.Remaining != nil {
			t.Errorf("answer %+v", answer)
		}
		if got, _ := pool(t, s.remaining(t, p.mpn, p.adminTok), p.contractID, "product-support"); got.Used != 0 {
			t.Errorf("Premier drew on the pool: %+v", got)
		}
	})
	t.Run("refused: Advanced covers cloud products only", func(t *testing.T) {
		buy("advanced").want(t, http.StatusCreated)
		s.open(t, p.adminTok, incident{"mpnId": p.mpn, "kind": "advanced", "product": "SQL Server", "version": "2025"}).
			refused(t, http.StatusUnprocessableEntity, "product_not_eligible")
		s.open(t, p.adminTok, incident{"mpnId": p.mpn, "kind": "advanced", "product": "Azure"}).want(t, http.StatusCreated)
	})
	t.Run("refused: only premier and advanced can be bought", func(t *testing.T) {
		buy("gold-plated").refused(t, http.StatusBadRequest, "validation")
	})
}

func ruleR22(t *testing.T, s *system) {
	p := s.ready(t, mpnFor(22, 1), actionPack)
	var first handlers.IncidentAnswer
	t.Run("accepted: each incident takes one from the pool at once", func(t *testing.T) {
		s.open(t, p.adminTok, productIncident(p.contractID, "SQL Server", "2025")).want(t, http.StatusCreated).decode(t, &first)
		if intOf(first.Remaining) != "9" {
			t.Errorf("remaining %s after the first incident", intOf(first.Remaining))
		}
		exhaust(t, s, p, 9)
	})
	t.Run("refused: an empty pool, with remaining 0", func(t *testing.T) {
		prob := s.open(t, p.adminTok, productIncident(p.contractID, "SQL Server", "2025")).refused(t, http.StatusConflict, "pool_exhausted")
		if rem, ok := prob.Extra["remaining"].(float64); !ok || rem != 0 {
			t.Errorf("problem %+v lacks remaining 0", prob)
		}
	})
	t.Run("refused: closing gives nothing back", func(t *testing.T) {
		s.post(t, "/v1/incidents/"+first.IncidentID+"/close", p.adminTok, map[string]any{"resolution": "fixed"}).want(t, http.StatusOK)
		s.open(t, p.adminTok, productIncident(p.contractID, "SQL Server", "2025")).refused(t, http.StatusConflict, "pool_exhausted")
		var closed projections.Incidents
		s.get(t, "/v1/partners/"+p.mpn+"/incidents?status=closed", p.adminTok).want(t, http.StatusOK).decode(t, &closed)
		if len(closed.Incidents) != 1 || closed.Incidents[0].IncidentID != first.IncidentID || closed.Incidents[0].Resolution != "fixed" {
			t.Errorf("closed incidents %+v", closed.Incidents)
		}
		if got, _ := pool(t, s.remaining(t, p.mpn, p.adminTok), p.contractID, "product-support"); got.Used != 10 || intOf(got.Remaining) != "0" {
			t.Errorf("pool after closing %+v", got)
		}
	})
	t.Run("accepted: an unlimited pool is never exhausted", func(t *testing.T) {
		q := s.ready(t, mpnFor(22, 2), silverCloud)
		for range 16 { // more than any numbered pack
			s.open(t, q.adminTok, cloudIncident(q.contractID, "Azure")).want(t, http.StatusCreated)
		}
	})
}

func ruleR23(t *testing.T, s *system) {
	p := s.ready(t, mpnFor(23, 1), actionPack)
	t.Run("accepted: an incident inside the contract's validity", func(t *testing.T) {
		s.open(t, p.adminTok, productIncident(p.contractID, "SQL Server", "2025")).want(t, http.StatusCreated)
	})
	t.Run("refused: an incident after the contract's end", func(t *testing.T) {
		s.clock.travel(t, s.clock.Now().Add(yearOfValidity+time.Hour))
		before := s.head(t)
		s.open(t, p.adminTok, productIncident(p.contractID, "SQL Server", "2025")).refused(t, http.StatusConflict, "contract_expired")
		if s.head(t) != before {
			t.Error("a refused incident stored events")
		}
	})
}
