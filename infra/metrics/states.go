package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"ledger/infra/commands"
)

// KeptStates is the command executor's cache of partner states (*commands.Executor).
type KeptStates interface {
	StateCacheStats() commands.StateCacheStats
}

// WatchStates registers a collector that reads s's counts at every scrape: how many
// partner states are kept and the bytes they are estimated at, how often a command or
// query found its state kept, and how many were evicted. Call it once, on a process
// that runs commands.
func (m *Metrics) WatchStates(s KeptStates) error {
	return m.reg.Register(statesCollector{s})
}

var (
	descStateHits = prometheus.NewDesc(namespace+"_state_cache_hits_total",
		"Commands and queries that found their partner's state kept by the command executor.", nil, nil)
	descStateMisses = prometheus.NewDesc(namespace+"_state_cache_misses_total",
		"Commands and queries that read their partner's state from its snapshot and the event store.", nil, nil)
	descStateEvictions = prometheus.NewDesc(namespace+"_state_cache_evictions_total",
		"Partner states dropped to keep within --state-cache-size and --state-cache-mib, or not kept for being larger than --state-cache-mib.", nil, nil)
	descStatesKept = prometheus.NewDesc(namespace+"_state_cache_states",
		"Partner states the command executor keeps.", nil, nil)
	descStateBytes = prometheus.NewDesc(namespace+"_state_cache_bytes",
		"Estimated bytes of the kept partner states, counted against --state-cache-mib.", nil, nil)
)

type statesCollector struct{ s KeptStates }

func (c statesCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descStateHits, descStateMisses, descStateEvictions, descStatesKept, descStateBytes} {
		ch <- d
	}
}

func (c statesCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.StateCacheStats()
	ch <- counter(descStateHits, float64(st.Hits))
	ch <- counter(descStateMisses, float64(st.Misses))
	ch <- counter(descStateEvictions, float64(st.Evictions))
	ch <- gauge(descStatesKept, float64(st.States))
	ch <- gauge(descStateBytes, float64(st.Bytes))
}
