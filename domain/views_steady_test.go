package domain

import (
	"reflect"
	"testing"
	"time"
)

// An answer rendered from Contracts at one instant is served again until ContractsSteady's
// until (issue 10's answer cache): within [since, until) every contract keeps its status,
// and at each edge one changes, so the interval is neither too long nor too short.
func TestContractsSteadyIsExactlyWhereContractViewsStayTheSame(t *testing.T) {
	day := 24 * time.Hour
	one := 1
	p := Partner{MPNID: mpn, ContractByID: map[string]Contract{
		"a": {ContractID: "a", ValidFrom: t0, ValidUntil: t0.Add(365 * day), Pools: []Pool{{Kind: "product-support", Granted: &one}}},
		"b": {ContractID: "b", ValidFrom: t0.Add(30 * day), ValidUntil: t0.Add(60 * day), Pools: []Pool{{Kind: "product-support", Granted: &one, Used: 1}}},
	}}
	statuses := func(at time.Time) []ContractStatus {
		var out []ContractStatus
		for _, c := range p.Contracts(at) {
			out = append(out, c.Status)
		}
		return out
	}
	for _, tc := range []struct {
		at           time.Time
		since, until time.Time
	}{
		{t0.Add(-day), time.Time{}, t0},
		{t0, t0, t0.Add(30 * day)},
		{t0.Add(45 * day), t0.Add(30 * day), t0.Add(60 * day)},
		{t0.Add(100 * day), t0.Add(60 * day), t0.Add(365 * day)},
		{t0.Add(400 * day), t0.Add(365 * day), time.Time{}},
	} {
		since, until := p.ContractsSteady(tc.at)
		if !since.Equal(tc.since) || !until.Equal(tc.until) {
			t.Fatalf("at %s: steady [%s, %s), want [%s, %s)", tc.at, since, until, tc.since, tc.until)
		}
		want := statuses(tc.at)
		for _, x := range []time.Time{since, until.Add(-time.Nanosecond)} {
			if !x.IsZero() && x.Year() > 1 && !reflect.DeepEqual(statuses(x), want) {
				t.Fatalf("at %s: statuses %v, at %s within [%s, %s): %v", tc.at, want, x, since, until, statuses(x))
			}
		}
		for _, edge := range []time.Time{since.Add(-time.Nanosecond), until} {
			if !edge.IsZero() && edge.Year() > 1 && reflect.DeepEqual(statuses(edge), want) {
				t.Fatalf("at %s: statuses at the edge %s are still %v: the interval could be longer", tc.at, edge, want)
			}
		}
	}
}
