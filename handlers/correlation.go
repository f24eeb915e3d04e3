package handlers

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"net/http"
	"net/textproto"
	"sync/atomic"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
)

// HeaderCorrelationID carries the correlation ID in and out of every request.
const HeaderCorrelationID = "X-Correlation-ID"

// maxCorrelationIDLen bounds a client-supplied ID; longer or non-printable values are
// replaced, so a client cannot stuff logs and event metadata with arbitrary bytes.
const maxCorrelationIDLen = 128

// correlationHeaderKey is HeaderCorrelationID as net/http keys its header maps:
// Header.Get and Set canonicalize the name on every call, and since the name is not in
// canonical form, each call allocated a new string (two per request).
var correlationHeaderKey = textproto.CanonicalMIMEHeaderKey(HeaderCorrelationID)

func firstValue(h http.Header, canonicalKey string) string {
	if v := h[canonicalKey]; len(v) > 0 {
		return v[0]
	}
	return ""
}

type correlationKey struct{}

// WithCorrelationID returns ctx carrying id; commands read it back for event metadata.
func WithCorrelationID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, correlationKey{}, id)
}

// CorrelationID is the request's correlation ID, or "" outside a request.
func CorrelationID(ctx context.Context) string {
	id, _ := ctx.Value(correlationKey{}).(string)
	return id
}

// correlate takes X-Correlation-ID from the request (or makes one), echoes it in the
// response and puts it into the request context, before anything else runs, so that
// every log line and problem of the request can name it.
func correlate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		setCorrelationID(c)
		return next(c)
	}
}

func setCorrelationID(c echo.Context) {
	id := firstValue(c.Request().Header, correlationHeaderKey)
	if !validCorrelationID(id) {
		id = newCorrelationID()
	}
	c.Response().Header()[correlationHeaderKey] = []string{id}
	req := c.Request()
	c.SetRequest(req.WithContext(WithCorrelationID(req.Context(), id)))
}

func validCorrelationID(id string) bool {
	if id == "" || len(id) > maxCorrelationIDLen {
		return false
	}
	for _, r := range id {
		if r < 0x21 || r > 0x7e {
			return false
		}
	}
	return true
}

// correlationPrefix and correlationCounter make the IDs the server generates: a random
// prefix drawn once per process and a counter, laid out as a UUID of version 8 (RFC
// 9562's vendor-specific layout), so they look like what they replaced. A random UUID
// per request read crypto/rand every time, a visible cost under query load (issue 10);
// the counter makes each process's IDs distinct, the 60 random bits of the prefix
// keep processes apart.
var (
	correlationPrefix  = randomPrefix()
	correlationCounter atomic.Uint64
)

func randomPrefix() [8]byte {
	var p [8]byte
	_, _ = rand.Read(p[:]) // never fails (crypto/rand.Read panics rather than return an error)
	return p
}

func newCorrelationID() string {
	var u uuid.UUID
	copy(u[:8], correlationPrefix[:])
	binary.BigEndian.PutUint64(u[8:], correlationCounter.Add(1))
	u[6] = u[6]&0x0f | 0x80 // version 8
	u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant; a counter needs 2^62 requests to reach these bits
	return u.String()
}
