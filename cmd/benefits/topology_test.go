package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"ledger/domain"
	"ledger/handlers"
	"ledger/infra/esdbstore"
	"ledger/infra/eventstore"
	"ledger/infra/metrics/metricstest"
	"ledger/infra/partition"
	"ledger/infra/pgtest"
	"ledger/infra/testkit"
	"ledger/projections"
)

// The production topology without Docker (issue 6): the EventStoreDB protocol server and
// NATS with JetStream as processes of their own (scripts/esdbserver, scripts/natsserver),
// a throwaway PostgreSQL for the read models, and the ledger split into four processes
// of the same binary: one API, one forwarder and two projectors sharing the read models'
// partitions (issue 11: each partition is pinned to one projector at a time by NATS).

const topoSecret = "topology-secret-0123456789abcdef0123"

// topoPartitions is how many partitions the topology splits each read model into, and
// topoPinTTL how long a killed projector keeps its partitions.
const (
	topoPartitions = 4
	topoPinTTL     = 2 * time.Second
)

// topology is the servers and the ledger's processes.
type topology struct {
	t       testing.TB
	bins    topoBinaries
	esdbURL string
	env     []string
}

func startTopology(t testing.TB) *topology {
	t.Helper()
	bins := buildTopology(t)
	esdb := startProc(t, "esdbserver", nil, bins.esdbServer, "--addr", "127.0.0.1:0")
	nats := startProc(t, "natsserver", nil, bins.natsServer, "--port", "0", "--store-dir", t.TempDir())
	tp := &topology{t: t, bins: bins, esdbURL: esdb.readyURL(t)}
	tp.env = []string{
		"BENEFITS_EVENT_STORE=" + tp.esdbURL,
		"BENEFITS_READ_DB=" + pgtest.NewDatabase(t),
		"BENEFITS_NATS_URL=" + nats.readyURL(t),
		"BENEFITS_JWT_SECRET=" + topoSecret,
		"BENEFITS_LOG_FORMAT=json",
		"BENEFITS_SHUTDOWN_TIMEOUT=20s",
		"BENEFITS_PROJECTION_PARTITIONS=" + strconv.Itoa(topoPartitions),
		"BENEFITS_PROJECTION_PIN_TTL=" + topoPinTTL.String(),
		// A query after a projector's kill -9 waits for the failover and the catch-up.
		"BENEFITS_QUERY_WAIT=20s",
	}
	return tp
}

// topoRole is one `benefits serve --role ...` process.
type topoRole struct {
	name string
	proc *topoProc
	api  topoClient
}

func (tp *topology) start(name string, role Role) *topoRole {
	t := tp.t
	t.Helper()
	env := append(slices.Clone(tp.env), "BENEFITS_DATA_DIR="+t.TempDir())
	p := startProc(t, name, env, tp.bins.benefits, "serve", "--role", string(role), "--addr", "127.0.0.1:0")
	r := &topoRole{name: name, proc: p,
		api: topoClient{base: "http://" + p.listenAddr(t),
			http: &http.Client{Timeout: 30 * time.Second, Transport: &contractCheck{t: t, next: http.DefaultTransport}}}}
	r.api.waitReady(t, name)
	return r
}

// startRoles starts the projectors first (they create the read models' tables), then
// the forwarder and the API.
func (tp *topology) startRoles() (api, forwarder, projA, projB *topoRole) {
	projA = tp.start("projector-a", RoleProjector)
	projB = tp.start("projector-b", RoleProjector)
	forwarder = tp.start("forwarder", RoleForwarder)
	api = tp.start("api", RoleAPI)
	return api, forwarder, projA, projB
}

