package transparency_test

import (
	"context"
	"testing"

	"ledger/infra/transparency"
)

// After the signing key is rotated, the new key signs the same tree at once, and the
// checkpoints the old key signed still prove the log with the old verifier key.
func TestARotatedKeySignsTheSameTreeAndOldCheckpointsStillVerify(t *testing.T) {
	k := newLogKit(t, backends[0].open(t))
	k.append(12)
	old := k.publish()
	rotated := &transparency.Publisher{Tree: k.tree, Key: newKey(t, k.key.Origin())}
	fresh, err := rotated.Publish(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if fresh.Size != old.Size || fresh.RootHash != old.RootHash || fresh.Note == old.Note {
		t.Fatalf("want the same tree signed anew: old %+v, new %+v", old, fresh)
	}
	latest, err := rotated.Latest(context.Background())
	if err != nil || latest.Note != fresh.Note {
		t.Fatalf("latest under the new key: %+v %v", latest, err)
	}
	k.append(3)
	x, err := transparency.VerifyExtends(context.Background(), k.store, k.tree, []byte(old.Note), k.key.Verifier)
	if err != nil || !x.Extends {
		t.Fatalf("the old checkpoint with the old key: %+v %v", x, err)
	}
}
