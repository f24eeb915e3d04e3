package projections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"ledger/domain"
	"ledger/infra/audit"
	"ledger/infra/commands"
	"ledger/infra/eventstore"
	"ledger/infra/paging"
	"ledger/infra/testkit"
)

var (
	rebuildT0 = time.Date(2026, 1, 15, 9, 0, 0, 0, time.UTC)
	platform  = domain.Actor{UserID: "partner-center", SystemRoles: []string{domain.SystemPlatform}}
	opsActor  = domain.Actor{UserID: "ops-1", SystemRoles: []string{domain.SystemOps}}
)

// partnerWriter runs commands through the real executor (sealed, rule-versioned events).
type partnerWriter struct {
	t     *testing.T
	x     *commands.Executor
	clock *testkit.Clock
}

func newPartnerWriter(t *testing.T, store commands.EventStore, clock *testkit.Clock) *partnerWriter {
	return &partnerWriter{t: t, x: commands.New(store, commands.WithClock(clock.Now)), clock: clock}
}

func (w *partnerWriter) do(mpnID string, cmd domain.Command) {
	w.t.Helper()
	if _, err := w.x.Partner(context.Background(), mpnID, cmd, commands.Meta{Actor: platform, CorrelationID: "test"}); err != nil {
		w.t.Fatalf("%s %s: %v", mpnID, cmd.CommandName(), err)
	}
}

// member enrols a partner with one membership and an admin; activate also activates.
func (w *partnerWriter) member(mpnID string, level domain.Level, competency string, activate bool) {
	w.t.Helper()
	w.do(mpnID, domain.EnrollPartner{MPNID: mpnID, By: platform, Name: "Partner " + mpnID})
	w.do(mpnID, domain.GrantMembership{MPNID: mpnID, By: platform, Level: level, Competency: competency,
		ValidFrom: rebuildT0, ValidUntil: rebuildT0.AddDate(2, 0, 0)})
	w.do(mpnID, domain.RegisterUser{MPNID: mpnID, By: platform, UserID: "admin@" + mpnID, AccountType: domain.AccountAAD,
		MPNLinked: true, Roles: []domain.Role{domain.RoleGlobalAdmin}})
	if activate {
		w.activate(mpnID)
	}
}

func (w *partnerWriter) activate(mpnID string) {
	w.t.Helper()
	w.do(mpnID, domain.ActivateBenefit{MPNID: mpnID, By: domain.Actor{UserID: "admin@" + mpnID}})
}

// rulesV2 is the rule change of the issue: Gold product support 20 -> 25, and
// "Data Analytics" moved into the cloud-competency list, from effective on.
func rulesV2(effective time.Time) domain.Rules {
	r := domain.DefaultRules()
	r.Version, r.EffectiveFrom = 2, effective
	r.Entitlements = map[domain.Level]domain.LevelEntitlement{}
	for l, e := range domain.DefaultRules().Entitlements {
		r.Entitlements[l] = e
	}
	gold := r.Entitlements[domain.LevelGold]
	gold.ProductSupport = &domain.Allowance{Incidents: 25}
	r.Entitlements[domain.LevelGold] = gold
	r.CloudCompetencies = append(slices.Clip(r.CloudCompetencies), "Data Analytics")
	return r
}

