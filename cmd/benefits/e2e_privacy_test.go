package main

import (
	"bytes"
	"context"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"ledger/handlers"
	"ledger/infra/audit"
	"ledger/infra/pgtest"
	"ledger/infra/privacy"
	"ledger/infra/transparency"
	"ledger/projections"
)

// filesHolding lists the files under dir whose bytes contain needle.
func filesHolding(t *testing.T, dir, needle string) []string {
	t.Helper()
	var hits []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(needle)) {
			rel, _ := filepath.Rel(dir, path)
			hits = append(hits, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hits
}

// postgresFilesHolding lists the files of the throwaway PostgreSQL server (tables,
// indexes, WAL) that hold needle, once a checkpoint has written every buffer to them:
// what the disk would keep if the server stopped now.
func postgresFilesHolding(t *testing.T, s *system, needle string) []string {
	t.Helper()
	if _, err := s.proc.readDB.ExecContext(t.Context(), "CHECKPOINT"); err != nil {
		t.Fatal(err)
	}
	return filesHolding(t, pgtest.DataDir(), needle)
}

// checkpointRoot publishes a checkpoint and returns its size and root, verified with
// the served key.
func (s *system) checkpointRoot(t *testing.T, auditor string) (uint64, []byte) {
	t.Helper()
	var cp handlers.CheckpointAnswer
	s.post(t, "/v1/audit/checkpoint", auditor, nil).want(t, http.StatusOK).decode(t, &cp)
	verifier, err := note.NewVerifier(cp.VerifierKey)
	if err != nil {
		t.Fatal(err)
	}
	parsed, _, _, err := log.ParseCheckpoint([]byte(cp.Note), defaultCheckpointOrigin, verifier)
	if err != nil {
		t.Fatal(err)
	}
	return parsed.Size, parsed.Hash
}

// TestErasingAUserLeavesNoByteOfTheEmailYetTheLogVerifies: a user's e-mail is in the
// read models while the user is known; POST /v1/privacy/erasures (platform only)
// deletes the key, and afterwards no file of the data directory (event store, read
// database, NATS's store dir) nor an export holds a byte of the e-mail, the read models
// and history show "erased:<ref>", the incident the user opened still counts, the hash
// chain verifies and the new checkpoint is consistent with the one before.
func TestErasingAUserLeavesNoByteOfTheEmailYetTheLogVerifies(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  func(testing.TB) Config
	}{{"sqlite", testConfig}, {"postgres", postgresConfig}, {"eventstoredb", esdbConfig}} {
		t.Run(c.name, func(t *testing.T) {
			cfg := c.cfg(t)
			cfg.SnapshotEvery = 1 // snapshots of the partner's state hold the e-mail too
			erasureLeavesNoByte(t, cfg)
		})
	}
}

