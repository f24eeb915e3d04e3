package handlers

import (
	"context"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
)

// HeaderCorrelationID carries the correlation ID in and out of every request.
const HeaderCorrelationID = "X-Correlation-ID"

// maxCorrelationIDLen bounds a client-supplied ID; longer or non-printable values are
// replaced, so a client cannot stuff logs and event metadata with arbitrary bytes.
const maxCorrelationIDLen = 128

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

// correlate takes X-Correlation-ID from the request (or makes a UUID), echoes it in the
// response and puts it into the request context, before anything else runs, so that
// every log line and problem of the request can name it.
func correlate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := c.Request().Header.Get(HeaderCorrelationID)
		if !validCorrelationID(id) {
			id = uuid.NewString()
		}
		c.Response().Header().Set(HeaderCorrelationID, id)
		req := c.Request()
		c.SetRequest(req.WithContext(WithCorrelationID(req.Context(), id)))
		return next(c)
	}
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
