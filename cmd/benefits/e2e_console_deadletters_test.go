package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"ledger/handlers"
	"ledger/projections"
)

// TestOpsResolveDeadLettersInTheConsole: in the ops control room an operator picks the
// read model with dead letters, inspects one (its event's data and the error), sees a
// retry refused while the cause is there and succeed once it is fixed, discards another
// with a reason (a blank one is refused, naming the field), and finds both, with who
// and why, in the history.
func TestOpsResolveDeadLettersInTheConsole(t *testing.T) {
	s := startSystem(t, testConfig(t), wireOptions{})
	const incident = "IN-" + strayMPN + "-1"
	closed := s.appendStray(t, "IncidentClosed.v1", `{"mpnId":"`+strayMPN+`","incidentId":"`+incident+`","closedBy":"x"}`)
	garbled := s.appendStray(t, "IncidentOpened.v1", `{"mpnId": 9999999}`)
	for _, p := range projections.All() {
		s.caughtUp(t, p.Name(), garbled)
	}
	b := openTab(t)
	b.run("open the console", chromedp.Navigate(s.url+"/"), chromedp.WaitVisible(chromedp.ID("token")))
	b.signIn(bearerFor(t, "ops-1", handlers.RoleOps), "ops-1")
	b.goTo("#/ops", "ops")
	b.run("show the incidents' letters", b.js(`(() => { const s = document.getElementById('dl-name'); s.value = 'incidents';
		s.dispatchEvent(new Event('change')); })()`))
	b.waitForText("incidents: 2 open dead letters")

	letters := "/v1/ops/projections/incidents/dead-letters/"
	b.run("inspect the close", chromedp.Click(chromedp.CSS(`button[aria-label="Inspect the dead letter at `+closed.String()+`"]`)),
		chromedp.WaitVisible(chromedp.ID("dl-data")))
	if data, errText := b.text("#dl-data"), b.text("#dl-error"); !strings.Contains(data, incident) || !strings.Contains(errText, "never opened") {
		t.Errorf("inspected letter shows data %q and error %q", data, errText)
	}
	b.expectRefusal(letters+closed.String()+"/retry", http.StatusUnprocessableEntity)
	b.click("#dl-retry")
	b.waitForText("422 retry_refused")

	opened := s.appendStray(t, "IncidentOpened.v1", `{"mpnId":"`+strayMPN+`","incidentId":"`+incident+`","plan":"product-support","product":"SQL Server","openedBy":"x"}`)
	s.caughtUp(t, projections.IncidentsName, opened)
	b.click("#dl-retry")
	b.waitForText("Dead letter at " + closed.String() + " retried by ops-1.")
	b.waitForText("incidents: 1 open dead letter")

	b.run("inspect the garbled one", chromedp.Click(chromedp.CSS(`button[aria-label="Inspect the dead letter at `+garbled.String()+`"]`)),
		chromedp.WaitVisible(chromedp.ID("dl-reason")))
	if label := evaluate[string](b, `document.querySelector('label[for="dl-reason"]').textContent`); !strings.Contains(label, "Reason for discarding") {
		t.Errorf("the reason field is labelled %q", label)
	}
	b.expectRefusal(letters+garbled.String()+"/discard", http.StatusBadRequest)
	b.run("discard without a reason", chromedp.SetValue(chromedp.ID("dl-reason"), "   "), chromedp.Click(chromedp.ID("dl-discard")))
	b.waitForText("(field reason)")
	b.run("discard with a reason", chromedp.SetValue(chromedp.ID("dl-reason"), "mpnId written as a number by a test script"),
		chromedp.Click(chromedp.ID("dl-discard")))
	b.waitForText("Dead letter at " + garbled.String() + " discarded by ops-1.")
	b.waitForText("incidents: 0 open dead letters")
	b.waitForText("incidents (0 open)")
	if state := evaluate[string](b, `[...document.querySelectorAll('tr')].find((r) => r.cells[0] && r.cells[0].textContent === 'incidents').cells[6].textContent`); state != "live" {
		t.Errorf("with every letter resolved, incidents is %q, want live", state)
	}

	b.run("show the history", b.js(`(() => { const s = document.getElementById('dl-status'); s.value = 'resolved';
		s.dispatchEvent(new Event('change')); })()`))
	b.waitForText("incidents: 2 resolved dead letters")
	text := b.bodyText()
	for _, want := range []string{"retried by ops-1", "discarded by ops-1", "mpnId written as a number by a test script"} {
		if !strings.Contains(text, want) {
			t.Errorf("the history lacks %q", want)
		}
	}
	b.screenshots("ops-dead-letters")
	b.requireClean()
}
