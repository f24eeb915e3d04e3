package main

import (
	"net/http"
	"testing"
)

// The whole path with EventStoreDB as the event store, through the real client against
// the in-process protocol server (no EventStoreDB server runs in tests): enrol,
// activate, open an incident, and read it back.
func TestEventStoreDBSmokeEnrolActivateIncident(t *testing.T) {
	cfg := esdbConfig(t)
	s := startSystem(t, cfg, wireOptions{})
	p := s.ready(t, mpnFor(70, 1), actionPack)
	var answer struct {
		IncidentID string
		Remaining  *int
	}
	s.open(t, p.adminTok, productIncident(p.contractID, "SQL Server", "2025")).want(t, http.StatusCreated).decode(t, &answer)
	if intOf(answer.Remaining) != "9" {
		t.Errorf("remaining %s after one incident, want 9", intOf(answer.Remaining))
	}
	got, ok := pool(t, s.remaining(t, p.mpn, p.adminTok), p.contractID, "product-support")
	if !ok || got.Used != 1 || intOf(got.Remaining) != "9" {
		t.Errorf("remaining-incidents %+v", got)
	}
	var ready struct{ Status string }
	s.do(t, http.MethodGet, "/readyz", "", nil).want(t, http.StatusOK).decode(t, &ready)
	if ready.Status != "ready" {
		t.Errorf("readyz %+v", ready)
	}
}
