package main

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"ledger/handlers"
	"ledger/projections"
)

// A partner's incidents over HTTP come one bounded page at a time, each incident once
// and in the order opened, also while incidents are opened and closed between pages;
// the as-of state pages the same list the same way. On every event store: the key is
// the incident's number, never a store position.

func TestIncidentPagesOverHTTPOnTheEmbeddedDefault(t *testing.T) {
	runIncidentPaging(t, startSystem(t, testConfig(t), wireOptions{}))
}

func TestIncidentPagesOverHTTPOnPostgreSQL(t *testing.T) {
	runIncidentPaging(t, startSystem(t, postgresConfig(t), wireOptions{}))
}

func TestIncidentPagesOverHTTPOnEventStoreDB(t *testing.T) {
	cfg := esdbConfig(t)
	runIncidentPaging(t, startSystem(t, cfg, wireOptions{}))
}

func runIncidentPaging(t *testing.T, s *system) {
	p := s.ready(t, mpnFor(90, 1), silverCloud) // an unlimited Signature Cloud pool (R7)
	openCloud := func(n int) []string {
		ids := make([]string, n)
		for i := range ids {
			var in handlers.IncidentAnswer
			s.open(t, p.adminTok, cloudIncident(p.contractID, "Azure")).want(t, http.StatusCreated).decode(t, &in)
			ids[i] = in.IncidentID
		}
		return ids
	}
	want := openCloud(250)

	// read GETs a query route after every command so far (minPosition), or an audit
	// route, which reads the event store itself.
	read := func(path string) reply {
		if u, _ := url.Parse(path); slices.Contains([]string{"state", "history"}, u.Path[strings.LastIndexByte(u.Path, '/')+1:]) {
			return s.do(t, http.MethodGet, path, p.adminTok, nil)
		}
		return s.get(t, path, p.adminTok)
	}
	// pages walks path's pages of limit items; between runs after the first page.
	pages := func(path string, limit int, list func(reply) ([]string, string), between func()) ([]string, int) {
		var ids []string
		cursor := ""
		for n := 1; ; n++ {
			q := url.Values{"limit": {strconv.Itoa(limit)}}
			if cursor != "" {
				q.Set("cursor", cursor)
			}
			got, next := list(read(path+"?"+q.Encode()).want(t, http.StatusOK))
			if len(got) > limit {
				t.Fatalf("%s page %d: %d items, limit %d", path, n, len(got), limit)
			}
			ids = append(ids, got...)
			if cursor = next; cursor == "" {
				return ids, n
			}
			if n == 1 && between != nil {
				between()
			}
		}
	}
	incidents := func(r reply) ([]string, string) {
		var in projections.Incidents
		r.decode(t, &in)
		return incidentIDs(in), in.NextCursor
	}
	got, n := pages("/v1/partners/"+p.mpn+"/incidents", 100, incidents, func() {
		want = append(want, openCloud(30)...)
		for _, id := range []string{want[5], want[260]} {
			s.post(t, "/v1/incidents/"+id+"/close", p.adminTok, map[string]any{"resolution": "fixed"}).want(t, http.StatusOK)
		}
	})
	if !slices.Equal(got, want) || n != 3 {
		t.Fatalf("walked %d incidents in %d pages of 100; want the %d opened in 3 pages, once each, in order", len(got), n, len(want))
	}
	state := func(r reply) ([]string, string) {
		var st handlers.PartnerStateAsOf
		r.decode(t, &st)
		return incidentIDs(st.Incidents), st.Incidents.NextCursor
	}
	if got, n := pages("/v1/partners/"+p.mpn+"/state", 1000, state, nil); !slices.Equal(got, want) || n != 1 {
		t.Errorf("the as-of state listed %d incidents in %d pages of 1000, want %d in 1", len(got), n, len(want))
	}
	if got, _ := pages("/v1/partners/"+p.mpn+"/state", 64, state, nil); !slices.Equal(got, want) {
		t.Errorf("the as-of state in pages of 64 listed %d incidents, want %d", len(got), len(want))
	}

	head := s.head(t)
	for query, field := range map[string]string{"limit=1001": "limit", "limit=0": "limit", "cursor=eyJzIjoiaGlzdG9yeS8xIn0": "cursor"} {
		for _, list := range []string{"/incidents", "/state", "/history"} {
			prob := read("/v1/partners/"+p.mpn+list+"?"+query).refused(t, http.StatusBadRequest, handlers.CodeBadRequest)
			if prob.Extra["field"] != field {
				t.Errorf("%s?%s: problem %+v does not name %s", list, query, prob, field)
			}
		}
	}
	if s.head(t) != head {
		t.Error("a refused page stored something")
	}
}

func incidentIDs(in projections.Incidents) []string {
	ids := make([]string, len(in.Incidents))
	for i, x := range in.Incidents {
		ids[i] = x.IncidentID
	}
	return ids
}
