package handlers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// claims is the token body: sub (user id), exp (required), iat, and roles.
type claims struct {
	Roles []string `json:"roles,omitempty"`
	jwt.RegisteredClaims
}

// numericDateClaims are the claims RFC 7519 §2 defines as NumericDate: a JSON number.
var numericDateClaims = []string{"exp", "iat", "nbf"}

// UnmarshalJSON refuses a date claim written as a string: jwt's NumericDate reads
// "exp":"32503680000" as a number, and a token whose issuer wrote it so was not made by
// IssueToken nor by any library that follows the RFC.
func (c *claims) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	for _, name := range numericDateClaims {
		if v, ok := raw[name]; ok && !isJSONNumber(v) {
			return fmt.Errorf("claim %q is not a number of seconds since the epoch", name)
		}
	}
	type plain claims // without this method
	return json.Unmarshal(b, (*plain)(c))
}

func isJSONNumber(v json.RawMessage) bool {
	dec := json.NewDecoder(bytes.NewReader(v))
	dec.UseNumber()
	var tok any
	if err := dec.Decode(&tok); err != nil {
		return false
	}
	_, ok := tok.(json.Number)
	return ok
}

// DefaultMaxTokenLifetime is the longest a token may be valid, from its iat (or from
// now, without one) to its exp, unless Deps.MaxTokenLifetime says otherwise.
const DefaultMaxTokenLifetime = 24 * time.Hour

// TokenClockLeeway is the clock skew tolerated between the issuer and this server: an
// iat or nbf up to this far in the future, an exp up to this far in the past.
const TokenClockLeeway = time.Minute
