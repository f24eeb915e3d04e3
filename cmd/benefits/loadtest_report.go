package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// A series is one kind of request of a run (setup, open-incident, query@1000, ...): how
// many were sent, how many answered 2xx, the others by status, and the latency of the
// 2xx answers. Latencies go into an HDR histogram (1 µs to 10 min, 3 significant digits):
// its memory is fixed whatever --duration is, and its p99.9 is exact to 0.1%, finer than
// the run-to-run noise of any machine; exact sorted percentiles would keep every sample.
type series struct {
	name    string
	history int  // the partner's event count, history scenario only
	derived bool // not requests but what they showed ("visible"): no server answer of its own

	mu       sync.Mutex
	started  time.Time
	ended    time.Time
	count    int
	ok       int
	errors   map[string]int
	latency  *hdrhistogram.Histogram
	overflow int // latencies beyond the histogram's range, counted at its maximum
}

const (
	histMinMicros = 1
	histMaxMicros = int64(10 * time.Minute / time.Microsecond)
	histSigDigits = 3
)

func newSeries(name string) *series {
	return &series{name: name, errors: map[string]int{},
		latency: hdrhistogram.New(histMinMicros, histMaxMicros, histSigDigits)}
}

// Error labels of requests that got no HTTP answer.
const (
	errTimeout   = "timeout"
	errTransport = "transport"
	errCanceled  = "canceled"
)

// record counts one request sent at start: status is the HTTP status, or 0 with label
// naming why no answer came.
func (s *series) record(start time.Time, status int, label string) {
	end := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.count == 0 || start.Before(s.started) {
		s.started = start
	}
	if end.After(s.ended) {
		s.ended = end
	}
	s.count++
	switch {
	case status >= 200 && status < 300:
		s.ok++
		us := max(end.Sub(start).Microseconds(), histMinMicros)
		if us > histMaxMicros {
			s.overflow++
			us = histMaxMicros
		}
		_ = s.latency.RecordValue(us) // in range by construction
	case status != 0:
		s.errors[fmt.Sprint(status)]++
	default:
		s.errors[label]++
	}
}

// SeriesReport is one series in the report.
type SeriesReport struct {
	Name string `json:"name"`
	// HistoryEvents is the partner's event count the series was measured at (history).
	HistoryEvents int `json:"historyEvents,omitempty"`
	// Count is every request sent: OK plus the sum of Errors.
	Count int `json:"count"`
	OK    int `json:"ok"`
	// Errors counts the other answers by HTTP status ("503") or, without an answer, by
	// cause ("timeout", "transport", "canceled").
	Errors map[string]int `json:"errors"`
	// Seconds is from the first request sent to the last answer received.
	Seconds float64 `json:"seconds"`
	// Throughput is 2xx answers per second over Seconds.
	Throughput float64 `json:"throughputPerSecond"`
	// Latency of the 2xx answers, in milliseconds.
	Latency LatencyReport `json:"latencyMs"`
}

// LatencyReport holds percentiles in milliseconds.
type LatencyReport struct {
	P50  float64 `json:"p50"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
}

func (s *series) report() SeriesReport {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := SeriesReport{Name: s.name, HistoryEvents: s.history, Count: s.count, OK: s.ok, Errors: maps.Clone(s.errors)}
	if s.count > 0 {
		r.Seconds = s.ended.Sub(s.started).Seconds()
	}
	if r.Seconds > 0 {
		r.Throughput = float64(s.ok) / r.Seconds
	}
	ms := func(us int64) float64 { return float64(us) / 1000 }
	if s.ok > 0 {
		r.Latency = LatencyReport{P50: ms(s.latency.ValueAtQuantile(50)), P99: ms(s.latency.ValueAtQuantile(99)),
			P999: ms(s.latency.ValueAtQuantile(99.9)), Max: ms(s.latency.Max())}
	}
	return r
}

// Report is what a run prints.
type Report struct {
	Scenario string `json:"scenario"`
	Target   string `json:"target"`
	Clients  int    `json:"clients,omitempty"`
	Partners int    `json:"partners"`
	// OfferedRate is the requests per second of the open-loop scenarios (visibility,
	// offered, offered-queries).
	OfferedRate float64 `json:"offeredRatePerSecond,omitempty"`
	// ServerMaxRSSBytes is the highest process_resident_memory_bytes the target's
	// /metrics showed, scraped once a second during the run (0: not available).
	ServerMaxRSSBytes float64 `json:"serverMaxRssBytes,omitempty"`
	// ServerCPUSeconds is the CPU time (process_cpu_seconds_total) the target used from
	// the end of setup to the end of the run (0: not available); ServerCPUPerAnswer
	// divides it by the answers (2xx) of the measured series.
	ServerCPUSeconds   float64        `json:"serverCpuSeconds,omitempty"`
	ServerCPUPerAnswer float64        `json:"serverCpuMicrosecondsPerAnswer,omitempty"`
	Series             []SeriesReport `json:"series"`
}

func (r Report) writeJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func (r Report) writeTable(w io.Writer) error {
	fmt.Fprintf(w, "scenario %s  target %s  partners %d", r.Scenario, r.Target, r.Partners)
	if r.Clients > 0 {
		fmt.Fprintf(w, "  clients %d", r.Clients)
	}
	if r.OfferedRate > 0 {
		fmt.Fprintf(w, "  offered %.0f/s", r.OfferedRate)
	}
	if r.ServerMaxRSSBytes > 0 {
		fmt.Fprintf(w, "  server max RSS %.0f MiB", r.ServerMaxRSSBytes/(1<<20))
	}
	if r.ServerCPUSeconds > 0 {
		fmt.Fprintf(w, "  server CPU %.1f s (%.0f µs per answer)", r.ServerCPUSeconds, r.ServerCPUPerAnswer)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "series\tcount\tok\terrors\tseconds\tok/s\tp50 ms\tp99 ms\tp99.9 ms\tmax ms\t")
	for _, s := range r.Series {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%.1f\t%.1f\t%.2f\t%.2f\t%.2f\t%.2f\t\n", s.Name, s.Count, s.OK, errorList(s.Errors),
			s.Seconds, s.Throughput, s.Latency.P50, s.Latency.P99, s.Latency.P999, s.Latency.Max)
	}
	return tw.Flush()
}

// errorList is "503:12 timeout:3", or "-" when there were none.
func errorList(errs map[string]int) string {
	if len(errs) == 0 {
		return "-"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(errs)) {
		parts = append(parts, fmt.Sprintf("%s:%d", k, errs[k]))
	}
	return strings.Join(parts, " ")
}
