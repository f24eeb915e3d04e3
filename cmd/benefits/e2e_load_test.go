package main

import (
	"net/http"
	"sync"
	"testing"
)

// Guarantee 1 / R22 over HTTP: 200 concurrent requests on a pool of 10 never over-draw
// it, and the read model then says so.
func TestConcurrentIncidentsOverHTTPTakeExactlyThePool(t *testing.T) {
	s := startSystem(t, testConfig(t), wireOptions{})
	p := s.ready(t, mpnFor(50, 1), actionPack) // product support: a pool of 10
	const requests = 200
	statuses := make([]int, requests)
	codes := make([]string, requests)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range requests {
		wg.Go(func() {
			<-start
			r := s.open(t, p.adminTok, productIncident(p.contractID, "SQL Server", "2025"))
			statuses[i] = r.status
			if r.status >= 400 {
				codes[i] = r.problem(t).Code
			}
		})
	}
	close(start)
	wg.Wait()
	created, exhausted := 0, 0
	for i, st := range statuses {
		switch {
		case st == http.StatusCreated:
			created++
		case st == http.StatusConflict && codes[i] == "pool_exhausted":
			exhausted++
		default:
			t.Errorf("request %d: %d %s", i, st, codes[i])
		}
	}
	if created != 10 || exhausted != 190 {
		t.Fatalf("%d created, %d pool_exhausted; want 10 and 190", created, exhausted)
	}
	got, ok := pool(t, s.remaining(t, p.mpn, p.adminTok), p.contractID, "product-support")
	if !ok || got.Used != 10 || intOf(got.Remaining) != "0" {
		t.Fatalf("remaining-incidents after the load: %+v", got)
	}
}
