package transparency

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"iter"
	"math/bits"
	"sync"

	"github.com/uptrace/bun"
	"golang.org/x/mod/sumdb/tlog"

	"ledger/infra/eventstore"
)

// ErrNotInTree: the position or size asked about is not (yet) in the tree.
var ErrNotInTree = errors.New("not in the tree")

// Log is the part of the event store the tree reads.
type Log interface {
	ReadAll(ctx context.Context, from eventstore.Position) iter.Seq2[eventstore.RecordedEvent, error]
}

// leavesPerTx bounds the leaves one write transaction adds (about two hash rows each).
const leavesPerTx = 1000

// Tree is the Merkle tree over the global log, kept in tlog's stored-hash layout.
type Tree struct {
	db  *bun.DB
	log Log
	mu  sync.Mutex // one extension at a time in this process; others are idempotent
}

// OpenTree makes the tables if needed and returns the tree over log kept in db.
func OpenTree(ctx context.Context, db *bun.DB, log Log) (*Tree, error) {
	if err := createSchema(ctx, db); err != nil {
		return nil, err
	}
	return &Tree{db: db, log: log}, nil
}

// StoredLeaf is one leaf as the tree recorded it.
type StoredLeaf struct {
	Index    int64
	Position eventstore.Position
	Hash     tlog.Hash
}

// Size is the number of events in the tree.
func (t *Tree) Size(ctx context.Context) (int64, error) {
	last, found, err := t.lastLeaf(ctx)
	if err != nil || !found {
		return 0, err
	}
	return last.Index + 1, nil
}

func (t *Tree) lastLeaf(ctx context.Context) (StoredLeaf, bool, error) {
	leaves, err := t.queryLeaves(ctx, "SELECT idx, pos_commit, pos_prepare, leaf_hash FROM tlog_leaves ORDER BY idx DESC LIMIT 1")
	if err != nil || len(leaves) == 0 {
		return StoredLeaf{}, false, err
	}
	return leaves[0], true, nil
}

// Leaves returns up to limit stored leaves from index from on, in order.
func (t *Tree) Leaves(ctx context.Context, from int64, limit int) ([]StoredLeaf, error) {
	return t.queryLeaves(ctx, "SELECT idx, pos_commit, pos_prepare, leaf_hash FROM tlog_leaves WHERE idx >= ? ORDER BY idx LIMIT ?", from, limit)
}

// LeafAt finds the leaf of the event at position p.
func (t *Tree) LeafAt(ctx context.Context, p eventstore.Position) (StoredLeaf, error) {
	leaves, err := t.queryLeaves(ctx, "SELECT idx, pos_commit, pos_prepare, leaf_hash FROM tlog_leaves WHERE pos_commit = ? AND pos_prepare = ?", p.Commit, p.Prepare)
	if err != nil {
		return StoredLeaf{}, err
	}
	if len(leaves) == 0 {
		return StoredLeaf{}, fmt.Errorf("position %s: %w", p, ErrNotInTree)
	}
	return leaves[0], nil
}

func (t *Tree) queryLeaves(ctx context.Context, query string, args ...any) ([]StoredLeaf, error) {
	rows, err := t.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("transparency: read leaves: %w", err)
	}
	defer rows.Close()
	var out []StoredLeaf
	for rows.Next() {
		var l StoredLeaf
		var h []byte
		if err := rows.Scan(&l.Index, &l.Position.Commit, &l.Position.Prepare, &h); err != nil {
			return nil, fmt.Errorf("transparency: read leaves: %w", err)
		}
		copy(l.Hash[:], h)
		out = append(out, l)
	}
	return out, rows.Err()
}

// HashReader reads stored hashes by index, for tlog's proofs and tree hashes.
func (t *Tree) HashReader(ctx context.Context) tlog.HashReader {
	return tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) { return t.readHashes(ctx, indexes) })
}

func (t *Tree) readHashes(ctx context.Context, indexes []int64) ([]tlog.Hash, error) {
	if len(indexes) == 0 {
		return nil, nil
	}
	rows, err := t.db.QueryContext(ctx, "SELECT idx, hash FROM tlog_hashes WHERE idx IN (?)", bun.In(indexes))
	if err != nil {
		return nil, fmt.Errorf("transparency: read hashes: %w", err)
	}
	defer rows.Close()
	found := make(map[int64]tlog.Hash, len(indexes))
	for rows.Next() {
		var idx int64
		var h []byte
		if err := rows.Scan(&idx, &h); err != nil {
			return nil, fmt.Errorf("transparency: read hashes: %w", err)
		}
		found[idx] = tlog.Hash(h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("transparency: read hashes: %w", err)
	}
	return inOrder(found, indexes, "transparency: stored hash %d is missing")
}

// inOrder lists the hashes of indexes, in their order, from found; an index found does
// not hold fails with missing (a format taking the index).
func inOrder(found map[int64]tlog.Hash, indexes []int64, missing string) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, idx := range indexes {
		h, ok := found[idx]
		if !ok {
			return nil, fmt.Errorf(missing, idx)
		}
		out[i] = h
	}
	return out, nil
}

// peakIndexes are the stored-hash indexes of the complete subtrees of a tree of size n:
// all tlog.StoredHashes needs to add leaf n.
func peakIndexes(n int64) []int64 {
	var out []int64
	for level := 0; level < 64-bits.LeadingZeros64(uint64(n)); level++ {
		if n&(1<<level) != 0 {
			out = append(out, tlog.StoredHashIndex(level, n>>level-1))
		}
	}
	return out
}

