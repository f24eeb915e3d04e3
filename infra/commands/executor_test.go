package commands

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"ledger/domain"
	"ledger/infra/eventmeta"
	"ledger/infra/eventstore"
	"ledger/infra/pgtest"
	"ledger/infra/sqlstore"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var now = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

var platform = domain.Actor{UserID: "partner-center", SystemRoles: []string{domain.SystemPlatform}}

func stores(t *testing.T) map[string]func(t *testing.T) eventstore.Store {
	return map[string]func(t *testing.T) eventstore.Store{
		"sqlite": func(t *testing.T) eventstore.Store {
			s, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "events.db"), sqlstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
		"postgres": func(t *testing.T) eventstore.Store {
			s, err := sqlstore.OpenPostgres(context.Background(), pgtest.NewDatabase(t), sqlstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
	}
}

// actionPackPartner enrols a partner with Action Pack (a product-support pool of 10,
// R6), activates the benefit as its global admin and links the contract to that admin.
func actionPackPartner(t *testing.T, x *Executor, mpn string) (admin domain.Actor, contractID string) {
	t.Helper()
	ctx := context.Background()
	admin = domain.Actor{UserID: "admin@" + mpn}
	must := func(c domain.Command) Outcome {
		t.Helper()
		out, err := x.Partner(ctx, mpn, c, Meta{Actor: c.(domain.PartnerCommand).Actor(), CorrelationID: "setup"})
		if err != nil {
			t.Fatalf("%s: %v", c.CommandName(), err)
		}
		return out
	}
	must(domain.EnrollPartner{MPNID: mpn, By: platform, Name: "Contoso"})
	must(domain.GrantMembership{MPNID: mpn, By: platform, Level: domain.LevelActionPack, ValidFrom: now.AddDate(0, -1, 0), ValidUntil: now.AddDate(1, 0, 0)})
	must(domain.RegisterUser{MPNID: mpn, By: platform, UserID: admin.UserID, AccountType: domain.AccountAAD, MPNLinked: true, Roles: []domain.Role{domain.RoleGlobalAdmin}})
	out := must(domain.ActivateBenefit{MPNID: mpn, By: admin})
	act, ok := out.State.Activation()
	if !ok {
		t.Fatal("no activation after ActivateBenefit")
	}
	must(domain.LinkContract{MPNID: mpn, By: admin, AccessID: act.AccessID, ContractID: act.ContractID})
	return admin, act.ContractID
}

// Guarantee 1 / R22: 200 concurrent incidents on a pool of 10 never over-draw it.
func TestConcurrentIncidentsNeverOverdrawThePool(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			store := open(t)
			x := New(store, WithClock(func() time.Time { return now }))
			admin, contract := actionPackPartner(t, x, "4711001")

			var wg sync.WaitGroup
			var mu sync.Mutex
			accepted, exhausted := 0, 0
			for i := 0; i < 200; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := x.Partner(context.Background(), "4711001", domain.OpenIncident{
						MPNID: "4711001", By: admin, Plan: domain.PlanProductSupport,
						Product: "SQL Server", Version: "2025", Title: "slow queries", ContractID: contract,
					}, Meta{Actor: admin, CorrelationID: "load"})
					mu.Lock()
					defer mu.Unlock()
					var de *domain.Error
					switch {
					case err == nil:
						accepted++
					case errors.As(err, &de) && de.Code == domain.CodePoolExhausted:
						exhausted++
					default:
						t.Errorf("unexpected error: %v", err)
					}
				}()
			}
			wg.Wait()
			if accepted != 10 || exhausted != 190 {
				t.Fatalf("accepted %d, pool_exhausted %d; want 10 and 190", accepted, exhausted)
			}
			state, _, err := x.LoadPartner(context.Background(), "4711001")
			if err != nil {
				t.Fatal(err)
			}
			c, ok := state.Contract(contract, now)
			if !ok {
				t.Fatal("contract missing")
			}
			for _, p := range c.Pools {
				if p.Kind == domain.PoolProductSupport && (p.Remaining == nil || *p.Remaining != 0 || p.Used != 10) {
					t.Fatalf("product-support pool after the load: %+v", p)
				}
			}
		})
	}
}

