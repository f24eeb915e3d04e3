package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// An operator runs the ops commands from their own machine against a deployment's API:
// the stores are not opened (the --data-dir given does not exist), the bearer token
// comes from BENEFITS_TOKEN, --token or --token-file.
func TestOpsCommandsWithAPIURLCallARunningServer(t *testing.T) {
	dir := t.TempDir()
	writeLedger(t, dir)
	bin := cliBinary(t)
	p := startProc(t, "serve", nil, bin, "serve", "--addr", "127.0.0.1:0", "--log-format", "json", "--data-dir", dir)
	base := "http://" + p.listenAddr(t)
	tokArgs := []string{"token", "--sub", "ops-1", "--roles", "ops,auditor", "--data-dir", dir}
	tok := strings.TrimSpace(runBinary(t, nil, tokArgs...).want(t, 0, tokArgs...).out)
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	nowhere := []string{"--api-url", base, "--data-dir", filepath.Join(t.TempDir(), "absent")}
	withEnv := []string{"BENEFITS_TOKEN=" + tok}

	args := append([]string{"projections", "list", "--output", "json"}, nowhere...)
	var list struct{ Projections []struct{ Name string } }
	decodeOutput(t, runBinary(t, withEnv, args...).want(t, 0, args...), &list)
	if len(list.Projections) != len(projectionNamesList()) {
		t.Errorf("remote list: %+v", list)
	}

	args = append([]string{"audit", "verify", "--token-file", tokenFile}, nowhere...)
	if r := runBinary(t, nil, args...).want(t, 0, args...); !strings.Contains(r.out, "intact: 8 events in 2 streams") {
		t.Errorf("remote verify: %q", r.out)
	}

	args = append([]string{"history", "export", "--partner", "4711002", "--token", tok}, nowhere...)
	r := runBinary(t, nil, args...).want(t, 0, args...)
	lines := strings.Split(strings.TrimSpace(r.out), "\n")
	var first struct{ Stream string }
	if len(lines) != 4 || json.Unmarshal([]byte(lines[0]), &first) != nil || first.Stream != "partner-4711002" {
		t.Errorf("remote export: %d lines %q", len(lines), r.out)
	}
	args = append([]string{"history", "export"}, nowhere...)
	if r := runBinary(t, withEnv, args...).want(t, 2, args...); !strings.Contains(r.errOut, "--partner") {
		t.Errorf("remote export without --partner: %q", r.errOut)
	}

	// The API runs the rebuild in the background; the CLI follows it to its report.
	args = append([]string{"projections", "rebuild", "remaining_incidents", "--dry-run"}, nowhere...)
	if r := runBinary(t, withEnv, args...).want(t, 0, args...); !strings.Contains(r.out, "dry run: generation") {
		t.Errorf("remote rebuild printed no finished report: %q", r.out)
	}

	args = append([]string{"projections", "list"}, nowhere...)
	if r := runBinary(t, nil, args...).want(t, 2, args...); !strings.Contains(r.errOut, "BENEFITS_TOKEN") {
		t.Errorf("no token: %q", r.errOut)
	}
	if r := runBinary(t, []string{"BENEFITS_TOKEN=not-a-token"}, args...).want(t, 1, args...); !strings.Contains(r.errOut, "401") {
		t.Errorf("bad token: %q", r.errOut)
	}
}

func projectionNamesList() []string { return strings.Split(projectionNames(), ", ") }
