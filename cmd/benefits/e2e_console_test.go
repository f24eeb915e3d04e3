package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"ledger/handlers"
	"ledger/handlers/console"
)

// firstSession is the README's first session, run against s over HTTP: Contoso enrolled
// with Gold on a cloud competency and its MPN-linked global admin the day before the
// admin activates, links and opens an incident, so the state as of the first day and
// today's differ.
type firstSession struct {
	mpn, admin, adminTok, accessID, contractID string
	enrolledAt, activatedAt                    time.Time
}

func runFirstSession(t testing.TB, s *system) firstSession {
	t.Helper()
	fs := firstSession{mpn: "1234567", admin: "admin@contoso.com", enrolledAt: s.clock.Now()}
	platform := s.platform(t)
	s.post(t, "/v1/partners", platform, map[string]any{"mpnId": fs.mpn, "name": "Contoso"}).want(t, http.StatusCreated)
	s.post(t, "/v1/partners/"+fs.mpn+"/memberships", platform, map[string]any{"offer": "gold", "competency": "Cloud Platform",
		"validTo": "2030-01-01T00:00:00Z"}).want(t, http.StatusCreated)
	fs.adminTok = s.user(t, fs.mpn, fs.admin, userSpec{mpnLinked: true, roles: []string{"global-admin"}})

	s.clock.Set(fs.enrolledAt.Add(24 * time.Hour)) // the system lives only as long as the test
	fs.activatedAt = s.clock.Now()
	var ids handlers.ActivationAnswer
	s.activate(t, fs.mpn, fs.adminTok).want(t, http.StatusCreated).decode(t, &ids)
	fs.accessID, fs.contractID = ids.AccessID, ids.ContractID
	s.post(t, "/v1/contracts/"+fs.contractID+"/links", fs.adminTok, map[string]any{"accessId": fs.accessID}).want(t, http.StatusCreated)
	s.open(t, fs.adminTok, incident{"contractId": fs.contractID, "kind": "product-support", "product": "SQL Server",
		"version": "2025", "title": "Slow queries"}).want(t, http.StatusCreated)
	return fs
}

// TestConsoleWalksTheFirstSessionInABrowser follows the README's first session through
// the console's four pages in headless Chromium: the partner's dashboard (and its live
// refresh when a command lands), the auditor's timeline with its as-of comparison,
// export and chain verification, the ops control room with a rebuild and two rules
// versions side by side, and the API reference. Any console error, CSP refusal or
// failed request fails it; each page is photographed at desktop and phone widths.
func TestConsoleWalksTheFirstSessionInABrowser(t *testing.T) {
	cfg := testConfig(t)
	s := startSystem(t, cfg, wireOptions{})
	fs := runFirstSession(t, s)
	b := openTab(t)

	b.run("open the console", chromedp.Navigate(s.url+"/"), chromedp.WaitVisible(chromedp.ID("token")))
	if !strings.Contains(b.bodyText(), "Sign in with a bearer token first") {
		t.Fatalf("signed-out console does not say how to sign in: %q", b.bodyText())
	}
	b.signIn(fs.adminTok, fs.admin)
	// The admin's own plans name one partner: the dashboard opens it.
	b.run("dashboard", ready("dashboard"))
	dashboardShowsTheFirstSession(t, b, fs)

	// A command lands: the open dashboard shows it without a reload.
	s.open(t, fs.adminTok, incident{"contractId": fs.contractID, "kind": "product-support", "product": "SQL Server",
		"version": "2025", "title": "Backups fail"}).want(t, http.StatusCreated)
	b.waitForText("Backups fail")
	b.waitForText("product-support: 2 used, 18 remaining of 20")
	b.screenshots("dashboard")

	b.signOut()
	b.signIn(bearerFor(t, "auditor-1", handlers.RoleAuditor, handlers.RoleOps), "auditor-1")
	timelineShowsTheHistory(t, s, b, fs)
	opsShowsTheReadModelsAndRules(t, s, b)

	b.goTo("#/api", "api")
	if text := b.bodyText(); !strings.Contains(text, "/v1/partners/{mpnId}/benefits") || !strings.Contains(text, "/v1/ops/projections") {
		t.Errorf("API reference lacks the routes: %.400q", text)
	}
	b.run("open one route", chromedp.Click(chromedp.CSS(`details.operation summary`)))
	b.screenshots("api")

	// Someone edits an event in the store: verification names it and its row is marked.
	// Edit the competency recorded by the event at position 2, as someone with write
	// access to the database could, behind the ledger's back. The event still decodes,
	// so every page keeps working; only its hash no longer matches.
	tamper(t, cfg.DataDir, "UPDATE event_log SET data = CAST(replace(CAST(data AS TEXT), 'Cloud Platform', 'Cloud Productivity') AS BLOB) WHERE position = 2")
	b.goTo("#/timeline/"+fs.mpn, "timeline")
	b.run("verify again", chromedp.Click(chromedp.ID("verify")), chromedp.WaitVisible(chromedp.ID("broken-link")))
	rev := evaluate[string](b, `document.querySelector('#broken-link td').textContent`)
	if verdict := b.text(`#verdict`); rev != "1" || !strings.Contains(verdict, "Broken at revision 1") {
		t.Errorf("broken link marked at revision %q (%q), want 1", rev, verdict)
	}
	b.screenshots("timeline-broken")
	b.requireClean()
}

