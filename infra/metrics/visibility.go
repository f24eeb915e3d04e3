package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"ledger/infra/eventstore"
)

// The stages between a command's answer and a query that shows it (read-your-writes),
// each timed where it ends, so ops can tell which one a slow "visible" comes from:
//
//	recorded -> published  benefits_forwarder_delay_seconds (append commit, forwarder
//	                       wake-up, publish, PubAck)
//	recorded -> applied    benefits_projection_delay_seconds, by read model (the above,
//	                       plus delivery, waiting for the read database, the commit)
//	query waits            benefits_query_wait_seconds, by read model and outcome
//
// "Recorded" is the event's RecordedAt, set as its command is decided, just before the
// append commits; across hosts the figures carry the clocks' skew.

// stageBuckets are finer than latencyBuckets between 1 and 50 ms, where a healthy
// system's stages lie.
var stageBuckets = []float64{.0005, .001, .002, .003, .005, .0075, .01, .015, .02, .03, .05, .075, .1, .25, .5, 1, 2.5, 5, 10}

type visibilityStages struct {
	forwarded prometheus.Histogram
	applied   *prometheus.HistogramVec
	waited    *prometheus.HistogramVec
}

func newVisibilityStages() visibilityStages {
	return visibilityStages{
		forwarded: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: "forwarder", Name: "delay_seconds",
			Help:    "Time from an event's recording to its PubAck on the events stream, per event forwarded (empty on a process that runs no forwarder).",
			Buckets: stageBuckets,
		}),
		applied: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: "projection", Name: "delay_seconds",
			Help:    "Time from an event's recording to the commit of the read model's transaction that applied it, per event, by read model (live runner only, not rebuilds).",
			Buckets: stageBuckets,
		}, []string{"projection"}),
		waited: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: "query", Name: "wait_seconds",
			Help:    "Time a query asking for minPosition waited for its read model, by read model and outcome (reached, behind: gave up).",
			Buckets: stageBuckets,
		}, []string{"projection", "outcome"}),
	}
}

func (v visibilityStages) collectors() []prometheus.Collector {
	return []prometheus.Collector{v.forwarded, v.applied, v.waited}
}

// Forwarded records that ev's PubAck arrived (natsbus.ForwarderConfig.OnForwarded).
func (m *Metrics) Forwarded(ev eventstore.RecordedEvent) {
	m.stages.forwarded.Observe(sinceRecorded(ev, time.Now()))
}

// Applied records that a read model committed events (projections.RunnerConfig.OnApplied).
func (m *Metrics) Applied(projection string, events []eventstore.RecordedEvent) {
	h := m.stages.applied.WithLabelValues(projection)
	now := time.Now()
	for _, ev := range events {
		h.Observe(sinceRecorded(ev, now))
	}
}

func sinceRecorded(ev eventstore.RecordedEvent, now time.Time) float64 {
	return max(0, now.Sub(ev.RecordedAt).Seconds())
}

// PositionWaiter is what queries wait on for read-your-writes (handlers.PositionWaiter).
type PositionWaiter interface {
	WaitForPartner(ctx context.Context, projection, mpnID string, pos eventstore.Position) (eventstore.Position, error)
	PartnerReached(projection, mpnID string, pos eventstore.Position) (eventstore.Position, bool)
}

// ObserveWaits times every wait for a position (not the look of a query that asks for
// none) in benefits_query_wait_seconds.
func (m *Metrics) ObserveWaits(w PositionWaiter) PositionWaiter {
	return observedWaiter{w: w, m: m}
}

type observedWaiter struct {
	w PositionWaiter
	m *Metrics
}

// Wait outcomes, the values of the outcome label of benefits_query_wait_seconds.
const (
	WaitReached = "reached"
	WaitBehind  = "behind"
)

// PartnerReached counts a position found reached at once as a wait of no time.
func (o observedWaiter) PartnerReached(projection, mpnID string, pos eventstore.Position) (eventstore.Position, bool) {
	at, ok := o.w.PartnerReached(projection, mpnID, pos)
	if ok && !pos.IsZero() {
		o.m.stages.waited.WithLabelValues(projection, WaitReached).Observe(0)
	}
	return at, ok
}

func (o observedWaiter) WaitForPartner(ctx context.Context, projection, mpnID string, pos eventstore.Position) (eventstore.Position, error) {
	if pos.IsZero() {
		return o.w.WaitForPartner(ctx, projection, mpnID, pos)
	}
	start := time.Now()
	at, err := o.w.WaitForPartner(ctx, projection, mpnID, pos)
	outcome := WaitReached
	if err != nil {
		outcome = WaitBehind
	}
	o.m.stages.waited.WithLabelValues(projection, outcome).Observe(time.Since(start).Seconds())
	return at, err
}
