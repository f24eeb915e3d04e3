package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"ledger/infra/pgtest"
	"ledger/infra/sqldb"
)

// stampedVersion is what the CLI tests' binary is stamped with, as the Makefile does.
const stampedVersion = "v0.0.0-test-stamp"

var (
	cliBuildOnce sync.Once
	cliBin       string
	cliBuildErr  error
)

// cliBinary builds `benefits` the way `make build` does (-ldflags -X main.version=...),
// once per test run: exit codes and what reaches a pipe are the real program's.
func cliBinary(t *testing.T) string {
	t.Helper()
	cliBuildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "benefits-cli-bin-")
		if err != nil {
			cliBuildErr = err
			return
		}
		goTool, err := exec.LookPath("go")
		if err != nil {
			goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
		}
		cliBin = filepath.Join(dir, "benefits")
		cmd := exec.Command(goTool, "build", "-ldflags", "-X main.version="+stampedVersion, "-o", cliBin, ".")
		if out, err := cmd.CombinedOutput(); err != nil {
			cliBuildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if cliBuildErr != nil {
		t.Fatal(cliBuildErr)
	}
	return cliBin
}

// cliResult is one run of the binary: exit code, stdout and stderr (pipes, not a terminal).
type cliResult struct {
	code        int
	out, errOut string
}