func dashboardShowsTheFirstSession(t *testing.T, b *tab, fs firstSession) {
	t.Helper()
	if got := b.text(`#partner-level`); got != "gold" {
		t.Errorf("level %q, want gold", got)
	}
	text := b.bodyText()
	for _, want := range []string{
		"Contoso (1234567)", fs.accessID, fs.contractID, // an MPN-linked admin sees both IDs (R4)
		"product-support: 1 used, 19 remaining of 20", // Gold (R6)
		"signature-cloud: unlimited, 0 used",          // a cloud competency (R7)
		"Slow queries", fs.admin,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("dashboard lacks %q:\n%s", want, text)
		}
	}
	bars := evaluate[int](b, `document.querySelectorAll('progress[aria-label^="product-support"]').length`)
	if bars != 1 {
		t.Errorf("%d product-support bars, want 1", bars)
	}
}

func timelineShowsTheHistory(t *testing.T, s *system, b *tab, fs firstSession) {
	t.Helper()
	b.goTo("#/timeline/"+fs.mpn, "timeline")
	rows := evaluate[int](b, `document.querySelectorAll('#main section:last-of-type tbody tr').length`)
	var history struct {
		Events []struct {
			EventID  string `json:"eventId"`
			Metadata struct {
				Actor         string `json:"actor"`
				CorrelationID string `json:"correlationId"`
				Hash          string `json:"hash"`
			} `json:"metadata"`
		} `json:"events"`
	}
	s.do(t, http.MethodGet, "/v1/partners/"+fs.mpn+"/history", s.auditor(t), nil).want(t, http.StatusOK).decode(t, &history)
	if rows != len(history.Events) {
		t.Errorf("timeline shows %d events, the history has %d", rows, len(history.Events))
	}
	text := b.bodyText()
	first := history.Events[0].Metadata
	for _, want := range []string{"PartnerEnrolled.v1", "IncidentOpened.v2", first.Actor, first.CorrelationID, first.Hash[:12], "platform"} {
		if !strings.Contains(text, want) {
			t.Errorf("timeline lacks %q", want)
		}
	}

	// As of the first day: gold, no contract yet; today: a contract with one incident.
	b.run("pick an instant", b.js(`document.getElementById("as-of").value = `+jsString(fs.enrolledAt.Add(time.Hour).Format("2006-01-02T15:04:05"))),
		chromedp.Click(chromedp.CSS(`form:has(#as-of) button`)))
	b.waitForText("As of " + fs.enrolledAt.Add(time.Hour).Format("2006-01-02 15:04Z"))
	differing := evaluate[[]string](b, `[...document.querySelectorAll('.side-by-side dd.differs')].map(d => d.previousElementSibling.textContent)`)
	if !strings.Contains(strings.Join(differing, "|"), "Linked accounts") {
		t.Errorf("then and now differ in %v, want the linked accounts among them", differing)
	}

	// The export holds exactly the events on screen.
	exported := readNDJSON(t, b.download("#export"))
	if len(exported) != len(history.Events) || exported[0]["eventId"] != history.Events[0].EventID {
		t.Errorf("export: %d events, want the %d on screen", len(exported), len(history.Events))
	}

	b.run("verify", chromedp.Click(chromedp.ID("verify")))
	b.waitForText(fmt.Sprintf("Intact: %d events checked.", len(history.Events)))
	b.screenshots("timeline")
}

func readNDJSON(t *testing.T, raw []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("export line %d is not JSON: %v", len(out)+1, err)
		}
		out = append(out, m)
	}
	return out
}

