package main

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"

	"ledger/domain"
	"ledger/handlers"
	"ledger/infra/eventmeta"
	"ledger/infra/eventstore"
)

// commandRoute is one command route with real path parameters and who may call it.
type commandRoute struct {
	method, path, tok string
}

// commandRoutes are the command routes on a partner that exists, is activated and has
// one incident; platform routes get the platform's token, the rest the admin's.
func commandRoutes(t testing.TB, s *system, p *partner, incidentID string) []commandRoute {
	platform := s.platform(t)
	return []commandRoute{
		{http.MethodPost, "/v1/partners", platform},
		{http.MethodPost, "/v1/partners/" + p.mpn + "/memberships", platform},
		{http.MethodPost, "/v1/partners/" + p.mpn + "/users", platform},
		{http.MethodPut, "/v1/partners/" + p.mpn + "/users/" + p.admin + "/roles", platform},
		{http.MethodPost, "/v1/partners/" + p.mpn + "/support-plans", platform},
		{http.MethodPost, "/v1/contracts/" + p.contractID + "/links", p.adminTok},
		{http.MethodPost, "/v1/incidents", p.adminTok},
		{http.MethodPost, "/v1/incidents/" + incidentID + "/close", p.adminTok},
		{http.MethodPost, "/v1/rules", platform},
	}
}

// inputFixture is a system with a partner ready for every command route.
func inputFixture(t testing.TB) (*system, []commandRoute) {
	s := startSystem(t, testConfig(t), wireOptions{})
	p := s.ready(t, mpnFor(80, 1), actionPack)
	var in handlers.IncidentAnswer
	s.open(t, p.adminTok, productIncident(p.contractID, "SQL Server", "2025")).want(t, http.StatusCreated).decode(t, &in)
	return s, commandRoutes(t, s, p, in.IncidentID)
}

// Bad input gets a 400 problem naming the field, never a 500, and stores nothing.
func TestBadCommandBodiesAreRefusedAndStoreNothing(t *testing.T) {
	s, routes := inputFixture(t)
	bodies := []struct{ name, body string }{
		{"malformed JSON", `{"mpnId":`},
		{"not an object", `[1,2,3]`},
		{"unknown field", `{"surprise":true}`},
		{"wrong type", `{"mpnId":7,"name":["x"],"offer":1,"userId":2,"accountType":3,"roles":"x","plan":4,"accessId":5,"kind":6,"product":7,"version":8}`},
		{"missing required fields", `{}`},
		{"trailing data", `{} {}`},
	}
	for _, rt := range routes {
		for _, b := range bodies {
			if strings.HasSuffix(rt.path, "/close") && b.name == "missing required fields" {
				continue // the close body has no required field
			}
			t.Run(rt.method+" "+rt.path+"/"+b.name, func(t *testing.T) {
				before := s.head(t)
				s.do(t, rt.method, rt.path, rt.tok, b.body).refused(t, http.StatusBadRequest, handlers.CodeBadRequest)
				if s.head(t) != before {
					t.Error("a refused body stored events")
				}
			})
		}
	}
	t.Run("a body over 64 KiB answers 413", func(t *testing.T) {
		big := `{"name":"` + strings.Repeat("x", handlers.MaxBodyBytes) + `"}`
		s.do(t, http.MethodPost, "/v1/partners", s.platform(t), big).refused(t, http.StatusRequestEntityTooLarge, handlers.CodePayloadTooLarge)
	})
	t.Run("a contract that cannot exist answers 404", func(t *testing.T) {
		s.post(t, "/v1/contracts/CT-nope/links", s.platform(t), map[string]any{"accessId": "AC-1"}).refused(t, http.StatusNotFound, "not_found")
		s.get(t, "/v1/contracts/CT-1234567-X/linked-accounts", s.auditor(t)).refused(t, http.StatusNotFound, "not_found")
	})
	t.Run("an unknown partner answers 404", func(t *testing.T) {
		s.get(t, "/v1/partners/99999/benefits", s.auditor(t)).refused(t, http.StatusNotFound, "not_found")
		s.post(t, "/v1/partners/99999/technical-support/activate", s.platform(t), nil).refused(t, http.StatusNotFound, "not_found")
	})
}

