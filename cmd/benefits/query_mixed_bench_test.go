package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"testing"

	"ledger/handlers"
	"ledger/infra/commands"
)

// BenchmarkRemainingIncidentsUnderCommands is a mixed load, as serve runs it (answers
// kept, one partition): each op commits an incident of one partner through the API,
// reads that partner's remaining incidents asking for the incident (minPosition:
// read-your-writes), then those of 16 other partners, whose rows the commit did not
// touch. hit% is the share of all the queries served a kept answer
// (benefits_answer_cache_hits_total; the one asking for the incident never is, the
// others at most once a second, answerMaxAge); what a query costs served or read is
// BenchmarkRemainingIncidentsQuery's. (Their time here is mostly the commit and the
// waits for a fresh sight of the checkpoints, and their CPU the projector's: neither
// says what the cache saves.)
func BenchmarkRemainingIncidentsUnderCommands(b *testing.B) {
	cfg := testConfig(b)
	cfg.ReadStaleness = commands.DefaultReadStaleness // serve's default
	cfg.Limits.Queries = 128
	s := startSystem(b, cfg, wireOptions{})
	writer := s.ready(b, "7992000", goldCloud)
	var reqs []*http.Request
	for k := range 16 {
		p := s.ready(b, fmt.Sprintf("79920%02d", k+1), goldCloud)
		s.remaining(b, p.mpn, p.adminTok) // the projection has caught up
		reqs = append(reqs, bearerRequest(remainingPath(p.mpn), p.adminTok))
	}
	h := s.proc.httpHandler()
	serve := func(req *http.Request) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("answer %d: %s", rec.Code, rec.Body)
		}
	}
	hits0, misses0 := answerCounts(b, h)
	for b.Loop() {
		s.open(b, writer.adminTok, cloudIncident(writer.contractID, "Azure")).want(b, http.StatusCreated)
		serve(bearerRequest(remainingPath(writer.mpn)+"?"+handlers.QueryMinPosition+"="+s.lastPos.Load().String(), writer.adminTok))
		for _, req := range reqs {
			serve(req)
		}
	}
	hits, misses := answerCounts(b, h)
	b.ReportMetric(100*(hits-hits0)/(hits-hits0+misses-misses0), "hit%")
}

func bearerRequest(path, tok string) *http.Request {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	return req
}

var answerCountLine = regexp.MustCompile(`(?m)^benefits_answer_cache_(hits|misses)_total (\S+)$`)

// answerCounts reads the answer cache's hits and misses from /metrics.
func answerCounts(b *testing.B, h http.Handler) (hits, misses float64) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for _, m := range answerCountLine.FindAllStringSubmatch(rec.Body.String(), -1) {
		v, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			b.Fatal(err)
		}
		if m[1] == "hits" {
			hits = v
		} else {
			misses = v
		}
	}
	return hits, misses
}
