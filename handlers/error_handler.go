package handlers

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"ledger/infra/eventstore"
)

// handleError is Echo's one HTTPErrorHandler: every error a route, a middleware or the
// router returns leaves as an application/problem+json body. Anything not recognised
// is a 500 internal whose detail hides the cause; the cause goes to the log under the
// correlation ID that the client also receives.
func (s *server) handleError(err error, c echo.Context) {
	ctx := c.Request().Context()
	if c.Response().Committed {
		return
	}
	p := s.problemOf(err)
	if p.Status >= http.StatusInternalServerError && p.Code == CodeInternal {
		s.deps.Logger.ErrorContext(ctx, "request failed", "error", err,
			"correlation_id", CorrelationID(ctx), "method", c.Request().Method, "route", c.Path())
	}
	p.Instance = c.Request().URL.Path
	if id := CorrelationID(ctx); id != "" {
		p = p.With("correlationId", id)
	}
	body, merr := p.MarshalJSON()
	if merr != nil {
		s.deps.Logger.ErrorContext(ctx, "encoding problem", "error", merr)
		body = []byte(`{"type":"/problems/internal","title":"Internal Server Error","status":500,"code":"internal"}`)
		p.Status = http.StatusInternalServerError
	}
	if p.RetryAfter > 0 {
		c.Response().Header().Set(echo.HeaderRetryAfter, strconv.Itoa(retryAfterSeconds(p.RetryAfter)))
	}
	if c.Request().Method == http.MethodHead {
		err = c.NoContent(p.Status)
	} else {
		err = c.Blob(p.Status, ProblemContentType, body)
	}
	if err != nil {
		s.deps.Logger.DebugContext(ctx, "writing problem", "error", err)
	}
}

// StoreRetryAfter is the Retry-After of a store_unavailable answer: what stops the event
// store (a full disk, a held lock, a restarting database) takes seconds to clear.
const StoreRetryAfter = 5 * time.Second

// problemOf classifies err: a Problem as it is, a domain refusal by the status table,
// Echo's own errors by status, a lost optimistic-concurrency race as conflict, an
// unavailable event store as 503 store_unavailable, a partner stream whose history is
// gone as 500 stream_truncated, and everything else as internal.
func (s *server) problemOf(err error) *Problem {
	var p *Problem
	if errors.As(err, &p) {
		return p
	}
	if s.deps.DomainError != nil {
		if r, ok := s.deps.DomainError(err); ok {
			if _, known := DomainStatus(r.Code); !known {
				s.deps.Logger.Warn("domain error code missing from the status table", "code", r.Code)
			}
			return r.problem()
		}
	}
	if p := pagingProblem(err); p != nil {
		return p
	}
	if p := projectionProblem(err); p != nil {
		return p
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		if inner, ok := he.Internal.(*echo.HTTPError); ok {
			he = inner
		}
		return echoProblem(he)
	}
	if errors.Is(err, eventstore.ErrWrongExpectedRevision) {
		return NewProblem(http.StatusConflict, CodeConflict, "the data changed concurrently; retry the request")
	}
	if errors.Is(err, eventstore.ErrUnavailable) {
		p := NewProblem(http.StatusServiceUnavailable, CodeStoreUnavailable,
			"the event store cannot record changes now (disk full, locked or unreachable); the command was not acknowledged, retry after the Retry-After delay")
		p.RetryAfter = StoreRetryAfter
		return p
	}
	if errors.Is(err, eventstore.ErrStreamTruncated) {
		// Not the client's fault and no retry helps: an operator deleted or truncated the
		// partner's stream, so deciding on what is left would be deciding on a partial
		// history. The store's metrics wrapper has raised the alert.
		return NewProblem(http.StatusInternalServerError, CodeStreamTruncated,
			"the partner's history in the event store is incomplete (its stream was deleted or truncated by an operator); commands on it are refused until it is restored")
	}
	if errors.Is(err, context.Canceled) {
		// The client is gone; the status is for the log line only.
		p := NewProblem(499, CodeBadRequest, "request cancelled by the client")
		p.Title = "Client Closed Request"
		return p
	}
	return NewProblem(http.StatusInternalServerError, CodeInternal, "internal error; quote the correlation ID when reporting it")
}

// echoCodes names Echo's router and middleware errors by status.
var echoCodes = map[int]string{
	http.StatusBadRequest:            CodeBadRequest,
	http.StatusUnauthorized:          CodeUnauthenticated,
	http.StatusForbidden:             CodeForbidden,
	http.StatusNotFound:              CodeNotFound,
	http.StatusMethodNotAllowed:      CodeMethodNotAllowed,
	http.StatusConflict:              CodeConflict,
	http.StatusRequestEntityTooLarge: CodePayloadTooLarge,
	http.StatusUnsupportedMediaType:  CodeUnsupportedMediaType,
}

func echoProblem(he *echo.HTTPError) *Problem {
	code, ok := echoCodes[he.Code]
	if !ok {
		return NewProblem(http.StatusInternalServerError, CodeInternal, "internal error; quote the correlation ID when reporting it")
	}
	detail := http.StatusText(he.Code)
	switch he.Code {
	case http.StatusRequestEntityTooLarge:
		detail = "the request body exceeds 64 KiB"
	case http.StatusNotFound:
		detail = "no such resource"
	default:
		if msg, ok := he.Message.(string); ok && msg != "" {
			detail = msg
		}
	}
	return NewProblem(he.Code, code, detail)
}

// retryAfterSeconds rounds up: Retry-After counts whole seconds, and 0 would invite an
// immediate retry into the same overload.
func retryAfterSeconds(d time.Duration) int {
	return max(1, int((d+time.Second-1)/time.Second))
}
