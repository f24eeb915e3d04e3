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
	if sec, ok := doc.Paths["/healthz"]["get"]["security"].([]any); !ok || len(sec) != 0 {
		t.Errorf("healthz is public but its security is %v, want []", doc.Paths["/healthz"]["get"]["security"])
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
		{"an enum tag naming no list of values", func(d *handlers.Deps) {
			type badEnum struct {
				Kind string `json:"kind" maxLength:"9" enum:"no-such-list"`
			}
			d.Routes = []handlers.Route{{Method: "POST", Path: "/a", Request: badEnum{}, Handler: ok}}
		}},
		{"a problem documented with a success status", func(d *handlers.Deps) {
			d.Routes = []handlers.Route{{Method: "GET", Path: "/a", Handler: ok, Problems: map[int]string{200: "fine"}}}
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

// Issue 12: an answer's pointer members are sent as null (granted: null is unlimited,
// closedAt: null is still open), so the document says they may be null, and lists
// every member without omitempty as required.
func TestOpenAPIAnswersDeclareNullAndRequiredMembers(t *testing.T) {
	doc := fetchDoc(t, newFixture(t))
	view := doc.Components.Schemas["thingView"]
	props := view["properties"].(map[string]any)
	granted := props["granted"].(map[string]any)
	if types, _ := granted["type"].([]any); !slices.Equal(types, []any{"integer", "null"}) {
		t.Errorf("granted %v, want type [integer null]", granted)
	}
	closed := props["closedAt"].(map[string]any)
	if types, _ := closed["type"].([]any); !slices.Equal(types, []any{"string", "null"}) || closed["format"] != "date-time" {
		t.Errorf("closedAt %v, want a nullable date-time", closed)
	}
	if _, ok := props["note"].(map[string]any)["type"].(string); !ok {
		t.Errorf("note has omitempty: absent, never null; got %v", props["note"])
	}
	required, _ := view["required"].([]any)
	if !slices.Equal(required, []any{"id", "granted", "closedAt"}) {
		t.Errorf("thingView required %v, want every member without omitempty", required)
	}
}

// Issue 12: request bodies refuse unknown members as Bind does, text fields list their
// closed set of values, and a problem's code is one of the codes the server sends.
func TestOpenAPIRequestsAreClosedAndEnumerated(t *testing.T) {
	doc := fetchDoc(t, newFixture(t))
	for _, name := range []string{"grantRequest", "contactInfo", "poolSpec"} {
		if doc.Components.Schemas[name]["additionalProperties"] != false {
			t.Errorf("%s does not refuse unknown members: %v", name, doc.Components.Schemas[name])
		}
	}
	offer := doc.Components.Schemas["grantRequest"]["properties"].(map[string]any)["offer"].(map[string]any)
	if enum, _ := offer["enum"].([]any); !slices.Equal(enum, []any{"action-pack", "silver", "gold"}) {
		t.Errorf("offer %v, want the domain's levels", offer)
	}
	code := doc.Components.Schemas["Problem"]["properties"].(map[string]any)["code"].(map[string]any)
	enum, _ := code["enum"].([]any)
	for _, want := range []string{handlers.CodeBadRequest, handlers.CodeOverloaded, "pool_exhausted", "contract_not_linked"} {
		if !slices.Contains(enum, any(want)) {
			t.Errorf("problem code enum %v lacks %s", enum, want)
		}
	}
}
