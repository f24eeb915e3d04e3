package metrics

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"ledger/infra/eventstore"
	"ledger/projections"
)

// ProjectionStates reads every projection's checkpoint, status and dead letters from the
// read database (*projections.Checkpoints).
type ProjectionStates interface {
	States(ctx context.Context) ([]projections.State, error)
}

// ProjectionStats is what this process's runner did (*projections.Runner).
type ProjectionStats interface {
	Stats(name string) (projections.Stats, bool)
	Pins(name string) []string // per partition, the NATS pin this process holds ("" if none)
}

// ForwardedPosition is the forwarder's progress (*natsbus.Forwarder).
type ForwardedPosition interface {
	Forwarded() eventstore.Position
}

// Progress names what a process can report on; nil parts are left out, so an API-only
// process reports checkpoints but no forwarder, a forwarder no projections.
type Progress struct {
	Log         EventLog          // required: the source of truth lag is measured against
	Projections ProjectionStates  // checkpoints, lag, status, dead letters
	Runner      ProjectionStats   // this process's applied/skipped/backfilled counts
	Forwarder   ForwardedPosition // this process's forwarder
	// Timeout bounds the reads of one scrape; 3 s when zero.
	Timeout time.Duration
}

// WatchProgress registers a collector that reads p at every scrape. Call it once.
func (m *Metrics) WatchProgress(p Progress) error {
	if p.Log == nil {
		return fmt.Errorf("metrics: Progress.Log is required")
	}
	if p.Timeout <= 0 {
		p.Timeout = 3 * time.Second
	}
	return m.reg.Register(&progressCollector{p: p})
}

var (
	descHead = prometheus.NewDesc(namespace+"_event_store_head_position",
		"Commit position of the last event in the global log.", nil, nil)
	descForwarded = prometheus.NewDesc(namespace+"_forwarder_position",
		"Commit position of the last event this forwarder published to JetStream and saw acknowledged.", nil, nil)
	descForwarderLagEvents = prometheus.NewDesc(namespace+"_forwarder_lag_events",
		fmt.Sprintf("Events in the store not yet published by this forwarder (at most %d).", MaxLagEvents), nil, nil)
	descForwarderLagSeconds = prometheus.NewDesc(namespace+"_forwarder_lag_seconds",
		"Age of the oldest event not yet published by this forwarder; 0 when caught up.", nil, nil)
	descCheckpoint = prometheus.NewDesc(namespace+"_projection_checkpoint_position",
		"Commit position of the last event the projection's live generation applied.", []string{"projection"}, nil)
	descProjLagEvents = prometheus.NewDesc(namespace+"_projection_lag_events",
		fmt.Sprintf("Events in the store after the projection's checkpoint (at most %d).", MaxLagEvents), []string{"projection"}, nil)
	descProjLagSeconds = prometheus.NewDesc(namespace+"_projection_lag_seconds",
		"Age of the oldest event the projection has not applied; 0 when caught up.", []string{"projection"}, nil)
	descDeadLetters = prometheus.NewDesc(namespace+"_projection_dead_letters",
		"Events the projection's live generation could not apply and recorded in dead_letters.", []string{"projection"}, nil)
	descStatus = prometheus.NewDesc(namespace+"_projection_status",
		"1 for the projection's current status (live, degraded, rebuilding, failed).", []string{"projection", "status"}, nil)
	descApplied = prometheus.NewDesc(namespace+"_projection_events_applied_total",
		"Events this process's runner committed into the projection (backfilled ones included).", []string{"projection"}, nil)
	descSkipped = prometheus.NewDesc(namespace+"_projection_events_skipped_total",
		"Deliveries this process's runner skipped as at or below the checkpoint (redeliveries).", []string{"projection"}, nil)
	descBackfilled = prometheus.NewDesc(namespace+"_projection_events_backfilled_total",
		"Events this process's runner read from the store to close a gap in the chain.", []string{"projection"}, nil)
	descDeadLettered = prometheus.NewDesc(namespace+"_projection_events_dead_lettered_total",
		"Events this process's runner sent to dead_letters.", []string{"projection"}, nil)
	descPartitionApplied = prometheus.NewDesc(namespace+"_projection_partition_events_applied_total",
		"Events this process's runner committed into one partition of the projection.", []string{"projection", "partition"}, nil)
	descPartitionHeld = prometheus.NewDesc(namespace+"_projection_partition_held",
		"1 while NATS has pinned the partition's consumer to this process (it applies the partition), else 0.",
		[]string{"projection", "partition"}, nil)
)