func topoToken(t testing.TB, sub string, roles ...handlers.SystemRole) string {
	t.Helper()
	tok, err := handlers.IssueToken([]byte(topoSecret), sub, roles, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// topoPartner is a Gold partner with a cloud competency: 20 product-support incidents
// (R6) and unlimited Signature Cloud incidents (R7, R8).
type topoPartner struct {
	mpn, adminTok, contractID string
}

const goldProductIncidents = 20

func enrolGoldPartner(t testing.TB, api topoClient, platform, mpn string) topoPartner {
	t.Helper()
	api.must(t, http.MethodPost, "/v1/partners", platform, map[string]any{"mpnId": mpn, "name": "Partner " + mpn}, http.StatusCreated, nil)
	api.must(t, http.MethodPost, "/v1/partners/"+mpn+"/memberships", platform, map[string]any{
		"offer": "gold", "competency": "Cloud Platform", "validTo": time.Now().AddDate(1, 0, 0)}, http.StatusCreated, nil)
	admin := "admin-" + mpn
	api.must(t, http.MethodPost, "/v1/partners/"+mpn+"/users", platform, map[string]any{
		"userId": admin, "accountType": "aad", "mpnLinked": true, "roles": []string{"global-admin"}}, http.StatusCreated, nil)
	p := topoPartner{mpn: mpn, adminTok: topoToken(t, admin)}
	var ids handlers.ActivationAnswer
	api.must(t, http.MethodPost, "/v1/partners/"+mpn+"/technical-support/activate", p.adminTok, nil, http.StatusCreated, &ids)
	p.contractID = ids.ContractID
	api.must(t, http.MethodPost, "/v1/contracts/"+ids.ContractID+"/links", p.adminTok,
		map[string]any{"accessId": ids.AccessID}, http.StatusCreated, nil)
	return p
}

func (p topoPartner) incident(cloud bool) map[string]any {
	if cloud {
		return map[string]any{"contractId": p.contractID, "kind": "signature-cloud", "product": "Azure", "title": "down"}
	}
	return map[string]any{"contractId": p.contractID, "kind": "product-support", "product": "Windows Server",
		"version": "2025", "title": "slow"}
}

// storeTruth is what the event store itself holds: the source the read models must match.
type storeTruth struct {
	head        eventstore.Position
	events      int
	byPartition [topoPartitions]int
	incidents   map[string]map[string]domain.PoolKind // mpn → incident ID → pool
}

func readTruth(t testing.TB, esdbURL string) storeTruth {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	store, err := esdbstore.Open(ctx, esdbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	truth := storeTruth{incidents: map[string]map[string]domain.PoolKind{}}
	for ev, err := range store.ReadAll(ctx, eventstore.Start) {
		if err != nil {
			t.Fatal(err)
		}
		truth.events++
		truth.byPartition[partition.OfStream(ev.Stream, topoPartitions)]++
		truth.head = ev.Position
		if ev.Type != (domain.IncidentOpened{}).EventType() {
			continue
		}
		e, err := domain.Decode(ev.Type, ev.Data)
		if err != nil {
			t.Fatal(err)
		}
		opened := e.(domain.IncidentOpened)
		if truth.incidents[opened.MPNID] == nil {
			truth.incidents[opened.MPNID] = map[string]domain.PoolKind{}
		}
		truth.incidents[opened.MPNID][opened.IncidentID] = opened.Pool
	}
	return truth
}

// checkReadModels asks the API, at minPosition = the store's head, for every partner's
// pools and incidents, and compares them with the store: nothing missing, nothing
// counted twice, no batch half applied.
func checkReadModels(t testing.TB, api topoClient, partners []topoPartner, truth storeTruth) {
	t.Helper()
	min := "?" + handlers.QueryMinPosition + "=" + url.QueryEscape(truth.head.String())
	for _, p := range partners {
		want := truth.incidents[p.mpn]
		used := map[domain.PoolKind]int{}
		for _, pool := range want {
			used[pool]++
		}
		var rem projections.RemainingIncidents
		api.must(t, http.MethodGet, "/v1/partners/"+p.mpn+"/remaining-incidents"+min, p.adminTok, nil, http.StatusOK, &rem)
		if len(rem.Contracts) != 1 {
			t.Fatalf("partner %s: %d contracts, want 1", p.mpn, len(rem.Contracts))
		}
		for _, pool := range rem.Contracts[0].Pools {
			kind := domain.PoolKind(pool.Kind)
			if pool.Used != used[kind] {
				t.Errorf("partner %s pool %s: read model used %d, event store %d", p.mpn, kind, pool.Used, used[kind])
			}
			if kind == domain.PoolProductSupport && (pool.Remaining == nil || *pool.Remaining != goldProductIncidents-used[kind]) {
				t.Errorf("R6/R22 partner %s: remaining %v, want %d", p.mpn, pool.Remaining, goldProductIncidents-used[kind])
			}
			if kind == domain.PoolSignatureCloud && pool.Remaining != nil {
				t.Errorf("R7 partner %s: cloud pool remaining %d, want unlimited", p.mpn, *pool.Remaining)
			}
		}
		got := map[string]bool{}
		for cursor, first := "", true; first || cursor != ""; first = false {
			var list projections.Incidents
			page := min
			if cursor != "" {
				page += "&" + handlers.QueryCursor + "=" + url.QueryEscape(cursor)
			}
			api.must(t, http.MethodGet, "/v1/partners/"+p.mpn+"/incidents"+page, p.adminTok, nil, http.StatusOK, &list)
			for _, in := range list.Incidents {
				if got[in.IncidentID] {
					t.Errorf("partner %s: incident %s listed twice", p.mpn, in.IncidentID)
				}
				got[in.IncidentID] = true
				if _, ok := want[in.IncidentID]; !ok {
					t.Errorf("partner %s: incident %s in the read model but not in the event store", p.mpn, in.IncidentID)
				}
			}
			cursor = list.NextCursor
		}
		for id := range want {
			if !got[id] {
				t.Errorf("partner %s: incident %s in the event store but missing from the read model", p.mpn, id)
			}
		}
	}
}

func scrapeRole(t testing.TB, r *topoRole) metricstest.Page {
	t.Helper()
	page, err := metricstest.Scrape(r.api.http, r.api.base+"/metrics")
	if err != nil {
		t.Fatalf("%s: %v", r.name, err)
	}
	return page
}

func TestTopologyEachPartitionIsAppliedOnceByOneProjectorAtATimeThroughKill9AndSIGTERM(t *testing.T) {
	tp := startTopology(t)
	api, forwarder, projA, projB := tp.startRoles()
	platform := topoToken(t, "partner-center", handlers.RolePlatform)

	// Phase 1: several partners at once, two in each partition, over HTTP to the API.
	mpns := topoPartnerIDs(t, 2)
	partners := make([]topoPartner, len(mpns))
	var wg sync.WaitGroup
	for i, mpn := range mpns {
		wg.Go(func() {
			p := enrolGoldPartner(t, api.api, platform, mpn)
			for k := range 10 {
				api.api.must(t, http.MethodPost, "/v1/incidents", p.adminTok, p.incident(k%2 == 1), http.StatusCreated, nil)
			}
			partners[i] = p
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	truth := readTruth(t, tp.esdbURL)
	checkReadModels(t, api.api, partners, truth)

	// Each partition of each read model is applied by one projector at a time (NATS pins
	// its consumer to one), and per partition the two projectors' commits add up to the
	// store's events in it: none applied twice, none skipped, whoever applied it.
	waitPartitionsCommitted(t, truth, projA, projB)
	held := checkPartitionOwnership(t, truth, scrapeRole(t, projA), scrapeRole(t, projB))
	t.Logf("phase 1: %d events x %d read models in %d partitions %v; partitions held A:B %s; gap warnings A %d / B %d",
		truth.events, len(projections.All()), topoPartitions, truth.byPartition, held, gapWarnings(projA), gapWarnings(projB))

	checkRequestLogs(t, api, platform)
	checkRoleMetrics(t, api, forwarder)

	// Phase 2: kill -9 of a projector while commands keep coming. The other takes its
	// partitions over once NATS unpins them (topoPinTTL); the read models then hold every
	// acknowledged command once.
	load := startLoad(t, partners, api.api)
	load.waitAcked(t, 30)
	projA.proc.signal(t, syscall.SIGKILL)
	projA.proc.exited(t, 10*time.Second)
	load.waitAcked(t, 60)
	acked := load.stop(t)
	truth = readTruth(t, tp.esdbURL)
	checkAckedStored(t, acked, truth)
	checkReadModels(t, api.api, partners, truth)
	t.Logf("phase 2: kill -9 of projector A under load; %d acknowledged, %d events, projector B gap warnings %d",
		countAll(acked), truth.events, gapWarnings(projB))

	// Phase 3: SIGTERM every role while commands keep coming, then start them again.
	acked = loadThenSIGTERM(t, partners, api, forwarder, projB)
	api, _, _, _ = tp.startRoles()
	truth = readTruth(t, tp.esdbURL)
	checkAckedStored(t, acked, truth)
	checkReadModels(t, api.api, partners, truth)
	t.Logf("phase 3: %d events after the restart, %d acknowledged under load", truth.events, countAll(acked))
}

// topoPartnerIDs picks perPartition MPN IDs in each of the topology's partitions.
func topoPartnerIDs(t testing.TB, perPartition int) []string {
	t.Helper()
	var out []string
	taken := map[int]int{}
	for i := 0; len(out) < perPartition*topoPartitions && i < 10_000; i++ {
		mpn := fmt.Sprintf("%07d", 3000001+i)
		if k := partition.Of(mpn, topoPartitions); taken[k] < perPartition {
			taken[k]++
			out = append(out, mpn)
		}
	}
	if len(out) < perPartition*topoPartitions {
		t.Fatalf("found %d MPN IDs for %d partitions", len(out), topoPartitions)
	}
	return out
}

// checkAckedStored: every command the API acknowledged is in the event store.
func checkAckedStored(t testing.TB, acked map[string][]string, truth storeTruth) {
	t.Helper()
	for mpn, ids := range acked {
		for _, id := range ids {
			if _, ok := truth.incidents[mpn][id]; !ok {
				t.Errorf("acknowledged incident %s of partner %s is not in the event store", id, mpn)
			}
		}
	}
}

// partitionApplied reads a projector's committed events in one partition of a read model.
func partitionApplied(page metricstest.Page, model string, k int) float64 {
	v, _ := page.Value("benefits_projection_partition_events_applied_total",
		metricstest.Labels{"projection": model, "partition": strconv.Itoa(k)})
	return v
}

func partitionHeld(page metricstest.Page, model string, k int) float64 {
	v, _ := page.Value("benefits_projection_partition_held", metricstest.Labels{"projection": model, "partition": strconv.Itoa(k)})
	return v
}

// checkPartitionOwnership checks, for every partition of every read model, that the
// two projectors' commits add up to the store's events in the partition and that at most
// one of them holds it; it returns how many partitions each holds, as "a:b".
func checkPartitionOwnership(t testing.TB, truth storeTruth, pageA, pageB metricstest.Page) string {
	t.Helper()
	heldA, heldB, appliedA, appliedB := 0.0, 0.0, 0.0, 0.0
	for _, p := range projections.All() {
		for k := range topoPartitions {
			a, b := partitionApplied(pageA, p.Name(), k), partitionApplied(pageB, p.Name(), k)
			appliedA, appliedB = appliedA+a, appliedB+b
			if int(a+b) != truth.byPartition[k] {
				t.Errorf("read model %s partition %d: projector A committed %v + B %v events, the store holds %d",
					p.Name(), k, a, b, truth.byPartition[k])
			}
			ha, hb := partitionHeld(pageA, p.Name(), k), partitionHeld(pageB, p.Name(), k)
			if ha+hb > 1 {
				t.Errorf("read model %s partition %d is held by both projectors", p.Name(), k)
			}
			heldA, heldB = heldA+ha, heldB+hb
		}
	}
	return fmt.Sprintf("%v:%v (events applied %v:%v)", heldA, heldB, appliedA, appliedB)
}

// waitPartitionsCommitted waits until the two projectors' commits reach the store's
// events in every partition of every read model: the API's read-your-writes wait covers
// only the partitions its queries read. It gives up silently after testkit.HangBound (or
// at once on a count past the store's); checkPartitionOwnership then reports what is wrong.
func waitPartitionsCommitted(t testing.TB, truth storeTruth, projA, projB *topoRole) {
	t.Helper()
	deadline := time.Now().Add(testkit.HangBound)
	for time.Now().Before(deadline) {
		pageA, pageB := scrapeRole(t, projA), scrapeRole(t, projB)
		done := true
		for _, p := range projections.All() {
			for k := range topoPartitions {
				n := int(partitionApplied(pageA, p.Name(), k) + partitionApplied(pageB, p.Name(), k))
				if n > truth.byPartition[k] {
					return
				}
				done = done && n == truth.byPartition[k]
			}
		}
		if done {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// gapWarnings counts a projector's log lines reporting a gap filled from the store.
func gapWarnings(r *topoRole) int {
	n := 0
	for _, rec := range r.proc.jsonLines() {
		if msg, _ := rec["msg"].(string); strings.HasPrefix(msg, "gap in the event chain") {
			n++
		}
	}
	return n
}

func countAll(m map[string][]string) int {
	n := 0
	for _, v := range m {
		n += len(v)
	}
	return n
}

// topoLoad is one client per partner opening incidents until stopped or until the API
// stops answering; it keeps the incidents the API acknowledged, by partner.
type topoLoad struct {
	stopped atomic.Bool
	wg      sync.WaitGroup
	mu      sync.Mutex
	acked   map[string][]string
	total   int
}

// A stopped load lets each client's request in flight finish, so that once stop returns
// the store holds nothing the test has not heard of.
func startLoad(t testing.TB, partners []topoPartner, api topoClient) *topoLoad {
	l := &topoLoad{acked: map[string][]string{}}
	for _, p := range partners {
		l.wg.Go(func() {
			for k := 0; !l.stopped.Load(); k++ {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				r, err := api.do(ctx, http.MethodPost, "/v1/incidents", p.adminTok, p.incident(k%2 == 1))
				cancel()
				if err != nil {
					return // the API stopped listening: nothing more is acknowledged
				}
				var in handlers.IncidentAnswer
				switch {
				case r.status == http.StatusCreated && json.Unmarshal(r.body, &in) == nil:
					l.mu.Lock()
					l.acked[p.mpn] = append(l.acked[p.mpn], in.IncidentID)
					l.total++
					l.mu.Unlock()
				case r.status == http.StatusConflict: // R22: the product pool is used up
				default:
					t.Errorf("partner %s under load: %d %s", p.mpn, r.status, r.body)
					return
				}
			}
		})
	}
	return l
}

// waitAcked waits until n commands in all were acknowledged, and fails the test if they
// never are: a fault injected before the load is under way would prove nothing.
func (l *topoLoad) waitAcked(t testing.TB, n int) {
	t.Helper()
	testkit.Eventually(t, fmt.Sprintf("%d commands are acknowledged under load", n), func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.total >= n
	})
}

// stop ends the clients and returns what was acknowledged.
func (l *topoLoad) stop(t testing.TB) map[string][]string {
	t.Helper()
	l.stopped.Store(true)
	l.wg.Wait()
	if l.total == 0 {
		t.Fatal("no command was acknowledged: the test put no load on the API")
	}
	return l.acked
}

// loadThenSIGTERM puts load on the API, sends SIGTERM to every role while it runs, and
// waits for each to exit cleanly. It returns the incidents the API acknowledged.
func loadThenSIGTERM(t testing.TB, partners []topoPartner, roles ...*topoRole) map[string][]string {
	t.Helper()
	load := startLoad(t, partners, roles[0].api)
	load.waitAcked(t, 60)
	for _, r := range roles {
		r.proc.signal(t, syscall.SIGTERM)
	}
	for _, r := range roles {
		if code := r.proc.exited(t, 40*time.Second); code != 0 {
			t.Errorf("%s exited %d after SIGTERM, want 0 (a clean shutdown)", r.name, code)
		}
	}
	return load.stop(t)
}

// checkRequestLogs: the API logs every request as one JSON line carrying its
// correlation ID, the client's own when it sent one.
func checkRequestLogs(t testing.TB, api *topoRole, tok string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const corr = "topology-correlation-1"
	r, err := api.api.do(ctx, http.MethodGet, "/v1/partners/9999999/benefits", tok, nil, handlers.HeaderCorrelationID, corr)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.header.Get(handlers.HeaderCorrelationID); got != corr {
		t.Errorf("answer carries correlation ID %q, want %q", got, corr)
	}
	deadline := time.Now().Add(testkit.HangBound)
	for {
		requests, found := 0, false
		for _, rec := range api.proc.jsonLines() {
			if rec["msg"] != "http request" {
				continue
			}
			requests++
			id, _ := rec["correlation_id"].(string)
			if id == "" {
				t.Fatalf("request log line without a correlation ID: %v", rec)
			}
			found = found || id == corr
		}
		if found && requests > 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no JSON request log line with correlation ID %q among %d request lines", corr, requests)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkRoleMetrics: the API counts commands by type and outcome and requests by route;
// the forwarder reports itself caught up.
func checkRoleMetrics(t testing.TB, api, forwarder *topoRole) {
	t.Helper()
	page := scrapeRole(t, api)
	for _, c := range []struct {
		metric  string
		labels  metricstest.Labels
		atLeast float64
	}{
		{"benefits_commands_total", metricstest.Labels{"command": "OpenIncident", "outcome": "accepted"}, 60},
		{"benefits_commands_total", metricstest.Labels{"command": "EnrollPartner", "outcome": "accepted"}, 6},
		{"benefits_http_requests_total", metricstest.Labels{"method": "POST", "route": "/v1/incidents", "status": "201"}, 60},
		{"benefits_event_store_appends_total", metricstest.Labels{"outcome": "ok"}, 60},
	} {
		if got, _ := page.Value(c.metric, c.labels); got < c.atLeast {
			t.Errorf("api: %s%v = %v, want at least %v", c.metric, c.labels, got, c.atLeast)
		}
	}
	deadline := time.Now().Add(testkit.HangBound)
	for {
		page := scrapeRole(t, forwarder)
		lag, ok := page.Value("benefits_forwarder_lag_events", nil)
		if ok && lag == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("forwarder lag %v (reported %v), want 0 once idle", lag, ok)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
