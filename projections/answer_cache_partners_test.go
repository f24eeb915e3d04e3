package projections

import (
	"testing"
	"time"

	"ledger/domain"
	"ledger/infra/eventstore"
	"ledger/infra/sqldb"
	"ledger/infra/testkit"
)

// openIncidentOf commits an incident of goldCSP's admin and tells its position.
func openIncidentOf(s *scenario, title string) eventstore.Position {
	admin := user(goldCSP, "admin")
	return s.do(admin, domain.OpenIncident{MPNID: goldCSP, By: admin, Plan: domain.PlanProductSupport, Product: "SQL Server", Version: "2025", Title: title}).Position
}

// keptAnswersFor are read models keeping answers stamped by c, for as long as a test
// takes: what is tested is which commits retire them, not their age.
func keptAnswersFor(h *harness, c *Checkpoints) *ReadModels {
	rm := NewReadModels(h.db, KeepAnswers(DefaultAnswerCacheBytes, c))
	rm.Answers().maxAge = time.Hour
	return rm
}

// One partition (the default), where a commit used to retire every kept answer: a
// commit for goldCSP retires goldCSP's kept answer (the query asking for it shows the
// incident: read-your-writes), and leaves actionPack's served, without SQL.
func TestACommitRetiresOnlyTheKeptAnswersOfThePartnersItTouched(t *testing.T) {
	forEachReadDialect(t, func(t *testing.T, h *harness) {
		s := newScenario(t, h)
		s.run()
		_, r := s.serve()
		c, rm := r.Checkpoints(), keptAnswersFor(h, r.Checkpoints())
		other, _ := answerOf(t, s, rm, c, actionPack, s.head, t0, true)
		answerOf(t, s, rm, c, goldCSP, s.head, t0, true)

		pos := openIncidentOf(s, "after")
		before := rm.Answers().Stats()
		touched, _ := answerOf(t, s, rm, c, goldCSP, pos, t0, true)
		wantDomainAnswer(t, s, touched, t0, true, "the partner the commit touched, asking for it")
		// A poll may have let the query through before the runner told which partners
		// its commit touched; until it has, no answer of the partition is served.
		testkit.Eventually(t, "the runner told its commit", func() bool {
			_, settled := c.PartnerStamp(RemainingIncidentsName, actionPack)
			return settled
		})
		untouched, _ := answerOf(t, s, rm, c, actionPack, pos, t0, true)
		wantAnswerOf(t, s, actionPack, untouched, t0, true, "the partner the commit did not touch")
		after := rm.Answers().Stats()
		if hits, misses := after.Hits-before.Hits, after.Misses-before.Misses; hits != 1 || misses != 1 || string(untouched) != string(other) {
			t.Fatalf("after a commit for %s: %d hits, %d misses; want %s read again and %s's kept answer served",
				goldCSP, hits, misses, goldCSP, actionPack)
		}
	})
}

// A commit made by another process cannot say which partners it touched: this process
// learns of it by polling the checkpoints, and retires every kept answer of its
// partition, whether it runs a projector of its own (holding no partition here) or
// serves the API only. The query asking for the commit shows it; the other partner's
// answer is read again, and unchanged.
func TestACommitOfAnotherProcessRetiresTheKeptAnswersOfItsPartition(t *testing.T) {
	h := newHarness(t, sqldb.SQLite, readDialects[0].target(t))
	s := newScenario(t, h)
	s.run()
	h.owner = "this-process"
	here := h.runner(nil, All()...) // set up, never run: it applies nothing
	h.owner = "projector-elsewhere"
	s.serve()
	for _, process := range []struct {
		name string
		c    *Checkpoints
	}{{"projector process", here.Checkpoints()}, {"API-only process", NewCheckpoints(h.openReadDB())}} {
		t.Run(process.name, func(t *testing.T) {
			c, rm := process.c, keptAnswersFor(h, process.c)
			answerOf(t, s, rm, c, actionPack, s.head, t0, true)
			answerOf(t, s, rm, c, goldCSP, s.head, t0, true)

			pos := openIncidentOf(s, "elsewhere")
			before := rm.Answers().Stats()
			touched, _ := answerOf(t, s, rm, c, goldCSP, pos, t0, true)
			wantDomainAnswer(t, s, touched, t0, true, "the partner the commit touched, asking for it")
			untouched, _ := answerOf(t, s, rm, c, actionPack, pos, t0, true)
			wantAnswerOf(t, s, actionPack, untouched, t0, true, "the partner the commit did not touch")
			if hits := rm.Answers().Stats().Hits - before.Hits; hits != 0 {
				t.Fatalf("%d kept answers served after a commit whose partners this process cannot know", hits)
			}
		})
	}
}
