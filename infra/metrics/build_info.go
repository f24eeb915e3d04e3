package metrics

import (
	"runtime"

	"github.com/prometheus/client_golang/prometheus"
)

// RegisterBuildInfo adds benefits_build_info{version,goversion} 1, so a dashboard can
// tell which build each process runs (and spot a half-finished roll-out).
func (m *Metrics) RegisterBuildInfo(version string) error {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Name: "build_info",
		Help:        "Always 1; the labels say which build this process runs.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": runtime.Version()},
	})
	g.Set(1)
	return m.reg.Register(g)
}
