package handlers_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"ledger/handlers"
)

func signed(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func stripSignature(tok string) string {
	return tok[:strings.LastIndex(tok, ".")+1]
}

func TestAuthenticationRefusesBadTokens(t *testing.T) {
	f := newFixture(t)
	future := time.Now().Add(time.Hour).Unix()
	valid := jwt.MapClaims{"sub": "alice", "exp": future}
	noneToken := signed(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, valid)
	cases := []struct {
		name   string
		header string
	}{
		{"no Authorization header", ""},
		{"Basic scheme instead of Bearer", "Basic YWxpY2U6c2VjcmV0"},
		{"Bearer without a token", "Bearer "},
		{"not a JWT", "Bearer not-a-token"},
		{"alg none is refused", "Bearer " + noneToken},
		{"HS256 token with its signature stripped", "Bearer " + stripSignature(signed(t, jwt.SigningMethodHS256, testSecret, valid))},
		{"HS384 is not HS256", "Bearer " + signed(t, jwt.SigningMethodHS384, testSecret, valid)},
		{"signed with another secret", "Bearer " + signed(t, jwt.SigningMethodHS256, []byte("another-secret-another-secret-00"), valid)},
		{"expired", "Bearer " + signed(t, jwt.SigningMethodHS256, testSecret, jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(-time.Minute).Unix()})},
		{"no exp claim", "Bearer " + signed(t, jwt.SigningMethodHS256, testSecret, jwt.MapClaims{"sub": "alice"})},
		{"no sub claim", "Bearer " + signed(t, jwt.SigningMethodHS256, testSecret, jwt.MapClaims{"exp": future})},
		{"unknown system role", "Bearer " + signed(t, jwt.SigningMethodHS256, testSecret, jwt.MapClaims{"sub": "alice", "exp": future, "roles": []string{"root"}})},
		{"roles of the wrong type", "Bearer " + signed(t, jwt.SigningMethodHS256, testSecret, jwt.MapClaims{"sub": "alice", "exp": future, "roles": "platform"})},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var headers []string
			if tc.header != "" {
				headers = []string{"Authorization", tc.header}
			}
			rec := f.do(http.MethodGet, "/v1/whoami", nil, headers...)
			if rec.Code != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401; body %s", rec.Code, rec.Body)
			}
			if p := problemOf(t, rec); p.Code != handlers.CodeUnauthenticated {
				t.Errorf("code %q, want unauthenticated", p.Code)
			}
			if !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate %q", rec.Header().Get("WWW-Authenticate"))
			}
		})
	}
	if len(f.seen) != 0 {
		t.Errorf("handler ran for refused tokens: %v", f.seen)
	}
}

func TestAuthenticatedPrincipalReachesTheHandler(t *testing.T) {
	f := newFixture(t)
	rec := f.do(http.MethodGet, "/v1/whoami", nil, "Authorization", bearer(t, "alice@contoso", handlers.RoleAuditor, handlers.RoleOps))
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	p := f.seen[0]
	if p.UserID != "alice@contoso" || !p.HasRole(handlers.RoleAuditor) || !p.HasRole(handlers.RoleOps) || p.HasRole(handlers.RolePlatform) {
		t.Errorf("principal %+v", p)
	}
	// the scheme is case-insensitive
	tok := strings.TrimPrefix(bearer(t, "bob"), "Bearer ")
	if rec := f.do(http.MethodGet, "/v1/whoami", nil, "Authorization", "bearer "+tok); rec.Code != http.StatusOK {
		t.Errorf("lower-case scheme: status %d", rec.Code)
	}
}

func TestRolesGuardRoutesThatDemandThem(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		name  string
		roles []handlers.SystemRole
		want  int
	}{
		{"a partner user without system roles is forbidden", nil, http.StatusForbidden},
		{"an auditor is forbidden", []handlers.SystemRole{handlers.RoleAuditor}, http.StatusForbidden},
		{"platform is admitted", []handlers.SystemRole{handlers.RolePlatform}, http.StatusNoContent},
		{"platform among others is admitted", []handlers.SystemRole{handlers.RoleOps, handlers.RolePlatform}, http.StatusNoContent},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := f.do(http.MethodPost, "/v1/admin", nil, "Authorization", bearer(t, "u1", tc.roles...))
			if rec.Code != tc.want {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.want, rec.Body)
			}
			if tc.want == http.StatusForbidden {
				if p := problemOf(t, rec); p.Code != handlers.CodeForbidden || !strings.Contains(p.Detail, "platform") {
					t.Errorf("problem %+v", p)
				}
			}
		})
	}
}

func TestIssueTokenRefusesWhatCouldNotBeUsed(t *testing.T) {
	cases := []struct {
		name   string
		secret []byte
		sub    string
		roles  []handlers.SystemRole
		ttl    time.Duration
	}{
		{"empty secret", nil, "alice", nil, time.Hour},
		{"empty subject", testSecret, " ", nil, time.Hour},
		{"zero ttl", testSecret, "alice", nil, 0},
		{"unknown role", testSecret, "alice", []handlers.SystemRole{"admin"}, time.Hour},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tok, err := handlers.IssueToken(tc.secret, tc.sub, tc.roles, tc.ttl); err == nil {
				t.Fatalf("issued %q", tok)
			}
		})
	}
}

