package metrics

import (
	"strconv"
	"time"
)

// ObserveHTTP records one answered request. route is the route template
// (/v1/partners/:mpnId), never the raw path, so that the number of series stays bounded.
func (m *Metrics) ObserveHTTP(method, route string, status int, elapsed time.Duration) {
	code := strconv.Itoa(status)
	m.httpRequests.WithLabelValues(method, route, code).Inc()
	m.httpDuration.WithLabelValues(method, route, code).Observe(elapsed.Seconds())
}

// ObserveRejected counts one request an in-flight bound refused (503 overloaded).
func (m *Metrics) ObserveRejected(class, scope string) {
	m.httpRejected.WithLabelValues(class, scope).Inc()
}

// rejectionSeries are the (class, scope) pairs the in-flight bounds refuse under
// (handlers.LoadClass*, handlers.RejectScope*). They are created at zero, so that the
// family is on /metrics, and rate() and alerts see it, before the first refusal.
var rejectionSeries = [][2]string{{"command", "process"}, {"query", "process"}, {"command", "partner"}, {"connection", "process"}}
