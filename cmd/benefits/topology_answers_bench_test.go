package main

import (
	"fmt"
	"net/http"
	"testing"

	"ledger/handlers"
	"ledger/infra/metrics/metricstest"
)

// BenchmarkRemainingIncidentsUnderCommandsAcrossProcesses is
// BenchmarkRemainingIncidentsUnderCommands in the multi-process topology: the API
// process serves the queries and the projectors (other processes) commit, so the API
// learns of each commit by polling the checkpoints. Each op opens an incident of one
// partner through the API, reads that partner's remaining incidents asking for it
// (minPosition), then those of 16 other partners the commit did not touch. hit% is the
// share of the API's queries served a kept answer (benefits_answer_cache_hits_total):
// which kept answers a poll retires is what the touch log decides
// (projections/checkpoint_touches.go).
func BenchmarkRemainingIncidentsUnderCommandsAcrossProcesses(b *testing.B) {
	tp := startTopology(b)
	tp.start("projector", RoleProjector)
	tp.start("forwarder", RoleForwarder)
	api := tp.start("api", RoleAPI).api
	platform := topoToken(b, "platform-1", handlers.RolePlatform)
	writer := enrolGoldPartner(b, api, platform, "7993000")
	readers := make([]topoPartner, 16)
	for k := range readers {
		readers[k] = enrolGoldPartner(b, api, platform, fmt.Sprintf("79930%02d", k+1))
	}
	remaining := func(p topoPartner, minPosition string) {
		path := "/v1/partners/" + p.mpn + "/remaining-incidents"
		if minPosition != "" {
			path += "?" + handlers.QueryMinPosition + "=" + minPosition
		}
		api.must(b, http.MethodGet, path, p.adminTok, nil, http.StatusOK, nil)
	}
	for _, p := range readers {
		remaining(p, "") // the read models hold them
	}
	counts := func() (hits, misses float64) {
		page, err := metricstest.Scrape(api.http, api.base+"/metrics")
		if err != nil {
			b.Fatal(err)
		}
		hits, _ = page.Value("benefits_answer_cache_hits_total", nil)
		misses, _ = page.Value("benefits_answer_cache_misses_total", nil)
		return hits, misses
	}
	hits0, misses0 := counts()
	for b.Loop() {
		var opened handlers.IncidentAnswer
		api.must(b, http.MethodPost, "/v1/incidents", writer.adminTok, writer.incident(true), http.StatusCreated, &opened)
		remaining(writer, opened.Position)
		for _, p := range readers {
			remaining(p, "")
		}
	}
	hits, misses := counts()
	b.ReportMetric(100*(hits-hits0)/(hits-hits0+misses-misses0), "hit%")
}
