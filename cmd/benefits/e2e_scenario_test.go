package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"ledger/domain"
	"ledger/handlers"
	"ledger/projections"
)

// The vocabulary of the end-to-end scenarios: a partner built through the API, step by
// step, the way Partner Center and the partner's own users would.

const platformUser = "partner-center"

func (s *system) platform(t testing.TB) string {
	return bearerFor(t, platformUser, handlers.RolePlatform)
}
func (s *system) auditor(t testing.TB) string { return bearerFor(t, "auditor-1", handlers.RoleAuditor) }

// mpnFor names the partner of scenario k of rule r, unique within one system.
func mpnFor(rule, k int) string { return fmt.Sprintf("7%02d%02d", rule, k) }

// offer is a membership to grant.
type offer struct{ level, competency string }

var (
	actionPack     = offer{"action-pack", ""}
	silverCloud    = offer{"silver", "Cloud Platform"}
	silverOther    = offer{"silver", "Application Development"}
	goldCloud      = offer{"gold", "Security"}
	goldOther      = offer{"gold", "Data Analytics"}
	yearOfValidity = 365 * 24 * time.Hour
)

// partner is a partner enrolled through the API, with its MPN-linked global admin.
type partner struct {
	mpn        string
	admin      string
	adminTok   string
	accessID   string
	contractID string
}

// enrol enrols mpn and grants each offer from a month ago for a year.
func (s *system) enrol(t testing.TB, mpn string, csp bool, offers ...offer) *partner {
	t.Helper()
	s.post(t, "/v1/partners", s.platform(t), map[string]any{"mpnId": mpn, "name": "Partner " + mpn, "csp": csp}).
		want(t, http.StatusCreated)
	for _, o := range offers {
		s.grant(t, mpn, o, s.clock.Now().AddDate(0, -1, 0), s.clock.Now().Add(yearOfValidity)).want(t, http.StatusCreated)
	}
	p := &partner{mpn: mpn, admin: "admin@" + mpn}
	p.adminTok = s.user(t, mpn, p.admin, userSpec{mpnLinked: true, roles: []string{"global-admin"}})
	return p
}

func (s *system) grant(t testing.TB, mpn string, o offer, from, to time.Time) reply {
	t.Helper()
	body := map[string]any{"offer": o.level, "validFrom": from, "validTo": to}
	if o.competency != "" {
		body["competency"] = o.competency
	}
	return s.post(t, "/v1/partners/"+mpn+"/memberships", s.platform(t), body)
}

// userSpec is a partner user account to register.
type userSpec struct {
	msa       bool
	mpnLinked bool
	cspOnly   bool
	roles     []string
}

// user registers an account with the partner (as the platform) and returns its token.
func (s *system) user(t testing.TB, mpn, userID string, u userSpec) string {
	t.Helper()
	accountType := "aad"
	if u.msa {
		accountType = "msa"
	}
	roles := u.roles
	if roles == nil {
		roles = []string{}
	}
	s.post(t, "/v1/partners/"+mpn+"/users", s.platform(t), map[string]any{"userId": userID, "accountType": accountType,
		"mpnLinked": u.mpnLinked, "cspOnly": u.cspOnly, "roles": roles}).want(t, http.StatusCreated)
	return bearerFor(t, userID)
}

// activate activates the benefit as tok.
func (s *system) activate(t testing.TB, mpn, tok string) reply {
	t.Helper()
	return s.post(t, "/v1/partners/"+mpn+"/technical-support/activate", tok, nil)
}

// activated activates as the admin and links the contract to the admin's account.
func (s *system) activated(t testing.TB, p *partner) *partner {
	t.Helper()
	var ids handlers.ActivationAnswer
	s.activate(t, p.mpn, p.adminTok).want(t, http.StatusCreated).decode(t, &ids)
	p.accessID, p.contractID = ids.AccessID, ids.ContractID
	s.link(t, p, p.adminTok).want(t, http.StatusCreated)
	return p
}

// ready is a partner with the offers, activated, its admin linked.
func (s *system) ready(t testing.TB, mpn string, offers ...offer) *partner {
	t.Helper()
	return s.activated(t, s.enrol(t, mpn, false, offers...))
}

func (s *system) link(t testing.TB, p *partner, tok string) reply {
	t.Helper()
	return s.post(t, "/v1/contracts/"+p.contractID+"/links", tok, map[string]any{"accessId": p.accessID})
}

// incident is an OpenIncident body.
type incident map[string]any

func productIncident(contractID, product, version string) incident {
	return incident{"contractId": contractID, "kind": "product-support", "product": product, "version": version, "title": "it is slow"}
}

func cloudIncident(contractID, product string) incident {
	return incident{"contractId": contractID, "kind": "signature-cloud", "product": product, "title": "it is down"}
}

func (s *system) open(t testing.TB, tok string, in incident) reply {
	t.Helper()
	return s.post(t, "/v1/incidents", tok, map[string]any(in))
}

// remaining reads the partner's pools; pool finds one of them.
func (s *system) remaining(t testing.TB, mpn, tok string) projections.RemainingIncidents {
	t.Helper()
	var out projections.RemainingIncidents
	s.get(t, "/v1/partners/"+mpn+"/remaining-incidents", tok).want(t, http.StatusOK).decode(t, &out)
	return out
}

func pool(t testing.TB, r projections.RemainingIncidents, contractID, kind string) (projections.PoolIncidents, bool) {
	t.Helper()
	for _, c := range r.Contracts {
		if c.ContractID != contractID {
			continue
		}
		for _, p := range c.Pools {
			if p.Kind == kind {
				return p, true
			}
		}
	}
	return projections.PoolIncidents{}, false
}

func (s *system) contractStatus(t testing.TB, p *partner) string {
	t.Helper()
	for _, c := range s.remaining(t, p.mpn, p.adminTok).Contracts {
		if c.ContractID == p.contractID {
			return c.Status
		}
	}
	t.Fatalf("contract %s missing from remaining-incidents", p.contractID)
	return ""
}

func (s *system) supportPlans(t testing.TB, user, tok string) projections.SupportPlans {
	t.Helper()
	var out projections.SupportPlans
	s.get(t, "/v1/accounts/"+user+"/support-plans", tok).want(t, http.StatusOK).decode(t, &out)
	return out
}

func (s *system) benefits(t testing.TB, mpn, tok string) projections.Benefits {
	t.Helper()
	var out projections.Benefits
	s.get(t, "/v1/partners/"+mpn+"/benefits", tok).want(t, http.StatusOK).decode(t, &out)
	return out
}

func intOf(p *int) string {
	if p == nil {
		return "unlimited"
	}
	return fmt.Sprint(*p)
}

// defaultRulesJSON is rules version 1 as a JSON object, to edit into a new version.
func defaultRulesJSON(t testing.TB) map[string]any {
	t.Helper()
	raw, err := json.Marshal(domain.DefaultRules())
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func clone[M ~map[string]any](m M) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
