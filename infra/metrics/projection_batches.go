package metrics

import (
	"context"
	"time"

	"github.com/uptrace/bun"

	"ledger/infra/eventstore"
	"ledger/projections"
)

// observedProjection is a projection whose Apply records its batch size and duration;
// its name, version, tables and Create are the wrapped projection's own, so the runner,
// its checkpoints and rebuilds see no difference.
type observedProjection struct {
	projections.Projection
	m *Metrics
}

// ObserveProjections wraps each projection so that the runner's batches are measured.
func (m *Metrics) ObserveProjections(ps ...projections.Projection) []projections.Projection {
	out := make([]projections.Projection, len(ps))
	for i, p := range ps {
		out[i] = observedProjection{Projection: p, m: m}
	}
	return out
}

func (o observedProjection) Apply(ctx context.Context, tx bun.Tx, t projections.Tables, batch []eventstore.RecordedEvent) error {
	start := time.Now()
	err := o.Projection.Apply(ctx, tx, t, batch)
	if err == nil {
		name := o.Name()
		o.m.batchSize.WithLabelValues(name).Observe(float64(len(batch)))
		o.m.batchDuration.WithLabelValues(name).Observe(time.Since(start).Seconds())
	}
	return err
}
