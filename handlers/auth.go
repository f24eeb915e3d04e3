package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/labstack/echo/v4"
)

// SystemRole is a role of the ledger's own staff, carried in the token's "roles" claim.
// Partner users hold no system role; the domain decides what they may do from the
// partner's registered users (R1, R2, R4, R19).
type SystemRole string

const (
	RolePlatform SystemRole = "platform" // enrols partners, grants memberships, registers users, publishes rules
	RoleAuditor  SystemRole = "auditor"  // reads everything
	RoleOps      SystemRole = "ops"      // runs operations
)

// SystemRoles lists every system role, in a stable order.
var SystemRoles = []SystemRole{RolePlatform, RoleAuditor, RoleOps}

// ParseSystemRole accepts exactly one of SystemRoles.
func ParseSystemRole(s string) (SystemRole, error) {
	r := SystemRole(s)
	if !slices.Contains(SystemRoles, r) {
		return "", fmt.Errorf("unknown system role %q (want one of platform, auditor, ops)", s)
	}
	return r, nil
}

// Principal is the authenticated caller of a request.
type Principal struct {
	UserID      string
	SystemRoles []SystemRole
}

// HasRole reports whether p holds r.
func (p Principal) HasRole(r SystemRole) bool { return slices.Contains(p.SystemRoles, r) }

// HasAnyRole reports whether p holds at least one of rs.
func (p Principal) HasAnyRole(rs ...SystemRole) bool {
	return slices.ContainsFunc(rs, p.HasRole)
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom is the caller of the request ctx belongs to; ok is false on public routes.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// tokenIssuer names this service in the tokens it issues.
const tokenIssuer = "benefits-ledger"

// IssueToken signs an HS256 bearer token for sub with the given system roles, valid for ttl.
func IssueToken(secret []byte, sub string, roles []SystemRole, ttl time.Duration) (string, error) {
	if len(secret) == 0 {
		return "", errors.New("issue token: empty secret")
	}
	if strings.TrimSpace(sub) == "" {
		return "", errors.New("issue token: empty subject")
	}
	if ttl <= 0 {
		return "", fmt.Errorf("issue token: ttl %s must be positive", ttl)
	}
	names := make([]string, 0, len(roles))
	for _, r := range roles {
		if _, err := ParseSystemRole(string(r)); err != nil {
			return "", fmt.Errorf("issue token: %w", err)
		}
		names = append(names, string(r))
	}
	now := time.Now()
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims{
		Roles: names,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    tokenIssuer,
			Subject:   sub,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		},
	})
	s, err := tok.SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("issue token: %w", err)
	}
	return s, nil
}

// authenticator checks bearer tokens against one secret.
type authenticator struct {
	secret      []byte
	maxLifetime time.Duration
	parser      *jwt.Parser
	verified    *verifiedTokens
	// oidc checks tokens of the configured OpenID Connect issuer (oidc.go); nil: none.
	oidc *oidcVerifier
}

func newAuthenticator(secret []byte, maxLifetime time.Duration) *authenticator {
	return &authenticator{
		secret:      secret,
		maxLifetime: maxLifetime,
		verified:    newVerifiedTokens(),
		// Only HS256: "none" and every other algorithm, including RS256 with the secret
		// passed off as a public key, fail here before any key is used. nbf is always
		// checked; WithIssuedAt adds iat, so that a token cannot claim to be issued later
		// than it was and so stretch its lifetime.
		parser: jwt.NewParser(jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
			jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithLeeway(TokenClockLeeway)),
	}
}

// principal validates a token and turns it into a Principal.
func (a *authenticator) principal(token string) (Principal, error) {
	if p, ok := a.verified.get(token, time.Now()); ok {
		return p, nil
	}
	if a.oidc.issued(token) {
		return a.oidcPrincipal(token)
	}
	var cl claims
	if _, err := a.parser.ParseWithClaims(token, &cl, func(*jwt.Token) (any, error) { return a.secret, nil }); err != nil {
		return Principal{}, err
	}
	if strings.TrimSpace(cl.Subject) == "" {
		return Principal{}, errors.New("token has no subject")
	}
	if err := a.checkLifetime(cl.RegisteredClaims); err != nil {
		return Principal{}, err
	}
	p := Principal{UserID: cl.Subject}
	for _, name := range cl.Roles {
		r, err := ParseSystemRole(name)
		if err != nil {
			return Principal{}, err
		}
		p.SystemRoles = append(p.SystemRoles, r)
	}
	a.verified.put(token, p, cl.ExpiresAt.Time)
	return p, nil
}

// checkLifetime refuses a token valid for longer than maxLifetime: from its iat, or
// from now when it has none (a token without iat cannot outlive the bound either).
func (a *authenticator) checkLifetime(cl jwt.RegisteredClaims) error {
	from := time.Now()
	if cl.IssuedAt != nil {
		from = cl.IssuedAt.Time
	}
	if lifetime := cl.ExpiresAt.Sub(from); lifetime > a.maxLifetime {
		return fmt.Errorf("token is valid for %s, longer than this server's maximum of %s (--max-token-lifetime)",
			lifetime.Round(time.Second), a.maxLifetime)
	}
	return nil
}

// require authenticates the request and, when roles is not empty, demands one of them.
func (a *authenticator) require(roles []SystemRole) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			token, ok := bearerToken(c.Request().Header.Get(echo.HeaderAuthorization))
			if !ok {
				return unauthenticated(c, "missing bearer token in the Authorization header")
			}
			p, err := a.principal(token)
			if err != nil {
				return unauthenticated(c, "invalid bearer token: "+err.Error())
			}
			if len(roles) > 0 && !p.HasAnyRole(roles...) {
				return Problemf(http.StatusForbidden, CodeForbidden, "this operation needs one of the system roles %s", joinRoles(roles))
			}
			req := c.Request()
			c.SetRequest(req.WithContext(WithPrincipal(req.Context(), p)))
			return next(c)
		}
	}
}

func unauthenticated(c echo.Context, detail string) error {
	c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="benefits", error="invalid_token"`)
	return NewProblem(http.StatusUnauthorized, CodeUnauthenticated, detail)
}

// bearerToken takes the token from "Bearer <token>"; the scheme is case-insensitive
// (RFC 9110 §11.1).
func bearerToken(header string) (string, bool) {
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

func joinRoles(roles []SystemRole) string {
	names := make([]string, len(roles))
	for i, r := range roles {
		names[i] = string(r)
	}
	return strings.Join(names, ", ")
}
