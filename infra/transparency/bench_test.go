package transparency_test

import (
	"context"
	"fmt"
	"iter"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/tlog"

	"ledger/infra/eventstore"
	"ledger/infra/sqlstore"
	"ledger/infra/transparency"
)

// benchEvents is the log size of the proof benchmarks.
const benchEvents = 1_000_000

// bulkLog writes n events of a realistic size (a 200-byte payload, sealed-looking
// metadata) straight into a SQLite event_log, many rows per statement: writing a
// million through Append would measure the store, not the tree.
func bulkLog(b *testing.B, n int) *sqlstore.Store {
	b.Helper()
	ctx := context.Background()
	s, err := sqlstore.OpenSQLite(ctx, filepath.Join(b.TempDir(), "events.db"), sqlstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	const rows = 500
	data := []byte(`{"mpnId":"4711001","incidentId":"` + strings.Repeat("x", 150) + `"}`)
	meta := []byte(`{"actor":"admin@4711001","correlationId":"c","prevHash":"` + strings.Repeat("a", 64) + `","hash":"` + strings.Repeat("b", 64) + `"}`)
	at := time.Date(2026, 1, 15, 9, 0, 0, 0, time.UTC)
	tx, err := s.DB().BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	for first := 0; first < n; first += rows {
		var q strings.Builder
		q.WriteString("INSERT INTO event_log (position, event_id, stream, revision, type, data, metadata, recorded_at) VALUES ")
		var args []any
		for i := first; i < min(first+rows, n); i++ {
			if i > first {
				q.WriteString(",")
			}
			q.WriteString("(?,?,?,?,?,?,?,?)")
			args = append(args, i+1, uuid.NewString(), fmt.Sprintf("partner-%07d", 1000000+i%1000), i/1000, "IncidentOpened.v1", data, meta, at)
		}
		if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkCheckpointPer1000Events is what publishing costs for every 1,000 new events:
// reading them, hashing them into the tree, storing about 2,000 hashes and signing.
func BenchmarkCheckpointPer1000Events(b *testing.B) {
	s := bulkLog(b, 1000*(b.N+1))
	tree, err := transparency.OpenTree(context.Background(), s.DB(), eventsUpTo{s, 1000})
	if err != nil {
		b.Fatal(err)
	}
	key := newKey(b, "bench")
	pub := &transparency.Publisher{Tree: tree, Key: key}
	if _, err := pub.Publish(context.Background()); err != nil { // the first 1,000, untimed
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		tree, _ = transparency.OpenTree(context.Background(), s.DB(), eventsUpTo{s, uint64(1000 * (i + 2))})
		pub = &transparency.Publisher{Tree: tree, Key: key}
		b.StartTimer()
		if _, err := pub.Publish(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

// eventsUpTo is the log as it was when it held only its first n events.
type eventsUpTo struct {
	s *sqlstore.Store
	n uint64
}

func (l eventsUpTo) ReadAll(ctx context.Context, from eventstore.Position) iter.Seq2[eventstore.RecordedEvent, error] {
	return func(yield func(eventstore.RecordedEvent, error) bool) {
		for e, err := range l.s.ReadAll(ctx, from) {
			if err == nil && e.Position.Commit > l.n {
				return
			}
			if !yield(e, err) {
				return
			}
		}
	}
}

// BenchmarkProofsAt1MEvents: proof sizes and the time to produce and to check them at
// a million events; the tree build and the auditor's full walk are reported once.
func BenchmarkProofsAt1MEvents(b *testing.B) {
	ctx := context.Background()
	s := bulkLog(b, benchEvents)
	tree, err := transparency.OpenTree(ctx, s.DB(), s)
	if err != nil {
		b.Fatal(err)
	}
	key := newKey(b, "bench")
	pub := &transparency.Publisher{Tree: tree, Key: key}
	start := time.Now()
	cp, err := pub.Publish(ctx)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("tree of %d events built and signed in %s", cp.Size, time.Since(start))
	parsed, _, _, err := log.ParseCheckpoint([]byte(cp.Note), key.Origin(), key.Verifier)
	if err != nil {
		b.Fatal(err)
	}
	pos := eventstore.Position{Commit: 654_321, Prepare: 654_321}
	incl, err := tree.ProveInclusion(ctx, pos, cp.Size)
	if err != nil {
		b.Fatal(err)
	}
	var leafEvent eventstore.RecordedEvent
	for e := range s.ReadAll(ctx, eventstore.Position{Commit: pos.Commit - 1, Prepare: pos.Commit - 1}) {
		leafEvent = e
		break
	}
	leaf := rfc6962.DefaultHasher.HashLeaf(transparency.LeafBytes(leafEvent))
	p := make([][]byte, len(incl.Proof))
	for i := range incl.Proof {
		p[i] = incl.Proof[i][:]
	}
	cons, err := tree.ProveConsistency(ctx, 500_000, cp.Size)
	if err != nil {
		b.Fatal(err)
	}
	c := make([][]byte, len(cons.Proof))
	for i := range cons.Proof {
		c[i] = cons.Proof[i][:]
	}
	b.Logf("inclusion proof: %d hashes, %d bytes; consistency 500,000 -> 1,000,000: %d hashes, %d bytes; checkpoint note %d bytes",
		len(p), 32*len(p), len(c), 32*len(c), len(cp.Note))
	b.Run("ProveInclusion", func(b *testing.B) {
		for b.Loop() {
			if _, err := tree.ProveInclusion(ctx, pos, cp.Size); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(32*len(p)), "proof-bytes")
	})
	b.Run("VerifyInclusion", func(b *testing.B) {
		for b.Loop() {
			if err := proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(incl.LeafIndex), parsed.Size, leaf, p, parsed.Hash); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("CheckRecord", func(b *testing.B) {
		for b.Loop() {
			if err := tlog.CheckRecord(incl.Proof, cp.Size, cp.RootHash, incl.LeafIndex, tlog.Hash(leaf)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ProveConsistency", func(b *testing.B) {
		for b.Loop() {
			if _, err := tree.ProveConsistency(ctx, 500_000, cp.Size); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(32*len(c)), "proof-bytes")
	})
	b.Run("VerifyConsistency", func(b *testing.B) {
		for b.Loop() {
			if err := proof.VerifyConsistency(rfc6962.DefaultHasher, 500_000, parsed.Size, c, cons.FromRoot[:], parsed.Hash); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("VerifyExtendsWholeLog", func(b *testing.B) {
		for b.Loop() {
			x, err := transparency.VerifyExtends(ctx, s, tree, []byte(cp.Note), key.Verifier)
			if err != nil || !x.Extends {
				b.Fatalf("%+v %v", x, err)
			}
		}
	})
}