// setUpLive creates generation 1 of each projection and folds the whole log into it, as
// the runner would have: the live read model a rebuild starts from.
func setUpLive(t *testing.T, h *harness, ps ...Projection) {
	t.Helper()
	ctx := context.Background()
	if err := EnsureSchema(ctx, h.db); err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if err := initProjection(ctx, h.db, p); err != nil {
			t.Fatal(err)
		}
		st, _ := loadState(ctx, h.db, p.Name())
		prog := &liveProgress{st: st}
		a := applier{db: h.db, p: p, log: h.log}
		var batch []eventstore.RecordedEvent
		for ev, err := range h.store.ReadAll(ctx, eventstore.Start) {
			if err != nil {
				t.Fatal(err)
			}
			batch = append(batch, ev)
		}
		if _, err := a.apply(ctx, prog, batch); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRuleChangeThenRebuild(t *testing.T) {
	forEachReadDialect(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		clock := testkit.NewClock(rebuildT0)
		w := newPartnerWriter(t, h.store, clock)
		w.member("1000001", domain.LevelGold, "Cloud Platform", true)  // activated under v1: 20, unlimited
		w.member("1000002", domain.LevelGold, "Data Analytics", false) // activates under v2 below
		w.member("1000003", domain.LevelSilver, "Data Analytics", false)
		w.member("1000004", domain.LevelSilver, "Security", false) // no rule touches it
		effective := rebuildT0.Add(24 * time.Hour)
		if _, err := w.x.Rules(ctx, domain.PublishRules{By: opsActor, Rules: rulesV2(effective)},
			commands.Meta{Actor: opsActor, CorrelationID: "rules-v2"}); err != nil {
			t.Fatal(err)
		}
		rulesNow := rulesNowProjection{rules: func() domain.Rules {
			book, err := w.x.RuleBook(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return book.InForce(clock.Now())
		}}
		setUpLive(t, h, RemainingIncidentsProjection{}, BenefitsOverviewProjection{}, rulesNow)

		clock.Set(effective.Add(time.Hour)) // version 2 is now in force
		w.activate("1000002")               // decided by v2: 25, unlimited cloud
		setUpLiveCatchUp(t, h, RemainingIncidentsProjection{}, BenefitsOverviewProjection{}, rulesNow)

		// The rules-dependent read model is rebuilt: its rows now follow version 2.
		rep, err := RebuildAndCompare(ctx, h.db, h.store, rulesNow, RebuildOptions{BatchSize: 4, Logger: h.log})
		if err != nil {
			t.Fatal(err)
		}
		if !rep.Swapped || rep.FromGeneration != 1 || rep.ToGeneration != 2 {
			t.Fatalf("report: %+v", rep)
		}
		pools := tableDiff(t, rep, "test_membership_pools")
		if pools.Added != 0 || pools.Removed != 0 || pools.Changed != 4 || pools.RowsBefore != 4 || pools.RowsAfter != 4 {
			t.Fatalf("want exactly the 4 membership rows changed, got %+v", pools)
		}
		want := map[string]map[string]ColumnChange{
			"1000001": {"product_support": {"20", "25"}, "rules_version": {"1", "2"}},
			"1000002": {"product_support": {"20", "25"}, "signature_cloud": {"10", "unlimited"}, "rules_version": {"1", "2"}},
			"1000003": {"signature_cloud": {"5", "unlimited"}, "rules_version": {"1", "2"}},
			"1000004": {"rules_version": {"1", "2"}}, // same figures, now produced by version 2
		}
		for _, ch := range pools.ChangedRows {
			mpn := fmt.Sprint(ch.Key["mpn_id"])
			got := map[string]ColumnChange{}
			for c, v := range ch.Columns {
				got[c] = ColumnChange{fmt.Sprint(v.Before), fmt.Sprint(v.After)}
			}
			if fmt.Sprint(got) != fmt.Sprint(want[mpn]) {
				t.Errorf("partner %s: changed columns %v, want %v", mpn, got, want[mpn])
			}
			delete(want, mpn)
		}
		if len(want) != 0 {
			t.Errorf("changes missing from the sample: %v", want)
		}
		var live []membershipPoolRow
		if err := h.db.NewSelect().Model(&live).ModelTableExpr("test_membership_pools AS membership_pool_row").Order("mpn_id").Scan(ctx); err != nil {
			t.Fatal(err)
		}
		if len(live) != 4 || *live[0].ProductSupport != 25 || live[2].SignatureCloud != "unlimited" || live[3].RulesVersion != 2 {
			t.Fatalf("the live view does not follow version 2: %+v", live)
		}

		// The read models fed by decided events reflect each rule where it governed:
		// the contract activated under v1 keeps 20, the one activated under v2 has 25.
		// Rebuilding them changes nothing, and the diff says so.
		for _, p := range []Projection{RemainingIncidentsProjection{}, BenefitsOverviewProjection{}} {
			rep, err := RebuildAndCompare(ctx, h.db, h.store, p, RebuildOptions{Logger: h.log})
			if err != nil {
				t.Fatal(err)
			}
			if !rep.Unchanged() {
				t.Errorf("%s: a rebuild of an event-decided read model changed rows: %+v", p.Name(), rep.Tables)
			}
		}
		rm := NewReadModels(h.db)
		for mpn, want := range map[string]string{"1000001": "20 v1", "1000002": "25 v2"} {
			var row remainingIncidentRow
			if err := h.db.NewSelect().Model(&row).Where("mpn_id = ?", mpn).Where("pool_kind = ?", domain.PoolProductSupport).Scan(ctx); err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprintf("%d v%d", *row.Granted, row.RulesVersion); got != want {
				t.Errorf("partner %s product support: %s, want %s", mpn, got, want)
			}
			if ri, err := rm.RemainingIncidents(ctx, mpn, clock.Now()); err != nil || len(ri.Contracts) != 1 {
				t.Errorf("partner %s remaining incidents: %+v %v", mpn, ri, err)
			}
		}

		// History still shows which rules decided each past event.
		page, err := audit.History(ctx, h.store, "1000002", paging.Page{})
		if err != nil {
			t.Fatal(err)
		}
		var decided []string
		for _, e := range page.Events {
			var m struct {
				RulesVersion int `json:"rulesVersion"`
			}
			if err := json.Unmarshal(e.Metadata, &m); err != nil {
				t.Fatal(err)
			}
			decided = append(decided, fmt.Sprintf("%s@v%d", e.Type, m.RulesVersion))
		}
		wantHistory := []string{"PartnerEnrolled.v1@v1", "MembershipGranted.v1@v1", "UserRegistered.v1@v1", "BenefitActivated.v1@v2"}
		if !slices.Equal(decided, wantHistory) {
			t.Fatalf("history %v, want %v", decided, wantHistory)
		}
	})
}

// setUpLiveCatchUp folds what was appended since into the live generation.
func setUpLiveCatchUp(t *testing.T, h *harness, ps ...Projection) {
	t.Helper()
	ctx := context.Background()
	for _, p := range ps {
		st, err := loadState(ctx, h.db, p.Name())
		if err != nil {
			t.Fatal(err)
		}
		var batch []eventstore.RecordedEvent
		for ev, err := range h.store.ReadAll(ctx, st.Checkpoint) {
			if err != nil {
				t.Fatal(err)
			}
			batch = append(batch, ev)
		}
		a := applier{db: h.db, p: p, log: h.log}
		if _, err := a.apply(ctx, &liveProgress{st: st}, batch); err != nil {
			t.Fatal(err)
		}
	}
}

func tableDiff(t *testing.T, rep RebuildReport, table string) TableDiff {
	t.Helper()
	for _, d := range rep.Tables {
		if d.Table == table {
			return d
		}
	}
	t.Fatalf("no diff for %s in %+v", table, rep.Tables)
	return TableDiff{}
}

func TestQueriesAnswerThroughoutARebuild(t *testing.T) {
	forEachReadDialect(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		clock := testkit.NewClock(rebuildT0)
		w := newPartnerWriter(t, h.store, clock)
		const partners = 40
		for i := range partners {
			w.member(fmt.Sprintf("20000%02d", i), domain.LevelGold, "Cloud Platform", true)
		}
		setUpLive(t, h, All()...)
		rm := NewReadModels(h.db)

		stop := make(chan struct{})
		var queries atomic.Int64
		var failures []string
		var mu sync.Mutex
		var wg sync.WaitGroup
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				mpn := fmt.Sprintf("20000%02d", i%partners)
				ri, err := rm.RemainingIncidents(ctx, mpn, clock.Now())
				b, berr := rm.Benefits(ctx, mpn, clock.Now(), true)
				mu.Lock()
				switch {
				case err != nil || berr != nil:
					failures = append(failures, fmt.Sprintf("%s: %v / %v", mpn, err, berr))
				case len(ri.Contracts) != 1 || b.Activation == nil:
					failures = append(failures, fmt.Sprintf("%s: empty answer %+v %+v", mpn, ri, b))
				}
				mu.Unlock()
				queries.Add(1)
			}
		})
		for _, p := range All() {
			for _, dry := range []bool{true, false} {
				if _, err := RebuildAndCompare(ctx, h.db, h.store, p, RebuildOptions{BatchSize: 10, DryRun: dry, Logger: h.log}); err != nil {
					t.Fatalf("%s: %v", p.Name(), err)
				}
			}
		}
		close(stop)
		wg.Wait()
		if len(failures) > 0 {
			t.Fatalf("%d of %d queries failed during rebuilds, first: %s", len(failures), queries.Load(), failures[0])
		}
		if queries.Load() == 0 {
			t.Fatal("no query ran during the rebuilds")
		}
		st, _ := loadState(ctx, h.db, RemainingIncidentsName)
		if st.Generation != 2 {
			t.Fatalf("dry runs must not swap and the real run must: generation %d, want 2", st.Generation)
		}
	})
}