var allStatuses = []projections.Status{projections.StatusLive, projections.StatusDegraded,
	projections.StatusRebuilding, projections.StatusFailed}

type progressCollector struct {
	p Progress
}

func (c *progressCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descHead, descForwarded, descForwarderLagEvents, descForwarderLagSeconds,
		descCheckpoint, descProjLagEvents, descProjLagSeconds, descDeadLetters, descStatus,
		descApplied, descSkipped, descBackfilled, descDeadLettered, descPartitionApplied, descPartitionHeld} {
		ch <- d
	}
}

// Collect reads the head, the forwarder's position and every checkpoint, then the log
// once after the earliest of them. A part that fails is reported as an invalid metric
// (logged by the handler) and the others are still served.
func (c *progressCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.p.Timeout)
	defer cancel()
	now := time.Now()

	head, err := c.p.Log.Head(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(descHead, fmt.Errorf("event store head: %w", err))
		return
	}
	ch <- gauge(descHead, float64(head.Commit))

	var states []projections.State
	if c.p.Projections != nil {
		if states, err = c.p.Projections.States(ctx); err != nil {
			ch <- prometheus.NewInvalidMetric(descCheckpoint, fmt.Errorf("projection states: %w", err))
			states = nil
		}
	}
	positions := make([]eventstore.Position, 0, len(states)+1)
	for _, st := range states {
		positions = append(positions, st.Checkpoint)
	}
	if c.p.Forwarder != nil {
		positions = append(positions, c.p.Forwarder.Forwarded())
	}
	lags, err := lagsBehind(ctx, c.p.Log, positions)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(descProjLagEvents, fmt.Errorf("reading the log for lag: %w", err))
		lags = nil
	}

	for i, st := range states {
		c.collectProjection(ch, st, lagAt(lags, i), now)
	}
	if c.p.Forwarder != nil {
		fl := lagAt(lags, len(positions)-1)
		ch <- gauge(descForwarded, float64(positions[len(positions)-1].Commit))
		if fl != nil {
			ch <- gauge(descForwarderLagEvents, float64(fl.events))
			ch <- gauge(descForwarderLagSeconds, fl.seconds(now))
		}
	}
}

func (c *progressCollector) collectProjection(ch chan<- prometheus.Metric, st projections.State, l *lag, now time.Time) {
	ch <- gauge(descCheckpoint, float64(st.Checkpoint.Commit), st.Name)
	ch <- gauge(descDeadLetters, float64(st.DeadLetters), st.Name)
	for _, s := range allStatuses {
		v := 0.0
		if st.Status == s {
			v = 1
		}
		ch <- gauge(descStatus, v, st.Name, string(s))
	}
	if l != nil {
		ch <- gauge(descProjLagEvents, float64(l.events), st.Name)
		ch <- gauge(descProjLagSeconds, l.seconds(now), st.Name)
	}
	if c.p.Runner == nil {
		return
	}
	if s, ok := c.p.Runner.Stats(st.Name); ok {
		ch <- counter(descApplied, float64(s.Applied), st.Name)
		ch <- counter(descSkipped, float64(s.Skipped), st.Name)
		ch <- counter(descBackfilled, float64(s.Backfilled), st.Name)
		ch <- counter(descDeadLettered, float64(s.DeadLettered), st.Name)
		for k, n := range s.AppliedByPartition {
			ch <- counter(descPartitionApplied, float64(n), st.Name, strconv.Itoa(k))
		}
	}
	for k, pin := range c.p.Runner.Pins(st.Name) {
		held := 0.0
		if pin != "" {
			held = 1
		}
		ch <- gauge(descPartitionHeld, held, st.Name, strconv.Itoa(k))
	}
}

func lagAt(lags []lag, i int) *lag {
	if i < 0 || i >= len(lags) {
		return nil
	}
	return &lags[i]
}

func gauge(d *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func counter(d *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
}
