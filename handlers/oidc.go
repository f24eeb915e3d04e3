package handlers

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/golang-jwt/jwt/v5"
)

// OIDCSettings let the API accept tokens of an OpenID Connect provider beside its own
// HS256 tokens, and the console sign users in through it. The zero value is off.
type OIDCSettings struct {
	// Issuer is the provider's issuer URL, as in its discovery document; "" is off.
	Issuer string
	// ClientID is the console's public client at the provider (authorization code with
	// PKCE, no secret); "" leaves the console with the pasted token only.
	ClientID string
	// Audience is the aud a token must carry (ClientID when empty): the console sends
	// the ID token, whose audience is its client.
	Audience string
	// RolesClaim names the claim holding the caller's system roles (DefaultOIDCRolesClaim
	// when empty). Values that are not system roles are ignored: a provider's roles or
	// groups claim usually carries others too.
	RolesClaim string
}

// DefaultOIDCRolesClaim is the claim read for system roles when none is configured.
const DefaultOIDCRolesClaim = "roles"

// Enabled reports whether an issuer is configured.
func (s OIDCSettings) Enabled() bool { return s.Issuer != "" }

func (s OIDCSettings) audience() string {
	if s.Audience != "" {
		return s.Audience
	}
	return s.ClientID
}

func (s OIDCSettings) rolesClaim() string {
	if s.RolesClaim != "" {
		return s.RolesClaim
	}
	return DefaultOIDCRolesClaim
}

// oidcDiscoveryTimeout bounds one fetch of the discovery document or the key set. The
// fetch is not bound to the request that caused it: go-oidc shares one key-set fetch
// among every caller waiting for it, so one client hanging up must not fail the others.
const oidcDiscoveryTimeout = 10 * time.Second

// oidcVerifier checks tokens of the configured issuer: signature by the issuer's JWKS
// (RS256 or ES256, keys fetched and refreshed by go-oidc on an unknown key ID), iss,
// aud and exp. The provider is discovered on first use and again after a failure, so
// the API starts, and serves HS256 tokens, while the provider is unreachable.
type oidcVerifier struct {
	settings OIDCSettings
	mu       sync.Mutex
	provider *oidc.Provider
	verifier *oidc.IDTokenVerifier
}

func newOIDCVerifier(s OIDCSettings) *oidcVerifier {
	if !s.Enabled() {
		return nil
	}
	return &oidcVerifier{settings: s}
}

// issued reports whether token names this verifier's issuer (unverified: it only picks
// the verifier that then checks everything).
func (v *oidcVerifier) issued(token string) bool {
	if v == nil {
		return false
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return false
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return false
	}
	var cl struct {
		Issuer string `json:"iss"`
	}
	return json.Unmarshal(payload, &cl) == nil && cl.Issuer == v.settings.Issuer
}

// discover fetches the provider's discovery document once it succeeds.
func (v *oidcVerifier) discover() (*oidc.Provider, *oidc.IDTokenVerifier, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.provider != nil {
		return v.provider, v.verifier, nil
	}
	// The provider keeps this context for its key-set fetches: it must outlive the call.
	ctx := oidc.ClientContext(context.Background(), nil)
	dctx, cancel := context.WithTimeout(ctx, oidcDiscoveryTimeout)
	defer cancel()
	p, err := oidc.NewProvider(dctx, v.settings.Issuer)
	if err != nil {
		return nil, nil, fmt.Errorf("OIDC discovery of %s: %w", v.settings.Issuer, err)
	}
	keys := oidc.NewRemoteKeySet(ctx, jwksURL(p))
	v.verifier = oidc.NewVerifier(v.settings.Issuer, keys, &oidc.Config{ClientID: v.settings.audience(),
		SupportedSigningAlgs: []string{oidc.RS256, oidc.ES256}})
	v.provider = p
	return v.provider, v.verifier, nil
}

func jwksURL(p *oidc.Provider) string {
	var doc struct {
		JWKS string `json:"jwks_uri"`
	}
	_ = p.Claims(&doc) // the document decoded once already in NewProvider
	return doc.JWKS
}

// OIDCEndpoints are the provider's authorization and token endpoints, for the console.
type OIDCEndpoints struct {
	Authorization string
	Token         string
}