func TestAnInterruptedRebuildResumesAndLeavesTheLiveModelWhole(t *testing.T) {
	forEachReadDialect(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		clock := testkit.NewClock(rebuildT0)
		w := newPartnerWriter(t, h.store, clock)
		for i := range 10 {
			w.member(fmt.Sprintf("30000%02d", i), domain.LevelGold, "Cloud Platform", true)
		}
		p := RemainingIncidentsProjection{}
		setUpLive(t, h, p)

		cut, cancel := context.WithCancel(ctx)
		_, err := RebuildAndCompare(cut, h.db, h.store, p, RebuildOptions{BatchSize: 8, Logger: h.log,
			Progress: func(RebuildProgress) { cancel() }})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("want the rebuild cancelled, got %v", err)
		}
		st, _ := loadState(ctx, h.db, p.Name())
		if st.Generation != 1 {
			t.Fatalf("live generation %d after an interrupted rebuild, want 1", st.Generation)
		}
		if ri, err := NewReadModels(h.db).RemainingIncidents(ctx, "3000001", clock.Now()); err != nil || len(ri.Contracts) != 1 {
			t.Fatalf("live model broken after an interruption: %+v %v", ri, err)
		}
		if rs, ok, err := LatestRebuild(ctx, h.db, p.Name()); err != nil || !ok || rs.Status != RebuildStopped || rs.Events != 8 {
			t.Fatalf("latest rebuild: %+v %v %v", rs, ok, err)
		}

		rep, err := RebuildAndCompare(ctx, h.db, h.store, p, RebuildOptions{BatchSize: 8, Logger: h.log})
		if err != nil {
			t.Fatal(err)
		}
		if !rep.Resumed || rep.Events != 40-8 || !rep.Unchanged() || !rep.Swapped {
			t.Fatalf("want a resumed run folding the 32 remaining events into an identical model, got %+v", rep)
		}
	})
}

