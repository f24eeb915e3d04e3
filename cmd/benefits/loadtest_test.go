package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"ledger/domain"
	"ledger/infra/eventmeta"
	"ledger/infra/eventstore"
	"ledger/infra/metrics"
	"ledger/infra/metrics/metricstest"
)

// The load harness against the wired system: every scenario runs briefly, its report
// must be well formed, and it must have counted every request the server answered on
// the routes it drives (the server's own request counter is the witness). Nothing here
// asserts a speed.

// runLoadtestOn runs `benefits loadtest --json` against s with args and decodes the report.
func runLoadtestOn(t *testing.T, s *system, args ...string) Report {
	t.Helper()
	var out, errOut bytes.Buffer
	argv := append([]string{"loadtest", "--api-url", s.url, "--jwt-secret", string(e2eSecret), "--json", "--partners", "3",
		"--clients", "4", "--duration", "1s"}, args...)
	if code := run(t.Context(), argv, envOf(), &out, &errOut); code != 0 {
		t.Fatalf("loadtest %v: exit %d: %s", args, code, errOut.String())
	}
	var rep Report
	dec := json.NewDecoder(&out)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("report is not the documented JSON: %v\n%s", err, out.String())
	}
	checkWellFormed(t, rep)
	return rep
}

// checkWellFormed: every request is an OK or an error, percentiles are ordered, and a
// series that had answers has a duration and a throughput.
func checkWellFormed(t *testing.T, rep Report) {
	t.Helper()
	if len(rep.Series) == 0 || rep.Series[0].Name != "setup" {
		t.Fatalf("report without the setup series: %+v", rep)
	}
	for _, s := range rep.Series {
		errs := 0
		for _, n := range s.Errors {
			errs += n
		}
		if s.Count != s.OK+errs {
			t.Errorf("series %s: count %d != ok %d + errors %v", s.Name, s.Count, s.OK, s.Errors)
		}
		if s.OK == 0 {
			continue
		}
		l := s.Latency
		if !(0 < l.P50 && l.P50 <= l.P99 && l.P99 <= l.P999 && l.P999 <= l.Max*1.001) {
			t.Errorf("series %s: percentiles out of order: %+v", s.Name, l)
		}
		if s.Seconds <= 0 || s.Throughput <= 0 {
			t.Errorf("series %s: %d answers in %v s at %v/s", s.Name, s.OK, s.Seconds, s.Throughput)
		}
	}
}

