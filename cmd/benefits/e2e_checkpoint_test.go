package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"ledger/handlers"
	"ledger/infra/eventstore"
	"ledger/infra/transparency"
)

// eventAt reads the event at a global position straight from the system's store.
func (s *system) eventAt(t *testing.T, pos eventstore.Position) eventstore.RecordedEvent {
	t.Helper()
	for e, err := range s.proc.store.ReadAll(context.Background(), eventstore.Start) {
		if err != nil {
			t.Fatal(err)
		}
		if e.Position == pos {
			return e
		}
	}
	t.Fatalf("no event at %s", pos)
	return eventstore.RecordedEvent{}
}

// audit GETs an auditor's route, which reads the event store, not a read model.
func (s *system) audit(t *testing.T, path, tok string) reply {
	t.Helper()
	return s.do(t, http.MethodGet, path, tok, nil)
}

// An auditor fetches a checkpoint, the log's key and an inclusion proof over HTTP, and
// checks the proof with transparency-dev's verifier, trusting only the signed note.
func TestAnAuditorVerifiesAServedInclusionProofWithAThirdPartyVerifier(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  func(testing.TB) Config
	}{{"sqlite", testConfig}, {"postgres", postgresConfig}, {"esdb", esdbConfig}} {
		t.Run(c.name, func(t *testing.T) {
			s := startSystem(t, c.cfg(t), wireOptions{})
			s.ready(t, "4711001", goldCloud)
			s.ready(t, "4711002", silverCloud)
			auditor := bearerFor(t, "auditor-1", handlers.RoleAuditor)
			var published handlers.CheckpointAnswer
			s.post(t, "/v1/audit/checkpoint", auditor, nil).want(t, http.StatusOK).decode(t, &published)
			var key handlers.VerifierKeyAnswer
			s.audit(t, "/v1/audit/checkpoint/key", auditor).want(t, http.StatusOK).decode(t, &key)
			var latest handlers.CheckpointAnswer
			s.audit(t, "/v1/audit/checkpoint", bearerFor(t, "pc", handlers.RolePlatform)).want(t, http.StatusOK).decode(t, &latest)
			if latest.Note != published.Note || key.VerifierKey != published.VerifierKey || key.Origin != defaultCheckpointOrigin {
				t.Fatalf("latest %q, published %q, key %+v", latest.Note, published.Note, key)
			}
			verifier, err := note.NewVerifier(key.VerifierKey)
			if err != nil {
				t.Fatal(err)
			}
			cp, _, _, err := log.ParseCheckpoint([]byte(published.Note), key.Origin, verifier)
			if err != nil {
				t.Fatalf("the served checkpoint does not verify with the served key: %v", err)
			}
			head := s.head(t)
			var incl transparency.InclusionProof
			s.audit(t, "/v1/audit/proof/inclusion?position="+head.String(), auditor).want(t, http.StatusOK).decode(t, &incl)
			leaf := rfc6962.DefaultHasher.HashLeaf(transparency.LeafBytes(s.eventAt(t, head)))
			p := make([][]byte, len(incl.Proof))
			for i := range incl.Proof {
				p[i] = incl.Proof[i][:]
			}
			if uint64(incl.TreeSize) != cp.Size || uint64(incl.LeafIndex) != cp.Size-1 {
				t.Fatalf("proof of leaf %d in %d; the checkpoint holds %d", incl.LeafIndex, incl.TreeSize, cp.Size)
			}
			if err := proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(incl.LeafIndex), cp.Size, leaf, p, cp.Hash); err != nil {
				t.Fatalf("the served proof does not verify: %v", err)
			}
		})
	}
}

// The transparency routes are the auditors' and the platform's (domain.TransparencyLogReaders):
// ops and partner users are refused; bad parameters are 400s naming the field, sizes
// and positions beyond the tree 404s naming it.
func TestTransparencyRoutesRefuseOtherRolesAndBadParameters(t *testing.T) {
	s := startSystem(t, testConfig(t), wireOptions{})
	p := s.ready(t, "4711001", goldCloud)
	auditor := bearerFor(t, "auditor-1", handlers.RoleAuditor)
	s.post(t, "/v1/audit/checkpoint", auditor, nil).want(t, http.StatusOK)
	for _, tok := range []string{bearerFor(t, "ops-1", handlers.RoleOps), p.adminTok} {
		for _, path := range []string{"/v1/audit/checkpoint", "/v1/audit/checkpoint/key", "/v1/audit/proof/inclusion?position=1", "/v1/audit/proof/consistency?from=1"} {
			s.audit(t, path, tok).refused(t, http.StatusForbidden, handlers.CodeForbidden)
		}
		s.post(t, "/v1/audit/checkpoint", tok, nil).refused(t, http.StatusForbidden, handlers.CodeForbidden)
	}
	for _, c := range []struct {
		query  string
		status int
		code   string
		field  string
	}{
		{"/v1/audit/proof/inclusion", http.StatusBadRequest, handlers.CodeBadRequest, "position"},
		{"/v1/audit/proof/inclusion?position=first", http.StatusBadRequest, handlers.CodeBadRequest, "position"},
		{"/v1/audit/proof/inclusion?position=1&size=0", http.StatusBadRequest, handlers.CodeBadRequest, "size"},
		{"/v1/audit/proof/inclusion?position=1&size=99999", http.StatusNotFound, handlers.CodeNotFound, "size"},
		{"/v1/audit/proof/inclusion?position=99999", http.StatusNotFound, handlers.CodeNotFound, "position"},
		{"/v1/audit/proof/consistency", http.StatusBadRequest, handlers.CodeBadRequest, "from"},
		{"/v1/audit/proof/consistency?from=x", http.StatusBadRequest, handlers.CodeBadRequest, "from"},
		{"/v1/audit/proof/consistency?from=1&to=99999", http.StatusNotFound, handlers.CodeNotFound, "to"},
	} {
		pr := s.audit(t, c.query, auditor).refused(t, c.status, c.code)
		if pr.Extra["field"] != c.field {
			t.Errorf("%s: field %v, want %s", c.query, pr.Extra["field"], c.field)
		}
	}
}

// serve pushes its checkpoints to the configured witness URL: a real HTTP server here.
func TestServePushesCheckpointsToTheWitness(t *testing.T) {
	var mu sync.Mutex
	var received []string
	witness := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		received = append(received, string(body))
		mu.Unlock()
	}))
	defer witness.Close()
	cfg := testConfig(t)
	cfg.Checkpoints.WitnessURL = witness.URL + "/add-checkpoint"
	s := startSystem(t, cfg, wireOptions{})
	s.ready(t, "4711001", goldCloud)
	var cp handlers.CheckpointAnswer
	s.post(t, "/v1/audit/checkpoint", bearerFor(t, "pc", handlers.RolePlatform), nil).want(t, http.StatusOK).decode(t, &cp)
	if !cp.Witnessed {
		t.Fatalf("not witnessed: %s", cp.WitnessError)
	}
	mu.Lock()
	defer mu.Unlock()
	last := received[len(received)-1]
	if !strings.HasPrefix(last, "old ") || !strings.HasSuffix(last, "\n\n"+cp.Note) {
		t.Fatalf("the witness got %q", last)
	}
}
