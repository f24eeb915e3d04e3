package handlers_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"ledger/handlers"
)

// issuerKeys is an issuer's discovery document and JWKS served over HTTP: what
// go-oidc reads of any provider. It signs tokens with an ES256 key it publishes.
type issuerKeys struct {
	srv      *httptest.Server
	key      *ecdsa.PrivateKey
	requests atomic.Int64
}

func newIssuerKeys(t *testing.T) *issuerKeys {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k := &issuerKeys{key: key}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		k.requests.Add(1)
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": k.srv.URL, "jwks_uri": k.srv.URL + "/keys",
			"authorization_endpoint": k.srv.URL + "/auth", "token_endpoint": k.srv.URL + "/token",
			"id_token_signing_alg_values_supported": []string{"ES256"}})
	})
	mux.HandleFunc("/keys", func(w http.ResponseWriter, _ *http.Request) {
		k.requests.Add(1)
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	})
	k.srv = httptest.NewServer(mux)
	t.Cleanup(k.srv.Close)
	return k
}

func (k *issuerKeys) token(t *testing.T, claims jwt.MapClaims) string {
	t.Helper()
	base := jwt.MapClaims{"iss": k.srv.URL, "aud": "console", "sub": "carol@contoso.com",
		"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()}
	for name, v := range claims {
		if v == nil {
			delete(base, name)
		} else {
			base[name] = v
		}
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, base)
	tok.Header["kid"] = "k1"
	s, err := tok.SignedString(k.key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// An OIDC issuer's tokens pass through the one authenticator under the rules of the
// ledger's own: verified by the issuer's published key, for the configured audience,
// within the lifetime bound, with a subject; the system roles come from the configured
// claim, other values in it ignored. HS256 tokens keep working beside them.
func TestOIDCIssuerTokensAreVerifiedByItsKeysUnderTheSameRules(t *testing.T) {
	k := newIssuerKeys(t)
	f := newFixture(t, func(d *handlers.Deps) {
		d.OIDC = handlers.OIDCSettings{Issuer: k.srv.URL, ClientID: "console", RolesClaim: "groups"}
	})
	whoami := func(tok string) (int, handlers.Principal) {
		f.seen = nil
		rec := f.do(http.MethodGet, "/v1/whoami", nil, "Authorization", "Bearer "+tok)
		if rec.Code != http.StatusOK {
			return rec.Code, handlers.Principal{}
		}
		return rec.Code, f.seen[0]
	}

	code, p := whoami(k.token(t, jwt.MapClaims{"groups": []string{"ops", "staff", "auditor"}}))
	if code != http.StatusOK || p.UserID != "carol@contoso.com" || !p.HasRole(handlers.RoleOps) || !p.HasRole(handlers.RoleAuditor) || len(p.SystemRoles) != 2 {
		t.Fatalf("issuer's token: %d %+v, want carol with ops and auditor", code, p)
	}
	if code, p := whoami(k.token(t, jwt.MapClaims{"groups": "auditor", "sub": "dave"})); code != http.StatusOK || !p.HasRole(handlers.RoleAuditor) {
		t.Errorf("one role as a string: %d %+v", code, p)
	}
	if code, p := whoami(k.token(t, jwt.MapClaims{"roles": []string{"platform"}, "sub": "erin"})); code != http.StatusOK || len(p.SystemRoles) != 0 {
		t.Errorf("roles in another claim than the configured one count: %d %+v", code, p)
	}
	if code, p := whoami(strings.TrimPrefix(bearer(t, "alice", handlers.RolePlatform), "Bearer ")); code != http.StatusOK || !p.HasRole(handlers.RolePlatform) {
		t.Errorf("HS256 token beside OIDC: %d %+v", code, p)
	}

	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	forged := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"iss": k.srv.URL, "aud": "console", "sub": "mallory",
		"exp": time.Now().Add(time.Hour).Unix()})
	forged.Header["kid"] = "k1"
	forgedTok, err := forged.SignedString(other)
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct{ tok, want string }{
		"signed by a key the issuer did not publish": {forgedTok, "signature"},
		"for another audience":                       {k.token(t, jwt.MapClaims{"aud": "another-api"}), "audience"},
		"expired":                                    {k.token(t, jwt.MapClaims{"exp": time.Now().Add(-time.Minute).Unix()}), "expired"},
		"valid for longer than the maximum":          {k.token(t, jwt.MapClaims{"exp": time.Now().Add(48 * time.Hour).Unix()}), "--max-token-lifetime"},
		"without a subject":                          {k.token(t, jwt.MapClaims{"sub": nil}), "subject"},
		"issued in the future":                       {k.token(t, jwt.MapClaims{"iat": time.Now().Add(47 * time.Hour).Unix(), "exp": time.Now().Add(48 * time.Hour).Unix()}), "issued"},
		"HS256 naming the issuer":                    {signed(t, jwt.SigningMethodHS256, testSecret, jwt.MapClaims{"iss": k.srv.URL, "aud": "console", "sub": "x", "exp": time.Now().Add(time.Hour).Unix()}), "algorithm"},
	} {
		t.Run(name, func(t *testing.T) {
			rec := f.do(http.MethodGet, "/v1/whoami", nil, "Authorization", "Bearer "+tc.tok)
			if rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), tc.want) {
				t.Errorf("status %d %s, want 401 naming %q", rec.Code, rec.Body, tc.want)
			}
		})
	}

	// A verified token is kept: the issuer going away does not refuse it, and its keys
	// were not fetched again for it.
	tok := k.token(t, jwt.MapClaims{"sub": "frank"})
	if code, _ := whoami(tok); code != http.StatusOK {
		t.Fatalf("frank: %d", code)
	}
	k.srv.Close()
	before := k.requests.Load()
	if code, p := whoami(tok); code != http.StatusOK || p.UserID != "frank" {
		t.Errorf("a verified token after the issuer went away: %d %+v", code, p)
	}
	if k.requests.Load() != before {
		t.Errorf("the issuer was asked again for a verified token")
	}
}

// The API starts, and takes its own tokens, while the OIDC issuer cannot be reached;
// the issuer's tokens are refused with the reason until it can.
func TestAnUnreachableOIDCIssuerLeavesHS256TokensWorking(t *testing.T) {
	k := newIssuerKeys(t)
	tok := k.token(t, nil)
	k.srv.Close()
	f := newFixture(t, func(d *handlers.Deps) { d.OIDC = handlers.OIDCSettings{Issuer: k.srv.URL, ClientID: "console"} })
	if rec := f.do(http.MethodGet, "/v1/whoami", nil, "Authorization", bearer(t, "alice")); rec.Code != http.StatusOK {
		t.Errorf("HS256 token: %d %s", rec.Code, rec.Body)
	}
	rec := f.do(http.MethodGet, "/v1/whoami", nil, "Authorization", "Bearer "+tok)
	if rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), "OIDC discovery") {
		t.Errorf("issuer's token with the issuer down: %d %s, want 401 naming the discovery", rec.Code, rec.Body)
	}
}