// Guarantee 6: every event carries who, correlation, rules version, and a hash that
// chains to the previous event of its stream.
func TestEventsCarryMetadataAndAHashChain(t *testing.T) {
	store := stores(t)["sqlite"](t)
	x := New(store, WithClock(func() time.Time { return now }))
	actionPackPartner(t, x, "4711002")
	recorded, err := store.ReadStream(context.Background(), domain.PartnerStream("4711002"), eventstore.ReadStreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(recorded) < 5 {
		t.Fatalf("want at least 5 events, got %d", len(recorded))
	}
	prev := eventmeta.GenesisHash
	for _, r := range recorded {
		found, computed, prevHash, err := eventmeta.Check(r.Type, r.Data, r.Metadata, r.Revision)
		if err != nil {
			t.Fatal(err)
		}
		if found != computed || prevHash != prev {
			t.Fatalf("revision %d: hash %s computed %s prev %s want prev %s", r.Revision, found, computed, prevHash, prev)
		}
		m, _ := eventmeta.Parse(r.Metadata)
		if m.Actor == "" || m.CorrelationID != "setup" || m.RulesVersion != 1 || !m.RecordedAt.Equal(now) || !strings.HasPrefix(m.CausationID, "command-") {
			t.Fatalf("revision %d metadata: %+v", r.Revision, m)
		}
		prev = found
	}
}

// The roles used are recorded: the token's system roles and the actor's partner roles.
func TestMetadataRecordsTheRolesUsed(t *testing.T) {
	store := stores(t)["sqlite"](t)
	x := New(store, WithClock(func() time.Time { return now }))
	actionPackPartner(t, x, "4711005")
	recorded, err := store.ReadStream(context.Background(), domain.PartnerStream("4711005"), eventstore.ReadStreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	byType := map[string][]string{}
	for _, r := range recorded {
		m, _ := eventmeta.Parse(r.Metadata)
		byType[r.Type] = m.Roles
	}
	if got := byType["PartnerEnrolled.v1"]; !slices.Equal(got, []string{domain.SystemPlatform}) {
		t.Fatalf("enrolment roles %v", got)
	}
	if got := byType["BenefitActivated.v1"]; !slices.Equal(got, []string{string(domain.RoleGlobalAdmin)}) {
		t.Fatalf("activation roles %v", got)
	}
}

// R5: an idempotent command appends nothing and still answers with the stream's
// position, so the caller can wait for read models.
func TestIdempotentCommandAppendsNothing(t *testing.T) {
	store := stores(t)["sqlite"](t)
	x := New(store, WithClock(func() time.Time { return now }))
	admin, _ := actionPackPartner(t, x, "4711003")
	head, _ := store.Head(context.Background())
	out, err := x.Partner(context.Background(), "4711003", domain.ActivateBenefit{MPNID: "4711003", By: admin}, Meta{Actor: admin})
	if err != nil {
		t.Fatal(err)
	}
	after, _ := store.Head(context.Background())
	if len(out.Events) != 0 || after != head || out.Position != head {
		t.Fatalf("events %d, head %v -> %v, answered position %v", len(out.Events), head, after, out.Position)
	}
}

// A refusal stores nothing.
func TestRefusalStoresNothing(t *testing.T) {
	store := stores(t)["sqlite"](t)
	x := New(store, WithClock(func() time.Time { return now }))
	_, err := x.Partner(context.Background(), "4711004", domain.ActivateBenefit{MPNID: "4711004", By: domain.Actor{UserID: "nobody"}}, Meta{})
	if err == nil {
		t.Fatal("activation on an unknown partner was accepted")
	}
	head, _ := store.Head(context.Background())
	if !head.IsZero() {
		t.Fatalf("refusal stored events: head %v", head)
	}
}