// erasureLeavesNoByte is the test on one configuration. On PostgreSQL the databases'
// files are the server's; the data directory still holds NATS's store.
func erasureLeavesNoByte(t *testing.T, cfg Config) {
	s := startSystem(t, cfg, wireOptions{})
	p := s.ready(t, "4711001", goldCloud)
	const alice = "alice.erasable@contoso.example"
	aliceTok := s.user(t, p.mpn, alice, userSpec{mpnLinked: true, roles: []string{"admin-agent"}})
	s.link(t, p, aliceTok).want(t, http.StatusCreated)
	s.open(t, aliceTok, incident{"contractId": p.contractID, "kind": "signature-cloud", "product": "Azure",
		"customerId": "customer-7", "customerCountry": "de", "severity": "critical"}).want(t, http.StatusCreated)
	var before projections.Incidents
	s.get(t, "/v1/partners/"+p.mpn+"/incidents", p.adminTok).want(t, http.StatusOK).decode(t, &before)
	if len(before.Incidents) != 1 || before.Incidents[0].OpenedBy != alice || before.Incidents[0].Severity != "critical" || before.Incidents[0].CustomerCountry != "DE" {
		t.Fatalf("incidents before the erasure: %+v", before)
	}
	if hits := filesHolding(t, cfg.DataDir, alice); len(hits) == 0 && cfg.ReadDB.Backend == BackendSQLite {
		t.Fatal("the e-mail is in no file before the erasure: the read models should hold it")
	}
	if hits := filesHolding(t, filepath.Join(cfg.DataDir, natsDirName), `"mpnId":"`+p.mpn+`"`); len(hits) == 0 {
		t.Fatal("NATS's store dir holds none of the partner's events: grepping it would prove nothing")
	}
	if cfg.ReadDB.Backend == BackendPostgres {
		if hits := postgresFilesHolding(t, s, alice); !slices.ContainsFunc(hits, func(f string) bool { return strings.HasPrefix(f, "base/") }) {
			t.Fatalf("before the erasure no table file of PostgreSQL holds the e-mail (%v): grepping them would prove nothing", hits)
		}
	}
	if cfg.EventStore.Backend == BackendESDB {
		if hits := esdbStreamsHolding(t, cfg.EventStore.DSN, alice); len(hits) == 0 {
			t.Fatal("before the erasure no stream of EventStoreDB reads back the e-mail: the snapshots should hold it")
		}
	}
	auditor := s.auditor(t)
	size1, root1 := s.checkpointRoot(t, auditor)

	s.post(t, "/v1/privacy/erasures", auditor, map[string]any{"subject": alice}).refused(t, http.StatusForbidden, handlers.CodeForbidden)
	s.post(t, "/v1/privacy/erasures", s.platform(t), map[string]any{"subject": ""}).want(t, http.StatusBadRequest)
	var erasure privacy.Erasure
	s.post(t, "/v1/privacy/erasures", s.platform(t), map[string]any{"subject": alice}).want(t, http.StatusCreated).decode(t, &erasure)
	s.post(t, "/v1/privacy/erasures", s.platform(t), map[string]any{"subject": alice}).refused(t, http.StatusNotFound, handlers.CodeNotFound)

	var after projections.Incidents
	s.get(t, "/v1/partners/"+p.mpn+"/incidents", p.adminTok).want(t, http.StatusOK).decode(t, &after)
	if len(after.Incidents) != 1 || after.Incidents[0].OpenedBy != erasure.Erased || after.Incidents[0].Severity != "critical" {
		t.Fatalf("incidents after the erasure: %+v, want opened by %s", after, erasure.Erased)
	}
	if rem := s.remaining(t, p.mpn, p.adminTok); len(rem.Contracts) != 1 {
		t.Fatalf("remaining incidents after the erasure: %+v", rem)
	}
	history := s.audit(t, "/v1/partners/"+p.mpn+"/history?limit=100", auditor).want(t, http.StatusOK)
	var export bytes.Buffer
	if _, err := audit.Export(context.Background(), s.proc.store, &export, audit.ExportFilter{}); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"history": history.body, "export": export.Bytes()} {
		if bytes.Contains(b, []byte(alice)) || !bytes.Contains(b, []byte(erasure.Erased)) {
			t.Errorf("%s after the erasure: shows the e-mail, or not the erased marker", name)
		}
	}
	if hits := filesHolding(t, cfg.DataDir, alice); len(hits) != 0 {
		t.Errorf("after the erasure the e-mail is still readable in %v", hits)
	}
	if cfg.EventStore.Backend == BackendESDB {
		if hits := esdbStreamsHolding(t, cfg.EventStore.DSN, alice); len(hits) != 0 {
			t.Errorf("after the erasure EventStoreDB still reads back the e-mail from %v", hits)
		}
	}
	if cfg.ReadDB.Backend == BackendPostgres {
		if hits := postgresFilesHolding(t, s, alice); len(hits) != 0 {
			t.Errorf("after the erasure the e-mail is still readable in PostgreSQL's files %v", hits)
		}
	}

	var v audit.Verification
	s.audit(t, "/v1/audit/verify", auditor).want(t, http.StatusOK).decode(t, &v)
	if !v.Intact {
		t.Fatalf("the chain after the erasure: %+v", v)
	}
	size2, root2 := s.checkpointRoot(t, auditor)
	var cons transparency.ConsistencyProof
	s.audit(t, "/v1/audit/proof/consistency?from="+strconv.FormatUint(size1, 10)+"&to="+strconv.FormatUint(size2, 10), auditor).
		want(t, http.StatusOK).decode(t, &cons)
	hashes := make([][]byte, len(cons.Proof))
	for i := range cons.Proof {
		hashes[i] = cons.Proof[i][:]
	}
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, size1, size2, hashes, root1, root2); err != nil {
		t.Fatalf("the log after the erasure does not extend the one before: %v", err)
	}

	if cfg.EventStore.Backend == BackendSQLite { // the CLI, a process of its own, exports the same store
		s.stopBG()
		code, out, errs := runCLI(t, "history", "export", "--data-dir", cfg.DataDir)
		if code != 0 || strings.Contains(out, alice) || !strings.Contains(out, erasure.Erased) {
			t.Errorf("benefits history export after the erasure: exit %d, shows the e-mail or not %s (stderr %s)\n%s", code, erasure.Erased, errs, out)
		}
	}
}
