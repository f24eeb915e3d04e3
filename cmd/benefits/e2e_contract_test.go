package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// committedOpenAPI is the API's contract as clients get it from the repository.
var committedOpenAPI = filepath.Join("..", "..", "api", "openapi.json")

var updateOpenAPI = flag.Bool("update-openapi", false, "write the served OpenAPI document to api/openapi.json (make openapi)")

// The committed document is the one the server serves: a change to a route, a body
// type or an error code that is not regenerated (make openapi) fails here, in CI.
func TestCommittedOpenAPIDocumentIsTheServedOne(t *testing.T) {
	s := startSystem(t, testConfig(t), wireOptions{})
	served := s.do(t, http.MethodGet, "/openapi.json", "", nil).want(t, http.StatusOK).body
	if *updateOpenAPI {
		if err := os.WriteFile(committedOpenAPI, append(served, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	committed, err := os.ReadFile(committedOpenAPI)
	if err != nil {
		t.Fatalf("%v; run make openapi", err)
	}
	if !bytes.Equal(bytes.TrimSpace(committed), bytes.TrimSpace(served)) {
		t.Fatalf("%s is stale: the server serves another document; run make openapi and commit the result", committedOpenAPI)
	}
}

// contract is the committed document, loaded and checked once for the package's tests.
var contract = sync.OnceValues(func() (routers.Router, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile(committedOpenAPI)
	if err != nil {
		return nil, err
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, err
	}
	doc.Servers = nil // the tests' servers listen on free ports, not the documented default
	return gorillamux.NewRouter(doc)
})

// contractCheck is the end-to-end tests' HTTP transport: every answer a test receives
// is validated against the committed OpenAPI document (status, headers, body), and a
// mismatch fails the test. Requests are not validated: tests send malformed ones on
// purpose, and the answer to those must match the document too.
type contractCheck struct {
	t    testing.TB
	next http.RoundTripper
}

func (c *contractCheck) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(req)
	if err != nil || isStream(resp) || *updateOpenAPI {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return resp, nil // the caller reads the same failure
	}
	if verr := validateAnswer(req, resp, body); verr != nil {
		c.t.Errorf("%s %s answered %d, which the OpenAPI document does not allow: %v\nbody: %s",
			req.Method, req.URL.Path, resp.StatusCode, verr, body)
	}
	return resp, nil
}

// validateAnswer checks one answer against the document. A request the document has no
// route for (an unknown path or method, answered 404 or 405) is not checked.
func validateAnswer(req *http.Request, resp *http.Response, body []byte) error {
	router, err := contract()
	if err != nil {
		return err
	}
	route, params, err := router.FindRoute(req)
	if err != nil {
		return nil
	}
	return openapi3filter.ValidateResponse(req.Context(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                &openapi3filter.Options{MultiError: true, IncludeResponseStatus: true},
	})
}

// isStream says whether resp is a stream of events, read as it comes.
func isStream(resp *http.Response) bool {
	media, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	return media == "text/event-stream"
}

// Issue 12: a client generated from the committed document can pass every query
// parameter the server reads, and refuses the values the domain would refuse.
func TestTheCommittedDocumentTellsClientsEveryParameterAndValue(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromFile(committedOpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string][]string{
		"/v1/partners/{mpnId}/history":               {"cursor", "limit"},
		"/v1/partners/{mpnId}/state":                 {"asOf", "cursor", "limit"},
		"/v1/partners/{mpnId}/incidents":             {"status", "cursor", "limit", "minPosition"},
		"/v1/contracts/{contractId}/linked-accounts": {"cursor", "limit", "minPosition"},
		"/v1/audit/verify":                           {"stream"},
		"/v1/ops/projections/{name}/rebuild":         {"dryRun"},
	} {
		item := doc.Paths.Find(path)
		if item == nil {
			t.Errorf("%s is not documented", path)
			continue
		}
		for _, op := range item.Operations() {
			for _, name := range want {
				if op.Parameters.GetByInAndName("query", name) == nil {
					t.Errorf("%s does not document the query parameter %s", path, name)
				}
			}
		}
	}
	schemas := doc.Components.Schemas
	for schema, field := range map[string]string{"OpenIncidentRequest": "kind", "GrantMembershipRequest": "offer",
		"PurchasePlanRequest": "plan", "RegisterUserRequest": "accountType"} {
		prop := schemas[schema].Value.Properties[field]
		if prop == nil || len(prop.Value.Enum) == 0 {
			t.Errorf("%s.%s lists no values", schema, field)
			continue
		}
		if err := prop.Value.VisitJSON("no-such-" + field); err == nil {
			t.Errorf("%s.%s accepts no-such-%s", schema, field, field)
		}
	}
	if roles := schemas["RegisterUserRequest"].Value.Properties["roles"].Value.Items.Value; len(roles.Enum) == 0 {
		t.Error("RegisterUserRequest.roles lists no values")
	}
	if schemas["OpenIncidentRequest"].Value.AdditionalProperties.Has == nil || *schemas["OpenIncidentRequest"].Value.AdditionalProperties.Has {
		t.Error("OpenIncidentRequest accepts unknown members, which the server refuses")
	}
}
