package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// traceRequests gives every request a server span (OpenTelemetry's net/http
// instrumentation, continuing the caller's trace from its traceparent header) named
// after its route, "POST /v1/partners/:mpnId/grants", and tagged with the correlation
// ID that the logs and the events' metadata carry, so a trace and its log lines find
// each other. It runs first, around every other middleware, so that the span covers
// the whole request and ends with the status the client received (requestLog and
// the metrics' observation hand errors to the error handler inside it).
//
// Probes and scrapes (/healthz, /readyz, /metrics) are not traced: an orchestrator and
// Prometheus call them every few seconds, and their traces would bury the commands'.
func traceRequests(provider trace.TracerProvider, propagator propagation.TextMapPropagator) echo.MiddlewareFunc {
	instrument := echo.WrapMiddleware(otelhttp.NewMiddleware("http.server",
		otelhttp.WithTracerProvider(provider), otelhttp.WithPropagators(propagator),
		otelhttp.WithFilter(func(r *http.Request) bool { return !untracedPaths[r.URL.Path] })))
	name := func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			err := next(c)
			span := trace.SpanFromContext(c.Request().Context())
			if !span.IsRecording() {
				return err
			}
			route := routeLabel(c)
			span.SetName(c.Request().Method + " " + route)
			span.SetAttributes(semconv.HTTPRoute(route),
				attribute.String("ledger.correlation_id", c.Response().Header().Get(HeaderCorrelationID)))
			return err
		}
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc { return instrument(name(next)) }
}

// untracedPaths are the probe and scrape routes.
var untracedPaths = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}
