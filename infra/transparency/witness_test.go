package transparency_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"ledger/infra/transparency"
)

// fakeWitness is a real HTTP server that behaves as a C2SP tlog-witness: it checks the
// signature, and accepts a checkpoint only from the size it holds and with a
// consistency proof from it, answering 409 with its size otherwise.
type fakeWitness struct {
	t     *testing.T
	key   transparency.Key
	mu    sync.Mutex
	size  uint64
	root  []byte
	notes []string
}

func (w *fakeWitness) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	head, signed, ok := bytes.Cut(body, []byte("\n\n"))
	if !ok {
		http.Error(rw, "no blank line", http.StatusBadRequest)
		return
	}
	lines := strings.Split(string(head), "\n")
	old, err := strconv.ParseUint(strings.TrimPrefix(lines[0], "old "), 10, 64)
	if err != nil {
		http.Error(rw, "bad old line", http.StatusBadRequest)
		return
	}
	cp, _, _, err := log.ParseCheckpoint(signed, w.key.Origin(), w.key.Verifier)
	if err != nil {
		http.Error(rw, err.Error(), http.StatusForbidden)
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if old != w.size {
		rw.Header().Set("Content-Type", "text/x.tlog.size")
		rw.WriteHeader(http.StatusConflict)
		io.WriteString(rw, strconv.FormatUint(w.size, 10)+"\n")
		return
	}
	if old > 0 {
		var p [][]byte
		for _, l := range lines[1:] {
			h, _ := base64.StdEncoding.DecodeString(l)
			p = append(p, h)
		}
		if err := proof.VerifyConsistency(rfc6962.DefaultHasher, old, cp.Size, p, w.root, cp.Hash); err != nil {
			http.Error(rw, err.Error(), http.StatusUnprocessableEntity)
			return
		}
	}
	w.size, w.root = cp.Size, cp.Hash
	w.notes = append(w.notes, string(signed))
}

// Every new checkpoint reaches the witness over HTTP, each consistent with the one the
// witness held before: the operator alone can no longer swap the history.
func TestCheckpointsArePushedToTheWitnessConsistently(t *testing.T) {
	k := newLogKit(t, backends[0].open(t))
	w := &fakeWitness{t: t, key: k.key}
	srv := httptest.NewServer(w)
	defer srv.Close()
	k.pub.Witness = transparency.HTTPWitness{URL: srv.URL + "/add-checkpoint"}
	var published []transparency.Checkpoint
	for _, n := range []int{10, 25, 1100} {
		k.append(n)
		cp := k.publish()
		if !cp.Witnessed || cp.WitnessError != "" {
			t.Fatalf("checkpoint %d not witnessed: %s", cp.Size, cp.WitnessError)
		}
		published = append(published, cp)
	}
	if len(w.notes) != 3 || w.notes[2] != published[2].Note || w.size != 1135 {
		t.Fatalf("the witness holds %d notes up to size %d", len(w.notes), w.size)
	}
}

// A publisher that does not know what the witness holds (a restart) learns it from the
// 409 and continues from there.
func TestARestartedPublisherCatchesUpWithTheWitness(t *testing.T) {
	k := newLogKit(t, backends[0].open(t))
	w := &fakeWitness{t: t, key: k.key}
	srv := httptest.NewServer(w)
	defer srv.Close()
	k.pub.Witness = transparency.HTTPWitness{URL: srv.URL}
	k.append(10)
	k.publish()
	restarted := &transparency.Publisher{Tree: k.tree, Key: k.key, Witness: transparency.HTTPWitness{URL: srv.URL}}
	k.append(5)
	cp, err := restarted.Publish(context.Background())
	if err != nil || !cp.Witnessed || w.size != 15 {
		t.Fatalf("want the witness at 15, got %d (%v, %s)", w.size, err, cp.WitnessError)
	}
}

// A witness that refuses (here: it does not trust the key) leaves the checkpoint
// published and says why.
func TestARefusingWitnessIsReportedAndTheCheckpointStillPublished(t *testing.T) {
	k := newLogKit(t, backends[0].open(t))
	w := &fakeWitness{t: t, key: newKey(t, k.key.Origin())}
	srv := httptest.NewServer(w)
	defer srv.Close()
	k.pub.Witness = transparency.HTTPWitness{URL: srv.URL}
	k.append(3)
	cp := k.publish()
	if cp.Witnessed || !strings.Contains(cp.WitnessError, "403") {
		t.Fatalf("want a 403 reported, got witnessed=%v %q", cp.Witnessed, cp.WitnessError)
	}
	latest, err := k.pub.Latest(context.Background())
	if err != nil || latest.Size != 3 {
		t.Fatalf("latest: %+v %v", latest, err)
	}
}

// The command hook gets the same request on its standard input.
func TestTheWitnessCommandGetsTheCheckpoint(t *testing.T) {
	k := newLogKit(t, backends[0].open(t))
	out := filepath.Join(t.TempDir(), "witnessed")
	k.pub.Witness = transparency.CommandWitness{Argv: []string{"sh", "-c", `cat > "$0"; echo "$BENEFITS_CHECKPOINT_SIZE" >> "$0"`, out}}
	k.append(4)
	cp := k.publish()
	if !cp.Witnessed {
		t.Fatalf("not witnessed: %s", cp.WitnessError)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(got))
	sc.Scan()
	if sc.Text() != "old 0" || !bytes.Contains(got, []byte("\n\n"+cp.Note)) || !bytes.HasSuffix(got, []byte("\n4\n")) {
		t.Fatalf("the command got:\n%s", got)
	}
}
