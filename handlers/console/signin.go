package console

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"ledger/handlers"
)

// SignInConfig is GET /console/config.json: how the console offers to sign in. OIDC is
// nil when no provider is configured (or none could be reached: OIDCError says why),
// and the console then asks for a pasted bearer token only.
type SignInConfig struct {
	OIDC      *OIDCClient `json:"oidc"`
	OIDCError string      `json:"oidcError,omitempty"`
}

// OIDCClient is what the browser needs for the authorization-code flow with PKCE: a
// public client, no secret.
type OIDCClient struct {
	Issuer                string `json:"issuer"`
	ClientID              string `json:"clientId"`
	AuthorizationEndpoint string `json:"authorizationEndpoint"`
	TokenEndpoint         string `json:"tokenEndpoint"`
	Scope                 string `json:"scope"`
	RolesClaim            string `json:"rolesClaim"`
}

// signInConfig answers the sign-in config and widens the CSP's connect-src by the
// provider's origins: the console posts the code to the token endpoint itself.
type signInConfig struct {
	discovery *handlers.OIDCDiscovery
}

// newSignInConfig starts discovering the provider at once, so that the page's policy
// usually knows the token endpoint's origin by the time a browser asks for it.
func newSignInConfig(d *handlers.OIDCDiscovery) signInConfig {
	if d != nil {
		go func() { _, _ = d.Endpoints() }() // a failure is tried again on the next config request
	}
	return signInConfig{discovery: d}
}

func (s signInConfig) config() SignInConfig {
	if s.discovery == nil || s.discovery.Settings().ClientID == "" {
		return SignInConfig{}
	}
	set := s.discovery.Settings()
	ep, err := s.discovery.Endpoints()
	if err != nil {
		return SignInConfig{OIDCError: err.Error()}
	}
	claim := set.RolesClaim
	if claim == "" {
		claim = handlers.DefaultOIDCRolesClaim
	}
	return SignInConfig{OIDC: &OIDCClient{Issuer: set.Issuer, ClientID: set.ClientID, AuthorizationEndpoint: ep.Authorization,
		TokenEndpoint: ep.Token, Scope: "openid profile", RolesClaim: claim}}
}

func (s signInConfig) serve(c echo.Context) error {
	s.secure(c.Response().Header())
	return c.JSON(http.StatusOK, s.config())
}

// secure sets the console's headers, with the provider's origins in connect-src: the
// issuer's, and the token endpoint's once discovered (it never waits for a discovery,
// so an unreachable provider does not slow the console down).
func (s signInConfig) secure(h http.Header) {
	policy := ContentSecurityPolicy
	if s.discovery != nil {
		origins := []string{origin(s.discovery.Settings().Issuer)}
		if ep, ok := s.discovery.Discovered(); ok {
			origins = append(origins, origin(ep.Token))
		}
		policy = strings.Replace(policy, "connect-src 'self'", "connect-src 'self' "+strings.Join(unique(origins), " "), 1)
	}
	secureWith(h, policy)
}

func origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

func unique(xs []string) []string {
	var out []string
	for _, x := range xs {
		if x != "" && !strings.Contains(strings.Join(out, " "), x) {
			out = append(out, x)
		}
	}
	return out
}
