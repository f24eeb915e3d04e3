package projections

import (
	"context"
	"fmt"
	"testing"
	"time"

	"ledger/domain"
	"ledger/infra/eventstore"
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

// A commit made by another process is learnt of by polling the checkpoints; which
// partners it touched, this process reads from the touch log the other runner wrote in
// the same transaction. So it retires only those partners' kept answers, whether it runs
// a projector of its own (holding no partition here) or serves the API only: the query
// asking for the commit shows it, the other partner's answer is served as kept. A move
// the log does not hold (pruned, or written by code from before the log) counts as
// touching every partner of its partition: the other answer is read again, unchanged.
func TestACommitOfAnotherProcessRetiresOnlyTheKeptAnswersOfThePartnersItTouched(t *testing.T) {
	forEachReadDialect(t, anotherProcessRetiresOnlyTheKeptAnswersOfThePartnersItTouched)
}

func anotherProcessRetiresOnlyTheKeptAnswersOfThePartnersItTouched(t *testing.T, h *harness) {
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
		for _, logged := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s, move logged %v", process.name, logged), func(t *testing.T) {
				c, rm := process.c, keptAnswersFor(h, process.c)
				other, _ := answerOf(t, s, rm, c, actionPack, s.head, t0, true)
				answerOf(t, s, rm, c, goldCSP, s.head, t0, true)

				pos := openIncidentOf(s, "elsewhere")
				if !logged {
					h.forgetTouches(t, pos)
				}
				before := rm.Answers().Stats()
				touched, _ := answerOf(t, s, rm, c, goldCSP, pos, t0, true)
				wantDomainAnswer(t, s, touched, t0, true, "the partner the commit touched, asking for it")
				untouched, _ := answerOf(t, s, rm, c, actionPack, pos, t0, true)
				wantAnswerOf(t, s, actionPack, untouched, t0, true, "the partner the commit did not touch")
				hits := rm.Answers().Stats().Hits - before.Hits
				switch {
				case logged && (hits != 1 || string(untouched) != string(other)):
					t.Fatalf("%d kept answers served after a logged commit for %s, want %s's", hits, goldCSP, actionPack)
				case !logged && hits != 0:
					t.Fatalf("%d kept answers served after a commit missing from the log", hits)
				}
			})
		}
	}
}

// forgetTouches waits for the other runner to commit pos and deletes its move from the
// touch log, as pruning would before a slow poll.
func (h *harness) forgetTouches(t *testing.T, pos eventstore.Position) {
	t.Helper()
	ctx := context.Background()
	testkit.Eventually(t, "the move to the commit is logged", func() bool {
		n, err := h.db.NewSelect().Model((*touchRow)(nil)).Where("name = ? AND to_commit >= ?", RemainingIncidentsName, int64(pos.Commit)).Count(ctx)
		must(t, err)
		return n > 0
	})
	_, err := h.db.NewDelete().Model((*touchRow)(nil)).Where("name = ? AND to_commit >= ?", RemainingIncidentsName, int64(pos.Commit)).Exec(ctx)
	must(t, err)
}
