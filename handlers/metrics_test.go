package handlers_test

import (
	"net/http"
	"strings"
	"testing"

	"ledger/handlers"
	"ledger/infra/metrics"
	"ledger/infra/metrics/metricstest"
)

func withMetrics(m *metrics.Metrics) func(*handlers.Deps) {
	return func(d *handlers.Deps) { d.Metrics = m }
}

// scrape fetches /metrics through the server itself, without a token, as Prometheus does.
func scrape(t *testing.T, f *fixture) metricstest.Page {
	t.Helper()
	rec := f.do(http.MethodGet, "/metrics", nil)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("GET /metrics Content-Type %q, want the text exposition format", ct)
	}
	page, err := metricstest.Parse(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	return page
}

func TestMetricsCountRequestsByRouteTemplateAndStatusTheClientGot(t *testing.T) {
	f := newFixture(t, withMetrics(metrics.New(nil)))
	admin := bearer(t, "ops", handlers.RolePlatform)
	good := `{"mpnId":"1","offer":"gold","validFrom":"2024-01-01T00:00:00Z"}`
	for _, mpn := range []string{"100", "200"} { // two partners, one route template
		if rec := f.do(http.MethodPost, "/v1/partners/"+mpn+"/grants", jsonBody(good), "Authorization", admin,
			"Content-Type", "application/json"); rec.Code != http.StatusCreated {
			t.Fatalf("grant: %d %s", rec.Code, rec.Body)
		}
	}
	f.do(http.MethodPost, "/v1/partners/100/grants", jsonBody(`{"bogus":1}`), "Authorization", admin, "Content-Type", "application/json")
	f.do(http.MethodPost, "/v1/refuse/pool_exhausted", nil, "Authorization", admin)
	f.do(http.MethodGet, "/v1/panic", nil, "Authorization", admin)
	f.do(http.MethodGet, "/v1/whoami", nil) // no token
	f.do(http.MethodGet, "/no/such/path-1", nil)
	f.do(http.MethodGet, "/no/such/path-2", nil)

	page := scrape(t, f)
	const reqs = "benefits_http_requests_total"
	cases := []struct {
		name   string
		labels metricstest.Labels
		want   float64
	}{
		{"accepted commands counted under the route template, not the raw path",
			metricstest.Labels{"method": "POST", "route": "/v1/partners/:mpnId/grants", "status": "201"}, 2},
		{"a malformed body is counted with the 400 the client got",
			metricstest.Labels{"method": "POST", "route": "/v1/partners/:mpnId/grants", "status": "400"}, 1},
		{"a domain refusal is counted with its problem status",
			metricstest.Labels{"route": "/v1/refuse/:code", "status": "409"}, 1},
		{"a panic is counted as the 500 it became", metricstest.Labels{"route": "/v1/panic", "status": "500"}, 1},
		{"a missing token is counted as 401", metricstest.Labels{"route": "/v1/whoami", "status": "401"}, 1},
		{"unknown paths share one series", metricstest.Labels{"route": "unmatched", "status": "404"}, 2},
	}
	for _, c := range cases {
		got, ok := page.Value(reqs, c.labels)
		if !ok || got != c.want {
			t.Errorf("%s: %s%v = %v (present %v), want %v", c.name, reqs, c.labels, got, ok, c.want)
		}
		hist, _ := page.Value("benefits_http_request_duration_seconds", c.labels)
		if hist != c.want {
			t.Errorf("%s: latency histogram count %v, want %v", c.name, hist, c.want)
		}
	}
	for _, route := range page.LabelValues(reqs, "route") {
		if strings.Contains(route, "/no/such") || strings.Contains(route, "/100") {
			t.Errorf("raw path %q became a label value: unbounded series", route)
		}
	}
	if sum, _ := page.HistogramSum("benefits_http_request_duration_seconds", metricstest.Labels{"status": "201"}); sum <= 0 {
		t.Errorf("latency of answered requests sums to %v, want > 0", sum)
	}
	if _, ok := page.Value("go_goroutines", nil); !ok {
		t.Errorf("Go runtime metrics missing; families: %s", page)
	}
}

func TestMetricsRouteIsPublicAndDocumented(t *testing.T) {
	f := newFixture(t, withMetrics(metrics.New(nil)))
	doc := fetchDoc(t, f)
	if _, ok := doc.Paths["/metrics"]["get"]; !ok {
		t.Errorf("GET /metrics is not in the OpenAPI document")
	}
	scrape(t, f) // answers 200 without a token
	page := scrape(t, f)
	if got, _ := page.Value("benefits_http_requests_total", metricstest.Labels{"route": "/metrics", "status": "200"}); got < 1 {
		t.Errorf("scrapes themselves are not counted: %v", got)
	}
}

func TestWithoutMetricsThereIsNoMetricsRoute(t *testing.T) {
	f := newFixture(t)
	if rec := f.do(http.MethodGet, "/metrics", nil); rec.Code != http.StatusNotFound {
		t.Errorf("GET /metrics without Deps.Metrics: %d, want 404", rec.Code)
	}
}
