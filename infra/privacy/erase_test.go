package privacy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"ledger/domain"
	"ledger/infra/audit"
	"ledger/infra/commands"
	"ledger/infra/paging"
	"ledger/infra/privacy"
	"ledger/infra/sqldb"
	"ledger/infra/sqlstore"
	"ledger/infra/transparency"
)

const (
	mpn      = "1000001"
	alice    = "alice.erasable@contoso.example" // the subject erased
	bob      = "bob.kept@contoso.example"
	customer = "customer-erika-mustermann"
)

var (
	t0       = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	platform = domain.Actor{UserID: "partner-center", SystemRoles: []string{domain.SystemPlatform}}
)

// ledger is a real SQLite event store with crypto-shredding installed in the codec and
// the executor, as serve wires it.
type ledger struct {
	t      *testing.T
	dir    string
	store  *sqlstore.Store
	shred  *privacy.Shredder
	x      *commands.Executor
	eraser *privacy.Eraser
}

func newLedger(t *testing.T) *ledger {
	l := &ledger{t: t, dir: t.TempDir()}
	l.store, l.shred = newShredder(t, l.dir)
	store := l.store
	t.Cleanup(domain.UsePersonalData(l.shred))
	clock := t0
	l.x = commands.New(store, commands.WithPersonalData(l.shred), commands.WithSnapshotEvery(1),
		commands.WithClock(func() time.Time { clock = clock.Add(time.Minute); return clock }))
	t.Cleanup(func() { l.x.Close() })
	l.eraser = privacy.NewEraser(l.shred, store, func(context.Context) error { l.x.ForgetStates(); return nil },
		store.DeleteSnapshots, privacy.Compact(store.DB()))
	return l
}

func (l *ledger) do(by domain.Actor, cmd domain.Command) {
	l.t.Helper()
	if _, err := l.x.Partner(context.Background(), mpn, cmd, commands.Meta{Actor: by, CorrelationID: "c"}); err != nil {
		l.t.Fatalf("%s: %v", cmd.CommandName(), err)
	}
}

// history is the partner's full audit history as JSON, as an auditor exports it.
func (l *ledger) export() []byte {
	l.t.Helper()
	var b bytes.Buffer
	if _, err := audit.Export(context.Background(), l.store, &b, audit.ExportFilter{}); err != nil {
		l.t.Fatal(err)
	}
	return b.Bytes()
}

func (l *ledger) state() string {
	l.t.Helper()
	st, err := audit.PartnerAsOf(context.Background(), l.store, mpn, t0.AddDate(1, 0, 0))
	if err != nil {
		l.t.Fatal(err)
	}
	b, _ := json.Marshal(st.Partner)
	return string(b)
}

func filesContain(t *testing.T, dir, needle string) []string {
	t.Helper()
	var hits []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(needle)) {
			hits = append(hits, e.Name())
		}
	}
	return hits
}

