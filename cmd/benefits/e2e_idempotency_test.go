package main

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"ledger/handlers"
	"ledger/infra/metrics"
	"ledger/infra/metrics/metricstest"
)

// A client retrying an incident opening with its Idempotency-Key gets the first
// answer again (the same incident, marked replayed) and the pool is drawn once; the
// key sent with another body is refused with 422 and records nothing.
func TestIdempotencyKeyRetriedIncidentOpeningDrawsThePoolOnce(t *testing.T) {
	s := startSystem(t, testConfig(t), wireOptions{})
	p := s.ready(t, mpnFor(24, 1), actionPack)
	body := productIncident(p.contractID, "SQL Server", "2025")
	const key = "7f3c1c52-8a4e-4b7e-9a55-0d6e2f1b9c01"

	var first, again handlers.IncidentAnswer
	r1 := s.do(t, http.MethodPost, "/v1/incidents", p.adminTok, body, handlers.HeaderIdempotencyKey, key).want(t, http.StatusCreated)
	r1.decode(t, &first)
	if r1.header.Get(handlers.HeaderIdempotentReplayed) != "" {
		t.Errorf("the first request is marked %s", handlers.HeaderIdempotentReplayed)
	}
	r2 := s.do(t, http.MethodPost, "/v1/incidents", p.adminTok, body, handlers.HeaderIdempotencyKey, key).want(t, http.StatusCreated)
	r2.decode(t, &again)
	if r2.header.Get(handlers.HeaderIdempotentReplayed) != "true" {
		t.Errorf("the retry is not marked %s: %v", handlers.HeaderIdempotentReplayed, r2.header)
	}
	if again.IncidentID != first.IncidentID || again.ContractID != first.ContractID || again.Position != first.Position ||
		again.Remaining == nil || first.Remaining == nil || *again.Remaining != *first.Remaining {
		t.Errorf("retry answered %+v, want the first answer %+v", again, first)
	}

	head := s.head(t)
	other := productIncident(p.contractID, "SQL Server", "2022")
	s.do(t, http.MethodPost, "/v1/incidents", p.adminTok, other, handlers.HeaderIdempotencyKey, key).
		refused(t, http.StatusUnprocessableEntity, handlers.CodeIdempotencyKeyReused)
	if now := s.head(t); now != head {
		t.Errorf("the refused reuse moved the event store's head from %s to %s", head, now)
	}
	if pl, ok := pool(t, s.remaining(t, p.mpn, p.adminTok), p.contractID, "product-support"); !ok || pl.Used != 1 {
		t.Fatalf("pool %+v after one incident sent twice with its key, want 1 used", pl)
	}
	page, err := metricstest.Scrape(s.client, s.url+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	for outcome, want := range map[string]float64{metrics.OutcomeReplayed: 1, metrics.OutcomeRefused: 1} {
		if n, _ := page.Value("benefits_commands_total", metricstest.Labels{"command": "OpenIncident", "outcome": outcome}); n != want {
			t.Errorf("OpenIncident commands counted %s: %v, want %v", outcome, n, want)
		}
	}
}

// Clients that retry at once (a timeout shorter than the command) send the same key
// concurrently: one incident is recorded and every request is answered with it.
func TestIdempotencyKeySentConcurrentlyRecordsOneIncident(t *testing.T) {
	s := startSystem(t, testConfig(t), wireOptions{})
	p := s.ready(t, mpnFor(24, 2), actionPack)
	body := productIncident(p.contractID, "SQL Server", "2025")
	const senders = 8
	answers := make([]handlers.IncidentAnswer, senders)
	var wg sync.WaitGroup
	for i := range senders {
		wg.Go(func() {
			s.do(t, http.MethodPost, "/v1/incidents", p.adminTok, body, handlers.HeaderIdempotencyKey, "same-key").
				want(t, http.StatusCreated).decode(t, &answers[i])
		})
	}
	wg.Wait()
	for _, a := range answers[1:] {
		if a.IncidentID != answers[0].IncidentID {
			t.Fatalf("answers name incidents %s and %s, want one", answers[0].IncidentID, a.IncidentID)
		}
	}
	if pl, ok := pool(t, s.remaining(t, p.mpn, p.adminTok), p.contractID, "product-support"); !ok || pl.Used != 1 {
		t.Fatalf("pool %+v after %d concurrent sends of one key, want 1 used", pl, senders)
	}
}

// A malformed key is refused with 400 naming the header, before anything is recorded.
func TestIdempotencyKeyMalformedIsABadRequest(t *testing.T) {
	s := startSystem(t, testConfig(t), wireOptions{})
	p := s.ready(t, mpnFor(24, 3), actionPack)
	body := productIncident(p.contractID, "SQL Server", "2025")
	head := s.head(t)
	for name, key := range map[string]string{
		"empty":       `""`,
		"too long":    strings.Repeat("k", handlers.MaxIdempotencyKeyLength+1),
		"not ASCII":   "clé",
		"a backslash": `a\b`,
		"a quote":     `a"b`,
	} {
		pr := s.do(t, http.MethodPost, "/v1/incidents", p.adminTok, body, handlers.HeaderIdempotencyKey, key).
			refused(t, http.StatusBadRequest, handlers.CodeBadRequest)
		if pr.Extra["field"] != handlers.HeaderIdempotencyKey {
			t.Errorf("%s: problem names field %v, want %s", name, pr.Extra["field"], handlers.HeaderIdempotencyKey)
		}
	}
	if now := s.head(t); now != head {
		t.Errorf("malformed keys moved the event store's head from %s to %s", head, now)
	}
	// Quoted, as the draft's structured-field string, the key is the same key.
	var plain, quoted handlers.IncidentAnswer
	s.do(t, http.MethodPost, "/v1/incidents", p.adminTok, body, handlers.HeaderIdempotencyKey, "q-1").want(t, http.StatusCreated).decode(t, &plain)
	s.do(t, http.MethodPost, "/v1/incidents", p.adminTok, body, handlers.HeaderIdempotencyKey, `"q-1"`).want(t, http.StatusCreated).decode(t, &quoted)
	if plain.IncidentID != quoted.IncidentID {
		t.Errorf("q-1 and \"q-1\" opened %s and %s, want one incident", plain.IncidentID, quoted.IncidentID)
	}
}