// memoryHashes answers tlog's reads from the hashes of the batch being built and the
// peaks it grew from, so adding a leaf costs no query.
type memoryHashes map[int64]tlog.Hash

func (m memoryHashes) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	return inOrder(m, indexes, "transparency: hash %d not at hand")
}

// keepPeaks forgets every hash but the peaks of a tree of size n.
func (m memoryHashes) keepPeaks(n int64) {
	keep := map[int64]bool{}
	for _, idx := range peakIndexes(n) {
		keep[idx] = true
	}
	for idx := range m {
		if !keep[idx] {
			delete(m, idx)
		}
	}
}

// Extend adds every event of the log that is not in the tree yet and returns the new
// size. Leaves and hashes are written a transaction per batch; a crash between batches
// leaves a smaller complete tree, which the next Extend continues. Two processes
// extending at once write the same rows, which the second write ignores.
func (t *Tree) Extend(ctx context.Context) (int64, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	last, found, err := t.lastLeaf(ctx)
	if err != nil {
		return 0, err
	}
	n, from := int64(0), eventstore.Start
	if found {
		n, from = last.Index+1, last.Position
	}
	mem := memoryHashes{}
	peaks, err := t.readHashes(ctx, peakIndexes(n))
	if err != nil {
		return 0, err
	}
	for i, idx := range peakIndexes(n) {
		mem[idx] = peaks[i]
	}
	b := batch{}
	for e, err := range t.log.ReadAll(ctx, from) {
		if err != nil {
			return n, fmt.Errorf("transparency: read the log: %w", err)
		}
		hashes, err := tlog.StoredHashes(n, LeafBytes(e), mem)
		if err != nil {
			return n, fmt.Errorf("transparency: leaf %d: %w", n, err)
		}
		b.add(n, e.Position, hashes, mem)
		n++
		if len(b.leaves) == leavesPerTx {
			if err := t.write(ctx, b); err != nil {
				return n - int64(len(b.leaves)), err
			}
			b = batch{}
			mem.keepPeaks(n)
		}
	}
	if err := t.write(ctx, b); err != nil {
		return n - int64(len(b.leaves)), err
	}
	return n, nil
}

type leafRow struct {
	bun.BaseModel `bun:"table:tlog_leaves"`
	Idx           int64  `bun:"idx,pk"`
	PosCommit     uint64 `bun:"pos_commit"`
	PosPrepare    uint64 `bun:"pos_prepare"`
	LeafHash      []byte `bun:"leaf_hash"`
}

type hashRow struct {
	bun.BaseModel `bun:"table:tlog_hashes"`
	Idx           int64  `bun:"idx,pk"`
	Hash          []byte `bun:"hash"`
}

// batch is the rows of the leaves added since the last write.
type batch struct {
	leaves []leafRow
	hashes []hashRow
}

func (b *batch) add(n int64, p eventstore.Position, hashes []tlog.Hash, mem memoryHashes) {
	first := tlog.StoredHashIndex(0, n)
	for i, h := range hashes {
		mem[first+int64(i)] = h
		b.hashes = append(b.hashes, hashRow{Idx: first + int64(i), Hash: h[:]})
	}
	b.leaves = append(b.leaves, leafRow{Idx: n, PosCommit: p.Commit, PosPrepare: p.Prepare, LeafHash: hashes[0][:]})
}

func (t *Tree) write(ctx context.Context, b batch) error {
	if len(b.leaves) == 0 {
		return nil
	}
	err := t.db.RunInTx(ctx, &sql.TxOptions{}, func(ctx context.Context, tx bun.Tx) error {
		// Hashes first: a leaf row promises that its hashes are stored.
		if _, err := tx.NewInsert().Model(&b.hashes).On("CONFLICT (idx) DO NOTHING").Exec(ctx); err != nil {
			return err
		}
		_, err := tx.NewInsert().Model(&b.leaves).On("CONFLICT (idx) DO NOTHING").Exec(ctx)
		return err
	})
	if err != nil {
		return fmt.Errorf("transparency: store leaves %d..%d: %w", b.leaves[0].Idx, b.leaves[len(b.leaves)-1].Idx, err)
	}
	return nil
}

// SizeError is a tree size the tree has not reached (or below 1); it is ErrNotInTree.
type SizeError struct{ Size, Have int64 }

func (e *SizeError) Error() string {
	return fmt.Sprintf("tree size %d: the tree holds %d events", e.Size, e.Have)
}

func (e *SizeError) Is(target error) bool { return target == ErrNotInTree }

// checkSize refuses a size the tree has not reached.
func (t *Tree) checkSize(ctx context.Context, size int64) error {
	have, err := t.Size(ctx)
	if err != nil {
		return err
	}
	if size < 1 || size > have {
		return &SizeError{Size: size, Have: have}
	}
	return nil
}

// RootHash is the RFC 6962 root of the first size leaves.
func (t *Tree) RootHash(ctx context.Context, size int64) (tlog.Hash, error) {
	if err := t.checkSize(ctx, size); err != nil {
		return tlog.Hash{}, err
	}
	return tlog.TreeHash(size, t.HashReader(ctx))
}