// TestErasureShredsASubjectYetTheLogStillVerifiesAndReplays: personal data is stored
// encrypted per subject; erasing alice deletes her key and records SubjectErased.
// Afterwards no byte of her e-mail is in the event store's files or an export, her
// events read as "erased:<ref>" everywhere (history, as-of), the state folds to the
// same as before with her ID replaced by that marker (her membership and incidents
// still count), commands of others still decide, and the hash chain and the Merkle
// tree over the log are unchanged.
func TestErasureShredsASubjectYetTheLogStillVerifiesAndReplays(t *testing.T) {
	ctx := context.Background()
	l := newLedger(t)
	l.do(platform, domain.EnrollPartner{MPNID: mpn, By: platform, Name: "Contoso", CSP: true})
	l.do(platform, domain.GrantMembership{MPNID: mpn, By: platform, Level: domain.LevelGold, Competency: "Cloud Platform",
		ValidFrom: t0, ValidUntil: t0.AddDate(1, 0, 0)})
	for _, u := range []string{alice, bob} {
		l.do(platform, domain.RegisterUser{MPNID: mpn, By: platform, UserID: u, AccountType: domain.AccountAAD,
			MPNLinked: true, Roles: []domain.Role{domain.RoleGlobalAdmin, domain.RoleAdminAgent}})
	}
	l.do(domain.Actor{UserID: alice}, domain.ActivateBenefit{MPNID: mpn, By: domain.Actor{UserID: alice}})
	l.do(domain.Actor{UserID: alice}, domain.PurchaseSupportPlan{MPNID: mpn, By: domain.Actor{UserID: alice}, Plan: domain.PlanPremier, ValidUntil: t0.AddDate(1, 0, 0)})
	l.do(domain.Actor{UserID: alice}, domain.OpenIncident{MPNID: mpn, By: domain.Actor{UserID: alice}, Plan: domain.PlanPremier,
		Product: "SQL Server", Version: "2022", CustomerID: customer, Title: "slow"})

	before := l.state()
	if !strings.Contains(before, alice) || !bytes.Contains(l.export(), []byte(alice)) {
		t.Fatal("before the erasure the ledger reads alice back: the fixture is wrong")
	}
	tree, err := transparency.OpenTree(ctx, mustOpenSQLite(t, filepath.Join(t.TempDir(), "tree1.db")), l.store)
	if err != nil {
		t.Fatal(err)
	}
	size, err := tree.Extend(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rootBefore, err := tree.RootHash(ctx, size)
	if err != nil {
		t.Fatal(err)
	}

	erasure, err := l.eraser.Erase(ctx, alice, "platform-operator@ledger.example", t0.AddDate(0, 1, 0))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.eraser.Erase(ctx, alice, "platform-operator@ledger.example", t0.AddDate(0, 1, 0)); err != privacy.ErrUnknownSubject {
		t.Fatalf("a second erasure: %v, want ErrUnknownSubject", err)
	}

	if hits := filesContain(t, l.dir, alice); len(hits) != 0 {
		t.Errorf("alice's e-mail is still readable in %v", hits)
	}
	export := l.export()
	if bytes.Contains(export, []byte(alice)) {
		t.Error("an export after the erasure still shows alice's e-mail")
	}
	if !bytes.Contains(export, []byte(erasure.Erased)) || !bytes.Contains(export, []byte(customer)) || !bytes.Contains(export, []byte(bob)) {
		t.Errorf("the export should show alice as %s and keep bob and the customer", erasure.Erased)
	}
	if !bytes.Contains(export, []byte(`"subjectRef":"`+erasure.SubjectRef)) {
		t.Error("the export has no SubjectErased record")
	}

	after := l.state()
	if want := strings.ReplaceAll(before, alice, erasure.Erased); !sameJSON(t, after, want) {
		t.Errorf("the state after the erasure is not the state before with alice replaced:\nbefore %s\nafter  %s", want, after)
	}
	page, err := audit.History(ctx, l.store, mpn, paging.Page{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range page.Events {
		if r.ReadAs != nil && bytes.Contains(r.ReadAs.Data, []byte("@contoso")) && !bytes.Contains(r.ReadAs.Data, []byte(bob)) {
			t.Errorf("history shows %s", r.ReadAs.Data)
		}
	}

	// Others still decide: bob opens an incident on the same plan.
	l.do(domain.Actor{UserID: bob}, domain.OpenIncident{MPNID: mpn, By: domain.Actor{UserID: bob}, Plan: domain.PlanPremier,
		Product: "SQL Server", Version: "2022", Title: "again"})

	if v, err := audit.Verify(ctx, l.store, ""); err != nil || !v.Intact {
		t.Fatalf("the hash chain after the erasure: %+v %v", v, err)
	}
	tree2, err := transparency.OpenTree(ctx, mustOpenSQLite(t, filepath.Join(t.TempDir(), "tree2.db")), l.store)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tree2.Extend(ctx); err != nil {
		t.Fatal(err)
	}
	if rootAfter, err := tree2.RootHash(ctx, size); err != nil || rootAfter != rootBefore {
		t.Fatalf("the Merkle root over the first %d events changed with the erasure: %v", size, err)
	}
}

func mustOpenSQLite(t *testing.T, path string) *bun.DB {
	t.Helper()
	db, err := sqldb.OpenSQLite(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func sameJSON(t *testing.T, a, b string) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal([]byte(a), &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(b), &y); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(x, y)
}
