package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"ledger/infra/audit"
	"ledger/infra/eventstore"
	"ledger/infra/natsbus"
	"ledger/infra/testkit"
	"ledger/projections"
)

// The deployment of issue 6 in one test process: a forwarder, a projector and an API,
// each wired by its --role against one data directory and one NATS server. The first
// projector dies between committing a batch and acking it, and NATS restarts while
// commands keep coming; afterwards every read model answers exactly what a fold of the
// event store answers.
func TestReadModelsEqualAFoldOfTheStoreAfterAProjectorKillAndANATSRestart(t *testing.T) {
	bus := startBus(t)
	cfg := testConfig(t)
	cfg.NATSURL = bus.url()

	var first atomic.Pointer[process]
	var killed atomic.Bool
	p1 := startSystem(t, withRole(cfg, RoleProjector), wireOptions{wrapProjection: func(p projections.Projection) projections.Projection {
		return cutAfterApply{Projection: p, cut: func() {
			if proc := first.Load(); proc != nil && killed.CompareAndSwap(false, true) {
				proc.projectorConn.Close() // the batch commits; its ack never reaches NATS
			}
		}}
	}})
	first.Store(p1.proc)
	// The forwarder after the projector, whose consumers then exist: see awaitConsumers.
	startSystem(t, withRole(cfg, RoleForwarder), wireOptions{})
	api := startSystem(t, withRole(cfg, RoleAPI), wireOptions{})

	var mpns []string
	round := func(k int) { mpns = append(mpns, busyPartner(t, api, mpnFor(60, k))) }
	round(1)
	testkit.Eventually(t, "the first projector is cut between commit and ack", killed.Load)
	p1.stopBG()
	assertSomethingCommitted(t, api.proc.readDB) // by the projector that was cut before its ack
	startSystem(t, withRole(cfg, RoleProjector), wireOptions{})
	round(2)
	round(3)

	bus.stop()
	round(4) // accepted by the store while NATS is down
	bus.restart(t)
	round(5)

	head := api.head(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, p := range projections.All() {
		if _, err := api.proc.deps.Projections.WaitForPartner(ctx, p.Name(), "", head); err != nil {
			t.Fatalf("projection %s never reached the head %s: %v", p.Name(), head, err)
		}
	}
	for _, mpn := range mpns {
		assertReadModelsEqualTheFold(t, api, mpn)
	}
	assertNoDeadLetters(t, api.proc.readDB)
}

// busyPartner drives one partner through the whole life: memberships, users,
// activation, links, incidents on two pools, a close. It returns the MPN ID.
func busyPartner(t *testing.T, s *system, mpn string) string {
	t.Helper()
	p := s.ready(t, mpn, actionPack, silverOther)
	agent := s.user(t, mpn, "agent@"+mpn, userSpec{mpnLinked: true, roles: []string{"admin-agent"}})
	s.user(t, mpn, "reader@"+mpn, userSpec{msa: true})
	s.link(t, p, agent).want(t, http.StatusCreated)
	var opened []string
	for i := range 4 {
		in := productIncident(p.contractID, "SQL Server", "2025")
		tok := p.adminTok
		if i%2 == 1 {
			in, tok = cloudIncident(p.contractID, "Azure"), agent
			in["customerId"] = "customer-" + strconv.Itoa(i)
		}
		var answer struct{ IncidentID string }
		s.open(t, tok, in).want(t, http.StatusCreated).decode(t, &answer)
		opened = append(opened, answer.IncidentID)
	}
	s.post(t, "/v1/incidents/"+opened[0]+"/close", p.adminTok, nil).want(t, http.StatusOK)
	return mpn
}

// assertReadModelsEqualTheFold compares every query's answer about a partner with the
// answer rendered from the partner's events, folded from the store.
func assertReadModelsEqualTheFold(t *testing.T, s *system, mpn string) {
	t.Helper()
	at := s.clock.Now()
	// folded whole from the store: the executor's kept state holds its incidents
	// compacted, and is no view of them
	folded, err := audit.PartnerAsOf(context.Background(), s.proc.store, mpn, at)
	if err != nil {
		t.Fatal(err)
	}
	state := folded.Partner
	auditor := s.auditor(t)
	same := func(path string, want any) {
		t.Helper()
		r := s.get(t, path, auditor).want(t, http.StatusOK)
		if got, exp := normalised(t, r.body), normalised(t, mustJSON(t, want)); !reflect.DeepEqual(got, exp) {
			t.Errorf("%s\nread model: %s\nfold:       %s", path, r.body, mustJSON(t, want))
		}
	}
	same("/v1/partners/"+mpn+"/remaining-incidents", projections.RenderRemainingIncidents(state, at))
	same("/v1/partners/"+mpn+"/incidents", projections.RenderIncidents(state, ""))
	same("/v1/partners/"+mpn+"/benefits", projections.RenderBenefits(state, at, true))
	for _, c := range state.Contracts(at) {
		same("/v1/contracts/"+c.ContractID+"/linked-accounts", projections.RenderLinkedAccounts(state, c.ContractID))
	}
	for _, u := range state.Users() {
		same("/v1/accounts/"+u.UserID+"/support-plans", projections.RenderSupportPlans(state, u.UserID, at))
	}
}

func assertSomethingCommitted(t *testing.T, db *bun.DB) {
	t.Helper()
	states, err := projections.NewCheckpoints(db).States(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range states {
		if !st.Checkpoint.IsZero() {
			return
		}
	}
	t.Fatal("the cut projector committed nothing: the kill came before the commit, not between commit and ack")
}

func assertNoDeadLetters(t *testing.T, db *bun.DB) {
	t.Helper()
	states, err := projections.NewCheckpoints(db).States(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range states {
		if st.DeadLetters != 0 {
			t.Errorf("projection %s has %d dead letters", st.Name, st.DeadLetters)
		}
	}
}

// cutAfterApply runs a read model and then cuts: inside the batch's transaction, so the
// batch still commits.
type cutAfterApply struct {
	projections.Projection
	cut func()
}

func (c cutAfterApply) Apply(ctx context.Context, tx bun.Tx, t projections.Tables, batch []eventstore.RecordedEvent) error {
	if err := c.Projection.Apply(ctx, tx, t, batch); err != nil {
		return err
	}
	c.cut()
	return nil
}

func withRole(cfg Config, r Role) Config {
	cfg.Role = r
	return cfg
}

// bus is an embedded NATS server the test stops and restarts on the same port and store.
type bus struct {
	dir  string
	port int
	srv  *natsbus.Embedded
}

func startBus(t *testing.T) *bus {
	b := &bus{dir: t.TempDir()}
	b.restart(t)
	t.Cleanup(b.stop)
	return b
}

func (b *bus) restart(t *testing.T) {
	t.Helper()
	srv, err := natsbus.StartEmbedded(context.Background(), natsbus.EmbeddedOptions{StoreDir: b.dir, Port: b.port, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("start nats: %v", err)
	}
	b.srv = srv
	if b.port == 0 {
		u := srv.ClientURL()
		b.port, _ = strconv.Atoi(u[strings.LastIndexByte(u, ':')+1:])
	}
}

func (b *bus) stop() {
	if b.srv != nil {
		b.srv.Shutdown()
		b.srv = nil
	}
}

func (b *bus) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", b.port) }

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func normalised(t testing.TB, raw []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	return v
}
