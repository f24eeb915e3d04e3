package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/uuid"

	"ledger/domain"
	"ledger/handlers"
	"ledger/infra/eventstore"
	"ledger/infra/paging"
	"ledger/infra/testkit"
	"ledger/projections"
)

// The store of a partner nobody enrolled: events appended there by hand reach the read
// models as any other, and no command folds them.
const strayMPN = "9999999"

// appendStray appends one event of type typ with data to the stray partner's stream.
func (s *system) appendStray(t *testing.T, typ, data string) eventstore.Position {
	t.Helper()
	res, err := s.proc.store.Append(context.Background(), domain.PartnerStream(strayMPN), eventstore.Any(),
		eventstore.EventData{ID: uuid.NewString(), Type: typ, Data: []byte(data)})
	if err != nil {
		t.Fatal(err)
	}
	return res.Position
}

// openLetters lists the open dead letters of projection, as ops would.
func (s *system) openLetters(t *testing.T, projection, tok string) []projections.DeadLetterEntry {
	t.Helper()
	var page projections.DeadLetterPage
	s.do(t, http.MethodGet, "/v1/ops/projections/"+projection+"/dead-letters", tok, nil).want(t, http.StatusOK).decode(t, &page)
	return page.DeadLetters
}

// caughtUp waits until projection has applied (or dead-lettered) everything up to pos.
func (s *system) caughtUp(t *testing.T, projection string, pos eventstore.Position) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testkit.HangBound)
	defer cancel()
	if _, err := projections.NewCheckpoints(s.proc.readDB).WaitFor(ctx, projection, pos); err != nil {
		t.Fatalf("%s did not reach %s: %v", projection, pos, err)
	}
}