// endpoints discovers the provider's endpoints (once it succeeds).
func (v *oidcVerifier) endpoints() (OIDCEndpoints, error) {
	p, _, err := v.discover()
	if err != nil {
		return OIDCEndpoints{}, err
	}
	e := p.Endpoint()
	return OIDCEndpoints{Authorization: e.AuthURL, Token: e.TokenURL}, nil
}

// verifiedOIDCToken is what the authenticator needs of a verified token.
type verifiedOIDCToken struct {
	subject   string
	roles     []SystemRole
	issuedAt  time.Time // zero when the token has none
	expiresAt time.Time
}

// verify checks token and reads its subject and the system roles in the roles claim.
func (v *oidcVerifier) verify(token string) (verifiedOIDCToken, error) {
	_, verifier, err := v.discover()
	if err != nil {
		return verifiedOIDCToken{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), oidcDiscoveryTimeout)
	defer cancel()
	idt, err := verifier.Verify(ctx, token)
	if err != nil {
		return verifiedOIDCToken{}, err
	}
	if strings.TrimSpace(idt.Subject) == "" {
		return verifiedOIDCToken{}, errors.New("token has no subject")
	}
	var all map[string]any
	if err := idt.Claims(&all); err != nil {
		return verifiedOIDCToken{}, err
	}
	return verifiedOIDCToken{subject: idt.Subject, roles: systemRolesIn(all[v.settings.rolesClaim()]),
		issuedAt: idt.IssuedAt, expiresAt: idt.Expiry}, nil
}

// systemRolesIn reads a roles claim given as a list of names or one name.
func systemRolesIn(claim any) []SystemRole {
	var names []string
	switch c := claim.(type) {
	case string:
		names = []string{c}
	case []any:
		for _, n := range c {
			if s, ok := n.(string); ok {
				names = append(names, s)
			}
		}
	}
	var roles []SystemRole
	for _, n := range names {
		if r, err := ParseSystemRole(n); err == nil {
			roles = append(roles, r)
		}
	}
	return roles
}

// oidcPrincipal verifies a token of the OIDC issuer under the same rules as an HS256
// token: a subject, the lifetime bound, and the verified-token cache.
func (a *authenticator) oidcPrincipal(token string) (Principal, error) {
	t, err := a.oidc.verify(token)
	if err != nil {
		return Principal{}, err
	}
	// As for HS256 tokens (jwt.WithIssuedAt): a token claiming to be issued later than
	// now could stretch its lifetime past the bound below.
	if t.issuedAt.After(time.Now().Add(TokenClockLeeway)) {
		return Principal{}, errors.New("token is used before it was issued (iat in the future)")
	}
	rc := jwt.RegisteredClaims{ExpiresAt: jwt.NewNumericDate(t.expiresAt)}
	if !t.issuedAt.IsZero() {
		rc.IssuedAt = jwt.NewNumericDate(t.issuedAt)
	}
	if err := a.checkLifetime(rc); err != nil {
		return Principal{}, err
	}
	p := Principal{UserID: t.subject, SystemRoles: t.roles}
	a.verified.put(token, p, t.expiresAt)
	return p, nil
}

// OIDCDiscovery discovers the endpoints of the provider in s for the console; each
// call tries again until one succeeds, then answers from memory.
type OIDCDiscovery struct{ v *oidcVerifier }

// NewOIDCDiscovery is nil when s has no issuer.
func NewOIDCDiscovery(s OIDCSettings) *OIDCDiscovery {
	if !s.Enabled() {
		return nil
	}
	return &OIDCDiscovery{v: newOIDCVerifier(s)}
}

// Settings are the settings discovered from.
func (d *OIDCDiscovery) Settings() OIDCSettings { return d.v.settings }

// Endpoints are the provider's authorization and token endpoints.
func (d *OIDCDiscovery) Endpoints() (OIDCEndpoints, error) { return d.v.endpoints() }

// Discovered are the endpoints if a discovery has already succeeded; it never waits.
func (d *OIDCDiscovery) Discovered() (OIDCEndpoints, bool) {
	if !d.v.mu.TryLock() {
		return OIDCEndpoints{}, false
	}
	defer d.v.mu.Unlock()
	if d.v.provider == nil {
		return OIDCEndpoints{}, false
	}
	e := d.v.provider.Endpoint()
	return OIDCEndpoints{Authorization: e.AuthURL, Token: e.TokenURL}, true
}
