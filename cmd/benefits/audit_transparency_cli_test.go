package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"ledger/infra/eventstore"
	"ledger/infra/sqldb"
	"ledger/infra/sqlstore"
	"ledger/infra/transparency"
)

// savedCheckpoint writes the ledger into a fresh data dir, has `audit checkpoint` sign
// it, and saves the note as an auditor would.
func savedCheckpoint(t *testing.T) (dir, file string) {
	t.Helper()
	dir = t.TempDir()
	writeLedger(t, dir)
	code, out, errs := runCLI(t, "audit", "checkpoint", "--data-dir", dir)
	if code != 0 || !strings.HasPrefix(out, defaultCheckpointOrigin+"\n8\n") {
		t.Fatalf("checkpoint: %d %q %s", code, out, errs)
	}
	file = filepath.Join(t.TempDir(), "checkpoint.txt")
	if err := os.WriteFile(file, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, file
}

func tamper(t *testing.T, dir string, statements ...string) {
	t.Helper()
	db, err := sqldb.OpenSQLite(context.Background(), filepath.Join(dir, eventsFileName))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range statements {
		if _, err := db.ExecContext(context.Background(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// An intruder with write access to the store truncates it, reorders it or rewrites an
// old event (resealing nothing, or everything: the tree sees other bytes either way);
// `audit verify --checkpoint` with the checkpoint saved before exits 1 naming the
// first position that differs.
func TestAuditVerifyCheckpointNamesTheFirstDifferingPosition(t *testing.T) {
	for _, c := range []struct {
		name   string
		tamper []string
		want   string
	}{
		{"truncated", []string{"DELETE FROM event_log WHERE position > 6"}, "leaf 6 (position 7) is missing: the log was truncated"},
		{"reordered", []string{"UPDATE event_log SET position = -1 WHERE position = 2", "UPDATE event_log SET position = 2 WHERE position = 5",
			"UPDATE event_log SET position = 5 WHERE position = -1"}, "leaf 1: the event at position 2 is not the one the checkpoint covered"},
		{"rewritten", []string{`UPDATE event_log SET data = replace(data, 'Contoso', 'Fabrikam') WHERE position = 5`},
			"leaf 4: the event at position 5 is not the one the checkpoint covered"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir, file := savedCheckpoint(t)
			code, out, errs := runCLI(t, "audit", "verify", "--checkpoint", file, "--data-dir", dir)
			if code != 0 || !strings.Contains(out, "extends: the log's first 8 events give the checkpoint's root") {
				t.Fatalf("before tampering: %d %q %s", code, out, errs)
			}
			tamper(t, dir, c.tamper...)
			code, out, errs = runCLI(t, "audit", "verify", "--checkpoint", file, "--data-dir", dir)
			if code != 1 || !strings.Contains(out, "DOES NOT EXTEND the checkpoint of 8 events") || !strings.Contains(out, c.want) {
				t.Fatalf("after tampering: exit %d, want 1 and %q in:\n%s%s", code, c.want, out, errs)
			}
		})
	}
}

// The verifier key `audit key` prints checks the checkpoint; another key is refused,
// and the inclusion proof `audit proof inclusion` prints verifies with it.
func TestAuditKeyAndProofVerifyTheSavedCheckpoint(t *testing.T) {
	dir, file := savedCheckpoint(t)
	code, out, errs := runCLI(t, "audit", "key", "--data-dir", dir)
	if code != 0 {
		t.Fatalf("key: %d %s", code, errs)
	}
	vkey := strings.TrimSpace(out)
	code, out, errs = runCLI(t, "audit", "verify", "--checkpoint", file, "--verifier-key", vkey, "--data-dir", dir)
	if code != 0 {
		t.Fatalf("verify with the printed key: %d %s %s", code, out, errs)
	}
	code, out, _ = runCLI(t, "audit", "keygen", "--origin", defaultCheckpointOrigin)
	other := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(other) != 2 || !strings.HasPrefix(other[0], "PRIVATE+KEY+"+defaultCheckpointOrigin+"+") {
		t.Fatalf("keygen: %d %q", code, out)
	}
	code, _, errs = runCLI(t, "audit", "verify", "--checkpoint", file, "--verifier-key", other[1], "--data-dir", dir)
	if code != 1 || !strings.Contains(errs, "checkpoint does not verify") {
		t.Fatalf("another key: exit %d, %s", code, errs)
	}

	code, out, errs = runCLI(t, "audit", "proof", "inclusion", "--position", "3", "--data-dir", dir)
	if code != 0 {
		t.Fatalf("proof: %d %s", code, errs)
	}
	var incl transparency.InclusionProof
	if err := json.Unmarshal([]byte(out), &incl); err != nil {
		t.Fatal(err)
	}
	verifier, _ := note.NewVerifier(vkey)
	saved, _ := os.ReadFile(file)
	cp, _, _, err := log.ParseCheckpoint(saved, defaultCheckpointOrigin, verifier)
	if err != nil {
		t.Fatal(err)
	}
	store, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(dir, eventsFileName), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	var third eventstore.RecordedEvent
	for e, err := range store.ReadAll(context.Background(), eventstore.Position{Commit: 2, Prepare: 2}) {
		if err != nil {
			t.Fatal(err)
		}
		third = e
		break
	}
	hashes := make([][]byte, len(incl.Proof))
	for i := range incl.Proof {
		hashes[i] = incl.Proof[i][:]
	}
	leaf := rfc6962.DefaultHasher.HashLeaf(transparency.LeafBytes(third))
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(incl.LeafIndex), cp.Size, leaf, hashes, cp.Hash); err != nil {
		t.Fatalf("the printed proof does not verify against the saved checkpoint: %v", err)
	}
}

// A missing or bad flag stops the subcommand with exit 2 naming the flag.
func TestAuditTransparencySubcommandsNameTheBadFlag(t *testing.T) {
	dir := t.TempDir()
	writeLedger(t, dir)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"audit", "proof", "inclusion"}, "--position is required"},
		{[]string{"audit", "proof", "inclusion", "--position", "x"}, "invalid --position"},
		{[]string{"audit", "proof", "inclusion", "--position", "1", "--size", "0"}, "--size"},
		{[]string{"audit", "proof", "consistency"}, "--from is required"},
		{[]string{"audit", "proof", "sideways"}, "want: audit proof inclusion|consistency"},
		{[]string{"audit", "verify", "--checkpoint", filepath.Join(dir, "none.txt")}, "--checkpoint"},
		{[]string{"audit", "keygen", "--origin", "has space"}, "invalid --origin"},
		{[]string{"audit", "checkpoint", "--checkpoint-key", "PRIVATE+KEY+nope"}, "--checkpoint-key"},
	} {
		args := c.args
		if args[1] != "keygen" { // keygen touches no store
			args = append(args, "--data-dir", dir)
		}
		code, _, errs := runCLI(t, args...)
		if code != 2 || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, want 2 and %q in %q", c.args, code, c.want, errs)
		}
	}
}