// Ops resolve a dead letter over the API: a retry the read model refuses keeps it, a
// retry after the cause is fixed applies the event exactly once, a discard needs a
// reason and records who and why; auditors read, only ops resolve.
func TestOpsRetryAndDiscardDeadLettersOverHTTP(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  func(testing.TB) Config
	}{{"sqlite", testConfig}, {"postgres", postgresConfig}, {"esdb", esdbConfig}} {
		t.Run(tc.name, func(t *testing.T) {
			s := startSystem(t, tc.cfg(t), wireOptions{})
			ops, auditor := bearerFor(t, "ops-1", handlers.RoleOps), bearerFor(t, "auditor-1", handlers.RoleAuditor)
			const name, incident = projections.IncidentsName, "IN-" + strayMPN + "-1"
			closed := s.appendStray(t, "IncidentClosed.v1", `{"mpnId":"`+strayMPN+`","incidentId":"`+incident+`","closedBy":"x"}`)
			s.caughtUp(t, name, closed)
			letters := s.openLetters(t, name, auditor)
			if len(letters) != 1 || letters[0].Position != closed.String() || !strings.Contains(letters[0].Error, "never opened") {
				t.Fatalf("open letters = %+v, want the close of an incident never opened", letters)
			}
			base := "/v1/ops/projections/" + name + "/dead-letters/" + url.PathEscape(closed.String())
			var detail projections.DeadLetterDetail
			s.do(t, http.MethodGet, base, auditor, nil).want(t, http.StatusOK).decode(t, &detail)
			if !strings.Contains(string(detail.Data), incident) || detail.EventType != "IncidentClosed.v1" {
				t.Fatalf("letter = %+v, want the event's data", detail)
			}

			s.do(t, http.MethodPost, base+"/retry", auditor, nil).refused(t, http.StatusForbidden, handlers.CodeForbidden)
			s.do(t, http.MethodGet, "/v1/ops/projections/"+name+"/dead-letters", bearerFor(t, "platform-1", handlers.RolePlatform), nil).
				refused(t, http.StatusForbidden, handlers.CodeForbidden)
			s.do(t, http.MethodPost, base+"/retry", ops, nil).refused(t, http.StatusUnprocessableEntity, handlers.CodeRetryRefused)
			if len(s.openLetters(t, name, ops)) != 1 {
				t.Fatal("a refused retry resolved the letter")
			}

			// The cause: the opening was missing. It arrives; the retry now closes the incident.
			opened := s.appendStray(t, "IncidentOpened.v1", `{"mpnId":"`+strayMPN+`","incidentId":"`+incident+`","plan":"product-support","product":"SQL Server","openedBy":"x"}`)
			s.caughtUp(t, name, opened)
			var done projections.DeadLetterEntry
			s.do(t, http.MethodPost, base+"/retry", ops, nil).want(t, http.StatusOK).decode(t, &done)
			if done.Resolution != projections.ResolutionRetried || done.ResolvedBy != "ops-1" {
				t.Fatalf("retry = %+v, want retried by ops-1", done)
			}
			in, err := projections.NewReadModels(s.proc.readDB).Incidents(context.Background(), strayMPN, "", paging.Page{})
			if err != nil {
				t.Fatal(err)
			}
			if len(in.Incidents) != 1 || in.Incidents[0].IncidentID != incident || in.Incidents[0].Status != string(domain.IncidentStatusClosed) {
				t.Fatalf("incidents = %+v, want %s once, closed", in.Incidents, incident)
			}
			s.do(t, http.MethodPost, base+"/retry", ops, nil).refused(t, http.StatusNotFound, handlers.CodeNotFound)

			// A letter nothing will fix is discarded, with a reason.
			garbled := s.appendStray(t, "IncidentOpened.v1", `{"mpnId": 9999999}`)
			s.caughtUp(t, name, garbled)
			// The slash of a position N/M travels escaped (on SQL stores N alone is N/N).
			discard := fmt.Sprintf("/v1/ops/projections/%s/dead-letters/%d%%2F%d/discard", name, garbled.Commit, garbled.Prepare)
			for _, body := range []any{map[string]any{}, map[string]any{"reason": "  "}, map[string]any{"reason": strings.Repeat("x", 1001)}} {
				if p := s.do(t, http.MethodPost, discard, ops, body).refused(t, http.StatusBadRequest, handlers.CodeBadRequest); p.Extra["field"] != "reason" {
					t.Fatalf("discard with %v: field %v, want reason", body, p.Extra["field"])
				}
			}
			s.do(t, http.MethodPost, discard, ops, map[string]any{"reason": "hand-written test event; nothing to apply"}).want(t, http.StatusOK)
			if open := s.openLetters(t, name, ops); len(open) != 0 {
				t.Fatalf("open letters after retry and discard: %+v", open)
			}
			var hist projections.DeadLetterPage
			s.do(t, http.MethodGet, "/v1/ops/projections/"+name+"/dead-letters?status=resolved", auditor, nil).want(t, http.StatusOK).decode(t, &hist)
			if len(hist.DeadLetters) != 2 || hist.DeadLetters[1].Resolution != projections.ResolutionDiscarded ||
				hist.DeadLetters[1].Reason != "hand-written test event; nothing to apply" || hist.DeadLetters[1].ResolvedBy != "ops-1" {
				t.Fatalf("history = %+v, want the retry and the discard with who and why", hist.DeadLetters)
			}

			for path, field := range map[string]string{
				"/v1/ops/projections/" + name + "/dead-letters/abc":           "position",
				"/v1/ops/projections/" + name + "/dead-letters?status=all":    "status",
				"/v1/ops/projections/" + name + "/dead-letters?cursor=bogus":  "cursor",
				"/v1/ops/projections/" + name + "/dead-letters?limit=1000000": "limit",
			} {
				if p := s.do(t, http.MethodGet, path, ops, nil).refused(t, http.StatusBadRequest, handlers.CodeBadRequest); p.Extra["field"] != field {
					t.Errorf("GET %s: field %v, want %s", path, p.Extra["field"], field)
				}
			}
			s.do(t, http.MethodGet, "/v1/ops/projections/nope/dead-letters", ops, nil).refused(t, http.StatusNotFound, handlers.CodeNotFound)
		})
	}
}

// An account ID the client percent-encodes (admin%40…, as encodeURIComponent writes
// it) names the same account as the unescaped one: the server decodes path parameters.
func TestAPercentEncodedPathParameterNamesTheSameAccount(t *testing.T) {
	s := startSystem(t, testConfig(t), wireOptions{})
	p := s.ready(t, mpnFor(13, 1), actionPack)
	plain := s.get(t, "/v1/accounts/"+p.admin+"/support-plans", p.adminTok).want(t, http.StatusOK)
	escaped := s.get(t, "/v1/accounts/"+strings.ReplaceAll(p.admin, "@", "%40")+"/support-plans", p.adminTok).want(t, http.StatusOK)
	if string(plain.body) != string(escaped.body) {
		t.Fatalf("escaped answer differs:\n%s\n%s", plain.body, escaped.body)
	}
}
