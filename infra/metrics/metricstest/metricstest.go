// Package metricstest reads a /metrics page the way Prometheus does, for tests that
// assert what a scrape shows after some traffic.
package metricstest

import (
	"fmt"
	"io"
	"net/http"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Page is one parsed scrape: metric families by name.
type Page map[string]*dto.MetricFamily

// Parse reads the Prometheus text exposition format.
func Parse(r io.Reader) (Page, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parse metrics: %w", err)
	}
	return Page(fams), nil
}

// Scrape GETs url (a /metrics endpoint) and parses it.
func Scrape(client *http.Client, url string) (Page, error) {
	resp, err := client.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("GET %s: %s: %s", url, resp.Status, body)
	}
	return Parse(resp.Body)
}

// Labels select series by label values; a series matches if it has every pair.
type Labels map[string]string

// Value is the value of the one series of family name matching labels: a counter's or
// gauge's value, a histogram's sample count. ok is false if none matches; more than one
// match is summed (so Labels{} totals a family).
func (p Page) Value(name string, labels Labels) (v float64, ok bool) {
	fam := p[name]
	if fam == nil {
		return 0, false
	}
	for _, m := range fam.GetMetric() {
		if !matches(m, labels) {
			continue
		}
		ok = true
		switch {
		case m.Counter != nil:
			v += m.Counter.GetValue()
		case m.Gauge != nil:
			v += m.Gauge.GetValue()
		case m.Histogram != nil:
			v += float64(m.Histogram.GetSampleCount())
		case m.Untyped != nil:
			v += m.Untyped.GetValue()
		}
	}
	return v, ok
}

// HistogramSum is the sum of observations of the matching histogram series.
func (p Page) HistogramSum(name string, labels Labels) (float64, bool) {
	fam := p[name]
	if fam == nil {
		return 0, false
	}
	var sum float64
	var ok bool
	for _, m := range fam.GetMetric() {
		if m.Histogram != nil && matches(m, labels) {
			sum += m.Histogram.GetSampleSum()
			ok = true
		}
	}
	return sum, ok
}

// LabelValues lists the values label takes across family name's series.
func (p Page) LabelValues(name, label string) []string {
	var out []string
	if fam := p[name]; fam != nil {
		for _, m := range fam.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label {
					out = append(out, l.GetValue())
				}
			}
		}
	}
	return out
}

func matches(m *dto.Metric, want Labels) bool {
	have := map[string]string{}
	for _, l := range m.GetLabel() {
		have[l.GetName()] = l.GetValue()
	}
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

// String lists the family names, for failure messages.
func (p Page) String() string {
	names := make([]string, 0, len(p))
	for n := range p {
		names = append(names, n)
	}
	return strings.Join(names, ", ")
}
