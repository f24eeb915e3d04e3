package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestSecretIsGeneratedOnceWithMode0600AndReused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "fresh", "data")
	first, err := jwtSecret(Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(filepath.Join(dir, secretFileName))
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("mode %04o, want 0600", info.Mode().Perm())
	}
	if len(first) != 2*minSecretLen {
		t.Errorf("secret of %d hex chars, want %d", len(first), 2*minSecretLen)
	}
	again, err := jwtSecret(Config{DataDir: dir})
	if err != nil || !bytes.Equal(first, again) {
		t.Errorf("second read %q %v, want the same secret", again, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("data dir holds %d entries, want only %s (no temporary files left)", len(entries), secretFileName)
	}
}

func TestConcurrentFirstUsesAgreeOnOneSecret(t *testing.T) {
	dir := t.TempDir()
	secrets := make([][]byte, 8)
	var wg sync.WaitGroup
	for i := range secrets {
		wg.Go(func() {
			s, err := jwtSecret(Config{DataDir: dir})
			if err != nil {
				t.Error(err)
			}
			secrets[i] = s
		})
	}
	wg.Wait()
	for _, s := range secrets[1:] {
		if !bytes.Equal(s, secrets[0]) {
			t.Fatalf("secrets differ: %q vs %q", s, secrets[0])
		}
	}
}

func TestConfiguredSecretWinsOverTheFile(t *testing.T) {
	dir := t.TempDir()
	s, err := jwtSecret(Config{DataDir: dir, JWTSecret: strings.Repeat("k", 40)})
	if err != nil || string(s) != strings.Repeat("k", 40) {
		t.Fatalf("%q %v", s, err)
	}
	if _, err := os.Stat(filepath.Join(dir, secretFileName)); !os.IsNotExist(err) {
		t.Error("a configured secret still generated a file")
	}
}

func TestUnsafeSecretFilesAreRefused(t *testing.T) {
	cases := []struct {
		name    string
		content string
		mode    os.FileMode
		want    string
	}{
		{"readable by others", strings.Repeat("a", 64), 0o644, "chmod 600"},
		{"too short", "abc\n", 0o600, "want at least 32"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, secretFileName)
			if err := os.WriteFile(path, []byte(tc.content), tc.mode); err != nil {
				t.Fatal(err)
			}
			os.Chmod(path, tc.mode) // past the umask
			if _, err := jwtSecret(Config{DataDir: dir}); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v, want one saying %q", err, tc.want)
			}
		})
	}
}
