package main

import (
	"net/http"
	"strings"
	"testing"

	"ledger/handlers"
	"ledger/infra/metrics/metricstest"
)

// With remaining-incidents answers kept between commits (--answer-cache-mib, on as
// serve runs), each request is still decided for its own caller (R4) and a query that
// names a command's position sees that command: the access check runs before the kept
// answer is looked at, and a commit retires what was kept.
func TestR4KeptRemainingIncidentsAreServedOnlyAsEachCallerMaySee(t *testing.T) {
	s := startSystem(t, testConfig(t), wireOptions{})
	p := s.ready(t, mpnFor(4, 90), goldOther)
	readerTok := s.user(t, p.mpn, "reader@"+p.mpn, userSpec{}) // registered, not MPN-linked: no IDs (R4)
	stranger := bearerFor(t, "someone@elsewhere")

	for round, tok := range []string{readerTok, p.adminTok, readerTok, p.adminTok} {
		answer := s.remaining(t, p.mpn, tok)
		if len(answer.Contracts) != 1 {
			t.Fatalf("read %d: %d contracts, want 1", round, len(answer.Contracts))
		}
		if got, admin := answer.Contracts[0].ContractID, tok == p.adminTok; admin != (got == p.contractID) || (!admin && got != "") {
			t.Fatalf("read %d by the %s shows contract ID %q (the contract is %s)", round, map[bool]string{true: "admin", false: "unlinked reader"}[admin], got, p.contractID)
		}
	}
	s.get(t, "/v1/partners/"+p.mpn+"/remaining-incidents", stranger).refused(t, http.StatusForbidden, handlers.CodeForbidden)
	pretty := s.get(t, "/v1/partners/"+p.mpn+"/remaining-incidents?pretty", p.adminTok).want(t, http.StatusOK)
	if !strings.HasPrefix(string(pretty.body), "{\n  \"contracts\": [") || !strings.Contains(string(pretty.body), p.contractID) {
		t.Fatalf("?pretty answered, kept or not, %s; want the answer indented as every JSON answer is", pretty.body)
	}

	before, _ := pool(t, s.remaining(t, p.mpn, p.adminTok), p.contractID, "product-support")
	s.open(t, p.adminTok, productIncident(p.contractID, "SQL Server", "2025")).want(t, http.StatusCreated)
	after, _ := pool(t, s.remaining(t, p.mpn, p.adminTok), p.contractID, "product-support") // minPosition: the incident
	if after.Used != before.Used+1 {
		t.Fatalf("after opening an incident, used %d; before it %d: the kept answer outlived the commit", after.Used, before.Used)
	}

	// Every remaining-incidents query answered (7 above; not the refused one) was either
	// served a kept answer or read: /metrics counts each once.
	page, err := metricstest.Scrape(s.client, s.url+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	hits, _ := page.Value("benefits_answer_cache_hits_total", metricstest.Labels{})
	misses, _ := page.Value("benefits_answer_cache_misses_total", metricstest.Labels{})
	if hits+misses != 7 || misses < 2 {
		t.Fatalf("/metrics counts %v hits and %v misses of the answer cache; want 7 queries, the first and the one after the incident read", hits, misses)
	}
}
