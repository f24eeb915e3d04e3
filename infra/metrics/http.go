package metrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ObserveHTTP records one answered request. route is the route template
// (/v1/partners/:mpnId), never the raw path, so that the number of series stays bounded.
func (m *Metrics) ObserveHTTP(method, route string, status int, elapsed time.Duration) {
	s := m.httpSeriesOf(method, route, status)
	s.requests.Inc()
	s.duration.Observe(elapsed.Seconds())
}

// httpSeriesKey names the series of one kind of answer.
type httpSeriesKey struct {
	method, route string
	status        int
}

// httpSeries are the counter and histogram of one kind of answer.
type httpSeries struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

// httpSeriesOf resolves the series of an answer once, then finds them by key: the
// label lookups of two vectors (hashing three label values each, formatting the
// status) on every request were most of ObserveHTTP's cost (issue 10).
func (m *Metrics) httpSeriesOf(method, route string, status int) httpSeries {
	key := httpSeriesKey{method: method, route: route, status: status}
	if s, ok := m.httpSeries.Load(key); ok {
		return s.(httpSeries)
	}
	code := strconv.Itoa(status)
	s := httpSeries{requests: m.httpRequests.WithLabelValues(method, route, code),
		duration: m.httpDuration.WithLabelValues(method, route, code)}
	m.httpSeries.Store(key, s)
	return s
}

// ObserveRejected counts one request an in-flight bound refused (503 overloaded).
func (m *Metrics) ObserveRejected(class, scope string) {
	m.httpRejected.WithLabelValues(class, scope).Inc()
}

// rejectionSeries are the (class, scope) pairs the in-flight bounds refuse under
// (handlers.LoadClass*, handlers.RejectScope*). They are created at zero, so that the
// family is on /metrics, and rate() and alerts see it, before the first refusal.
var rejectionSeries = [][2]string{{"command", "process"}, {"query", "process"}, {"command", "partner"}, {"query", "partner"}, {"connection", "process"}}
