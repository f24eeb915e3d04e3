package main

import (
	"testing"
	"time"
)

// The read database's pool bound, the write timeout (which long-running routes re-arm)
// and the token lifetime reach the parts that use them.
func TestWireHandsTheSettingsToTheParts(t *testing.T) {
	cfg := testConfig(t)
	cfg.Role = RoleAPI
	cfg.ReadDBMaxConns, cfg.WriteTimeout, cfg.MaxTokenLifetime = 5, 40*time.Second, 8*time.Hour
	cfg.EventStoreMaxConns = 7
	proc, err := wire(t.Context(), cfg, testLogger(t), e2eSecret)
	if err != nil {
		t.Fatal(err)
	}
	defer proc.close()
	if got := proc.readDB.Stats().MaxOpenConnections; got != 5 {
		t.Errorf("read database pool bound %d, want --read-db-max-conns 5", got)
	}
	if got := eventStoreDB(t, &system{proc: proc}).Stats().MaxOpenConnections; got != 7 {
		t.Errorf("event store pool bound %d, want --event-store-max-conns 7", got)
	}
	if proc.deps.WriteTimeout != cfg.WriteTimeout || proc.deps.MaxTokenLifetime != cfg.MaxTokenLifetime {
		t.Errorf("deps write timeout %s, token lifetime %s; want %s and %s",
			proc.deps.WriteTimeout, proc.deps.MaxTokenLifetime, cfg.WriteTimeout, cfg.MaxTokenLifetime)
	}
}