// Every command records who sent it (from the token) and the request's correlation ID.
func TestCommandsRecordTheCallerAndTheCorrelationID(t *testing.T) {
	s := startSystem(t, testConfig(t), wireOptions{})
	p := s.enrol(t, mpnFor(81, 1), false, actionPack)
	r := s.do(t, http.MethodPost, "/v1/partners/"+p.mpn+"/technical-support/activate", p.adminTok, nil,
		handlers.HeaderCorrelationID, "corr-activate-81").want(t, http.StatusCreated)
	if got := r.header.Get(handlers.HeaderCorrelationID); got != "corr-activate-81" {
		t.Errorf("answered correlation ID %q", got)
	}
	events, err := s.proc.store.ReadStream(context.Background(), domain.PartnerStream(p.mpn),
		eventstore.ReadStreamOptions{Direction: eventstore.Backwards, From: eventstore.End, Limit: 1})
	if err != nil || len(events) != 1 || events[0].Type != (domain.BenefitActivated{}).EventType() {
		t.Fatalf("last event %+v, %v", events, err)
	}
	m, err := eventmeta.Parse(events[0].Metadata)
	if err != nil {
		t.Fatal(err)
	}
	actor, err := s.proc.shredder.OpenSubject(context.Background(), m.Actor) // stored sealed (crypto-shredding)
	if err != nil || actor != p.admin || m.Actor == p.admin || m.CorrelationID != "corr-activate-81" || m.RulesVersion != 1 {
		t.Errorf("metadata %+v (actor opens as %q, %v), want the admin sealed", m, actor, err)
	}
}

// FuzzCommandBodies sends arbitrary bodies to every command route of a running system:
// whatever the body, the answer is never a 5xx, and a refused body stores nothing.
func FuzzCommandBodies(f *testing.F) {
	for _, seed := range []string{
		`{}`, `null`, `[]`, `""`, ``, `{"mpnId":"12345","name":"Contoso"}`,
		`{"offer":"gold","competency":"Security","validTo":"2027-01-01T00:00:00Z"}`,
		`{"offer":"gold","validTo":"2027-13-45T00:00:00Z"}`,
		`{"userId":"u","accountType":"msa","roles":["global-admin","nobody"]}`,
		`{"roles":null}`, `{"plan":"premier","validTo":"1999-01-01T00:00:00Z"}`,
		`{"accessId":"","userId":"ghost"}`,
		`{"contractId":"CT-1-","kind":"premier","product":"x"}`,
		`{"mpnId":"00000","kind":"cloud-solution-provider","product":"Azure"}`,
		`{"kind":"product-support","product":"SQL Server","version":"2025","contractId":"CT-99999-A"}`,
		`{"resolution":"` + strings.Repeat("é", 100) + `"}`,
		`{"version":2,"entitlements":{"gold":{}},"products":[{"name":""}]}`,
		`{"version":1e99}`, "\xff\xfe", `{"a":` + strings.Repeat("[", 3000) + `}`,
	} {
		for route := range 9 {
			f.Add(uint8(route), []byte(seed))
		}
	}
	s, routes := inputFixture(f)
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		rt := routes[int(route)%len(routes)]
		before := s.head(t)
		r := s.do(t, rt.method, rt.path, rt.tok, bytes.Clone(body))
		if r.status >= 500 {
			t.Fatalf("%s %s answered %d for %q: %s", rt.method, rt.path, r.status, body, r.body)
		}
		if r.status >= 400 {
			r.problem(t)
			if r.status == http.StatusBadRequest && s.head(t) != before {
				t.Fatalf("%s %s stored events for a refused body %q", rt.method, rt.path, body)
			}
		}
	})
}