func opsShowsTheReadModelsAndRules(t *testing.T, s *system, b *tab) {
	t.Helper()
	rules := defaultRulesJSON(t)
	rules["version"] = 2
	rules["effectiveFrom"] = s.clock.Now()
	rules["entitlements"].(map[string]any)["gold"].(map[string]any)["productSupport"] = map[string]any{"incidents": 25}
	s.post(t, "/v1/rules", s.platform(t), rules).want(t, http.StatusCreated)

	b.goTo("#/ops", "ops")
	text := b.bodyText()
	for _, name := range []string{"benefits_overview", "remaining_incidents", "linked_accounts", "support_plans", "incidents"} {
		if !strings.Contains(text, name) {
			t.Errorf("ops lacks read model %s", name)
		}
	}
	// Each read model's partitions, with the projector process that committed them.
	if owner := fmt.Sprintf(":%d", os.Getpid()); !strings.Contains(text, "p0: ") || !strings.Contains(text, owner) {
		t.Errorf("ops shows no partition with its owner (this process, %s):\n%s", owner, text)
	}
	if !strings.Contains(text, "v1 beside v2: 1 difference") || !strings.Contains(text, "entitlements.gold.productSupport.incidents") {
		t.Errorf("rules v1 and v2 side by side do not show the one change:\n%s", text)
	}

	b.run("rebuild incidents (dry run)", chromedp.SetValue(chromedp.ID("rebuild-name"), "incidents"),
		chromedp.Click(chromedp.ID("rebuild-dry")), chromedp.Click(chromedp.ID("rebuild-start")),
		chromedp.WaitVisible(chromedp.ID("rebuild-summary")))
	if got := b.text(`#rebuild-summary`); !strings.Contains(got, "incidents: generation 1 → 2") || !strings.Contains(got, "dry run: nothing swapped") {
		t.Errorf("rebuild summary %q", got)
	}

	// A draft of v3 is previewed against the version in force before it is published.
	b.run("preview v3", chromedp.Click(chromedp.CSS(`details.publish summary`)),
		b.js(`(() => { const t = document.getElementById('rules-draft'); const d = JSON.parse(t.value);
			d.entitlements.silver.productSupport.incidents = 16; t.value = JSON.stringify(d); })()`),
		chromedp.Click(chromedp.ID("rules-preview")))
	b.waitForText("What v3 changes against v2 in force: 1 difference")
	b.screenshots("ops")
	b.run("publish v3", chromedp.Click(chromedp.ID("rules-publish")))
	b.waitForText("latest: v3")
}

// TestR4PartnerUsersSeeNoMoreInTheConsoleThanTheAPIShows: an account not linked to MPN
// sees its partner's dashboard without the Access and Contract IDs and without linked
// accounts, and is refused the timeline; an admin of one partner is refused another
// partner's dashboard and sees nothing of it.
func TestR4PartnerUsersSeeNoMoreInTheConsoleThanTheAPIShows(t *testing.T) {
	s := startSystem(t, testConfig(t), wireOptions{})
	fs := runFirstSession(t, s)
	helpdesk := "helpdesk@contoso.com"
	helpdeskTok := s.user(t, fs.mpn, helpdesk, userSpec{})
	other := s.ready(t, "7654321", silverCloud)
	b := openTab(t)

	b.visit(s.url+"/#/dashboard/"+fs.mpn, "dashboard") // signed out: the page asks for a token
	b.signIn(helpdeskTok, helpdesk)
	b.run("dashboard", ready("dashboard"))
	text := b.bodyText()
	for _, secret := range []string{fs.accessID, fs.contractID, "AC-", "CT-" + fs.mpn, "Accounts linked to"} {
		if strings.Contains(text, secret) {
			t.Errorf("an account not linked to MPN sees %q", secret)
		}
	}
	for _, want := range []string{"IDs hidden: your account is not linked to MPN (R4)", "product-support: 1 used, 19 remaining of 20",
		"Linked accounts are shown only to MPN-linked users"} {
		if !strings.Contains(text, want) {
			t.Errorf("unlinked dashboard lacks %q:\n%s", want, text)
		}
	}
	b.screenshots("dashboard-unlinked")

	b.expectRefusal("/v1/partners/"+fs.mpn+"/history", http.StatusForbidden)
	b.expectRefusal("/v1/partners/"+fs.mpn+"/state", http.StatusForbidden)
	b.goTo("#/timeline/"+fs.mpn, "timeline")
	if text := b.bodyText(); !strings.Contains(text, "403 forbidden") || strings.Contains(text, "PartnerEnrolled") {
		t.Errorf("unlinked account's timeline: %.600q", text)
	}

	b.signOut()
	b.signIn(fs.adminTok, fs.admin)
	for _, path := range []string{"/benefits", "/remaining-incidents", "/incidents"} {
		b.expectRefusal("/v1/partners/"+other.mpn+path, http.StatusForbidden)
	}
	b.goTo("#/dashboard/"+other.mpn, "dashboard")
	text = b.bodyText()
	if !strings.Contains(text, "403 forbidden") {
		t.Errorf("another partner's dashboard is not refused: %.600q", text)
	}
	for _, secret := range []string{"Partner " + other.mpn, other.accessID, other.contractID, other.admin} {
		if strings.Contains(text, secret) {
			t.Errorf("Contoso's admin sees %q of another partner", secret)
		}
	}
	b.requireClean()
}

