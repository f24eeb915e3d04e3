package transparency

import (
	"context"
	"fmt"

	"golang.org/x/mod/sumdb/tlog"

	"ledger/infra/eventstore"
)

// InclusionProof shows that the event at Position is leaf LeafIndex of the tree of
// TreeSize leaves whose root is RootHash: RFC 6962 audit path, hashes in base64.
type InclusionProof struct {
	Position  string      `json:"position"`
	LeafIndex int64       `json:"leafIndex"`
	TreeSize  int64       `json:"treeSize"`
	LeafHash  tlog.Hash   `json:"leafHash"`
	RootHash  tlog.Hash   `json:"rootHash"`
	Proof     []tlog.Hash `json:"proof"`
}

// ConsistencyProof shows that the tree of ToSize leaves extends the tree of FromSize.
type ConsistencyProof struct {
	FromSize int64       `json:"fromSize"`
	ToSize   int64       `json:"toSize"`
	FromRoot tlog.Hash   `json:"fromRoot"`
	ToRoot   tlog.Hash   `json:"toRoot"`
	Proof    []tlog.Hash `json:"proof"`
}

// ProveInclusion proves the event at position p into the tree of size leaves.
func (t *Tree) ProveInclusion(ctx context.Context, p eventstore.Position, size int64) (InclusionProof, error) {
	if err := t.checkSize(ctx, size); err != nil {
		return InclusionProof{}, err
	}
	leaf, err := t.LeafAt(ctx, p)
	if err != nil {
		return InclusionProof{}, err
	}
	if leaf.Index >= size {
		return InclusionProof{}, fmt.Errorf("position %s is leaf %d, beyond a tree of %d: %w", p, leaf.Index, size, ErrNotInTree)
	}
	r := t.HashReader(ctx)
	proof, err := tlog.ProveRecord(size, leaf.Index, r)
	if err != nil {
		return InclusionProof{}, fmt.Errorf("transparency: prove leaf %d in %d: %w", leaf.Index, size, err)
	}
	root, err := tlog.TreeHash(size, r)
	if err != nil {
		return InclusionProof{}, err
	}
	return InclusionProof{Position: p.String(), LeafIndex: leaf.Index, TreeSize: size, LeafHash: leaf.Hash, RootHash: root, Proof: proof}, nil
}

// ProveConsistency proves that the tree of to leaves extends the tree of from leaves.
func (t *Tree) ProveConsistency(ctx context.Context, from, to int64) (ConsistencyProof, error) {
	if from > to {
		return ConsistencyProof{}, fmt.Errorf("from %d is after to %d: %w", from, to, ErrNotInTree)
	}
	if err := t.checkSize(ctx, to); err != nil {
		return ConsistencyProof{}, err
	}
	if err := t.checkSize(ctx, from); err != nil {
		return ConsistencyProof{}, err
	}
	r := t.HashReader(ctx)
	proof, err := tlog.ProveTree(to, from, r)
	if err != nil {
		return ConsistencyProof{}, fmt.Errorf("transparency: prove %d consistent with %d: %w", to, from, err)
	}
	fromRoot, err := tlog.TreeHash(from, r)
	if err != nil {
		return ConsistencyProof{}, err
	}
	toRoot, err := tlog.TreeHash(to, r)
	if err != nil {
		return ConsistencyProof{}, err
	}
	return ConsistencyProof{FromSize: from, ToSize: to, FromRoot: fromRoot, ToRoot: toRoot, Proof: proof}, nil
}
