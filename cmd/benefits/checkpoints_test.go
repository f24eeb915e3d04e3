package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A bad checkpoint setting stops start-up naming the flag and the variable.
func TestBadCheckpointSettingsStopStartUpNamingFlagAndVariable(t *testing.T) {
	for _, c := range []struct{ env, value, want string }{
		{"BENEFITS_CHECKPOINT_KEY", "PRIVATE+KEY+x+00000000+AAAA", "invalid --checkpoint-key / BENEFITS_CHECKPOINT_KEY"},
		{"BENEFITS_CHECKPOINT_EVERY", "-1", "invalid --checkpoint-every / BENEFITS_CHECKPOINT_EVERY"},
		{"BENEFITS_CHECKPOINT_INTERVAL", "soon", "invalid --checkpoint-interval / BENEFITS_CHECKPOINT_INTERVAL"},
		{"BENEFITS_CHECKPOINT_WITNESS_URL", "witness.example", "invalid --checkpoint-witness-url / BENEFITS_CHECKPOINT_WITNESS_URL"},
	} {
		_, err := parseServe(nil, envOf(c.env, c.value))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s=%q: want %q, got %v", c.env, c.value, c.want, err)
		}
	}
	cfg, err := parseServe([]string{"--checkpoint-every", "0", "--checkpoint-interval", "0"}, envOf())
	if err != nil || cfg.Checkpoints.Every != 0 || cfg.Checkpoints.Interval != 0 {
		t.Fatalf("0 turns either schedule off: %+v %v", cfg.Checkpoints, err)
	}
}

// The generated key is made once (mode 0600) and reused; a key file others can read is
// refused, like the JWT secret.
func TestTheCheckpointKeyIsGeneratedOnceAndKeptPrivate(t *testing.T) {
	cfg := Config{DataDir: t.TempDir(), Checkpoints: CheckpointConfig{Interval: time.Minute}}
	first, err := checkpointKey(cfg)
	if err != nil {
		t.Fatal(err)
	}
	again, err := checkpointKey(cfg)
	if err != nil || again.VerifierKey != first.VerifierKey || first.Origin() != defaultCheckpointOrigin {
		t.Fatalf("the key changed or has the wrong origin: %s, %s (%v)", first.VerifierKey, again.VerifierKey, err)
	}
	path := filepath.Join(cfg.DataDir, checkpointKeyFileName)
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := checkpointKey(cfg); err == nil || !strings.Contains(err.Error(), "readable by others") {
		t.Fatalf("a world-readable key file: %v", err)
	}
}
