package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ledger/domain"
	"ledger/infra/commands"
	"ledger/infra/sqlstore"
)

// writeLedger records two partners' lives in <dir>/events.db through the executor.
func writeLedger(t *testing.T, dir string) {
	t.Helper()
	ctx := context.Background()
	store, err := sqlstore.OpenSQLite(ctx, filepath.Join(dir, eventsFileName), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	now := time.Date(2026, 1, 15, 9, 0, 0, 0, time.UTC)
	x := commands.New(store, commands.WithClock(func() time.Time { return now }))
	platform := domain.Actor{UserID: "pc", SystemRoles: []string{domain.SystemPlatform}}
	for _, mpn := range []string{"4711001", "4711002"} {
		admin := domain.Actor{UserID: "admin@" + mpn}
		for _, c := range []domain.Command{
			domain.EnrollPartner{MPNID: mpn, By: platform, Name: "Contoso"},
			domain.GrantMembership{MPNID: mpn, By: platform, Level: domain.LevelSilver, Competency: "Security", ValidFrom: now, ValidUntil: now.AddDate(1, 0, 0)},
			domain.RegisterUser{MPNID: mpn, By: platform, UserID: admin.UserID, AccountType: domain.AccountAAD, MPNLinked: true, Roles: []domain.Role{domain.RoleGlobalAdmin}},
			domain.ActivateBenefit{MPNID: mpn, By: admin},
		} {
			if _, err := x.Partner(ctx, mpn, c, commands.Meta{Actor: platform, CorrelationID: "cli-test"}); err != nil {
				t.Fatal(err)
			}
			now = now.Add(time.Hour)
		}
	}
}

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errs bytes.Buffer
	noEnv := func(string) (string, bool) { return "", false }
	code := run(context.Background(), args, noEnv, &out, &errs)
	return code, out.String(), errs.String()
}

func TestAuditorAndOperatorSubcommands(t *testing.T) {
	dir := t.TempDir()
	started := time.Now()
	writeLedger(t, dir)

	code, out, errs := runCLI(t, "audit", "verify", "--data-dir", dir)
	if code != 0 || !strings.Contains(out, "intact: 8 events in 2 streams") {
		t.Fatalf("verify: %d %q %q", code, out, errs)
	}

	file := filepath.Join(dir, "export.ndjson")
	code, _, errs = runCLI(t, "history", "export", "--data-dir", dir, "--partner", "4711002", "--out", file)
	if code != 0 {
		t.Fatalf("export: %d %s", code, errs)
	}
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lines := 0
	for sc := bufio.NewScanner(f); sc.Scan(); lines++ {
		var rec struct {
			Stream   string          `json:"stream"`
			Metadata json.RawMessage `json:"metadata"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil || rec.Stream != "partner-4711002" || !bytes.Contains(rec.Metadata, []byte(`"hash":"`)) {
			t.Fatalf("line %d: %s (%v)", lines, sc.Bytes(), err)
		}
	}
	if lines != 4 {
		t.Fatalf("exported %d lines, want 4", lines)
	}
	// --since reads the store's own recording time (the wall clock of the append).
	for since, want := range map[time.Time]int{started: 8, time.Now().Add(time.Hour): 0} {
		code, out, _ = runCLI(t, "history", "export", "--data-dir", dir, "--since", since.Format(time.RFC3339Nano))
		if code != 0 || strings.Count(out, "\n") != want {
			t.Fatalf("export --since %s: want %d events, got %d %q", since, want, code, out)
		}
	}

	code, out, errs = runCLI(t, "projections", "rebuild", "remaining_incidents", "--data-dir", dir, "--no-progress")
	if code != 0 || !strings.Contains(out, "swapped in") || !strings.Contains(out, "rows 4 -> 4: 0 added, 0 removed, 0 changed") {
		t.Fatalf("rebuild: %d %q %q", code, out, errs)
	}
	reports, _ := filepath.Glob(filepath.Join(dir, "rebuild-reports", "remaining_incidents-*.json"))
	if len(reports) != 1 {
		t.Fatalf("reports written: %v", reports)
	}
	code, out, _ = runCLI(t, "projections", "list", "--data-dir", dir)
	if code != 0 || !strings.Contains(out, "remaining_incidents") || !strings.Contains(out, "not-set-up") {
		t.Fatalf("list: %d %q", code, out)
	}
	if code, _, _ := runCLI(t, "projections", "rebuild", "nope", "--data-dir", dir); code != 2 {
		t.Fatalf("unknown read model: exit %d, want 2", code)
	}

	store, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(dir, eventsFileName), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.DB().ExecContext(context.Background(), "UPDATE event_log SET type = 'X.v1' WHERE position = 6"); err != nil {
		t.Fatal(err)
	}
	store.Close()
	code, out, _ = runCLI(t, "audit", "verify", "--data-dir", dir)
	if code != 1 || !strings.Contains(out, "BROKEN after 5 intact events: partner-4711002@1 (position 6): content_changed") {
		t.Fatalf("verify after tampering: %d %q", code, out)
	}
}

// A rebuild whose report cannot be written has still swapped: the CLI prints the
// report, says the swap stands, and exits 1 naming what failed.
func TestCLIRebuildWhoseReportCannotBeWrittenSaysItSwapped(t *testing.T) {
	dir := t.TempDir()
	writeLedger(t, dir)
	if err := os.WriteFile(filepath.Join(dir, "rebuild-reports"), []byte("in the way"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCLI(t, "projections", "rebuild", "remaining_incidents", "--data-dir", dir, "--no-progress")
	if code != 1 || !strings.Contains(out, "swapped in; generation 1 dropped") || !strings.Contains(errs, "report could not be written") {
		t.Fatalf("rebuild with no room for its report: exit %d, out %q, err %q", code, out, errs)
	}
	code, out, _ = runCLI(t, "projections", "list", "--data-dir", dir)
	if code != 0 || !strings.Contains(out, "remaining_incidents") {
		t.Fatalf("list: %d %q", code, out)
	}
	if !strings.Contains(strings.SplitN(out[strings.Index(out, "remaining_incidents"):], "\n", 2)[0], "done (gen 2") {
		t.Fatalf("list after the rebuild does not show generation 2 done: %q", out)
	}
}
