package projections

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/schema"

	"ledger/infra/sqldb"
)

// A read model on SQLite writes and loads its rows through prepared statements; rows
// bun wrote before (an existing database) sit in the same tables. Both must store the
// same text and read back the same rows, or a table would sort and compare a row by
// who wrote it.
func TestPreparedReadModelStatementsStoreAndReadRowsExactlyAsBunDoes(t *testing.T) {
	ctx := context.Background()
	db, err := sqldb.Open(ctx, sqldb.SQLite, filepath.Join(t.TempDir(), "read.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	paris := time.FixedZone("CET", 3600)
	at := time.Date(2026, 3, 4, 5, 6, 7, 891234567, paris)
	closed := at.Add(90 * time.Minute)
	granted := 25

	checkPreparedLikeBun(t, db, "incident_id", []incidentRow{
		{IncidentID: "IN-1", MPNID: "MPN1", Seq: 1, Plan: "core", Title: "it's broken", Status: "open", OpenedAt: at},
		{IncidentID: "IN-2", MPNID: "MPN1", Seq: 2, Status: "closed", OpenedAt: at, ClosedAt: &closed, ClosedBy: "ops",
			rowVersions: rowVersions{ProjectionVersion: 3, RulesVersion: 2}},
	}, func(r *incidentRow) { r.Title += " (changed)" })
	// A rebuild's batch: blocks of upsertBlock rows, then the rest one by one.
	many := make([]incidentRow, 2*upsertBlock+5)
	for i := range many {
		many[i] = incidentRow{IncidentID: fmt.Sprintf("IN-MANY-%03d", i), MPNID: "MPN2", Seq: int64(i), OpenedAt: at.Add(time.Duration(i) * time.Second)}
	}
	checkPreparedLikeBun(t, db, "incident_id", many, func(r *incidentRow) { r.Status = "closed"; r.ClosedBy = "ops" })
	checkPreparedLikeBun(t, db, "mpn_id", []benefitsOverviewRow{
		{MPNID: "MPN1", Name: "Contoso", CSP: true, EnrolledAt: at, ActivatedAt: &closed, ContractValidTo: &at},
		{MPNID: "MPN2", Name: "Fabrikam", CSP: false, EnrolledAt: at},
	}, func(r *benefitsOverviewRow) { r.CSP = !r.CSP })
	checkPreparedLikeBun(t, db, "contract_id", []supportPoolRow{
		{ContractID: "C1", PoolKind: "core", MPNID: "MPN1", ValidFrom: at, ValidTo: closed, Granted: &granted, Used: 3},
		{ContractID: "C1", PoolKind: "extra", MPNID: "MPN1", PoolIndex: 1, ValidFrom: at, ValidTo: closed},
	}, func(r *supportPoolRow) { r.Used++ })
}

// checkPreparedLikeBun writes rows into one table by bun and into another by the
// prepared statements, compares what both hold, reads both back both ways, then
// upserts changed rows over bun's and reads them back.
func checkPreparedLikeBun[R any](t *testing.T, db *bun.DB, keyColumn string, rows []R, change func(*R)) {
	t.Helper()
	ctx := context.Background()
	tbl := tableOf[R](db)
	name := fmt.Sprintf("%s_%d", tbl.Name, len(rows))
	tables := Tables{"by_bun": name + "_by_bun", "prepared": name + "_prepared"}
	for logical := range tables {
		if err := createTable[R](ctx, db, tables, logical); err != nil {
			t.Fatal(err)
		}
	}
	inTx := func(fn func(tx bun.Tx) error) {
		t.Helper()
		if err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error { return fn(tx) }); err != nil {
			t.Fatal(err)
		}
	}
	// Over a *bun.DB (not a transaction) upsertRows and selectRows take bun's path.
	if err := upsertRows(ctx, db, tables, "by_bun", rows); err != nil {
		t.Fatal(err)
	}
	inTx(func(tx bun.Tx) error {
		if _, ok := preparedTx(tx); !ok {
			t.Fatal("a SQLite transaction does not take the prepared path")
		}
		return upsertRows(ctx, tx, tables, "prepared", rows)
	})
	if b, p := storedText(t, db, tbl, tables["by_bun"]), storedText(t, db, tbl, tables["prepared"]); b != p {
		t.Fatalf("%s: bun stored\n%s\nthe prepared statement\n%s", name, b, p)
	}

	keys := keysOf(t, db, tables["by_bun"], keyColumn)
	var byBun, prepared []R
	if err := selectRows(ctx, db, tables, "by_bun", keyColumn, keys, &byBun); err != nil {
		t.Fatal(err)
	}
	inTx(func(tx bun.Tx) error { return selectRows(ctx, tx, tables, "by_bun", keyColumn, keys, &prepared) })
	if len(byBun) != len(rows) || !reflect.DeepEqual(byBun, prepared) {
		t.Fatalf("%s: bun read %+v\nthe prepared statement %+v", name, byBun, prepared)
	}

	changed := make([]R, len(prepared))
	copy(changed, prepared)
	for i := range changed {
		change(&changed[i])
	}
	inTx(func(tx bun.Tx) error { return upsertRows(ctx, tx, tables, "by_bun", changed) })
	var after []R
	if err := selectRows(ctx, db, tables, "by_bun", keyColumn, keys, &after); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(after, changed) {
		t.Fatalf("%s: after the upsert over bun's rows read %+v, want %+v", name, after, changed)
	}
}

// storedText is what a table holds, column by column as SQLite types and quotes it.
func storedText(t *testing.T, db *bun.DB, tbl *schema.Table, physical string) string {
	t.Helper()
	cols := make([]string, len(tbl.Fields))
	for i, f := range tbl.Fields {
		cols[i] = "typeof(" + string(f.SQLName) + ") || ':' || quote(" + string(f.SQLName) + ")"
	}
	var lines []string
	q := "SELECT " + strings.Join(cols, " || ' ' || ") + " FROM " + quoteTable(physical) + " ORDER BY rowid"
	if err := db.NewRaw(q).Scan(context.Background(), &lines); err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}

func keysOf(t *testing.T, db *bun.DB, physical, column string) []string {
	t.Helper()
	var keys []string
	if err := db.NewRaw("SELECT DISTINCT ? FROM ?", bun.Ident(column), bun.Ident(physical)).Scan(context.Background(), &keys); err != nil {
		t.Fatal(err)
	}
	return keys
}

// Every live batch runs prepared statements inside its transaction. On a read database
// of one connection (--read-db-max-conns 1) that transaction holds the only one, so
// preparing on the pool would wait for ever: the runner must still apply.
func TestARunnerOnAReadDatabaseOfOneConnectionStillApplies(t *testing.T) {
	h := newHarness(t, sqldb.SQLite, filepath.Join(t.TempDir(), "read.db"))
	h.db = h.openBoundedReadDB(1)
	h.runForwarder()
	p := newCounter("counter")
	r := h.runner(nil, p)
	h.background("runner", r.Run)
	head := h.appendEvents(20, "TestHappened")
	h.waitFor(r.Checkpoints(), p.Name(), head)
	h.assertFoldedExactlyOnce(p)
}

// Every rebuild brings new tables and so new statement texts: the statements kept are
// bounded, and dropping them all at the bound breaks no transaction still running one.
func TestPreparedStatementsStayBoundedAndKeepServingATransactionAcrossTheirReset(t *testing.T) {
	ctx := context.Background()
	db, err := sqldb.Open(ctx, sqldb.SQLite, filepath.Join(t.TempDir(), "read.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	running, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer running.Rollback()
	held, err := preparedIn(ctx, running, "SELECT ? + 1")
	if err != nil {
		t.Fatal(err)
	}
	for i := range maxPreparedStatements + 10 { // one text per generation's table, as rebuilds bring them
		if _, err := execPrepared(ctx, running, fmt.Sprintf("SELECT %d + ?", i), 1); err != nil {
			t.Fatal(err)
		}
	}
	if kept := preparedStatements.kept(); kept > maxPreparedStatements {
		t.Fatalf("%d statements kept, bound %d", kept, maxPreparedStatements)
	}
	var got int
	if err := held.QueryRowContext(ctx, 41).Scan(&got); err != nil || got != 42 {
		t.Fatalf("the running transaction's statement after the reset: %d, %v", got, err)
	}
	if _, err := execPrepared(ctx, running, "SELECT ? + 1", 1); err != nil {
		t.Fatalf("prepared again after the reset: %v", err)
	}
}