// TestConsoleDashboardWorksWithTheKeyboardAlone: from a fresh load, Tab reaches the
// skip link, which moves the focus to the content; Tab then walks the dashboard's
// controls, each visible when focused, to "Load more incidents", and Enter loads the
// next page and keeps the focus in the list.
func TestConsoleDashboardWorksWithTheKeyboardAlone(t *testing.T) {
	s := startSystem(t, testConfig(t), wireOptions{})
	fs := runFirstSession(t, s)
	for range 30 { // 31 incidents with the first: more than one page (25 a page)
		s.open(t, fs.adminTok, cloudIncident(fs.contractID, "Azure")).want(t, http.StatusCreated)
	}
	b := openTab(t)
	b.run("open", chromedp.Navigate(s.url+"/"), chromedp.WaitVisible(chromedp.ID("token")))
	b.run("sign in", b.js(`sessionStorage.setItem("benefits.token", `+jsString(fs.adminTok)+`)`))
	b.visit(s.url+"/#/dashboard/"+fs.mpn, "dashboard")

	b.press(kb.Tab)
	if f := b.focus(); f.ID != "skip" || !f.Visible {
		t.Fatalf("first Tab focuses %+v, want the visible skip link", f)
	}
	b.press(kb.Enter)
	if f := b.focus(); f.ID != "main" {
		t.Fatalf("the skip link moved the focus to %+v, want the content", f)
	}
	var path []string
	for i := 0; ; i++ {
		if i == 40 {
			t.Fatalf("40 Tabs did not reach Load more incidents: %v", path)
		}
		b.press(kb.Tab)
		f := b.focus()
		if !f.Visible {
			t.Fatalf("Tab %d focused an invisible element %+v after %v", i+1, f, path)
		}
		path = append(path, f.Tag+"#"+f.ID+" "+f.Label+f.Text)
		if f.ID == "more-incidents" {
			break
		}
	}
	if !strings.Contains(strings.Join(path, "|"), "INPUT#mpn") || !strings.Contains(strings.Join(path, "|"), "SELECT#incident-status") {
		t.Errorf("Tab skipped the partner field or the status filter: %v", path)
	}
	b.waitForText("Incidents (25 shown)")
	b.press(kb.Enter)
	b.waitForText("Incidents (31 shown)")
	if f := b.focus(); !strings.HasPrefix(f.Label, "Incidents (31 shown)") {
		t.Errorf("after the last page the focus is on %+v, want the incidents list", f)
	}
	b.requireClean()
}

// TestConsoleAnswersCarryAStrictContentSecurityPolicy: the page and its files admit
// only the console's own scripts and styles and the API of the same origin.
func TestConsoleAnswersCarryAStrictContentSecurityPolicy(t *testing.T) {
	s := startSystem(t, testConfig(t), wireOptions{})
	for _, path := range []string{"/", "/console/app.js", "/console/style.css"} {
		r := s.do(t, http.MethodGet, path, "", nil).want(t, http.StatusOK)
		if got := r.header.Get("Content-Security-Policy"); got != console.ContentSecurityPolicy {
			t.Errorf("%s: CSP %q", path, got)
		}
		if strings.Contains(string(r.body), "<script>") || strings.Contains(string(r.body), "style=") {
			t.Errorf("%s holds an inline script or style", path)
		}
	}
	s.do(t, http.MethodGet, "/console/", "", nil).want(t, http.StatusNotFound)     // no listing
	s.do(t, http.MethodGet, "/console/x.js", "", nil).want(t, http.StatusNotFound) // problem+json
}
