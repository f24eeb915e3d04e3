package handlers_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"ledger/domain"
	"ledger/handlers"
	"ledger/infra/audit"
	"ledger/projections"
)

// rebuildAll brings every read model to the head of the store.
func (w *auditWorld) rebuildAll() {
	w.t.Helper()
	for _, p := range projections.All() {
		if _, _, err := w.ops.Rebuild(context.Background(), p.Name(), projections.RebuildOptions{}); err != nil {
			w.t.Fatal(err)
		}
	}
}

// openMore opens n more product-support incidents on a goldPartner.
func (w *auditWorld) openMore(mpn string, n int) {
	admin := domain.Actor{UserID: "admin@" + mpn}
	st, _, err := w.x.LoadPartner(context.Background(), mpn)
	if err != nil {
		w.t.Fatal(err)
	}
	act, _ := st.Activation()
	for range n {
		w.do(mpn, admin, domain.OpenIncident{MPNID: mpn, By: admin, Plan: domain.PlanProductSupport, Product: "SQL Server", Version: "2025",
			ContractID: act.ContractID, AccessID: act.AccessID})
	}
}

// Every paged list answers 400 bad_request naming the parameter for a limit outside
// 1..1000 or a cursor it did not hand out, before reading anything.
func TestPagedListsRefuseABadLimitOrCursorNamingTheField(t *testing.T) {
	w := newAuditWorld(t)
	w.goldPartner("4711001")
	w.goldPartner("4711002")
	w.rebuildAll()
	_, body := w.get("/v1/partners/4711002/history?limit=1", "auditor-1", handlers.RoleAuditor)
	othersCursor := decode[audit.HistoryPage](t, body).NextCursor
	if othersCursor == "" {
		t.Fatal("7 events in pages of 1 gave no next cursor")
	}
	_, body = w.get("/v1/partners/4711001/benefits", "admin@4711001")
	contract := decode[projections.Benefits](t, body).Activation.ContractID
	for _, list := range []string{"/v1/partners/4711001/incidents", "/v1/partners/4711001/state", "/v1/partners/4711001/history",
		"/v1/contracts/" + contract + "/linked-accounts"} {
		if code, body := w.get(list+"?limit=1000", "admin@4711001"); code != http.StatusOK {
			t.Fatalf("%s with the largest limit: %d %s", list, code, body)
		}
		for query, field := range map[string]string{"limit=0": "limit", "limit=1001": "limit", "limit=ten": "limit",
			"cursor=bogus": "cursor", "cursor=" + othersCursor: "cursor"} {
			code, body := w.get(list+"?"+query, "admin@4711001")
			var p struct{ Code, Field string }
			_ = json.Unmarshal(body, &p)
			if code != http.StatusBadRequest || p.Code != "bad_request" || p.Field != field {
				t.Errorf("%s?%s: %d %s; want 400 bad_request naming %s", list, query, code, body, field)
			}
		}
	}
}

// The as-of state pages its incidents exactly like the live incidents route: the same
// pages and the same cursors, and together every incident once.
func TestStateAsOfPagesItsIncidentsLikeTheIncidentsRoute(t *testing.T) {
	w := newAuditWorld(t)
	w.goldPartner("4711001")
	w.openMore("4711001", 4)
	w.rebuildAll()
	var ids []string
	cursor := ""
	for pages := 1; ; pages++ {
		_, body := w.get("/v1/partners/4711001/incidents?limit=2&cursor="+cursor, "admin@4711001")
		live := decode[projections.Incidents](t, body)
		code, body := w.get("/v1/partners/4711001/state?limit=2&cursor="+cursor, "admin@4711001")
		asOf := decode[handlers.PartnerStateAsOf](t, body)
		a, _ := json.Marshal(asOf.Incidents)
		l, _ := json.Marshal(live)
		if code != http.StatusOK || string(a) != string(l) {
			t.Fatalf("page %d: state %d %s\nincidents %s", pages, code, a, l)
		}
		for _, in := range live.Incidents {
			ids = append(ids, in.IncidentID)
		}
		if cursor = live.NextCursor; cursor == "" {
			if pages != 3 {
				t.Errorf("5 incidents in pages of 2: %d pages", pages)
			}
			break
		}
	}
	want := []string{"IN-4711001-1", "IN-4711001-2", "IN-4711001-3", "IN-4711001-4", "IN-4711001-5"}
	if !slices.Equal(ids, want) {
		t.Fatalf("incidents %v, want %v", ids, want)
	}
}

