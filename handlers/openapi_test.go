package handlers_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"ledger/handlers"
)

type openAPIDoc struct {
	OpenAPI    string                               `json:"openapi"`
	Paths      map[string]map[string]map[string]any `json:"paths"`
	Components struct {
		Schemas map[string]map[string]any `json:"schemas"`
	} `json:"components"`
}

func fetchDoc(t *testing.T, f *fixture) openAPIDoc {
	t.Helper()
	rec := f.do(http.MethodGet, "/openapi.json", nil)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	var doc openAPIDoc
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

func TestOpenAPIDocumentMatchesTheRegisteredRoutes(t *testing.T) {
	f := newFixture(t)
	doc := fetchDoc(t, f)
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi %q", doc.OpenAPI)
	}
	registered := map[string]bool{}
	for _, r := range f.e.Routes() {
		key := strings.ToLower(r.Method) + " " + handlers.OpenAPIPath(r.Path)
		registered[key] = true
		if _, ok := doc.Paths[handlers.OpenAPIPath(r.Path)][strings.ToLower(r.Method)]; !ok {
			t.Errorf("registered route %s %s is missing from the document", r.Method, r.Path)
		}
	}
	for path, ops := range doc.Paths {
		for method := range ops {
			if !registered[method+" "+path] {
				t.Errorf("documented %s %s is not a registered route", method, path)
			}
		}
	}
	for _, want := range []string{"get /healthz", "get /readyz", "get /openapi.json", "post /v1/partners/{mpnId}/grants"} {
		if !registered[want] {
			t.Errorf("%s is not registered", want)
		}
	}
}

func TestOpenAPIDocumentDescribesBodiesAuthAndReadYourWrites(t *testing.T) {
	doc := fetchDoc(t, newFixture(t))
	grant := doc.Components.Schemas["grantRequest"]
	required, _ := grant["required"].([]any)
	if !slices.Equal(required, []any{"mpnId", "offer", "validFrom"}) {
		t.Errorf("grantRequest schema %v", grant)
	}
	if _, ok := doc.Components.Schemas["contactInfo"]; !ok {
		t.Error("nested body types are not components")
	}
	post := doc.Paths["/v1/partners/{mpnId}/grants"]["post"]
	responses := post["responses"].(map[string]any)
	for _, status := range []string{"201", "400", "401", "413", "503", "default"} {
		if _, ok := responses[status]; !ok {
			t.Errorf("grant lacks response %s", status)
		}
	}
	query := doc.Paths["/v1/things/{id}"]["get"]
	params, _ := json.Marshal(query["parameters"])
	for _, want := range []string{`"minPosition"`, `"X-Min-Position"`, `"in":"path"`} {
		if !strings.Contains(string(params), want) {
			t.Errorf("query parameters %s lack %s", params, want)
		}
	}
	unavailable, _ := json.Marshal(query["responses"].(map[string]any)["503"])
	for _, code := range []string{handlers.CodeProjectionBehind, handlers.CodeOverloaded} {
		if !strings.Contains(string(unavailable), code) {
			t.Errorf("query's 503 %s lacks %s", unavailable, code)
		}
	}
	if _, ok := doc.Paths["/healthz"]["get"]["security"]; ok {
		t.Error("healthz is public but documented as secured")
	}
	if _, ok := doc.Paths["/healthz"]["get"]["responses"].(map[string]any)["503"]; ok {
		t.Error("healthz is never limited but documents 503")
	}
	admin := doc.Paths["/v1/admin"]["post"]
	if roles, _ := admin["x-roles"].([]any); !slices.Equal(roles, []any{"platform"}) {
		t.Errorf("admin x-roles %v", admin["x-roles"])
	}
}

func TestDepsValidateCatchesWiringMistakes(t *testing.T) {
	ok := func(c echo.Context) error { return nil }
	type other struct{ A int }
	var sameName any
	{
		type other struct {
			B string `maxLength:"5"`
		}
		sameName = other{}
	}
	cases := []struct {
		name   string
		mutate func(*handlers.Deps)
	}{
		{"no secret", func(d *handlers.Deps) { d.JWTSecret = nil }},
		{"a query route without projections", func(d *handlers.Deps) {
			d.Projections = nil
			d.Routes = []handlers.Route{{Method: "GET", Path: "/q", Projection: "p", Handler: ok}}
		}},
		{"a route twice", func(d *handlers.Deps) {
			d.Routes = []handlers.Route{{Method: "GET", Path: "/a", Handler: ok}, {Method: "GET", Path: "/a", Handler: ok}}
		}},
		{"a built-in route again", func(d *handlers.Deps) {
			d.Routes = []handlers.Route{{Method: "GET", Path: "/healthz", Handler: ok}}
		}},
		{"no handler", func(d *handlers.Deps) { d.Routes = []handlers.Route{{Method: "GET", Path: "/a"}} }},
		{"an unnamed body type", func(d *handlers.Deps) {
			d.Routes = []handlers.Route{{Method: "POST", Path: "/a", Request: struct{ A int }{}, Handler: ok}}
		}},
		{"a public route demanding roles", func(d *handlers.Deps) {
			d.Routes = []handlers.Route{{Method: "GET", Path: "/a", Public: true, Roles: []handlers.SystemRole{handlers.RoleOps}, Handler: ok}}
		}},
		{"a wildcard path", func(d *handlers.Deps) { d.Routes = []handlers.Route{{Method: "GET", Path: "/a/*", Handler: ok}} }},
		{"a query parameter declared twice", func(d *handlers.Deps) {
			d.Routes = []handlers.Route{{Method: "GET", Path: "/a", Handler: ok,
				Query: []handlers.QueryParam{{Name: "limit", Type: "integer"}, {Name: "limit"}}}}
		}},
		{"a query parameter of no known type", func(d *handlers.Deps) {
			d.Routes = []handlers.Route{{Method: "GET", Path: "/a", Handler: ok, Query: []handlers.QueryParam{{Name: "at", Type: "date"}}}}
		}},
		{"two body types with one schema name", func(d *handlers.Deps) {
			d.Routes = []handlers.Route{{Method: "POST", Path: "/a", Request: other{}, Handler: ok},
				{Method: "POST", Path: "/b", Request: sameName, Handler: ok}}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := handlers.Deps{JWTSecret: testSecret, Projections: newPositionBoard()}
			tc.mutate(&d)
			if err := d.Validate(); err == nil {
				t.Fatal("Validate accepted it")
			}
		})
	}
}
