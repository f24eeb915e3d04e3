package main

import (
	"net/http"
	"strings"
	"testing"
)

// TestOnlyAPIProcessesServeTheConsole: the console reads the /v1 API, which only
// processes of role api (or all) serve; a projector or a forwarder answering / with a
// console whose every call fails would mislead. They answer 404 there, and still
// answer their health check.
func TestOnlyAPIProcessesServeTheConsole(t *testing.T) {
	bus := startBus(t)
	cfg := testConfig(t)
	cfg.NATSURL = bus.url()
	projector := startSystem(t, withRole(cfg, RoleProjector), wireOptions{})
	forwarder := startSystem(t, withRole(cfg, RoleForwarder), wireOptions{})
	api := startSystem(t, withRole(cfg, RoleAPI), wireOptions{})

	if r := api.do(t, http.MethodGet, "/", "", nil).want(t, http.StatusOK); !strings.Contains(string(r.body), "<html") {
		t.Fatalf("the api process answers / with %.200q, want the console", r.body)
	}
	for role, s := range map[string]*system{"projector": projector, "forwarder": forwarder} {
		for _, path := range []string{"/", "/console/app.js"} {
			if r := s.do(t, http.MethodGet, path, "", nil); r.status != http.StatusNotFound {
				t.Errorf("%s answers GET %s with %d, want 404", role, path, r.status)
			}
		}
		s.do(t, http.MethodGet, "/healthz", "", nil).want(t, http.StatusOK)
	}
}