// The OpenAPI document lists the query parameters each route reads, with their bounds.
func TestOpenAPIDocumentListsEveryQueryParameter(t *testing.T) {
	w := newAuditWorld(t)
	_, body := w.get("/openapi.json", "anyone")
	var doc struct {
		Paths map[string]map[string]struct {
			Parameters []struct {
				Name, In string
				Schema   map[string]any
			}
			Responses map[string]any
		}
		Components struct {
			Schemas map[string]struct{ Properties map[string]any }
		}
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string][]string{
		"get /v1/partners/{mpnId}/incidents":             {"status", "cursor", "limit", "minPosition"},
		"get /v1/partners/{mpnId}/state":                 {"asOf", "cursor", "limit"},
		"get /v1/partners/{mpnId}/history":               {"cursor", "limit"},
		"get /v1/contracts/{contractId}/linked-accounts": {"cursor", "limit", "minPosition"},
		"get /v1/audit/verify":                           {"stream"},
		"post /v1/ops/projections/{name}/rebuild":        {"dryRun"},
		"get /v1/accounts/{userId}/support-plans":        {"minPosition"},
		"get /v1/partners/{mpnId}/remaining-incidents":   {"minPosition"},
		"get /v1/partners/{mpnId}/benefits":              {"minPosition"},
	} {
		method, p, _ := strings.Cut(path, " ")
		op := doc.Paths[p][method]
		var got []string
		for _, param := range op.Parameters {
			if param.In != "query" {
				continue
			}
			got = append(got, param.Name)
			if param.Name == "limit" && (param.Schema["type"] != "integer" || param.Schema["minimum"] != 1.0 || param.Schema["maximum"] != 1000.0 || param.Schema["default"] != 100.0) {
				t.Errorf("%s: limit schema %v", path, param.Schema)
			}
			if param.Name == "status" && !slices.Equal(param.Schema["enum"].([]any), []any{"open", "closed"}) {
				t.Errorf("%s: status schema %v", path, param.Schema)
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: query parameters %v, want %v", path, got, want)
		}
		if _, ok := op.Responses["400"]; !ok {
			t.Errorf("%s: no 400 for a bad query parameter", path)
		}
	}
	for _, schema := range []string{"Incidents", "LinkedAccounts", "HistoryPage"} {
		if _, ok := doc.Components.Schemas[schema].Properties["nextCursor"]; !ok {
			t.Errorf("%s has no nextCursor", schema)
		}
	}
}

// R4: a reader who may read the partner but not see its Contract IDs walks the same
// pages as an MPN-linked admin, without the IDs.
func TestR4ReaderWithoutContractIDsWalksTheSameIncidentPages(t *testing.T) {
	w := newAuditWorld(t)
	w.goldPartner("4711001")
	w.openMore("4711001", 4)
	w.rebuildAll()
	walk := func(sub string) (ids []string, bodies string) {
		cursor := ""
		for range 10 {
			code, body := w.get("/v1/partners/4711001/incidents?limit=2&cursor="+cursor, sub)
			if code != http.StatusOK {
				t.Fatalf("%s: %d %s", sub, code, body)
			}
			page := decode[projections.Incidents](t, body)
			for _, in := range page.Incidents {
				ids = append(ids, in.IncidentID)
			}
			bodies += string(body)
			if cursor = page.NextCursor; cursor == "" {
				return ids, bodies
			}
		}
		t.Fatalf("%s: more than 10 pages of 2 for 5 incidents", sub)
		return nil, ""
	}
	adminIDs, adminBodies := walk("admin@4711001")
	cspIDs, cspBodies := walk("csp@4711001")
	if !slices.Equal(cspIDs, adminIDs) || len(adminIDs) != 5 {
		t.Fatalf("the CSP-only reader walked %v, the admin %v", cspIDs, adminIDs)
	}
	if !strings.Contains(adminBodies, `"contractId"`) || strings.Contains(cspBodies, `"contractId"`) {
		t.Errorf("contract IDs: the admin's pages %t, the CSP-only reader's %t; want only the admin's",
			strings.Contains(adminBodies, `"contractId"`), strings.Contains(cspBodies, `"contractId"`))
	}
}