// rulesNowProjection is the shape of a read model that depends on the rules in force
// when it folds an event (given by rules, as a runner would pass them from the rule
// book), not on rules an event recorded: for each membership, the pools it would give
// under those rules. None of the ledger's own read models is of this kind (their rule
// outcomes are decided into the events); it is here to prove what a rebuild after a
// rule change does for one that is.
type rulesNowProjection struct{ rules func() domain.Rules }

type membershipPoolRow struct {
	MPNID          string `bun:"mpn_id,pk"`
	MembershipID   string `bun:"membership_id,pk"`
	Level          string `bun:"level,notnull"`
	Competency     string `bun:"competency,notnull"`
	ProductSupport *int   `bun:"product_support"`
	SignatureCloud string `bun:"signature_cloud,notnull"` // unlimited | N | none
	RulesVersion   int    `bun:"rules_version,notnull"`
}

func (rulesNowProjection) Name() string     { return "test_rules_now" }
func (rulesNowProjection) Version() int     { return 1 }
func (rulesNowProjection) Tables() []string { return []string{"test_membership_pools"} }

func (rulesNowProjection) Create(ctx context.Context, db bun.IDB, t Tables) error {
	return createTable[membershipPoolRow](ctx, db, t, "test_membership_pools")
}

func (p rulesNowProjection) Apply(ctx context.Context, tx bun.Tx, t Tables, batch []eventstore.RecordedEvent) error {
	events, err := typesOf(domain.MembershipGranted{}).decode(ctx, batch)
	if err != nil {
		return err
	}
	r := p.rules()
	var rows []membershipPoolRow
	for _, d := range events {
		e := d.event.(domain.MembershipGranted)
		row := membershipPoolRow{MPNID: e.MPNID, MembershipID: e.MembershipID, Level: string(e.Level),
			Competency: e.Competency, SignatureCloud: "none", RulesVersion: r.Version}
		ent := r.Entitlements[e.Level]
		if ent.ProductSupport != nil {
			n := ent.ProductSupport.Incidents
			row.ProductSupport = &n
		}
		cloud := ent.SignatureCloudWithOtherCompetency
		if r.IsCloudCompetency(e.Competency) {
			cloud = ent.SignatureCloudWithCloudCompetency
		}
		switch {
		case e.Competency == "" || cloud == nil:
		case cloud.Unlimited:
			row.SignatureCloud = "unlimited"
		default:
			row.SignatureCloud = fmt.Sprint(cloud.Incidents)
		}
		rows = append(rows, row)
	}
	return upsertRows(ctx, tx, t, "test_membership_pools", rows)
}

