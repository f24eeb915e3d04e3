package main

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"ledger/infra/commands"
	"ledger/projections"
)

// BenchmarkRemainingIncidentsQuery is one GET remaining-incidents by the partner's
// admin through the whole wired handler (token, limits, access check, read model,
// JSON), without the network: the CPU and allocations a query costs the server
// (issue 10), with answers kept between commits as serve runs, and with none kept (each
// query reads its rows). Run with -benchmem; compare ns/op and allocs/op between
// versions.
func BenchmarkRemainingIncidentsQuery(b *testing.B) {
	for _, tc := range []struct {
		name string
		mib  int
	}{{"answers kept", projections.DefaultAnswerCacheBytes >> 20}, {"no answer kept", 0}} {
		b.Run(tc.name, func(b *testing.B) {
			cfg := testConfig(b)
			cfg.ReadStaleness = commands.DefaultReadStaleness // serve's default
			cfg.Limits.Queries = 128
			cfg.AnswerCacheMiB = tc.mib
			s := startSystem(b, cfg, wireOptions{})
			p := s.ready(b, "7990001", actionPack)
			s.remaining(b, p.mpn, p.adminTok) // the projection has caught up
			h := s.proc.httpHandler()
			req := httptest.NewRequest(http.MethodGet, "/v1/partners/"+p.mpn+"/remaining-incidents", nil)
			req.Header.Set("Authorization", "Bearer "+p.adminTok)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("answer %d: %s", rec.Code, rec.Body)
				}
			}
		})
	}
}
