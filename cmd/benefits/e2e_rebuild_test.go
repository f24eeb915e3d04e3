package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"ledger/handlers"
	"ledger/projections"
)

// sseEvent is one server-sent event.
type sseEvent struct {
	name string
	data handlers.RebuildStatus
}

// rebuildEvents reads a rebuild's whole event stream (it ends with the job).
func (s *system) rebuildEvents(t *testing.T, location, tok string) []sseEvent {
	t.Helper()
	r := s.do(t, http.MethodGet, location+"/events", tok, nil, "Accept", "text/event-stream").want(t, http.StatusOK)
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("events answered %q, want text/event-stream", ct)
	}
	var events []sseEvent
	var ev sseEvent
	sc := bufio.NewScanner(bytes.NewReader(r.body))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			ev.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev.data); err != nil {
				t.Fatalf("event data %q: %v", line, err)
			}
		case line == "":
			events = append(events, ev)
			ev = sseEvent{}
		}
	}
	if len(events) == 0 || events[len(events)-1].name != "done" {
		t.Fatalf("event stream %s does not end with a done event", r.body)
	}
	return events
}

// startRebuild POSTs a rebuild and returns its status resource's path and first status.
func (s *system) startRebuild(t *testing.T, name, query, tok string) (string, handlers.RebuildStatus) {
	t.Helper()
	r := s.do(t, http.MethodPost, "/v1/ops/projections/"+name+"/rebuild"+query, tok, nil).want(t, http.StatusAccepted)
	var st handlers.RebuildStatus
	r.decode(t, &st)
	loc := r.header.Get("Location")
	if loc != "/v1/ops/projections/"+name+"/rebuilds/"+st.ID || st.Projection != name {
		t.Fatalf("202 with Location %q and status %s", loc, r.body)
	}
	return loc, st
}

// A rebuild over HTTP answers 202 at once with where to follow it; its status resource
// and its event stream tell progress, then the diff, the report and that the new
// generation was swapped in; a second rebuild of the read model while one runs is
// refused with 409.
func TestARebuildOverHTTPRunsInTheBackgroundAndTellsItsOutcome(t *testing.T) {
	for name, cfg := range map[string]func(testing.TB) Config{"sqlite": testConfig, "postgres": postgresConfig} {
		t.Run(name, func(t *testing.T) {
			s := startSystem(t, cfg(t), wireOptions{})
			for i := range 3 {
				s.ready(t, mpnFor(90, i), goldCloud)
			}
			ops := bearerFor(t, "ops-1", handlers.RoleOps)

			loc, _ := s.startRebuild(t, projections.RemainingIncidentsName, "", ops)
			events := s.rebuildEvents(t, loc, ops)
			done := events[len(events)-1].data
			if done.State != projections.JobSucceeded || !done.Swapped || done.Report == nil || done.ReportFile == "" ||
				done.ReportError != "" || done.Progress != 1 || len(done.Diff) != 1 || done.Diff[0].Added != 0 || done.Diff[0].After != 3*2 {
				t.Fatalf("final event %+v, want succeeded, swapped, unchanged 6 pools, with its report", done)
			}
			var again handlers.RebuildStatus
			s.do(t, http.MethodGet, loc, ops, nil).want(t, http.StatusOK).decode(t, &again)
			if again.ID != done.ID || again.State != done.State || !again.Swapped {
				t.Fatalf("status resource %+v, want the final event %+v", again, done)
			}
			var overview handlers.ProjectionsOverview
			s.do(t, http.MethodGet, "/v1/ops/projections", ops, nil).want(t, http.StatusOK).decode(t, &overview)
			for _, p := range overview.Projections {
				if p.Name == projections.RemainingIncidentsName && p.Generation != 2 {
					t.Fatalf("after the swap the overview says generation %d, want 2", p.Generation)
				}
			}
			if _, err := os.Stat(done.ReportFile); err != nil {
				t.Fatalf("report file: %v", err)
			}

			// Another process holds a rebuild of incidents: a start here is a conflict.
			claimed, release, held := make(chan struct{}), make(chan struct{}), make(chan error, 1)
			go func() {
				_, err := projections.RebuildAndCompare(context.Background(), s.proc.readDB, s.proc.store, projections.IncidentsProjection{},
					projections.RebuildOptions{DryRun: true, Claimed: func(bool) { close(claimed) },
						Progress: func(projections.RebuildProgress) { <-release }})
				held <- err
			}()
			<-claimed
			p := s.do(t, http.MethodPost, "/v1/ops/projections/incidents/rebuild", ops, nil).refused(t, http.StatusConflict, handlers.CodeConflict)
			if !strings.Contains(p.Detail, "already running") {
				t.Fatalf("409 detail %q does not say a rebuild runs", p.Detail)
			}
			close(release)
			if err := <-held; err != nil {
				t.Fatal(err)
			}
			s.do(t, http.MethodGet, "/v1/ops/projections/incidents/rebuilds/no-such-job", ops, nil).refused(t, http.StatusNotFound, handlers.CodeNotFound)
			s.do(t, http.MethodPost, "/v1/ops/projections/nope/rebuild", ops, nil).refused(t, http.StatusNotFound, handlers.CodeNotFound)
		})
	}
}

// Issue 12: the synchronous rebuild answered 500 after generation 2 was already live
// when its report could not be written. The job now says the swap happened, and why
// there is no report.
func TestARebuildWhoseReportCannotBeWrittenSaysItSwapped(t *testing.T) {
	cfg := testConfig(t)
	s := startSystem(t, cfg, wireOptions{})
	s.ready(t, mpnFor(91, 1), goldCloud)
	// A file where the report directory should be: the report cannot be written.
	if err := os.WriteFile(filepath.Join(cfg.DataDir, projections.ReportDir), []byte("in the way"), 0o644); err != nil {
		t.Fatal(err)
	}
	ops := bearerFor(t, "ops-1", handlers.RoleOps)
	loc, _ := s.startRebuild(t, projections.LinkedAccountsName, "", ops)
	events := s.rebuildEvents(t, loc, ops)
	done := events[len(events)-1].data
	if done.State != projections.JobSucceeded || !done.Swapped || done.ReportError == "" || done.ReportFile != "" || done.Report == nil {
		t.Fatalf("final event %+v, want succeeded and swapped, with the report's error", done)
	}
	var overview handlers.ProjectionsOverview
	s.do(t, http.MethodGet, "/v1/ops/projections", ops, nil).want(t, http.StatusOK).decode(t, &overview)
	for _, p := range overview.Projections {
		if p.Name == projections.LinkedAccountsName && p.Generation != 2 {
			t.Fatalf("generation %d live, want the swapped-in 2", p.Generation)
		}
	}
}
