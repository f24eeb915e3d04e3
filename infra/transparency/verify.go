package transparency

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"ledger/infra/eventstore"
)

// Why today's log does not extend a checkpoint.
const (
	DiffTruncated = "truncated" // the log holds fewer events than the checkpoint covered
	DiffChanged   = "changed"   // an event the checkpoint covered is not the one there now (rewritten or reordered)
	DiffUnlocated = "unlocated" // the root differs, and the stored tree was rewritten too: the place cannot be told
)

// Extension is the outcome of VerifyExtends. Extends means the first CheckpointSize
// events of today's log give the checkpoint's root; otherwise FirstDiffering says where
// the log stopped matching it.
type Extension struct {
	Origin         string     `json:"origin"`
	CheckpointSize int64      `json:"checkpointSize"`
	LogSize        int64      `json:"logSize"`
	Extends        bool       `json:"extends"`
	FirstDiffering *Differing `json:"firstDiffering,omitempty"`
}

// Differing is the first leaf of the checkpoint that today's log does not reproduce.
type Differing struct {
	LeafIndex int64  `json:"leafIndex"`
	Reason    string `json:"reason"`
	// Position is where the checkpointed event stood (from the tree recorded then);
	// Found is the position of the event there now, empty when there is none.
	Position string `json:"position,omitempty"`
	Found    string `json:"found,omitempty"`
}

func (d Differing) String() string {
	switch d.Reason {
	case DiffTruncated:
		return fmt.Sprintf("leaf %d (position %s) is missing: the log was truncated", d.LeafIndex, d.Position)
	case DiffChanged:
		return fmt.Sprintf("leaf %d: the event at position %s is not the one the checkpoint covered (found the event now at %s)", d.LeafIndex, d.Position, d.Found)
	}
	return "the log's root differs from the checkpoint's and the stored tree was rewritten as well, so the first differing position cannot be told from the store alone"
}

// ErrBadCheckpoint: the checkpoint file does not parse or its signature does not verify.
var ErrBadCheckpoint = errors.New("checkpoint does not verify")

// VerifyExtends proves that today's log extends a checkpoint saved earlier. It trusts
// nothing the store says about the tree: it checks the signature with verifier, reads
// every event, and recomputes the root of the first checkpoint-size leaves with
// transparency-dev's compact range (another implementation than the one that built
// the tree). Only to name the first differing place does it read the stored leaf
// hashes, after checking that the stored tree gives the checkpoint's root.
func VerifyExtends(ctx context.Context, events Log, tree *Tree, signed []byte, verifier note.Verifier) (Extension, error) {
	cp, _, _, err := log.ParseCheckpoint(signed, verifier.Name(), verifier)
	if err != nil {
		return Extension{}, fmt.Errorf("%w: %w", ErrBadCheckpoint, err)
	}
	x := Extension{Origin: cp.Origin, CheckpointSize: int64(cp.Size)}
	stored := storedLeaves{tree: tree}
	if err := stored.authenticate(ctx, int64(cp.Size), cp.Hash); err != nil {
		return x, err
	}
	rf := compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
	rng := rf.NewEmptyRange(0)
	for e, err := range events.ReadAll(ctx, eventstore.Start) {
		if err != nil {
			return x, fmt.Errorf("verify checkpoint: read the log: %w", err)
		}
		i := x.LogSize
		x.LogSize++
		if i >= int64(cp.Size) {
			continue // counting today's size only
		}
		leaf := rfc6962.DefaultHasher.HashLeaf(LeafBytes(e))
		if err := rng.Append(leaf, nil); err != nil {
			return x, err
		}
		if x.FirstDiffering == nil {
			if x.FirstDiffering, err = stored.compare(ctx, i, leaf, e.Position); err != nil {
				return x, err
			}
		}
	}
	if x.LogSize < int64(cp.Size) {
		if x.FirstDiffering == nil {
			x.FirstDiffering, err = stored.missing(ctx, x.LogSize)
		}
		return x, err
	}
	root, err := rng.GetRootHash(nil)
	if err != nil {
		return x, err
	}
	x.Extends = bytes.Equal(root, cp.Hash)
	if x.Extends {
		x.FirstDiffering = nil
	} else if x.FirstDiffering == nil {
		x.FirstDiffering = &Differing{Reason: DiffUnlocated}
	}
	return x, nil
}

// storedLeaves reads the leaf hashes the tree recorded, page by page, once they are
// known to give the checkpoint's root.
type storedLeaves struct {
	tree    *Tree
	trusted bool
	page    []StoredLeaf
}

func (s *storedLeaves) authenticate(ctx context.Context, size int64, root []byte) error {
	if s.tree == nil {
		return nil
	}
	got, err := s.tree.RootHash(ctx, size)
	if errors.Is(err, ErrNotInTree) {
		return nil // the stored tree is shorter: it cannot say where
	}
	if err != nil {
		return err
	}
	s.trusted = bytes.Equal(got[:], root)
	return nil
}

func (s *storedLeaves) at(ctx context.Context, i int64) (StoredLeaf, bool, error) {
	if !s.trusted {
		return StoredLeaf{}, false, nil
	}
	if len(s.page) == 0 || s.page[0].Index > i || s.page[len(s.page)-1].Index < i {
		var err error
		if s.page, err = s.tree.Leaves(ctx, i, 1000); err != nil {
			return StoredLeaf{}, false, err
		}
	}
	if len(s.page) == 0 {
		return StoredLeaf{}, false, nil
	}
	k := i - s.page[0].Index // leaf indexes are contiguous
	if k < 0 || k >= int64(len(s.page)) {
		return StoredLeaf{}, false, nil
	}
	return s.page[k], true, nil
}

// compare answers the difference at leaf i, or nil when it matches or cannot be told.
func (s *storedLeaves) compare(ctx context.Context, i int64, leaf []byte, now eventstore.Position) (*Differing, error) {
	was, ok, err := s.at(ctx, i)
	if err != nil || !ok || bytes.Equal(was.Hash[:], leaf) {
		return nil, err
	}
	return &Differing{LeafIndex: i, Reason: DiffChanged, Position: was.Position.String(), Found: now.String()}, nil
}

// missing names the first leaf past the end of today's log.
func (s *storedLeaves) missing(ctx context.Context, i int64) (*Differing, error) {
	d := &Differing{LeafIndex: i, Reason: DiffTruncated}
	was, ok, err := s.at(ctx, i)
	if ok {
		d.Position = was.Position.String()
	}
	return d, err
}
