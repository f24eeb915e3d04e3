// Package metrics is the ledger's Prometheus face: one registry per process holding the
// metric families of issue 6 (HTTP requests, commands, appends, forwarder lag, projection
// checkpoints, lag, batch sizes and dead letters) and the handler that serves them.
//
// Counters and histograms are fed where the work happens, through small decorators that
// leave the decorated packages untouched (an event store whose Append is timed, a
// projection whose Apply sees its batch, an executor whose commands are counted).
// Positions, lag and dead letters are read when Prometheus scrapes, from the event store
// and the read database, so a number on /metrics is never staler than the scrape.
package metrics

import (
	"log/slog"
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// namespace prefixes every family: benefits_http_requests_total, ...
const namespace = "benefits"

// Metrics is one process's registry and its metric families. Safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry
	log *slog.Logger

	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec
	httpSeries   sync.Map // httpSeriesKey -> httpSeries, resolved once each
	httpRejected *prometheus.CounterVec

	commands        *prometheus.CounterVec
	commandDuration *prometheus.HistogramVec

	appends        *prometheus.CounterVec
	appendDuration *prometheus.HistogramVec
	appendedEvents prometheus.Counter
	truncatedReads prometheus.Counter

	batchSize     *prometheus.HistogramVec
	batchDuration *prometheus.HistogramVec

	stages visibilityStages
}

// latencyBuckets span a cached read (half a millisecond) to a query that waited its
// whole --query-wait and more (10 s).
var latencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// New builds the registry with every family, plus the Go runtime and process collectors.
// logger receives scrape failures (a store that did not answer); nil means slog.Default().
func New(logger *slog.Logger) *Metrics {
	if logger == nil {
		logger = slog.Default()
	}
	m := &Metrics{reg: prometheus.NewRegistry(), log: logger.With("component", "metrics")}
	m.httpRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "http", Name: "requests_total",
		Help: "HTTP requests answered, by method, route template and status code.",
	}, []string{"method", "route", "status"})
	m.httpDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Subsystem: "http", Name: "request_duration_seconds",
		Help:    "Time from request to response, by method, route template and status code.",
		Buckets: latencyBuckets,
	}, []string{"method", "route", "status"})
	m.httpRejected = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "http", Name: "rejected_total",
		Help: "Requests refused 503 overloaded by an in-flight bound, by class (command, query) and scope (process, partner), and connections past the connection bound (class connection).",
	}, []string{"class", "scope"})
	for _, cs := range rejectionSeries {
		m.httpRejected.WithLabelValues(cs[0], cs[1])
	}
	m.commands = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "commands", Name: "total",
		Help: "Commands decided, by command type and outcome (accepted, unchanged, refused, conflict, canceled, failed).",
	}, []string{"command", "outcome"})
	m.commandDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Subsystem: "commands", Name: "duration_seconds",
		Help:    "Time to load, decide and append a command, retries included, by command type.",
		Buckets: latencyBuckets,
	}, []string{"command"})
	m.appends = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "event_store", Name: "appends_total",
		Help: "Appends to the event store, by outcome (ok, wrong_expected_revision, unavailable, failed).",
	}, []string{"outcome"})
	m.appendDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Subsystem: "event_store", Name: "append_duration_seconds",
		Help:    "Time for one append to be durably stored (or refused), by outcome.",
		Buckets: latencyBuckets,
	}, []string{"outcome"})
	m.appendedEvents = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "event_store", Name: "appended_events_total",
		Help: "Events durably appended by this process.",
	})
	m.truncatedReads = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "event_store", Name: "truncated_stream_reads_total",
		Help: "Stream reads refused because the stream's start is gone (deleted, tombstoned or truncated by an operator): commands on it fail until it is restored. Alert on any increase.",
	})
	m.batchSize = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Subsystem: "projection", Name: "batch_size_events",
		Help:    "Events per batch a projection folded in one transaction (a batch whose commit failed is counted again when retried).",
		Buckets: []float64{1, 2, 5, 10, 25, 50, 100, 250, 500},
	}, []string{"projection"})
	m.batchDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Subsystem: "projection", Name: "batch_apply_duration_seconds",
		Help:    "Time a projection's Apply took for one batch, inside its transaction.",
		Buckets: latencyBuckets,
	}, []string{"projection"})
	m.stages = newVisibilityStages()
	m.reg.MustRegister(m.stages.collectors()...)
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.httpRequests, m.httpDuration, m.httpRejected, m.commands, m.commandDuration,
		m.appends, m.appendDuration, m.appendedEvents, m.truncatedReads, m.batchSize, m.batchDuration,
	)
	return m
}

// Registry is the process's registry, for tests and for extra collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus text format (or OpenMetrics when asked).
// A collector that fails (a store down during the scrape) drops its own series and is
// logged; the rest of the page is still served, so one outage does not blind the others.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:          slog.NewLogLogger(m.log.Handler(), slog.LevelWarn),
		ErrorHandling:     promhttp.ContinueOnError,
		EnableOpenMetrics: true,
	})
}
