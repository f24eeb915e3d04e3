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
// 0600.
func loadOrCreateSecret(path string) ([]byte, error) {
	return loadOrCreateSecretFile(path, "jwt secret", minSecretLen, func() (string, error) { return newSecretHex(), nil })
}

// loadOrCreateSecretFile reads the secret (what names it in errors) from path, or
// creates path holding generate's value, mode 0600. Creation is atomic: the secret is
// written to a temporary file and hard-linked into place, so concurrent processes
// (`token` and `serve`, two API processes) agree on one secret and nobody ever reads a
// half-written file.
func loadOrCreateSecretFile(path, what string, minLen int, generate func() (string, error)) ([]byte, error) {
	secret, err := readSecretFile(path, what, minLen)
	if !errors.Is(err, fs.ErrNotExist) {
		return secret, err
	}
	value, err := generate()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".*.tmp") // CreateTemp makes it 0600
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer os.Remove(tmp.Name())
	_, werr := tmp.WriteString(value + "\n")
	serr := tmp.Sync()
	cerr := tmp.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		return nil, fmt.Errorf("%s: writing %s: %w", what, tmp.Name(), err)
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	syncDir(dir)
	return readSecretFile(path, what, minLen)
}

func newSecretHex() string {
	b := make([]byte, minSecretLen)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}

// readSecret reads the JWT secret file: whoever reads it can mint tokens with any role.
func readSecret(path string) ([]byte, error) { return readSecretFile(path, "jwt secret", minSecretLen) }

// readSecretFile refuses a secret file others can read, as ssh does with private keys,
// and one shorter than minLen.
func readSecretFile(path, what string, minLen int) ([]byte, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%s %s has mode %04o, readable by others; run chmod 600 %s", what, path, perm, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	b = bytes.TrimSpace(b)
	if len(b) < minLen {
		return nil, fmt.Errorf("%s %s holds %d bytes, want at least %d", what, path, len(b), minLen)
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
