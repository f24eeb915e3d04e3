package transparency_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"ledger/infra/transparency"
)

// The auditor saved a checkpoint of 40 events; the log has grown since. It extends.
func TestAGrownLogExtendsTheCheckpointSavedEarlier(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			k := newLogKit(t, b.open(t))
			k.append(40)
			saved := k.publish()
			k.append(1100) // past one write batch of the tree
			latest := k.publish()
			if saved.Size != 40 || latest.Size != 1140 {
				t.Fatalf("sizes %d, %d", saved.Size, latest.Size)
			}
			x := k.verify(saved)
			if !x.Extends || x.FirstDiffering != nil || x.LogSize != 1140 || x.CheckpointSize != 40 {
				t.Fatalf("want the grown log to extend the checkpoint, got %+v", x)
			}
			if x := k.verify(latest); !x.Extends {
				t.Fatalf("the latest checkpoint: %+v", x)
			}
		})
	}
}

// Cutting off the newest events: the first missing one is named.
func TestATruncatedLogFailsTheCheckpointAtTheFirstMissingPosition(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			k := newLogKit(t, b.open(t))
			k.append(30)
			saved := k.publish()
			k.exec("DELETE FROM event_log WHERE position > 26")
			x := k.verify(saved)
			want := transparency.Differing{LeafIndex: 26, Reason: transparency.DiffTruncated, Position: "27"}
			if x.Extends || x.FirstDiffering == nil || *x.FirstDiffering != want || x.LogSize != 26 {
				t.Fatalf("want %+v, got %+v (%+v)", want, x, x.FirstDiffering)
			}
		})
	}
}

// Swapping two events' places in the global log: the earlier place is named.
func TestAReorderedLogFailsTheCheckpointAtTheFirstMovedPosition(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			k := newLogKit(t, b.open(t))
			k.append(30)
			saved := k.publish()
			k.exec("UPDATE event_log SET position = -1 WHERE position = 12")
			k.exec("UPDATE event_log SET position = 12 WHERE position = 19")
			k.exec("UPDATE event_log SET position = 19 WHERE position = -1")
			x := k.verify(saved)
			want := transparency.Differing{LeafIndex: 11, Reason: transparency.DiffChanged, Position: "12", Found: "12"}
			if x.Extends || x.FirstDiffering == nil || *x.FirstDiffering != want || x.LogSize != 30 {
				t.Fatalf("want %+v, got %+v (%+v)", want, x, x.FirstDiffering)
			}
		})
	}
}

// Rewriting an old event's data (the forger may reseal the chain: the tree still sees
// other bytes): that event is named.
func TestARewrittenPastFailsTheCheckpointAtTheRewrittenPosition(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			k := newLogKit(t, b.open(t))
			k.append(30)
			saved := k.publish()
			k.exec("UPDATE event_log SET data = ? WHERE position = 8", []byte(`{"n":7,"note":"a different past"}`))
			x := k.verify(saved)
			want := transparency.Differing{LeafIndex: 7, Reason: transparency.DiffChanged, Position: "8", Found: "8"}
			if x.Extends || x.FirstDiffering == nil || *x.FirstDiffering != want {
				t.Fatalf("want %+v, got %+v (%+v)", want, x, x.FirstDiffering)
			}
		})
	}
}

// An operator who rewrites the past and rebuilds the stored tree to match it still
// fails: the root is recomputed from the events, and only the signed checkpoint is
// trusted. Where it differs can then not be told from the store.
func TestARewrittenPastWithARebuiltTreeStillFailsTheCheckpoint(t *testing.T) {
	k := newLogKit(t, backends[0].open(t))
	k.append(30)
	saved := k.publish()
	k.exec("UPDATE event_log SET data = ? WHERE position = 8", []byte(`{"n":7,"note":"a different past"}`))
	k.exec("DELETE FROM tlog_leaves")
	k.exec("DELETE FROM tlog_hashes")
	if _, err := k.tree.Extend(context.Background()); err != nil {
		t.Fatal(err)
	}
	x := k.verify(saved)
	if x.Extends || x.FirstDiffering == nil || x.FirstDiffering.Reason != transparency.DiffUnlocated {
		t.Fatalf("want an unlocated difference, got %+v (%+v)", x, x.FirstDiffering)
	}
}

// A checkpoint edited after signing, or signed by another key, is refused.
func TestACheckpointThatDoesNotVerifyIsRefused(t *testing.T) {
	k := newLogKit(t, backends[0].open(t))
	k.append(5)
	saved := k.publish()
	lines := strings.SplitN(saved.Note, "\n", 3)
	forged := lines[0] + "\n4\n" + lines[2] // claims 4 events instead of 5
	for name, c := range map[string]struct {
		note string
		key  transparency.Key
	}{
		"edited body": {forged, k.key},
		"another key": {saved.Note, newKey(t, "ledger.test/events")},
	} {
		_, err := transparency.VerifyExtends(context.Background(), k.store, k.tree, []byte(c.note), c.key.Verifier)
		if !errors.Is(err, transparency.ErrBadCheckpoint) {
			t.Fatalf("%s: want ErrBadCheckpoint, got %v", name, err)
		}
	}
}
