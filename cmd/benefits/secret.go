package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// secretFileName is the generated JWT secret inside the data directory.
const secretFileName = "jwt.secret"

// jwtSecret is the configured secret or, when none is configured, the one in
// <data-dir>/jwt.secret, generated on first use. serve and token both call it, so a
// token printed by `benefits token` is accepted by `benefits serve` on the same data dir.
func jwtSecret(cfg Config) ([]byte, error) {
	if cfg.JWTSecret != "" {
		return []byte(cfg.JWTSecret), nil
	}
	return loadOrCreateSecret(filepath.Join(cfg.DataDir, secretFileName))
}

// loadOrCreateSecret reads path, or creates it with 32 random bytes (hex) and mode
// 0600. Creation is atomic: the secret is written to a temporary file and hard-linked
// into place, so a concurrent `token` and `serve` agree on one secret and nobody ever
// reads a half-written file.
func loadOrCreateSecret(path string) ([]byte, error) {
	secret, err := readSecret(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return secret, err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("jwt secret: %w", err)
	}
	tmp, err := os.CreateTemp(dir, secretFileName+".*.tmp") // CreateTemp makes it 0600
	if err != nil {
		return nil, fmt.Errorf("jwt secret: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, werr := tmp.WriteString(newSecretHex() + "\n")
	serr := tmp.Sync()
	cerr := tmp.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		return nil, fmt.Errorf("jwt secret: writing %s: %w", tmp.Name(), err)
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("jwt secret: %w", err)
	}
	syncDir(dir)
	return readSecret(path)
}

func newSecretHex() string {
	b := make([]byte, minSecretLen)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}

// readSecret refuses a secret file others can read, as ssh does with private keys:
// whoever reads it can mint tokens with any role.
func readSecret(path string) ([]byte, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("jwt secret %s has mode %04o, readable by others; run chmod 600 %s", path, perm, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("jwt secret: %w", err)
	}
	b = bytes.TrimSpace(b)
	if len(b) < minSecretLen {
		return nil, fmt.Errorf("jwt secret %s holds %d bytes, want at least %d", path, len(b), minSecretLen)
	}
	return b, nil
}

// syncDir makes the new directory entry durable; a failure only weakens durability.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}
