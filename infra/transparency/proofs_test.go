package transparency_test

import (
	"context"
	"errors"
	"testing"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/tlog"

	"ledger/infra/eventstore"
	"ledger/infra/transparency"
)

func hashes(p []tlog.Hash) [][]byte {
	out := make([][]byte, len(p))
	for i := range p {
		out[i] = p[i][:]
	}
	return out
}

// An auditor holding only the published checkpoint, the served proof and the event
// (read from the store, hashed as LeafBytes says) checks inclusion with
// transparency-dev's verifier, not with the library that built the tree, and with
// tlog.CheckRecord.
func TestAnInclusionProofVerifiesWithAThirdPartyVerifier(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			k := newLogKit(t, b.open(t))
			k.append(1234)
			cp := k.publish()
			parsed, _, _, err := log.ParseCheckpoint([]byte(cp.Note), k.key.Origin(), k.key.Verifier)
			if err != nil {
				t.Fatal(err)
			}
			for _, pos := range []uint64{1, 2, 617, 1024, 1234} {
				p := eventstore.Position{Commit: pos, Prepare: pos}
				incl, err := k.tree.ProveInclusion(context.Background(), p, cp.Size)
				if err != nil {
					t.Fatal(err)
				}
				leaf := rfc6962.DefaultHasher.HashLeaf(transparency.LeafBytes(k.eventAt(pos)))
				if err := proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(incl.LeafIndex), parsed.Size, leaf, hashes(incl.Proof), parsed.Hash); err != nil {
					t.Fatalf("position %d: transparency-dev refuses the proof: %v", pos, err)
				}
				if err := tlog.CheckRecord(incl.Proof, int64(parsed.Size), tlog.Hash(parsed.Hash), incl.LeafIndex, tlog.Hash(leaf)); err != nil {
					t.Fatalf("position %d: tlog refuses the proof: %v", pos, err)
				}
				// The proof of one event does not prove another.
				other := rfc6962.DefaultHasher.HashLeaf([]byte("another event"))
				if proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(incl.LeafIndex), parsed.Size, other, hashes(incl.Proof), parsed.Hash) == nil {
					t.Fatal("a proof verified for a leaf that is not in the log")
				}
			}
		})
	}
}

// Two checkpoints published as the log grew are consistent, by transparency-dev's
// verifier; a size the tree has not reached is refused as not in the tree.
func TestConsecutiveCheckpointsAreProvablyConsistent(t *testing.T) {
	k := newLogKit(t, backends[0].open(t))
	k.append(300)
	older := k.publish()
	k.append(1777)
	newer := k.publish()
	p, err := k.tree.ProveConsistency(context.Background(), older.Size, newer.Size)
	if err != nil {
		t.Fatal(err)
	}
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, uint64(older.Size), uint64(newer.Size), hashes(p.Proof), older.RootHash[:], newer.RootHash[:]); err != nil {
		t.Fatalf("transparency-dev refuses the consistency proof: %v", err)
	}
	if err := tlog.CheckTree(p.Proof, newer.Size, newer.RootHash, older.Size, older.RootHash); err != nil {
		t.Fatalf("tlog refuses the consistency proof: %v", err)
	}
	if _, err := k.tree.ProveConsistency(context.Background(), older.Size, newer.Size+1); !errors.Is(err, transparency.ErrNotInTree) {
		t.Fatalf("a size beyond the tree: want ErrNotInTree, got %v", err)
	}
	if _, err := k.tree.ProveInclusion(context.Background(), eventstore.Position{Commit: 9999, Prepare: 9999}, newer.Size); !errors.Is(err, transparency.ErrNotInTree) {
		t.Fatalf("a position not in the log: want ErrNotInTree, got %v", err)
	}
}
