package handlers

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"ledger/domain"
	"ledger/infra/commands"
)

// A command may carry an Idempotency-Key header (draft-ietf-httpapi-idempotency-key-header):
// sent again with the same key and the same request on the same partner (or on the rules
// stream), it is answered as the command recorded the first time, with
// Idempotent-Replayed: true, and records nothing; sent with another request, it is
// refused with 422 idempotency_key_reused. The executor keeps the keys with the events
// (infra/commands/idempotency.go); this is where the header is read and the request
// identified.
const (
	HeaderIdempotencyKey     = "Idempotency-Key"
	HeaderIdempotentReplayed = "Idempotent-Replayed"
	// MaxIdempotencyKeyLength bounds a key, in bytes (a UUID is 36).
	MaxIdempotencyKeyLength = 255
)

// CodeIdempotencyKeyReused: the key was used before for a different request.
const CodeIdempotencyKeyReused = "idempotency_key_reused"

// withIdempotencyKey adds the request's idempotency key, if it sent one, to meta, with
// the digest of the request it came with: the route and the command as the domain
// receives it (so the same body sent again is the same request, whatever its member
// order or spacing), the caller's system roles included, but not its personal data
// (domain.ImpersonalJSON: user IDs, customer IDs). The digest stays in the events'
// metadata for good, where a hash of an erased person's data would let anyone confirm
// a guess of it. A malformed key is refused with 400 before anything runs.
func withIdempotencyKey(c echo.Context, meta commands.Meta, cmd domain.Command) (commands.Meta, error) {
	values := c.Request().Header.Values(HeaderIdempotencyKey)
	if len(values) == 0 {
		return meta, nil
	}
	key, err := idempotencyKey(values)
	if err != nil {
		return meta, Problemf(http.StatusBadRequest, CodeBadRequest, "%s: %v", HeaderIdempotencyKey, err).With("field", HeaderIdempotencyKey)
	}
	body, err := domain.ImpersonalJSON(cmd)
	if err != nil {
		return meta, fmt.Errorf("digest of the request: %w", err)
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%T\x00", c.Request().Method, c.Request().URL.Path, cmd)
	h.Write(body)
	meta.IdempotencyKey, meta.RequestDigest = key, hex.EncodeToString(h.Sum(nil))
	return meta, nil
}

// idempotencyKey is the key the header values give: one value of 1 to
// MaxIdempotencyKeyLength printable ASCII characters, or such a value quoted as a
// structured-field string, as the draft writes it ("...").
func idempotencyKey(values []string) (string, error) {
	if len(values) > 1 {
		return "", fmt.Errorf("sent %d times; send one key", len(values))
	}
	key := values[0]
	if len(key) >= 2 && key[0] == '"' && key[len(key)-1] == '"' {
		key = key[1 : len(key)-1]
	}
	switch {
	case key == "":
		return "", fmt.Errorf("empty; send 1 to %d printable ASCII characters (a UUID, say)", MaxIdempotencyKeyLength)
	case len(key) > MaxIdempotencyKeyLength:
		return "", fmt.Errorf("%d bytes long; at most %d", len(key), MaxIdempotencyKeyLength)
	}
	for i := range len(key) {
		if key[i] < 0x20 || key[i] > 0x7e || key[i] == '"' || key[i] == '\\' {
			return "", fmt.Errorf("byte %d (0x%02x) is not allowed: printable ASCII only, without quotes or backslashes", i, key[i])
		}
	}
	return key, nil
}

// markReplayed tells the client its command's answer is the one recorded before.
func markReplayed(c echo.Context, out commands.Outcome) {
	if out.Replayed {
		c.Response().Header().Set(HeaderIdempotentReplayed, "true")
	}
}
