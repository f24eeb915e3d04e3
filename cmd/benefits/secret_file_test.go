package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// compose.yaml hands the secret over as a compose secret: a file under /run/secrets,
// named by BENEFITS_JWT_SECRET_FILE, rather than an environment variable.
func TestJWTSecretComesFromTheFileBenefitsJWTSecretFileNames(t *testing.T) {
	secret := strings.Repeat("s3cret-", 6)
	file := filepath.Join(t.TempDir(), "jwt_secret")
	if err := os.WriteFile(file, []byte(secret+"\n"), 0o400); err != nil {
		t.Fatal(err)
	}
	cfg, err := parseServe(nil, envOf("BENEFITS_JWT_SECRET_FILE", file))
	if err != nil || cfg.JWTSecret != secret {
		t.Fatalf("secret %q, %v; want the file's content without its newline", cfg.JWTSecret, err)
	}
	short := filepath.Join(t.TempDir(), "short")
	if err := os.WriteFile(short, []byte("short\n"), 0o400); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		env  []string
		want string
	}{
		{[]string{"--jwt-secret-file", short}, nil, "invalid --jwt-secret-file / BENEFITS_JWT_SECRET_FILE"},
		{[]string{"--jwt-secret-file", filepath.Join(t.TempDir(), "absent")}, nil, "no such file"},
		{nil, []string{"BENEFITS_JWT_SECRET", secret, "BENEFITS_JWT_SECRET_FILE", file}, "not both"},
	} {
		_, err := parseServe(tc.args, envOf(tc.env...))
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), secret) {
			t.Errorf("%v %v: %v, want an error naming %q (and not the secret)", tc.args, tc.env, err, tc.want)
		}
	}
}
