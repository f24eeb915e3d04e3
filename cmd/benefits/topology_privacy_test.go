package main

import (
	"bytes"
	"context"
	"net/http"
	"testing"
	"time"

	"ledger/handlers"
	"ledger/infra/privacy"
	"ledger/infra/testkit"
)

// TestAnErasureThroughOneAPIProcessStopsTheOthersReadingTheSubject: two API processes
// of the production topology share the event store and the key table. The second has
// read alice's e-mail back (her key cached); once the first erases her, the second
// shows her as erased too, without a restart.
func TestAnErasureThroughOneAPIProcessStopsTheOthersReadingTheSubject(t *testing.T) {
	tp := startTopology(t)
	apiA, _, _, _ := tp.startRoles()
	apiB := tp.start("api-b", RoleAPI)
	platform := topoToken(t, "partner-center", handlers.RolePlatform)
	auditor := topoToken(t, "auditor-1", handlers.RoleAuditor)
	const mpn, alice = "4712001", "alice.erasable@contoso.example"
	apiA.api.must(t, http.MethodPost, "/v1/partners", platform, map[string]any{"mpnId": mpn, "name": "Partner " + mpn}, http.StatusCreated, nil)
	apiA.api.must(t, http.MethodPost, "/v1/partners/"+mpn+"/users", platform, map[string]any{
		"userId": alice, "accountType": "aad", "mpnLinked": true, "roles": []string{"global-admin"}}, http.StatusCreated, nil)
	history := func() []byte {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		r, err := apiB.api.do(ctx, http.MethodGet, "/v1/partners/"+mpn+"/history?limit=100", auditor, nil)
		if err != nil || r.status != http.StatusOK {
			t.Fatalf("history through api-b: %d %s %v", r.status, r.body, err)
		}
		return r.body
	}
	if !bytes.Contains(history(), []byte(alice)) {
		t.Fatal("before the erasure api-b does not show alice: the test would prove nothing")
	}

	var erasure privacy.Erasure
	apiA.api.must(t, http.MethodPost, "/v1/privacy/erasures", platform, map[string]any{"subject": alice}, http.StatusCreated, &erasure)
	testkit.Eventually(t, "api-b shows alice as erased", func() bool {
		h := history()
		return !bytes.Contains(h, []byte(alice)) && bytes.Contains(h, []byte(erasure.Erased))
	})
}
