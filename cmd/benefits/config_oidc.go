package main

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
)

// oidcSettings let `benefits serve` accept an OpenID Connect provider's tokens beside
// its own, and the console sign in through it. Checked together in the last one, since
// an issuer needs an audience to check tokens against.
func oidcSettings(c *Config) []setting {
	return []setting{
		{name: "oidc-issuer", def: "", usage: "issuer URL of an OpenID Connect provider whose RS256/ES256 tokens the API also accepts (verified by its JWKS); empty: none",
			apply: func(v string) error {
				if v != "" {
					if err := checkIssuer(v); err != nil {
						return err
					}
				}
				c.OIDC.Issuer = v
				return nil
			}},
		{name: "oidc-client-id", def: "", usage: "the console's public client at the OIDC provider (authorization code with PKCE, no secret; redirect URI: the console's / ); empty: the console takes pasted tokens only",
			apply: func(v string) error { c.OIDC.ClientID = v; return nil }},
		{name: "oidc-roles-claim", def: "roles", usage: "claim of an OIDC token holding the caller's system roles (platform, auditor, ops; other values are ignored)",
			apply: func(v string) error {
				if !claimName.MatchString(v) {
					return errors.New("want a claim name such as roles or groups")
				}
				c.OIDC.RolesClaim = v
				return nil
			}},
		{name: "oidc-audience", def: "", usage: "aud an OIDC token must carry; empty: --oidc-client-id (the console sends the ID token)",
			apply: func(v string) error {
				c.OIDC.Audience = v
				if c.OIDC.Issuer != "" && c.OIDC.Audience == "" && c.OIDC.ClientID == "" {
					return errors.New("--oidc-issuer is set: set --oidc-client-id or --oidc-audience too, or every token of the issuer would be accepted whatever its audience")
				}
				return nil
			}},
	}
}

var claimName = regexp.MustCompile(`^[A-Za-z0-9_:./-]+$`)

// checkIssuer wants an absolute https URL, or http on a loopback host (a provider on
// the same machine, as in development and the tests).
func checkIssuer(v string) error {
	u, err := url.Parse(v)
	if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("want the provider's issuer URL, such as https://login.example.com")
	}
	switch {
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		return nil
	}
	return errors.New("want https (http only on a loopback host)")
}