func runBinary(t *testing.T, env []string, args ...string) cliResult {
	t.Helper()
	cmd := exec.Command(cliBinary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	r := cliResult{out: out.String(), errOut: errOut.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("run %v: %v", args, err)
	}
	return r
}

func (r cliResult) want(t *testing.T, code int, args ...string) cliResult {
	t.Helper()
	if r.code != code {
		t.Fatalf("benefits %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, code, r.out, r.errOut)
	}
	return r
}

func TestOpsCommandsRefuseADataDirWithoutAStoreAndCreateNothing(t *testing.T) {
	for _, cmd := range [][]string{
		{"audit", "verify"}, {"history", "export"}, {"projections", "list"},
		{"projections", "rebuild", "remaining_incidents", "--no-progress"},
	} {
		t.Run(strings.Join(cmd, " "), func(t *testing.T) {
			typo := filepath.Join(t.TempDir(), "typo")
			args := append(cmd, "--data-dir", typo)
			r := runBinary(t, nil, args...).want(t, 2, args...)
			if !strings.Contains(r.errOut, "--data-dir") || strings.Contains(r.out, "intact") {
				t.Errorf("the refusal does not name --data-dir: stdout %q stderr %q", r.out, r.errOut)
			}
			if _, err := os.Stat(typo); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s was created (%v)", typo, err)
			}
		})
	}
}

// projections list reads the read models: a data dir with an event store but no read
// database is refused too (a rebuild, by contrast, creates the read models).
func TestProjectionsListRefusesAMissingReadDatabase(t *testing.T) {
	dir := t.TempDir()
	writeLedger(t, dir)
	args := []string{"projections", "list", "--data-dir", dir}
	r := runBinary(t, nil, args...).want(t, 2, args...)
	if !strings.Contains(r.errOut, readModelsFileName) {
		t.Errorf("refusal does not name the missing file: %s", r.errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, readModelsFileName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the read database was created (%v)", err)
	}
}

func TestOpsCommandsRefuseAPostgresDatabaseWithoutTheLedgersTables(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	for _, tc := range []struct {
		args []string
		flag string
	}{
		{[]string{"audit", "verify", "--event-store", dsn}, "--event-store"},
		{[]string{"history", "export", "--event-store", dsn}, "--event-store"},
		{[]string{"projections", "list", "--event-store", dsn, "--read-db", dsn}, "--event-store"},
		{[]string{"projections", "list", "--read-db", dsn}, "--read-db"}, // events.db exists
	} {
		dir := t.TempDir()
		if tc.flag == "--read-db" {
			writeLedger(t, dir)
		}
		args := append(tc.args, "--data-dir", dir)
		r := runBinary(t, nil, args...).want(t, 2, args...)
		if !strings.Contains(r.errOut, tc.flag) || strings.Contains(r.errOut, "ledger:ledger") {
			t.Errorf("%v: refusal %q does not name %s (or shows the password)", tc.args[:2], r.errOut, tc.flag)
		}
	}
	db, err := sqldb.OpenPostgres(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var tables int
	if err := db.QueryRowContext(t.Context(), "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()").Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if tables != 0 {
		t.Errorf("the refused commands created %d tables", tables)
	}
}

func TestEveryCommandGroupPrintsHelpAndExitsZero(t *testing.T) {
	for _, args := range [][]string{
		{"audit", "--help"}, {"history", "--help"}, {"projections", "--help"}, {"projections", "-h"},
		{"audit", "verify", "--help"}, {"projections", "rebuild", "--help"}, {"--help"},
	} {
		r := runBinary(t, nil, args...).want(t, 0, args...)
		if !strings.Contains(r.out, "Usage:") {
			t.Errorf("%v printed no usage on stdout: %q", args, r.out)
		}
	}
	runBinary(t, nil, "audit", "nope").want(t, 2, "audit", "nope")
}

func TestVersionIsTheBuildStamp(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"version"}} {
		r := runBinary(t, nil, args...).want(t, 0, args...)
		if got := strings.TrimSpace(r.out); got != "benefits "+stampedVersion {
			t.Errorf("%v printed %q, want benefits %s", args, got, stampedVersion)
		}
	}
}

// A running server says which build it is: /healthz in its body, /metrics as
// benefits_build_info{version=...} 1 (what the dashboard's version panel shows).
func TestServerReportsItsBuildOnHealthzAndMetrics(t *testing.T) {
	p := startProc(t, "serve", nil, cliBinary(t), "serve", "--addr", "127.0.0.1:0", "--log-format", "json", "--data-dir", t.TempDir())
	base := "http://" + p.listenAddr(t)
	var live struct{ Status, Version string }
	if err := json.Unmarshal([]byte(httpGet(t, base+"/healthz")), &live); err != nil || live.Version != stampedVersion {
		t.Errorf("/healthz: %+v (%v), want version %s", live, err, stampedVersion)
	}
	if m := httpGet(t, base+"/metrics"); !strings.Contains(m, `benefits_build_info{goversion="`+runtime.Version()+`",version="`+stampedVersion+`"} 1`) {
		t.Errorf("/metrics has no benefits_build_info for %s", stampedVersion)
	}
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return string(b)
}

// --dry-run false is --dry-run=false; the read model's name may come before, between
// or after the flags.
func TestSwitchesTakeAValueAndFlagsMayFollowTheName(t *testing.T) {
	dir := t.TempDir()
	writeLedger(t, dir)
	args := []string{"projections", "rebuild", "--dry-run", "true", "remaining_incidents", "--data-dir", dir, "--no-progress"}
	if r := runBinary(t, nil, args...).want(t, 0, args...); !strings.Contains(r.out, "dry run") {
		t.Errorf("--dry-run true did not dry-run: %s", r.out)
	}
	args = []string{"projections", "rebuild", "remaining_incidents", "--data-dir", dir, "--dry-run", "false", "--no-progress"}
	if r := runBinary(t, nil, args...).want(t, 0, args...); !strings.Contains(r.out, "swapped in") {
		t.Errorf("--dry-run false did not swap: %s", r.out)
	}
	args = []string{"projections", "rebuild", "--data-dir", dir}
	runBinary(t, nil, args...).want(t, 2, args...)
	args = []string{"projections", "rebuild", "remaining_incidents", "incidents", "--data-dir", dir}
	runBinary(t, nil, args...).want(t, 2, args...)
}

func TestEveryReadCommandPrintsJSONWithOutputJSON(t *testing.T) {
	dir := t.TempDir()
	writeLedger(t, dir)
	args := []string{"projections", "rebuild", "remaining_incidents", "--data-dir", dir, "--no-progress", "--output", "json"}
	var rebuilt struct {
		Report struct{ Projection string }
	}
	decodeOutput(t, runBinary(t, nil, args...).want(t, 0, args...), &rebuilt)
	if rebuilt.Report.Projection != "remaining_incidents" {
		t.Errorf("rebuild --output json: %+v", rebuilt)
	}
	args = []string{"audit", "verify", "--data-dir", dir, "--output", "json"}
	var v struct {
		Intact        bool
		EventsChecked int
	}
	decodeOutput(t, runBinary(t, nil, args...).want(t, 0, args...), &v)
	if !v.Intact || v.EventsChecked != 8 {
		t.Errorf("audit verify --output json: %+v", v)
	}
	args = []string{"projections", "list", "--data-dir", dir, "--output", "json"}
	var list struct{ Projections []struct{ Name string } }
	decodeOutput(t, runBinary(t, nil, args...).want(t, 0, args...), &list)
	if len(list.Projections) == 0 {
		t.Errorf("projections list --output json: %+v", list)
	}
	args = []string{"audit", "checkpoint", "--data-dir", dir, "--output", "json"}
	var cp struct {
		Note string
		Size int64
	}
	decodeOutput(t, runBinary(t, nil, args...).want(t, 0, args...), &cp)
	if cp.Size != 8 || !strings.Contains(cp.Note, "\n8\n") {
		t.Errorf("audit checkpoint --output json: %+v", cp)
	}
	args = []string{"projections", "list", "--data-dir", dir, "--output", "yaml"}
	if r := runBinary(t, nil, args...).want(t, 2, args...); !strings.Contains(r.errOut, "--output") {
		t.Errorf("bad --output not named: %s", r.errOut)
	}
}

func decodeOutput(t *testing.T, r cliResult, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(r.out), v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, r.out)
	}
}

// Progress into a pipe (a CI log, `2>file`) is plain lines, no carriage-return frames,
// and each line shows one rate.
func TestRebuildProgressIntoAPipeIsPlainLinesWithOneRate(t *testing.T) {
	dir := t.TempDir()
	writeLedger(t, dir)
	args := []string{"projections", "rebuild", "remaining_incidents", "--data-dir", dir, "--log-level", "error"}
	r := runBinary(t, nil, args...).want(t, 0, args...)
	if strings.Contains(r.errOut, "\r") {
		t.Errorf("carriage returns written into a pipe: %q", r.errOut)
	}
	lines := strings.Split(strings.TrimSpace(r.errOut), "\n")
	if len(lines) == 0 || !strings.Contains(lines[len(lines)-1], "events/s") {
		t.Fatalf("no progress line: %q", r.errOut)
	}
	for _, l := range lines {
		if n := strings.Count(l, "/s"); n > 1 {
			t.Errorf("%d rates on one line: %q", n, l)
		}
	}
}
