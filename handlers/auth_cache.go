package handlers

import (
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// verifiedTokens keeps the principal of tokens this process has already verified, so
// that a client sending one token with every request pays for its HMAC check and claims
// parsing once, not per request: under query load that was a tenth of the server's CPU
// (issue 10). Only tokens that passed every check are kept, until their expiry (with
// the clock leeway the parser grants): every other check of a token (signature,
// algorithm, nbf, iat, the lifetime bound) gives the same answer later as it did when
// it passed. The cache is bounded; an evicted token is verified again.
type verifiedTokens struct {
	tokens *lru.Cache[string, verifiedToken]
}

type verifiedToken struct {
	principal Principal
	notAfter  time.Time // exp plus TokenClockLeeway: from then on the token is refused
}

// verifiedTokenCacheSize bounds the cache: a few hundred bytes per token, and more
// distinct callers than this at once only cost a verification each.
const verifiedTokenCacheSize = 4096

func newVerifiedTokens() *verifiedTokens {
	tokens, err := lru.New[string, verifiedToken](verifiedTokenCacheSize)
	if err != nil {
		panic(err) // only for a size <= 0
	}
	return &verifiedTokens{tokens: tokens}
}

// get is the principal of a token verified before and not yet expired at now.
func (v *verifiedTokens) get(token string, now time.Time) (Principal, bool) {
	t, ok := v.tokens.Get(token)
	if !ok {
		return Principal{}, false
	}
	if !now.Before(t.notAfter) {
		v.tokens.Remove(token)
		return Principal{}, false
	}
	return t.principal, true
}

func (v *verifiedTokens) put(token string, p Principal, expiresAt time.Time) {
	v.tokens.Add(token, verifiedToken{principal: p, notAfter: expiresAt.Add(TokenClockLeeway)})
}