// A rebuilding process that dies (here: freezes for good after committing its first
// batch, as a kill -9 leaves it: no "interrupted" mark, no heartbeat) blocks a second
// rebuild only until its lease runs out; the second then takes the half-built
// generation over and folds only what the first had not. Should the first wake up, it
// can write nothing more.
func TestAKilledRebuildIsTakenOverAndResumedWhereItStopped(t *testing.T) {
	forEachReadDialect(t, func(t *testing.T, h *harness) {
		lease := rebuildLease
		rebuildLease = 300 * time.Millisecond
		t.Cleanup(func() { rebuildLease = lease })
		ctx := context.Background()
		clock := testkit.NewClock(rebuildT0)
		w := newPartnerWriter(t, h.store, clock)
		for i := range 10 {
			w.member(fmt.Sprintf("40000%02d", i), domain.LevelGold, "Cloud Platform", true)
		}
		p := RemainingIncidentsProjection{}
		setUpLive(t, h, p)

		killed, wake := make(chan struct{}), make(chan struct{})
		firstErr := make(chan error, 1)
		go func() {
			var once sync.Once
			_, err := RebuildAndCompare(ctx, h.db, h.store, p, RebuildOptions{BatchSize: 8, Logger: h.log,
				Progress: func(RebuildProgress) { once.Do(func() { close(killed); <-wake }) }})
			firstErr <- err
		}()
		<-killed
		if _, err := RebuildAndCompare(ctx, h.db, h.store, p, RebuildOptions{BatchSize: 8, Logger: h.log}); !errors.Is(err, ErrRebuildRunning) {
			t.Fatalf("a second rebuild while the first one's lease holds: %v, want ErrRebuildRunning", err)
		}
		var rep RebuildReport
		testkit.Eventually(t, "the dead rebuild's lease to run out", func() bool {
			var err error
			rep, err = RebuildAndCompare(ctx, h.db, h.store, p, RebuildOptions{BatchSize: 8, Logger: h.log})
			if err != nil && !errors.Is(err, ErrRebuildRunning) {
				t.Fatal(err)
			}
			return err == nil
		})
		if !rep.Resumed || rep.Events != 40-8 || !rep.Unchanged() || !rep.Swapped {
			t.Fatalf("want the take-over to fold only the 32 events the dead one had not, into an identical model: %+v", rep)
		}
		close(wake)
		if err := <-firstErr; !errors.Is(err, errRebuildTakenOver) {
			t.Fatalf("the woken rebuild: %v, want it refused as taken over", err)
		}
		if ri, err := NewReadModels(h.db).RemainingIncidents(ctx, "4000003", clock.Now()); err != nil || len(ri.Contracts) != 1 {
			t.Fatalf("live model after the take-over: %+v %v", ri, err)
		}
	})
}

