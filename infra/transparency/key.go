package transparency

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// Key is the log's signing key: an Ed25519 note key whose name is the checkpoints'
// origin line.
type Key struct {
	Signer note.Signer
	// VerifierKey is the public half in note form (name+hash+base64), what auditors and
	// witnesses configure to check the checkpoints.
	VerifierKey string
	Verifier    note.Verifier
}

// Origin is the log's name, the first line of every checkpoint.
func (k Key) Origin() string { return k.Signer.Name() }

// ParseKey reads a note signer key, "PRIVATE+KEY+<name>+<hash>+<base64>", as
// note.GenerateKey writes it (and `benefits audit keygen` prints).
func ParseKey(skey string) (Key, error) {
	skey = strings.TrimSpace(skey)
	signer, err := note.NewSigner(skey)
	if err != nil {
		return Key{}, fmt.Errorf("checkpoint key: want PRIVATE+KEY+<name>+<hash>+<base64 Ed25519 seed>: %w", err)
	}
	rest := skey
	for range 4 { // PRIVATE, KEY, name, hash; the base64 key may itself hold '+'
		_, rest, _ = strings.Cut(rest, "+")
	}
	raw, err := base64.StdEncoding.DecodeString(rest)
	if err != nil || len(raw) != 1+ed25519.SeedSize {
		return Key{}, errors.New("checkpoint key: not an Ed25519 key")
	}
	pub := ed25519.NewKeyFromSeed(raw[1:]).Public().(ed25519.PublicKey)
	vkey, err := note.NewEd25519VerifierKey(signer.Name(), pub)
	if err != nil {
		return Key{}, fmt.Errorf("checkpoint key: %w", err)
	}
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		return Key{}, fmt.Errorf("checkpoint key: %w", err)
	}
	return Key{Signer: signer, VerifierKey: vkey, Verifier: verifier}, nil
}
