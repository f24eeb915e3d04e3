package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"ledger/handlers"
)

// A token printed by `benefits token` is accepted by a server built with the secret
// `serve` would use on the same data directory.
func TestTokenIsAcceptedByTheServerOnTheSameDataDir(t *testing.T) {
	dir := t.TempDir()
	var out, errOut bytes.Buffer
	if code := run(t.Context(), []string{"token", "--sub", "alice@contoso", "--roles", "platform, ops", "--ttl", "10m", "--data-dir", dir},
		envOf(), &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	secret, err := jwtSecret(Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	var seen handlers.Principal
	e := handlers.NewServer(handlers.Deps{JWTSecret: secret, Routes: []handlers.Route{{
		Method: http.MethodGet, Path: "/v1/me", Summary: "me", Roles: []handlers.SystemRole{handlers.RoleOps},
		Handler: func(c echo.Context) error {
			seen, _ = handlers.PrincipalFrom(c.Request().Context())
			return c.NoContent(http.StatusNoContent)
		}}}})
	req := httptest.NewRequest(http.MethodGet, "/v1/me", nil)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(out.String()))
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	if rec.Code != http.StatusNoContent {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if seen.UserID != "alice@contoso" || !seen.HasRole(handlers.RolePlatform) || !seen.HasRole(handlers.RoleOps) {
		t.Errorf("principal %+v", seen)
	}
}

func TestTokenHonoursTheConfiguredSecretFromEnv(t *testing.T) {
	secret := strings.Repeat("z", 32)
	var out, errOut bytes.Buffer
	if code := run(t.Context(), []string{"token", "--sub", "bob", "--data-dir", t.TempDir()},
		envOf("BENEFITS_JWT_SECRET", secret), &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	e := handlers.NewServer(handlers.Deps{JWTSecret: []byte(secret), Routes: []handlers.Route{{
		Method: http.MethodGet, Path: "/v1/me", Summary: "me", Handler: func(c echo.Context) error { return c.NoContent(204) }}}})
	req := httptest.NewRequest(http.MethodGet, "/v1/me", nil)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(out.String()))
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	if rec.Code != http.StatusNoContent {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
}

func TestTokenRefusesBadArguments(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no sub", []string{}, "invalid --sub"},
		{"unknown role", []string{"--sub", "a", "--roles", "platform,root"}, `invalid --roles "platform,root"`},
		{"bad ttl", []string{"--sub", "a", "--ttl", "forever"}, "invalid --ttl"},
		{"ttl beyond the maximum lifetime", []string{"--sub", "a", "--ttl", "48h"}, `invalid --ttl "48h": longer than --max-token-lifetime 24h0m0s`},
		{"ttl beyond a lowered maximum", []string{"--sub", "a", "--max-token-lifetime", "30m", "--ttl", "1h"}, "longer than --max-token-lifetime 30m0s"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			args := append([]string{"token", "--data-dir", t.TempDir()}, tc.args...)
			if code := run(t.Context(), args, envOf(), &out, &errOut); code != 2 || !strings.Contains(errOut.String(), tc.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, errOut.String(), tc.want)
			}
			if out.Len() != 0 {
				t.Errorf("printed a token: %s", out.String())
			}
		})
	}
}

// The maximum is the server's setting, read from the same variable: raised there, a
// longer token can be issued, and the server built with it accepts the token.
func TestTokenTTLFollowsTheMaximumLifetimeSetting(t *testing.T) {
	secret := strings.Repeat("z", 32)
	var out, errOut bytes.Buffer
	if code := run(t.Context(), []string{"token", "--sub", "bob", "--ttl", "48h", "--data-dir", t.TempDir()},
		envOf("BENEFITS_JWT_SECRET", secret, "BENEFITS_MAX_TOKEN_LIFETIME", "72h"), &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	for _, tc := range []struct {
		max  time.Duration
		want int
	}{{72 * time.Hour, http.StatusNoContent}, {24 * time.Hour, http.StatusUnauthorized}} {
		e := handlers.NewServer(handlers.Deps{JWTSecret: []byte(secret), MaxTokenLifetime: tc.max, Routes: []handlers.Route{{
			Method: http.MethodGet, Path: "/v1/me", Summary: "me", Handler: func(c echo.Context) error { return c.NoContent(204) }}}})
		req := httptest.NewRequest(http.MethodGet, "/v1/me", nil)
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(out.String()))
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		if rec.Code != tc.want {
			t.Errorf("a 48h token on a server allowing %s: status %d, want %d", tc.max, rec.Code, tc.want)
		}
	}
}
