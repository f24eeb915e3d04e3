package handlers_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"ledger/domain"
	"ledger/handlers"
	"ledger/infra/audit"
	"ledger/infra/commands"
	"ledger/infra/eventstore"
	"ledger/infra/paging"
	"ledger/infra/sqldb"
	"ledger/infra/sqlstore"
	"ledger/projections"
)

var auditT0 = time.Date(2026, 1, 15, 9, 0, 0, 0, time.UTC)

// auditWorld is the real path minus NATS: a SQLite event store written by the command
// executor, read models built from it by the ops rebuild, and the audit, ops, rules and
// query routes over both.
type auditWorld struct {
	t     testing.TB
	store *sqlstore.Store
	db    *bun.DB
	x     *commands.Executor
	now   time.Time
	srv   http.Handler
	ops   *projections.Operations
	jobs  *projections.RebuildJobs
}

func newAuditWorld(t testing.TB) *auditWorld {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	store, err := sqlstore.OpenSQLite(ctx, filepath.Join(dir, "events.db"), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	db, err := sqldb.OpenSQLite(ctx, filepath.Join(dir, "read.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	w := &auditWorld{t: t, store: store, db: db, now: auditT0}
	w.x = commands.New(store, commands.WithClock(func() time.Time { return w.now }))
	w.ops = &projections.Operations{DB: db, Store: store, DataDir: dir}
	w.jobs = projections.NewRebuildJobs(w.ops)
	t.Cleanup(w.jobs.Close)
	clock := func() time.Time { return w.now }
	routes := append(handlers.AuditRoutes(handlers.AuditAPI{Log: store, Partners: w.x, Now: clock}),
		handlers.OpsRoutes(handlers.OpsAPI{Projections: w.ops, Rebuilds: w.jobs})...)
	routes = append(routes, handlers.RulesRoutes(handlers.RulesAPI{Rules: w.x, Now: clock})...)
	routes = append(routes, handlers.QueryRoutes(handlers.API{Commands: w.x, ReadModels: projections.NewReadModels(db), Now: clock})...)
	w.srv = handlers.NewServer(handlers.Deps{JWTSecret: testSecret, Routes: routes, Projections: projections.NewCheckpoints(db),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	return w
}

func (w *auditWorld) do(mpn string, by domain.Actor, cmd domain.Command) commands.Outcome {
	w.t.Helper()
	out, err := w.x.Partner(context.Background(), mpn, cmd, commands.Meta{Actor: by, CorrelationID: "c-" + cmd.CommandName()})
	if err != nil {
		w.t.Fatalf("%s: %v", cmd.CommandName(), err)
	}
	w.now = w.now.Add(time.Hour)
	return out
}

// goldPartner enrols a Gold partner with an MPN-linked admin and a CSP-only user,
// activates, links and opens an incident: 7 events.
func (w *auditWorld) goldPartner(mpn string) {
	platform := domain.Actor{UserID: "pc", SystemRoles: []string{domain.SystemPlatform}}
	admin := domain.Actor{UserID: "admin@" + mpn}
	w.do(mpn, platform, domain.EnrollPartner{MPNID: mpn, By: platform, Name: "Contoso " + mpn})
	w.do(mpn, platform, domain.GrantMembership{MPNID: mpn, By: platform, Level: domain.LevelGold, Competency: "Cloud Platform",
		ValidFrom: auditT0, ValidUntil: auditT0.AddDate(1, 0, 0)})
	w.do(mpn, platform, domain.RegisterUser{MPNID: mpn, By: platform, UserID: admin.UserID, AccountType: domain.AccountAAD,
		MPNLinked: true, Roles: []domain.Role{domain.RoleGlobalAdmin}})
	w.do(mpn, platform, domain.RegisterUser{MPNID: mpn, By: platform, UserID: "csp@" + mpn, AccountType: domain.AccountAAD, CSPOnly: true})
	out := w.do(mpn, admin, domain.ActivateBenefit{MPNID: mpn, By: admin})
	act, _ := out.State.Activation()
	w.do(mpn, admin, domain.OpenIncident{MPNID: mpn, By: admin, Plan: domain.PlanProductSupport, Product: "SQL Server",
		Version: "2025", ContractID: act.ContractID, AccessID: act.AccessID, Title: "backup fails"})
}

func (w *auditWorld) get(path string, sub string, roles ...handlers.SystemRole) (int, []byte) {
	return w.request(http.MethodGet, path, sub, roles...)
}

func (w *auditWorld) request(method, path string, sub string, roles ...handlers.SystemRole) (int, []byte) {
	w.t.Helper()
	tok, err := handlers.IssueToken(testSecret, sub, roles, time.Hour)
	if err != nil {
		w.t.Fatal(err)
	}
	req := httptest.NewRequest(method, path, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	rec := httptest.NewRecorder()
	w.srv.ServeHTTP(rec, req)
	body, _ := io.ReadAll(rec.Body)
	return rec.Code, body
}

func decode[T any](t testing.TB, body []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("decode %T: %v in %s", v, err, body)
	}
	return v
}

func TestAuditVerifyRouteReportsTheFirstBrokenLink(t *testing.T) {
	w := newAuditWorld(t)
	w.goldPartner("4711001")
	code, body := w.get("/v1/audit/verify", "auditor-1", handlers.RoleAuditor)
	v := decode[audit.Verification](t, body)
	if code != http.StatusOK || !v.Intact || v.EventsChecked != 7 {
		t.Fatalf("clean store: %d %s", code, body)
	}
	if code, _ := w.get("/v1/audit/verify", "admin@4711001"); code != http.StatusForbidden {
		t.Fatalf("a partner user verified the chain: %d", code)
	}
	if _, err := w.store.DB().ExecContext(context.Background(),
		"UPDATE event_log SET data = CAST(REPLACE(CAST(data AS TEXT), 'backup fails', 'all is fine') AS BLOB) WHERE stream = 'partner-4711001' AND revision = 6"); err != nil {
		t.Fatal(err)
	}
	_, body = w.get("/v1/audit/verify?stream=partner-4711001", "ops-1", handlers.RoleOps)
	v = decode[audit.Verification](t, body)
	if v.Intact || v.Broken == nil || v.Broken.Revision != 6 || v.Broken.Reason != audit.BrokenContent || v.Broken.Expected == v.Broken.Found {
		t.Fatalf("tampered store: %s", body)
	}
}

func TestHistoryPagesThroughAPartnersEventsWithTheirMetadata(t *testing.T) {
	w := newAuditWorld(t)
	w.goldPartner("4711001")
	var types []string
	cursor := ""
	for pages := 0; ; pages++ {
		code, body := w.get("/v1/partners/4711001/history?limit=3&cursor="+cursor, "admin@4711001")
		if code != http.StatusOK {
			t.Fatalf("%d %s", code, body)
		}
		page := decode[audit.HistoryPage](t, body)
		for _, e := range page.Events {
			var m struct {
				Actor         string `json:"actor"`
				CorrelationID string `json:"correlationId"`
				RulesVersion  int    `json:"rulesVersion"`
				Hash          string `json:"hash"`
			}
			_ = json.Unmarshal(e.Metadata, &m)
			if m.Actor == "" || !strings.HasPrefix(m.CorrelationID, "c-") || m.RulesVersion != 1 || len(m.Hash) != 64 {
				t.Fatalf("event %s lacks metadata: %s", e.Type, e.Metadata)
			}
			types = append(types, e.Type)
		}
		if page.NextCursor == "" {
			if pages != 2 {
				t.Fatalf("7 events in pages of 3: want 3 pages, got %d", pages+1)
			}
			break
		}
		cursor = page.NextCursor
	}
	if len(types) != 7 || types[0] != "PartnerEnrolled.v1" || types[6] != (domain.IncidentOpened{}).EventType() {
		t.Fatalf("history %v", types)
	}
	for _, c := range []struct {
		name, sub string
		roles     []handlers.SystemRole
		want      int
	}{
		{"R4 a CSP-only account of the partner is refused", "csp@4711001", nil, http.StatusForbidden},
		{"a stranger is refused", "someone", nil, http.StatusForbidden},
		{"an auditor reads it", "auditor-1", []handlers.SystemRole{handlers.RoleAuditor}, http.StatusOK},
	} {
		if code, body := w.get("/v1/partners/4711001/history", c.sub, c.roles...); code != c.want {
			t.Errorf("%s: %d %s", c.name, code, body)
		}
	}
	if code, _ := w.get("/v1/partners/4711001/history?cursor=bogus", "auditor-1", handlers.RoleAuditor); code != http.StatusBadRequest {
		t.Errorf("a bad cursor answered %d", code)
	}
}

func TestStateAsOfNowEqualsTheLiveReadModels(t *testing.T) {
	w := newAuditWorld(t)
	w.goldPartner("4711001")
	w.goldPartner("4711002")
	ctx := context.Background()
	for _, p := range projections.All() {
		if _, _, err := w.ops.Rebuild(ctx, p.Name(), projections.RebuildOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	code, body := w.get("/v1/partners/4711001/state?asOf="+w.now.Format(time.RFC3339), "auditor-1", handlers.RoleAuditor)
	if code != http.StatusOK {
		t.Fatalf("%d %s", code, body)
	}
	asOf := decode[handlers.PartnerStateAsOf](t, body)
	rm := projections.NewReadModels(w.db)
	benefits, _ := rm.Benefits(ctx, "4711001", w.now, true)
	remaining, _ := rm.RemainingIncidents(ctx, "4711001", w.now)
	incidents, _ := rm.Incidents(ctx, "4711001", "", paging.Page{})
	linked, _ := rm.LinkedAccounts(ctx, asOf.Benefits.Activation.ContractID, paging.Page{})
	same := func(name string, a, b any) {
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		if string(ja) != string(jb) {
			t.Errorf("%s as of now differs from the live read model:\nas of: %s\nlive:  %s", name, ja, jb)
		}
	}
	same("benefits", asOf.Benefits, benefits)
	same("remaining incidents", asOf.RemainingIncidents, remaining)
	same("incidents", asOf.Incidents, incidents)
	same("linked accounts", asOf.LinkedAccounts[0].Accounts, linked.Accounts)
	if len(incidents.Incidents) != 1 || len(linked.Accounts) != 1 {
		t.Fatalf("the scenario should have one incident and one linked account: %+v %+v", incidents, linked)
	}

	// Before the incident: one more incident remains, and none is listed.
	before := auditT0.Add(4*time.Hour + 30*time.Minute)
	_, body = w.get("/v1/partners/4711001/state?asOf="+before.Format(time.RFC3339), "admin@4711001")
	past := decode[handlers.PartnerStateAsOf](t, body)
	if len(past.Incidents.Incidents) != 0 || *past.RemainingIncidents.Contracts[0].Pools[0].Remaining != 20 || past.Events != 5 || len(past.LinkedAccounts[0].Accounts) != 0 {
		t.Fatalf("as of %s: %s", before, body)
	}
	if code, _ := w.get("/v1/partners/4711001/state?asOf=2020-01-01T00:00:00Z", "auditor-1", handlers.RoleAuditor); code != http.StatusNotFound {
		t.Errorf("before enrolment: %d, want 404", code)
	}
	if code, _ := w.get("/v1/partners/4711001/state?asOf=yesterday", "auditor-1", handlers.RoleAuditor); code != http.StatusBadRequest {
		t.Errorf("a malformed asOf: %d, want 400", code)
	}
}

func TestOpsListAndRebuildProjectionsAndRulesAreListed(t *testing.T) {
	w := newAuditWorld(t)
	w.goldPartner("4711001")
	code, body := w.request(http.MethodPost, "/v1/ops/projections/remaining_incidents/rebuild?dryRun=true", "ops-1", handlers.RoleOps)
	if code != http.StatusAccepted {
		t.Fatalf("%d %s", code, body)
	}
	started := decode[handlers.RebuildStatus](t, body)
	code, body = w.get("/v1/ops/projections/remaining_incidents/rebuilds/"+started.ID+"/events", "ops-1", handlers.RoleOps)
	ans := finalEvent(t, code, body)
	// The live model was never set up: it is created and brought to the head like the
	// runner would, so the rebuilt one matches it.
	if !ans.DryRun || ans.Swapped || ans.ReportFile == "" || !ans.Report.Unchanged() || ans.Report.Tables[0].RowsAfter != 2 {
		t.Fatalf("dry run: %s", body)
	}
	w.goldPartner("4711002") // 7 more events the live model has not seen
	if code, _ := w.request(http.MethodPost, "/v1/ops/projections/nope/rebuild", "ops-1", handlers.RoleOps); code != http.StatusNotFound {
		t.Errorf("unknown projection: %d", code)
	}
	if code, _ := w.request(http.MethodPost, "/v1/ops/projections/remaining_incidents/rebuild", "auditor-1", handlers.RoleAuditor); code != http.StatusForbidden {
		t.Errorf("an auditor rebuilt: %d", code)
	}
	_, body = w.get("/v1/ops/projections", "ops-1", handlers.RoleOps)
	list := decode[handlers.ProjectionsOverview](t, body)
	for _, p := range list.Projections {
		if p.Name == projections.RemainingIncidentsName {
			if p.Checkpoint != "7" || p.Head != "14" || p.LagEvents != 7 || p.LagSeconds <= 0 || p.State != "live" || p.Rebuild == nil {
				t.Fatalf("overview after a dry run: %+v", p)
			}
		}
	}
	_, body = w.get("/v1/rules", "anyone")
	rules := decode[handlers.RulesVersions](t, body)
	if rules.InForce != 1 || len(rules.Versions) != 1 || rules.Versions[0].Status != handlers.RulesInForce {
		t.Fatalf("rules: %s", body)
	}
}

// The audit, ops and rules groups sit beside the command and query groups in one
// route table and one OpenAPI document: no path twice, no schema name taken twice.
func TestAuditOpsAndRulesRoutesJoinTheOthers(t *testing.T) {
	w := newAuditWorld(t)
	routes := append(handlers.CommandRoutes(handlers.API{}), handlers.QueryRoutes(handlers.API{})...)
	routes = append(routes, handlers.AuditRoutes(handlers.AuditAPI{Log: w.store, Partners: w.x})...)
	routes = append(routes, handlers.OpsRoutes(handlers.OpsAPI{Projections: w.ops, Rebuilds: w.jobs})...)
	routes = append(routes, handlers.RulesRoutes(handlers.RulesAPI{Rules: w.x})...)
	deps := handlers.Deps{JWTSecret: testSecret, Routes: routes, Projections: projections.NewCheckpoints(w.db)}
	if err := deps.Validate(); err != nil {
		t.Fatal(err)
	}
}

// finalEvent is the data of the last event of a rebuild's event stream, a "done" one.
func finalEvent(t *testing.T, code int, body []byte) handlers.RebuildStatus {
	t.Helper()
	i := bytes.LastIndex(body, []byte("event: done\ndata: "))
	if code != http.StatusOK || i < 0 {
		t.Fatalf("events: %d %s", code, body)
	}
	line, _, _ := bytes.Cut(body[i+len("event: done\ndata: "):], []byte("\n"))
	return decode[handlers.RebuildStatus](t, line)
}

// heldProjection is remaining_incidents whose Apply waits until released: a rebuild
// of it runs for as long as the test wants.
type heldProjection struct {
	projections.RemainingIncidentsProjection
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func (p *heldProjection) Apply(ctx context.Context, tx bun.Tx, t projections.Tables, batch []eventstore.RecordedEvent) error {
	p.once.Do(func() { close(p.entered) })
	<-p.release
	return p.RemainingIncidentsProjection.Apply(ctx, tx, t, batch)
}

// While a read model is rebuilding, starting another rebuild of it is a 409 problem;
// the one running streams its status (running at once) and goes on to its end.
func TestASecondRebuildWhileOneRunsIsAConflictAndTheFirstStreamsToItsEnd(t *testing.T) {
	w := newAuditWorld(t)
	w.goldPartner("4711001")
	held := &heldProjection{entered: make(chan struct{}), release: make(chan struct{})}
	ops := &projections.Operations{DB: w.db, Store: w.store, Projections: []projections.Projection{held}}
	jobs := projections.NewRebuildJobs(ops)
	t.Cleanup(jobs.Close)
	srv := handlers.NewServer(handlers.Deps{JWTSecret: testSecret, Routes: handlers.OpsRoutes(handlers.OpsAPI{Projections: ops, Rebuilds: jobs}),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	w.srv = srv
	code, body := w.request(http.MethodPost, "/v1/ops/projections/remaining_incidents/rebuild", "ops-1", handlers.RoleOps)
	if code != http.StatusAccepted {
		t.Fatalf("first rebuild: %d %s", code, body)
	}
	first := decode[handlers.RebuildStatus](t, body)
	<-held.entered
	code, body = w.request(http.MethodPost, "/v1/ops/projections/remaining_incidents/rebuild?dryRun=true", "ops-1", handlers.RoleOps)
	if p := decode[handlers.Problem](t, body); code != http.StatusConflict || p.Code != handlers.CodeConflict {
		t.Fatalf("second rebuild while the first runs: %d %s, want 409 conflict", code, body)
	}

	// Its event stream, over a real connection: the running status at once, and,
	// once it is let go, the final one.
	live := httptest.NewServer(srv)
	defer live.Close()
	tok, _ := handlers.IssueToken(testSecret, "ops-1", []handlers.SystemRole{handlers.RoleOps}, time.Hour)
	req, _ := http.NewRequest(http.MethodGet, live.URL+"/v1/ops/projections/remaining_incidents/rebuilds/"+first.ID+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || ct != "text/event-stream" {
		t.Fatalf("events: %d %q", resp.StatusCode, ct)
	}
	lines := bufio.NewScanner(resp.Body)
	next := func() (string, handlers.RebuildStatus) {
		t.Helper()
		var name string
		for lines.Scan() {
			line := lines.Text()
			if n, ok := strings.CutPrefix(line, "event: "); ok {
				name = n
			} else if d, ok := strings.CutPrefix(line, "data: "); ok {
				return name, decode[handlers.RebuildStatus](t, []byte(d))
			}
		}
		t.Fatalf("the stream ended early: %v", lines.Err())
		return "", handlers.RebuildStatus{}
	}
	if name, st := next(); name != "status" || st.State != projections.JobRunning || st.ID != first.ID {
		t.Fatalf("first event %s %+v, want the running status", name, st)
	}
	close(held.release)
	for {
		name, st := next()
		if name == "status" {
			continue
		}
		if name != "done" || st.State != projections.JobSucceeded || !st.Swapped || st.Events == 0 {
			t.Fatalf("last event %s %+v, want done, succeeded and swapped", name, st)
		}
		break
	}
}

// The document tells a client what the asynchronous rebuild answers: 202 with the job
// and its Location, the job's status resource, and its event stream as
// text/event-stream.
func TestTheDocumentDescribesTheAsynchronousRebuild(t *testing.T) {
	w := newAuditWorld(t)
	code, body := w.get("/openapi.json", "anyone")
	if code != http.StatusOK {
		t.Fatalf("%d %s", code, body)
	}
	var doc struct {
		Paths map[string]map[string]struct {
			Responses map[string]struct {
				Headers map[string]any            `json:"headers"`
				Content map[string]map[string]any `json:"content"`
			} `json:"responses"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	start := doc.Paths["/v1/ops/projections/{name}/rebuild"]["post"].Responses["202"]
	if start.Headers["Location"] == nil || start.Content["application/json"]["schema"] == nil {
		t.Errorf("POST rebuild's 202: %+v, want the job with a Location", start)
	}
	if _, ok := doc.Paths["/v1/ops/projections/{name}/rebuild"]["post"].Responses["200"]; ok {
		t.Error("POST rebuild still documents a 200")
	}
	if st := doc.Paths["/v1/ops/projections/{name}/rebuilds/{id}"]["get"].Responses["200"]; st.Content["application/json"]["schema"] == nil {
		t.Errorf("GET rebuild status: %+v", st)
	}
	if ev := doc.Paths["/v1/ops/projections/{name}/rebuilds/{id}/events"]["get"].Responses["200"]; ev.Content["text/event-stream"] == nil {
		t.Errorf("GET rebuild events: %+v, want text/event-stream", ev)
	}
}