// A version bump found at start-up goes through the rebuild engine: it resumes what an
// interrupted start-up of the same version had built (folding only the rest), records
// the rebuild ops see in GET /v1/ops/projections, and swaps the new generation in.
func TestAVersionBumpAtStartUpResumesThroughTheRebuildEngine(t *testing.T) {
	forEachReadDialect(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		h.appendEvents(30, "TestHappened")
		setUpLive(t, h, newCounter("counter"))

		v2 := newCounter("counter")
		v2.version = 2
		cut, cancel := context.WithCancel(ctx)
		if _, err := RebuildAndCompare(cut, h.db, h.store, v2, RebuildOptions{BatchSize: 8, Logger: h.log,
			Progress: func(RebuildProgress) { cancel() }}); !errors.Is(err, context.Canceled) {
			t.Fatalf("want the first start-up cut short, got %v", err)
		}

		restarted := newCounter("counter")
		restarted.version = 2
		var folded atomic.Int64
		restarted.onApply = func(batch []eventstore.RecordedEvent) { folded.Add(int64(len(batch))) }
		if err := h.runner(nil, restarted).Setup(ctx); err != nil {
			t.Fatal(err)
		}
		if folded.Load() != 30-8 {
			t.Fatalf("the restarted start-up folded %d events, want the 22 the first had not", folded.Load())
		}
		rs, ok, err := LatestRebuild(ctx, h.db, "counter")
		if err != nil || !ok || rs.Status != RebuildDone || rs.Generation != 2 || rs.Events != 30 {
			t.Fatalf("latest rebuild %+v (%v, %v), want done into generation 2 with all 30 events", rs, ok, err)
		}
		st, err := loadState(ctx, h.db, "counter")
		if err != nil || st.Version != 2 || st.Generation != 2 || st.Status != StatusLive {
			t.Fatalf("state %+v (%v), want version 2 live in generation 2", st, err)
		}
		total := 0
		for _, n := range restarted.counts(t, h.db) {
			total += n
		}
		if total != 30 {
			t.Fatalf("%d events counted after the version bump, want 30", total)
		}
	})
}

// A half-built generation is resumed only by the code version that built it: a version
// bump at start-up after an interrupted rebuild by the old code builds afresh, so no
// row of the new generation comes from the old code.
func TestAnInterruptedRebuildOfAnotherVersionIsNotResumed(t *testing.T) {
	forEachReadDialect(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		h.appendEvents(30, "TestHappened")
		v1 := newCounter("counter")
		setUpLive(t, h, v1)
		cut, cancel := context.WithCancel(ctx)
		if _, err := RebuildAndCompare(cut, h.db, h.store, v1, RebuildOptions{BatchSize: 8, Logger: h.log,
			Progress: func(RebuildProgress) { cancel() }}); !errors.Is(err, context.Canceled) {
			t.Fatalf("want the old version's rebuild cut short, got %v", err)
		}

		v2 := newCounter("counter")
		v2.version = 2
		var folded atomic.Int64
		v2.onApply = func(batch []eventstore.RecordedEvent) { folded.Add(int64(len(batch))) }
		if err := h.runner(nil, v2).Setup(ctx); err != nil {
			t.Fatal(err)
		}
		if folded.Load() != 30 {
			t.Fatalf("version 2 folded %d events, want all 30: it must not resume version 1's generation", folded.Load())
		}
		if rs, ok, err := LatestRebuild(ctx, h.db, "counter"); err != nil || !ok || rs.Status != RebuildDone || rs.Events != 30 {
			t.Fatalf("latest rebuild %+v (%v, %v)", rs, ok, err)
		}
	})
}
