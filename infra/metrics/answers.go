package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"ledger/projections"
)

// KeptAnswers is a read model's cache of encoded answers (*projections.AnswerCache).
type KeptAnswers interface {
	Stats() projections.AnswerCacheStats
}

// WatchAnswers registers a collector that reads a's counts at every scrape: how often a
// query was served a kept answer, how often it read the rows, and what is kept. Call it
// once, on a process that serves queries.
func (m *Metrics) WatchAnswers(a KeptAnswers) error {
	return m.reg.Register(answersCollector{a})
}

var (
	descAnswerHits = prometheus.NewDesc(namespace+"_answer_cache_hits_total",
		"Remaining-incidents queries served an answer kept since an earlier read (no SQL).", nil, nil)
	descAnswerMisses = prometheus.NewDesc(namespace+"_answer_cache_misses_total",
		"Remaining-incidents queries that read the rows: no answer kept, or the kept one retired by a commit, the clock or its age.", nil, nil)
	descAnswersKept = prometheus.NewDesc(namespace+"_answer_cache_answers",
		"Partners whose remaining-incidents answers are kept.", nil, nil)
	descAnswerBytes = prometheus.NewDesc(namespace+"_answer_cache_bytes",
		"Bytes the kept answers count against --answer-cache-mib.", nil, nil)
)

type answersCollector struct{ a KeptAnswers }

func (c answersCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descAnswerHits, descAnswerMisses, descAnswersKept, descAnswerBytes} {
		ch <- d
	}
}

func (c answersCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.a.Stats()
	ch <- counter(descAnswerHits, float64(st.Hits))
	ch <- counter(descAnswerMisses, float64(st.Misses))
	ch <- gauge(descAnswersKept, float64(st.Answers))
	ch <- gauge(descAnswerBytes, float64(st.Bytes))
}
