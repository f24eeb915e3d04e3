package handlers

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"ledger/domain"
	"ledger/infra/commands"
	"ledger/infra/eventstore"
	"ledger/projections"
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

// problemOf is the one place errors become HTTP answers, matched by type: a Problem as
// it is, a domain refusal by the status table (domain_errors.go), the errors other
// packages export by sentinelProblems, a bad page request as 400 naming the parameter,
// Echo's own errors by status, and everything else as 500 internal. Route handlers
// return the error they got; none maps errors itself.
func (s *server) problemOf(err error) *Problem {
	var p *Problem
	if errors.As(err, &p) {
		return p
	}
	var refusal *domain.Error
	if errors.As(err, &refusal) {
		if _, known := DomainStatus(refusal.Code); !known {
			s.deps.Logger.Warn("domain error code missing from the status table", "code", refusal.Code)
		}
		return domainProblem(refusal)
	}
	for _, m := range sentinelProblems {
		if errors.Is(err, m.err) {
			return m.problem(err)
		}
	}
	if p := pagingProblem(err); p != nil {
		return p
	}
	var badResolution *projections.BadResolutionError
	if errors.As(err, &badResolution) {
		return Problemf(http.StatusBadRequest, CodeBadRequest, "%s: %s", badResolution.Field, badResolution.Reason).With("field", badResolution.Field)
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		if inner, ok := he.Internal.(*echo.HTTPError); ok {
			he = inner
		}
		return echoProblem(he)
	}
	if errors.Is(err, context.Canceled) {
		// The client is gone; the status is for the log line only.
		p := NewProblem(499, CodeBadRequest, "request cancelled by the client")
		p.Title = "Client Closed Request"
		return p
	}
	return NewProblem(http.StatusInternalServerError, CodeInternal, "internal error; quote the correlation ID when reporting it")
}

// sentinelProblem is what an error another package exports means over HTTP.
type sentinelProblem struct {
	err    error
	status int
	code   string
	// detail is the problem's detail; empty: the error's own text, which names the
	// thing (e.g. "partner 12345: not found").
	detail string
	// hint follows the error's own text when detail is empty: what the caller can do.
	hint       string
	retryAfter time.Duration
}

func (m sentinelProblem) problem(err error) *Problem {
	detail := m.detail
	if detail == "" {
		detail = err.Error() + m.hint
	}
	p := NewProblem(m.status, m.code, detail)
	p.RetryAfter = m.retryAfter
	return p
}

// sentinelProblems maps the errors of the event store and the read models.
var sentinelProblems = []sentinelProblem{
	{err: eventstore.ErrWrongExpectedRevision, status: http.StatusConflict, code: CodeConflict,
		detail: "the data changed concurrently; retry the request"},
	{err: eventstore.ErrUnavailable, status: http.StatusServiceUnavailable, code: CodeStoreUnavailable,
		detail:     "the event store cannot record changes now (disk full, locked or unreachable); the command was not acknowledged, retry after the Retry-After delay",
		retryAfter: StoreRetryAfter},
	// Not the client's fault and no retry helps: an operator deleted or truncated the
	// partner's stream, so deciding on what is left would be deciding on a partial
	// history. The store's metrics wrapper has raised the alert.
	{err: eventstore.ErrStreamTruncated, status: http.StatusInternalServerError, code: CodeStreamTruncated,
		detail: "the partner's history in the event store is incomplete (its stream was deleted or truncated by an operator); commands on it are refused until it is restored"},
	{err: commands.ErrIdempotencyKeyReused, status: http.StatusUnprocessableEntity, code: CodeIdempotencyKeyReused,
		hint: "; nothing was recorded: send a new key for a new request"},
	{err: projections.ErrNotFound, status: http.StatusNotFound, code: CodeNotFound},
	{err: projections.ErrUnknownProjection, status: http.StatusNotFound, code: CodeNotFound},
	{err: projections.ErrRebuildRunning, status: http.StatusConflict, code: CodeConflict,
		hint: "; watch GET /v1/ops/projections"},
	{err: projections.ErrDeadLetterNotFound, status: http.StatusNotFound, code: CodeNotFound},
	{err: projections.ErrRetryRefused, status: http.StatusUnprocessableEntity, code: CodeRetryRefused,
		hint: "; the letter stays open: fix the cause and retry, or discard it with a reason"},
	{err: projections.ErrDeadLetterEventMissing, status: http.StatusConflict, code: CodeConflict,
		hint: "; discard the letter with a reason"},
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