func seriesNamed(t *testing.T, rep Report, name string) SeriesReport {
	t.Helper()
	for _, s := range rep.Series {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("report has no series %q: %+v", name, rep.Series)
	return SeriesReport{}
}

// served is what the server counted on one route, every status together.
func served(t *testing.T, s *system, method, route string) int {
	t.Helper()
	page, err := metricstest.Scrape(s.client, s.url+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	v, _ := page.Value("benefits_http_requests_total", metricstest.Labels{"method": method, "route": route})
	return int(v)
}

const incidentsRoute, remainingRoute, stateRoute = "/v1/incidents", "/v1/partners/:mpnId/remaining-incidents", "/v1/partners/:mpnId/state"

func TestLoadtestCommandsCountsEveryIncidentTheServerAnswered(t *testing.T) {
	s := startSystem(t, testConfig(t), wireOptions{})
	rep := runLoadtestOn(t, s, "--scenario", "commands")
	cmds := seriesNamed(t, rep, "open-incident")
	if cmds.OK == 0 {
		t.Fatalf("no incident opened: %+v", cmds)
	}
	if got := served(t, s, http.MethodPost, incidentsRoute); got != cmds.Count {
		t.Errorf("server answered %d incidents, the report counts %d", got, cmds.Count)
	}
	if setup := seriesNamed(t, rep, "setup"); setup.OK != 3*setupEvents {
		t.Errorf("setup of 3 partners: %+v, want %d requests answered", setup, 3*setupEvents)
	}
}

func TestLoadtestStopsAfterRequestsWhateverTheDuration(t *testing.T) {
	s := startSystem(t, testConfig(t), wireOptions{})
	rep := runLoadtestOn(t, s, "--scenario", "commands", "--requests", "40", "--duration", "10m")
	if cmds := seriesNamed(t, rep, "open-incident"); cmds.Count != 40 {
		t.Errorf("--requests 40 sent %d", cmds.Count)
	}
}

func TestLoadtestQueriesCountsEveryReadTheServerAnswered(t *testing.T) {
	s := startSystem(t, testConfig(t), wireOptions{})
	rep := runLoadtestOn(t, s, "--scenario", "queries")
	q := seriesNamed(t, rep, "remaining-incidents")
	if q.OK == 0 {
		t.Fatalf("no query answered: %+v", q)
	}
	if rep.ServerCPUSeconds <= 0 || rep.ServerCPUPerAnswer != rep.ServerCPUSeconds/float64(q.OK)*1e6 {
		t.Errorf("server CPU %v s, %v µs per answer, for %d answers", rep.ServerCPUSeconds, rep.ServerCPUPerAnswer, q.OK)
	}
	if got := served(t, s, http.MethodGet, remainingRoute); got != q.Count {
		t.Errorf("server answered %d queries, the report counts %d", got, q.Count)
	}
}

func TestLoadtestVisibilityFollowsEveryAcceptedCommandUntilAQueryShowsIt(t *testing.T) {
	s := startSystem(t, testConfig(t), wireOptions{})
	rep := runLoadtestOn(t, s, "--scenario", "visibility", "--rate", "50")
	if rep.OfferedRate != 50 {
		t.Errorf("offered rate %v, want 50", rep.OfferedRate)
	}
	cmds, queries, visible := seriesNamed(t, rep, "open-incident"), seriesNamed(t, rep, "visibility-query"), seriesNamed(t, rep, "visible")
	if cmds.OK == 0 || visible.Count != cmds.OK || visible.OK != cmds.OK {
		t.Errorf("%d commands accepted, %d followed, %d seen by a query", cmds.OK, visible.Count, visible.OK)
	}
	if got := served(t, s, http.MethodPost, incidentsRoute); got != cmds.Count {
		t.Errorf("server answered %d incidents, the report counts %d", got, cmds.Count)
	}
	if got := served(t, s, http.MethodGet, remainingRoute); got != queries.Count {
		t.Errorf("server answered %d queries, the report counts %d", got, queries.Count)
	}
}

func TestLoadtestOfferedSendsAtTheRateAndCountsEveryCommand(t *testing.T) {
	s := startSystem(t, testConfig(t), wireOptions{})
	rep := runLoadtestOn(t, s, "--scenario", "offered", "--rate", "40", "--requests", "20", "--duration", "1m")
	cmds := seriesNamed(t, rep, "open-incident")
	if cmds.Count != 20 || len(rep.Series) != 2 {
		t.Errorf("offered 20 commands: %+v", rep.Series)
	}
	if got := served(t, s, http.MethodPost, incidentsRoute); got != cmds.Count {
		t.Errorf("server answered %d incidents, the report counts %d", got, cmds.Count)
	}
}

func TestLoadtestOfferedQueriesSendsAtTheRateAndCountsEveryRead(t *testing.T) {
	s := startSystem(t, testConfig(t), wireOptions{})
	rep := runLoadtestOn(t, s, "--scenario", "offered-queries", "--rate", "40", "--requests", "20", "--duration", "1m")
	if rep.OfferedRate != 40 {
		t.Errorf("offered rate %v, want 40", rep.OfferedRate)
	}
	q := seriesNamed(t, rep, "remaining-incidents")
	if q.Count != 20 || q.OK != 20 || len(rep.Series) != 2 {
		t.Errorf("offered 20 queries: %+v", rep.Series)
	}
	if got := served(t, s, http.MethodGet, remainingRoute); got != q.Count {
		t.Errorf("server answered %d queries, the report counts %d", got, q.Count)
	}
}

func TestLoadtestHistoryGrowsThePartnerToEachSizeAndMeasuresThere(t *testing.T) {
	s := startSystem(t, testConfig(t), wireOptions{})
	rep := runLoadtestOn(t, s, "--scenario", "history", "--history-sizes", "5,30", "--samples", "5", "--state-samples", "3", "--duration", "5m")
	for _, name := range []string{"command@5", "query@5", "command@30", "query@30"} {
		if got := seriesNamed(t, rep, name); got.Count != 5 || got.OK != 5 {
			t.Errorf("%s: %+v, want 5 answered", name, got)
		}
	}
	for _, name := range []string{"state@5", "state@30"} {
		if got := seriesNamed(t, rep, name); got.Count != 3 || got.OK != 3 {
			t.Errorf("%s: %+v, want 3 answered", name, got)
		}
	}
	if got := served(t, s, http.MethodGet, stateRoute); got != 6 {
		t.Errorf("server answered %d /state requests, want 6", got)
	}
	// 5 events of setup and 5 sampled incidents at size 5; 20 more make 30.
	if grow := seriesNamed(t, rep, "grow"); grow.OK != 20 {
		t.Errorf("grow: %+v, want 20 incidents", grow)
	}
	if got, want := served(t, s, http.MethodPost, incidentsRoute), 5+20+5; got != want {
		t.Errorf("server answered %d incidents, want %d", got, want)
	}
}

func TestLoadtestRefusesARemoteTargetUnlessAllowed(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run(t.Context(), []string{"loadtest", "--api-url", "http://203.0.113.7:8080", "--jwt-secret", string(e2eSecret)},
		envOf(), &out, &errOut)
	if code != 2 || !strings.Contains(errOut.String(), "--allow-remote") {
		t.Errorf("exit %d, stderr %q; want 2 naming --allow-remote", code, errOut.String())
	}
}

func TestLoadtestWithoutTokenOrSecretSaysWhatToGive(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run(t.Context(), []string{"loadtest", "--data-dir", t.TempDir()}, envOf(), &out, &errOut)
	if code != 2 || !strings.Contains(errOut.String(), "--token") || !strings.Contains(errOut.String(), "--data-dir") {
		t.Errorf("exit %d, stderr %q; want 2 naming --token and --data-dir", code, errOut.String())
	}
}

// --max-conns N models a client pool: however far the open loop gets ahead of the
// server, the harness holds at most N connections and a request waits for a free one
// (its latency still counted from when it was due) instead of failing or opening
// another. The server's own --max-connections is the witness: it answers any connection
// past its bound with 503 and closes it, so a connection too many shows as an error in
// the report. The bound is N+1: the test's own /metrics scrape needs a connection while
// the harness's N may still be open.
func TestLoadtestMaxConnsNeverHoldsMoreConnectionsThanAsked(t *testing.T) {
	const conns = 3
	cfg := testConfig(t)
	cfg.MaxConnections = conns + 1
	s := startSystem(t, cfg, wireOptions{})
	rep := runLoadtestOn(t, s, "--scenario", "offered-queries", "--max-conns", fmt.Sprint(conns),
		"--rate", "100000", "--requests", "400", "--duration", "1m")
	q := seriesNamed(t, rep, "remaining-incidents")
	if q.Count != 400 || q.OK != 400 {
		t.Errorf("400 queries through %d connections: %d sent, %d answered 2xx, errors %v", conns, q.Count, q.OK, q.Errors)
	}
	if got := served(t, s, http.MethodGet, remainingRoute); got != q.Count {
		t.Errorf("server answered %d queries, the report counts %d", got, q.Count)
	}
}

// --idempotency-keys sends every command with a key of its own: the server records each
// under its key (in its events' metadata) and replays none.
func TestLoadtestIdempotencyKeysSendsEveryCommandAKeyOfItsOwn(t *testing.T) {
	s := startSystem(t, testConfig(t), wireOptions{})
	rep := runLoadtestOn(t, s, "--scenario", "commands", "--idempotency-keys")
	cmds := seriesNamed(t, rep, "open-incident")
	page, err := metricstest.Scrape(s.client, s.url+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	accepted, _ := page.Value("benefits_commands_total", metricstest.Labels{"command": "OpenIncident", "outcome": metrics.OutcomeAccepted})
	replayed, _ := page.Value("benefits_commands_total", metricstest.Labels{"command": "OpenIncident", "outcome": metrics.OutcomeReplayed})
	if cmds.OK == 0 || int(accepted) != cmds.OK || replayed != 0 {
		t.Fatalf("%d incidents answered, %v accepted, %v replayed: want every one recorded once", cmds.OK, accepted, replayed)
	}
	incidentKeys := map[string]bool{}
	for ev, err := range s.proc.store.ReadAll(t.Context(), eventstore.Start) {
		if err != nil {
			t.Fatal(err)
		}
		m, err := eventmeta.Parse(ev.Metadata)
		if err != nil {
			t.Fatal(err)
		}
		if m.IdempotencyKey == "" && ev.Stream != domain.RulesStream {
			t.Fatalf("event %s@%d (%s) recorded without a key", ev.Stream, ev.Revision, ev.Type)
		}
		if ev.Type == (domain.IncidentOpened{}).EventType() {
			incidentKeys[m.IdempotencyKey] = true
		}
	}
	if len(incidentKeys) != cmds.OK {
		t.Fatalf("%d incidents opened under %d keys, want a key each", cmds.OK, len(incidentKeys))
	}
}
