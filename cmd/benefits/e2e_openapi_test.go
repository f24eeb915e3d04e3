package main

import (
	"net/http"
	"strings"
	"testing"

	"ledger/handlers"
)

// The wired API serves every route of issue 4's table, and its OpenAPI document lists
// exactly the routes the server registered.
func TestTheWiredAPIServesAndDocumentsEveryRouteOfTheTable(t *testing.T) {
	s := startSystem(t, testConfig(t), wireOptions{})
	var doc struct {
		Paths map[string]map[string]any `json:"paths"`
	}
	s.do(t, http.MethodGet, "/openapi.json", "", nil).want(t, http.StatusOK).decode(t, &doc)
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			documented[strings.ToUpper(method)+" "+path] = true
		}
	}
	registered := map[string]bool{}
	for _, r := range handlers.NewServer(s.proc.deps).Routes() {
		key := r.Method + " " + handlers.OpenAPIPath(r.Path)
		registered[key] = true
		if !documented[key] {
			t.Errorf("registered %s is not in the document", key)
		}
	}
	for key := range documented {
		if !registered[key] {
			t.Errorf("documented %s is not registered", key)
		}
	}
	for _, want := range []string{
		"POST /v1/partners", "POST /v1/partners/{mpnId}/memberships", "POST /v1/partners/{mpnId}/users",
		"POST /v1/partners/{mpnId}/technical-support/activate", "POST /v1/contracts/{contractId}/links",
		"POST /v1/incidents", "POST /v1/incidents/{incidentId}/close", "GET /v1/partners/{mpnId}/benefits",
		"GET /v1/partners/{mpnId}/remaining-incidents", "GET /v1/contracts/{contractId}/linked-accounts",
		"GET /v1/accounts/{userId}/support-plans", "GET /v1/partners/{mpnId}/incidents",
		"GET /healthz", "GET /readyz", "GET /openapi.json", "GET /metrics",
	} {
		if !registered[want] {
			t.Errorf("%s is not served", want)
		}
	}
}

// A query with a bad filter or a malformed minPosition is a 400, not a 500.
func TestBadQueryParametersAre400(t *testing.T) {
	s := startSystem(t, testConfig(t), wireOptions{})
	p := s.ready(t, mpnFor(82, 1), actionPack)
	s.get(t, "/v1/partners/"+p.mpn+"/incidents?status=lost", p.adminTok).refused(t, http.StatusBadRequest, handlers.CodeBadRequest)
	s.do(t, http.MethodGet, "/v1/partners/"+p.mpn+"/incidents?minPosition=soon", p.adminTok, nil).
		refused(t, http.StatusBadRequest, handlers.CodeBadRequest)
	s.do(t, http.MethodGet, "/v1/partners/"+p.mpn+"/benefits", "", nil).refused(t, http.StatusUnauthorized, handlers.CodeUnauthenticated)
}
