package handlers

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// HTTPMetrics is what the HTTP layer reports each request to and serves /metrics from
// (*metrics.Metrics in production).
type HTTPMetrics interface {
	ObserveHTTP(method, route string, status int, elapsed time.Duration)
	// ObserveRejected counts a request refused 503 overloaded by an in-flight bound.
	ObserveRejected(class, scope string)
	Handler() http.Handler
}

// unmatchedRoute labels requests no route matched (404, 405): one series for all of
// them, so that scanners probing random paths cannot grow the series without bound.
const unmatchedRoute = "unmatched"

// metricsRoute serves the registry on every role, without a token: Prometheus scrapes
// from inside the deployment, and nothing in it names a partner or a user.
func metricsRoute(m HTTPMetrics) Route {
	return Route{Method: http.MethodGet, Path: "/metrics", Public: true,
		Summary: "Prometheus metrics of this process (text exposition format)",
		Handler: echo.WrapHandler(m.Handler())}
}

// correlateAndObserve is correlate then observed as one middleware, one call fewer per
// request (issue 10).
func correlateAndObserve(m HTTPMetrics) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			setCorrelationID(c)
			return observed(m, c, next)
		}
	}
}

// observed records every request by method, route template and the status the client
// received. It runs outside the request log, whose HandleError has committed the
// response by then; an error nothing has turned into a response yet is handed to the
// error handler here first, so the status is the one sent.
func observed(m HTTPMetrics, c echo.Context, next echo.HandlerFunc) error {
	start := time.Now()
	err := next(c)
	if err != nil && !c.Response().Committed {
		c.Error(err)
	}
	m.ObserveHTTP(c.Request().Method, routeLabel(c), c.Response().Status, time.Since(start))
	return err
}

// routeLabel is the answered request's route template, or unmatchedRoute when no route
// matched: metrics label and span name both use it, so neither grows with the paths
// clients make up.
func routeLabel(c echo.Context) string {
	route := c.Path()
	if route == "" || c.Response().Status == http.StatusNotFound && !isRoute(c, route) ||
		c.Response().Status == http.StatusMethodNotAllowed {
		return unmatchedRoute
	}
	return route
}

// isRoute tells a registered route template from what Echo leaves in Path when nothing
// matched.
func isRoute(c echo.Context, path string) bool {
	for _, r := range c.Echo().Routes() {
		if r.Path == path && r.Method == c.Request().Method {
			return true
		}
	}
	return false
}
