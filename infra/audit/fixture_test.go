package audit_test

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"ledger/domain"
	"ledger/infra/commands"
	"ledger/infra/eventmeta"
	"ledger/infra/eventstore"
	"ledger/infra/pgtest"
	"ledger/infra/sqldb"
	"ledger/infra/sqlstore"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var (
	platform = domain.Actor{UserID: "partner-center", SystemRoles: []string{domain.SystemPlatform}}
	t0       = time.Date(2026, 1, 15, 9, 0, 0, 0, time.UTC)
)

// backends are the SQL event stores every audit test runs on.
var backends = []struct {
	name string
	open func(t *testing.T) *sqlstore.Store
}{
	{"sqlite", func(t *testing.T) *sqlstore.Store {
		s, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "events.db"), sqlstore.Options{PageSize: 7})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}},
	{"postgres", func(t *testing.T) *sqlstore.Store {
		s, err := sqlstore.OpenPostgres(context.Background(), pgtest.NewDatabase(t), sqlstore.Options{PageSize: 7})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}},
}

// clock is the executor's now, moved by the test.
type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

// ledger writes a partner's life through the real command executor, so every event is
// sealed into its stream's hash chain as in production.
type ledger struct {
	t     *testing.T
	x     *commands.Executor
	clock *clock
}

func newLedger(t *testing.T, s *sqlstore.Store) *ledger {
	c := &clock{now: t0}
	return &ledger{t: t, x: commands.New(s, commands.WithClock(c.Now)), clock: c}
}

func (l *ledger) do(mpnID string, cmd domain.Command) commands.Outcome {
	l.t.Helper()
	out, err := l.x.Partner(context.Background(), mpnID, cmd, commands.Meta{Actor: platform, CorrelationID: "corr-" + cmd.CommandName()})
	if err != nil {
		l.t.Fatalf("%s: %v", cmd.CommandName(), err)
	}
	l.clock.now = l.clock.now.Add(time.Hour)
	return out
}

// enrolGold enrols a Gold partner with an admin and activates its benefit: 5 events.
func (l *ledger) enrolGold(mpnID string) {
	l.do(mpnID, domain.EnrollPartner{MPNID: mpnID, By: platform, Name: "Partner " + mpnID})
	l.do(mpnID, domain.GrantMembership{MPNID: mpnID, By: platform, Level: domain.LevelGold, Competency: "Cloud Platform",
		ValidFrom: t0, ValidUntil: t0.AddDate(1, 0, 0)})
	l.do(mpnID, domain.RegisterUser{MPNID: mpnID, By: platform, UserID: "admin@" + mpnID, AccountType: domain.AccountAAD,
		MPNLinked: true, Roles: []domain.Role{domain.RoleGlobalAdmin}})
	l.do(mpnID, domain.ActivateBenefit{MPNID: mpnID, By: domain.Actor{UserID: "admin@" + mpnID}})
}

func exec(t *testing.T, db *bun.DB, query string, args ...any) {
	t.Helper()
	res, err := db.ExecContext(context.Background(), query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("%s: %d rows changed, want 1", query, n)
	}
}

// replaceExpr is SQL that replaces the first ? by the second ? in column, for text
// (type) and for the byte columns (data, metadata) alike.
func replaceExpr(s *sqlstore.Store, column string) string {
	pg := sqldb.DialectOf(s.DB()) == sqldb.Postgres
	switch {
	case column == "type":
		return "REPLACE(type, ?, ?)"
	case pg:
		return "convert_to(replace(convert_from(" + column + ", 'UTF8'), ?, ?), 'UTF8')"
	default:
		return "CAST(REPLACE(CAST(" + column + " AS TEXT), ?, ?) AS BLOB)"
	}
}

// forgeFirstEvent rewrites the first event of partner-1000001 and seals it again, as a
// forger who knows the hash scheme would.
func forgeFirstEvent(t *testing.T, s *sqlstore.Store) {
	t.Helper()
	ctx := context.Background()
	evs, err := s.ReadStream(ctx, "partner-1000001", eventstore.ReadStreamOptions{Limit: 1})
	if err != nil || len(evs) != 1 {
		t.Fatalf("read: %v %v", evs, err)
	}
	e := evs[0]
	data := bytes.Replace(e.Data, []byte("Partner 1000001"), []byte("Forged Partner"), 1)
	m, err := eventmeta.Parse(e.Metadata)
	if err != nil {
		t.Fatal(err)
	}
	meta, err := eventmeta.Seal(m, e.Type, data, e.Revision)
	if err != nil {
		t.Fatal(err)
	}
	exec(t, s.DB(), "UPDATE event_log SET data = ?, metadata = ? WHERE event_id = ?", data, meta, e.ID)
}
