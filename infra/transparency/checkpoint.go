package transparency

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"ledger/infra/eventstore"
)

// ErrNoCheckpoint: nothing has been published yet (the log is empty or the publisher
// has not run).
var ErrNoCheckpoint = errors.New("no checkpoint published yet")

// Checkpoint is one signed checkpoint. Note is the signed note exactly as signed: an
// auditor saves it to a file and hands it to `benefits audit verify --checkpoint`.
type Checkpoint struct {
	Origin      string    `json:"origin"`
	Size        int64     `json:"size"`
	RootHash    tlog.Hash `json:"rootHash"`
	Note        string    `json:"note"`
	PublishedAt time.Time `json:"publishedAt"`
	// Witnessed is false when the witness hook was configured and refused or failed;
	// WitnessError says why. The checkpoint is published either way.
	Witnessed    bool   `json:"witnessed"`
	WitnessError string `json:"witnessError,omitempty"`
}

// Publisher extends the tree and signs checkpoints of it.
type Publisher struct {
	Tree *Tree
	Key  Key
	// Witness, when set, is given every new checkpoint (see witness.go).
	Witness Witness
	Logger  *slog.Logger
	Now     func() time.Time

	mu            sync.Mutex
	witnessedSize int64 // the size the witness last accepted (0: unknown)
}

func (p *Publisher) now() time.Time {
	if p.Now == nil {
		return time.Now().UTC()
	}
	return p.Now().UTC()
}

// Publish brings the tree up to the log and signs a checkpoint of it; when the tree has
// not grown since the latest checkpoint, it answers that one (Ed25519 is deterministic,
// so signing again would only repeat it).
func (p *Publisher) Publish(ctx context.Context) (Checkpoint, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	size, err := p.Tree.Extend(ctx)
	if err != nil {
		return Checkpoint{}, err
	}
	if size == 0 {
		return Checkpoint{}, fmt.Errorf("the log is empty: %w", ErrNoCheckpoint)
	}
	latest, err := p.Latest(ctx)
	if err == nil && latest.Size == size {
		return latest, nil
	}
	if err != nil && !errors.Is(err, ErrNoCheckpoint) {
		return Checkpoint{}, err
	}
	root, err := p.Tree.RootHash(ctx, size)
	if err != nil {
		return Checkpoint{}, err
	}
	body := log.Checkpoint{Origin: p.Key.Origin(), Size: uint64(size), Hash: root[:]}.Marshal()
	signed, err := note.Sign(&note.Note{Text: string(body)}, p.Key.Signer)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("transparency: sign checkpoint: %w", err)
	}
	cp := Checkpoint{Origin: p.Key.Origin(), Size: size, RootHash: root, Note: string(signed), PublishedAt: p.now()}
	if _, err := p.Tree.db.NewRaw("INSERT INTO tlog_checkpoints (size, verifier_key, note, published_at) VALUES (?, ?, ?, ?) ON CONFLICT (verifier_key, size) DO NOTHING",
		cp.Size, p.Key.VerifierKey, cp.Note, cp.PublishedAt).Exec(ctx); err != nil {
		return Checkpoint{}, fmt.Errorf("transparency: store checkpoint %d: %w", size, err)
	}
	p.witness(ctx, &cp)
	return cp, nil
}

// Latest is the latest checkpoint published with this publisher's key, by any process
// sharing the database.
func (p *Publisher) Latest(ctx context.Context) (Checkpoint, error) {
	var cp Checkpoint
	err := p.Tree.db.QueryRowContext(ctx, "SELECT size, note, published_at FROM tlog_checkpoints WHERE verifier_key = ? ORDER BY size DESC LIMIT 1",
		p.Key.VerifierKey).Scan(&cp.Size, &cp.Note, &cp.PublishedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return Checkpoint{}, ErrNoCheckpoint
	}
	if err != nil {
		return Checkpoint{}, fmt.Errorf("transparency: read the latest checkpoint: %w", err)
	}
	parsed, _, _, err := log.ParseCheckpoint([]byte(cp.Note), p.Key.Origin(), p.Key.Verifier)
	if err != nil {
		// Edited in the table: do not serve it as if this key vouched for it.
		return Checkpoint{}, fmt.Errorf("transparency: the stored checkpoint %d does not verify with key %s: %w", cp.Size, p.Key.VerifierKey, err)
	}
	cp.Origin, cp.RootHash, cp.PublishedAt = parsed.Origin, tlog.Hash(parsed.Hash), cp.PublishedAt.UTC()
	return cp, nil
}

// witness pushes cp to the witness hook, if any, noting the outcome on cp.
func (p *Publisher) witness(ctx context.Context, cp *Checkpoint) {
	if p.Witness == nil {
		return
	}
	accepted, err := p.Witness.Witness(ctx, p.Tree, p.witnessedSize, *cp)
	if err != nil {
		cp.WitnessError = err.Error()
		if p.Logger != nil {
			p.Logger.Warn("the witness did not take the checkpoint; the next checkpoint tries again", "size", cp.Size, "err", err)
		}
		return
	}
	p.witnessedSize, cp.Witnessed = accepted, true
}

// ProveInclusion proves the event at position p into the tree of size events.
func (p *Publisher) ProveInclusion(ctx context.Context, pos eventstore.Position, size int64) (InclusionProof, error) {
	return p.Tree.ProveInclusion(ctx, pos, size)
}

// ProveConsistency proves that the tree of to events extends the tree of from events.
func (p *Publisher) ProveConsistency(ctx context.Context, from, to int64) (ConsistencyProof, error) {
	return p.Tree.ProveConsistency(ctx, from, to)
}

// VerifierKey is the public key the checkpoints verify with.
func (p *Publisher) VerifierKey() string { return p.Key.VerifierKey }