func TestIssuedTokenCarriesSubRolesAndExpiry(t *testing.T) {
	tok, err := handlers.IssueToken(testSecret, "carol", []handlers.SystemRole{handlers.RolePlatform}, 90*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var cl jwt.MapClaims
	parsed, err := jwt.ParseWithClaims(tok, &cl, func(*jwt.Token) (any, error) { return testSecret, nil },
		jwt.WithValidMethods([]string{"HS256"}))
	if err != nil || !parsed.Valid {
		t.Fatalf("parse: %v", err)
	}
	exp, _ := cl.GetExpirationTime()
	if cl["sub"] != "carol" || !slices.Equal(cl["roles"].([]any), []any{"platform"}) {
		t.Errorf("claims %v", cl)
	}
	if d := time.Until(exp.Time); d < 89*time.Minute || d > 90*time.Minute {
		t.Errorf("expires in %s, want 90m", d)
	}
}

func TestParseSystemRole(t *testing.T) {
	for _, r := range handlers.SystemRoles {
		if got, err := handlers.ParseSystemRole(string(r)); err != nil || got != r {
			t.Errorf("%s: %v %v", r, got, err)
		}
	}
	if _, err := handlers.ParseSystemRole("Platform"); err == nil {
		t.Error("roles are case-sensitive: Platform accepted")
	}
}

// assertRefused checks that a request with tok is refused with 401 unauthenticated and
// a detail containing want.
func assertRefused(t *testing.T, f *fixture, tok, want string) {
	t.Helper()
	rec := f.do(http.MethodGet, "/v1/whoami", nil, "Authorization", "Bearer "+tok)
	if rec.Code != http.StatusUnauthorized {
		t.Fatalf("status %d, want 401; body %s", rec.Code, rec.Body)
	}
	if p := problemOf(t, rec); p.Code != handlers.CodeUnauthenticated || !strings.Contains(p.Detail, want) {
		t.Errorf("problem %+v, want code unauthenticated and a detail naming %q", p, want)
	}
}

func TestAuthenticationRefusesDatesWrittenAsStrings(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	exp, iat := now.Add(time.Hour).Unix(), now.Unix()
	cases := []struct {
		name  string
		claim string
		body  jwt.MapClaims
	}{
		{"exp as a string", "exp", jwt.MapClaims{"sub": "alice", "exp": fmt.Sprint(exp)}},
		{"iat as a string", "iat", jwt.MapClaims{"sub": "alice", "exp": exp, "iat": fmt.Sprint(iat)}},
		{"nbf as a string", "nbf", jwt.MapClaims{"sub": "alice", "exp": exp, "nbf": fmt.Sprint(iat)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assertRefused(t, f, signed(t, jwt.SigningMethodHS256, testSecret, tc.body), tc.claim)
		})
	}
	if len(f.seen) != 0 {
		t.Errorf("handler ran for refused tokens: %v", f.seen)
	}
}

func TestAuthenticationRefusesATokenIssuedInTheFuture(t *testing.T) {
	f := newFixture(t)
	issued := time.Now().AddDate(3, 0, 0)
	tok := signed(t, jwt.SigningMethodHS256, testSecret,
		jwt.MapClaims{"sub": "alice", "iat": issued.Unix(), "exp": issued.Add(time.Hour).Unix()})
	assertRefused(t, f, tok, "used before issued")

	// A clock a few seconds ahead of ours is within the leeway.
	skewed := time.Now().Add(handlers.TokenClockLeeway / 2)
	tok = signed(t, jwt.SigningMethodHS256, testSecret,
		jwt.MapClaims{"sub": "alice", "iat": skewed.Unix(), "exp": skewed.Add(time.Hour).Unix()})
	if rec := f.do(http.MethodGet, "/v1/whoami", nil, "Authorization", "Bearer "+tok); rec.Code != http.StatusOK {
		t.Errorf("iat within the leeway: status %d, want 200; body %s", rec.Code, rec.Body)
	}
}

func TestAuthenticationRefusesATokenLongerLivedThanTheMaximum(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	year3000 := time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	cases := []struct {
		name string
		body jwt.MapClaims
	}{
		{"exp in the year 3000", jwt.MapClaims{"sub": "alice", "iat": now.Unix(), "exp": year3000}},
		{"exp in the year 3000 without iat", jwt.MapClaims{"sub": "alice", "exp": year3000}},
		{"a day and an hour from iat", jwt.MapClaims{"sub": "alice", "iat": now.Unix(), "exp": now.Add(25 * time.Hour).Unix()}},
		{"an old iat with an exp a year later", jwt.MapClaims{"sub": "alice", "iat": now.AddDate(-1, 0, 0).Unix(), "exp": now.Add(time.Hour).Unix()}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assertRefused(t, f, signed(t, jwt.SigningMethodHS256, testSecret, tc.body), "--max-token-lifetime")
		})
	}
	exactly := jwt.MapClaims{"sub": "alice", "iat": now.Unix(), "exp": now.Add(handlers.DefaultMaxTokenLifetime).Unix()}
	if rec := f.do(http.MethodGet, "/v1/whoami", nil, "Authorization", "Bearer "+signed(t, jwt.SigningMethodHS256, testSecret, exactly)); rec.Code != http.StatusOK {
		t.Errorf("a token valid for exactly the maximum: status %d, want 200; body %s", rec.Code, rec.Body)
	}
}

func TestMaxTokenLifetimeIsTheServersSetting(t *testing.T) {
	f := newFixture(t, func(d *handlers.Deps) { d.MaxTokenLifetime = 30 * time.Minute })
	tok, err := handlers.IssueToken(testSecret, "alice", nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	assertRefused(t, f, tok, "30m0s")
	tok, err = handlers.IssueToken(testSecret, "alice", nil, 30*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if rec := f.do(http.MethodGet, "/v1/whoami", nil, "Authorization", "Bearer "+tok); rec.Code != http.StatusOK {
		t.Errorf("a 30m token under a 30m maximum: status %d, want 200; body %s", rec.Code, rec.Body)
	}
}
