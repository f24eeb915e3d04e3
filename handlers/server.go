// Package handlers is the HTTP face of the ledger: an Echo server with correlation IDs,
// request logs, bearer-token authentication, RFC 9457 problems, strict JSON binding,
// read-your-writes for queries, health and readiness, and an OpenAPI document built from
// the same route table that registers the routes. Command and query routes plug in as
// Route values; no business rule lives here.
package handlers

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// MaxBodyBytes is the largest request body accepted; larger ones answer 413.
const MaxBodyBytes = 64 << 10

// Deps is everything the HTTP layer needs from the rest of the process.
type Deps struct {
	Logger *slog.Logger // default slog.Default()
	// JWTSecret signs and checks bearer tokens (HS256). Required.
	JWTSecret []byte
	// Checkers are pinged by /readyz.
	Checkers []Checker
	// Projections serves read-your-writes; required when any route sets Projection.
	Projections PositionWaiter
	// MaxTokenLifetime is the longest a bearer token may be valid, exp minus iat (or
	// minus now without iat); longer ones are refused (default DefaultMaxTokenLifetime).
	MaxTokenLifetime time.Duration
	// WriteTimeout is the HTTP server's write timeout: a LongRunning route's deadline is
	// lifted while it works and set again, WriteTimeout ahead, when it answers (zero:
	// left lifted).
	WriteTimeout time.Duration
	// QueryWait bounds a query's wait for minPosition (default DefaultQueryWait).
	QueryWait time.Duration
	// ReadyTimeout bounds one /readyz probe (default DefaultReadyTimeout).
	ReadyTimeout time.Duration
	// Routes are the command and query routes; health, readiness and the document are added.
	Routes []Route
	// Version is the API version in the OpenAPI document (default "dev").
	Version string
	// Build is the version of the running binary, reported by /healthz.
	Build string
	// Metrics, when set, counts and times every request and serves GET /metrics.
	Metrics HTTPMetrics
	// Limits bound the requests in flight; the zero value bounds nothing.
	Limits InFlightLimits
	// TracerProvider, when set, traces every request (tracing.go), reading the caller's
	// trace context with Propagator; nil adds nothing to a request.
	TracerProvider trace.TracerProvider
	Propagator     propagation.TextMapPropagator
	// OIDC, when its issuer is set, also accepts that provider's tokens (oidc.go).
	OIDC OIDCSettings
}

func (d Deps) withDefaults() Deps {
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.QueryWait <= 0 {
		d.QueryWait = DefaultQueryWait
	}
	if d.MaxTokenLifetime <= 0 {
		d.MaxTokenLifetime = DefaultMaxTokenLifetime
	}
	if d.ReadyTimeout <= 0 {
		d.ReadyTimeout = DefaultReadyTimeout
	}
	if d.Version == "" {
		d.Version = "dev"
	}
	if d.TracerProvider != nil && d.Propagator == nil {
		d.Propagator = propagation.TraceContext{}
	}
	return d
}

// Validate reports wiring mistakes: a missing secret, a malformed route table, a query
// route without Projections, body types the document cannot describe.
func (d Deps) Validate() error {
	d = d.withDefaults()
	var errs []error
	if len(d.JWTSecret) == 0 {
		errs = append(errs, errors.New("handlers: JWTSecret is empty"))
	}
	all := append(builtinRoutes(d, nil), d.Routes...)
	if err := validateRoutes(all, d.Projections != nil); err != nil {
		errs = append(errs, err)
	}
	if _, err := buildOpenAPI(all, d.Version); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

type server struct {
	deps    Deps
	auth    *authenticator
	limiter *limiter
}

// NewServer builds the Echo server. It panics when deps.Validate fails: that is a wiring
// mistake in the program, not a runtime condition; call Validate first to get an error.
func NewServer(deps Deps) *echo.Echo {
	if err := deps.Validate(); err != nil {
		panic(fmt.Sprintf("handlers.NewServer: %v", err))
	}
	deps = deps.withDefaults()
	s := &server{deps: deps, auth: newAuthenticator(deps.JWTSecret, deps.MaxTokenLifetime), limiter: newLimiter(deps.Limits, deps.Metrics)}
	s.auth.oidc = newOIDCVerifier(deps.OIDC)

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	e.Use(composedOnce(globalMiddlewares(deps)...))

	// Built twice: the document describes the built-in routes too, including itself.
	doc, _ := buildOpenAPI(append(builtinRoutes(deps, nil), deps.Routes...), deps.Version)
	for _, r := range append(builtinRoutes(deps, doc), deps.Routes...) {
		s.register(e, r)
	}
	return e
}

// globalMiddlewares run on every request, matched or not, outermost first.
func globalMiddlewares(deps Deps) []echo.MiddlewareFunc {
	var global []echo.MiddlewareFunc
	if deps.TracerProvider != nil {
		global = append(global, traceRequests(deps.TracerProvider, deps.Propagator))
	}
	if deps.Metrics != nil {
		global = append(global, correlateAndObserve(deps.Metrics))
	} else {
		global = append(global, correlate)
	}
	global = append(global, requestLog(deps.Logger), middleware.RecoverWithConfig(middleware.RecoverConfig{
		LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
			deps.Logger.ErrorContext(c.Request().Context(), "panic in handler",
				"error", err, "correlation_id", CorrelationID(c.Request().Context()), "stack", string(stack))
			return err
		},
	}), middleware.BodyLimit(fmt.Sprintf("%dB", MaxBodyBytes)), checkRequestTarget)
	return global
}