// Text encoding/json would have stored altered (invalid UTF-8 and lone surrogates as
// U+FFFD, the last of two duplicate members) or unbounded, control characters, and
// query strings net/url would have read with parameters silently dropped: each answers
// 400 bad_request naming the field, over HTTP, and the event store holds nothing new.
// Every body would be accepted if its text were clean (a fresh partner, a known user).
func TestLenientInputIsRefusedNamingTheFieldAndStoresNothing(t *testing.T) {
	s := startSystem(t, testConfig(t), wireOptions{})
	p := s.ready(t, mpnFor(83, 1), actionPack)
	var in handlers.IncidentAnswer
	s.open(t, p.adminTok, productIncident(p.contractID, "SQL Server", "2025")).want(t, http.StatusCreated).decode(t, &in)
	platform := s.platform(t)
	enrol := func(k int, name string) string { return `{"mpnId":"` + mpnFor(83, k) + `","name":` + name + `}` }
	incident := func(title string) string {
		return `{"contractId":"` + p.contractID + `","kind":"product-support","product":"SQL Server","version":"2025","title":` + title + `}`
	}
	cases := []struct {
		name, method, path, tok, body, wantField string
	}{
		{"invalid UTF-8", http.MethodPost, "/v1/partners", platform, enrol(2, "\"Contoso \xff\""), "name"},
		{"a lone surrogate escape", http.MethodPost, "/v1/partners", platform, enrol(3, `"Contoso \ud800"`), "name"},
		{"a duplicate member", http.MethodPost, "/v1/partners", platform, enrol(4, `"Contoso","name":"Fabrikam"`), "name"},
		{"NUL", http.MethodPost, "/v1/partners", platform, enrol(5, `"Contoso\u0000"`), "name"},
		{"another control character", http.MethodPost, "/v1/partners", platform, enrol(6, `"Contoso\u001b[2J"`), "name"},
		{"a 60 KB name", http.MethodPost, "/v1/partners", platform, enrol(7, `"`+strings.Repeat("C", 60000)+`"`), "name"},
		{"a user ID over 254 characters", http.MethodPost, "/v1/partners/" + p.mpn + "/users", platform,
			`{"userId":"` + strings.Repeat("u", 255) + `","accountType":"aad","roles":[]}`, "userId"},
		{"a customer ID over 128 characters", http.MethodPost, "/v1/incidents", p.adminTok,
			strings.Replace(incident(`"slow"`), "{", `{"customerId":"`+strings.Repeat("c", 129)+`",`, 1), "customerId"},
		{"a newline in a title", http.MethodPost, "/v1/incidents", p.adminTok, incident(`"slow\nreally"`), "title"},
		{"NUL in a multiline resolution", http.MethodPost, "/v1/incidents/" + in.IncidentID + "/close", p.adminTok,
			`{"resolution":"fixed\u0000"}`, "resolution"},
		{"a ';' in a command's query", http.MethodPost, "/v1/partners?x=1;y", platform, enrol(8, `"Contoso"`), "x"},
		{"a ';' in a query's query", http.MethodGet, "/v1/partners/" + p.mpn + "/incidents?minPosition=9999;x", p.adminTok, "", "minPosition"},
		{"a bad %-escape", http.MethodGet, "/v1/partners/" + p.mpn + "/incidents?status=%zz", p.adminTok, "", "status"},
		{"a repeated parameter", http.MethodGet, "/v1/partners/" + p.mpn + "/incidents?status=open&status=closed", p.adminTok, "", "status"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := s.head(t)
			var body any
			if tc.body != "" {
				body = []byte(tc.body)
			}
			got := s.do(t, tc.method, tc.path, tc.tok, body).refused(t, http.StatusBadRequest, handlers.CodeBadRequest)
			if got.Extra["field"] != tc.wantField {
				t.Errorf("field %q, want %q: %s", got.Extra["field"], tc.wantField, got.Detail)
			}
			if after := s.head(t); after != before {
				t.Errorf("the store moved from %s to %s", before, after)
			}
		})
	}
	t.Run("clean text at the limits is accepted, and a resolution may span lines", func(t *testing.T) {
		s.post(t, "/v1/partners", platform, []byte(enrol(9, `"`+strings.Repeat("é", 200)+`"`))).
			want(t, http.StatusCreated)
		s.post(t, "/v1/incidents/"+in.IncidentID+"/close", p.adminTok, []byte(`{"resolution":"patched\r\n\tthen rebooted \ufffd"}`)).
			want(t, http.StatusOK)
	})
}
