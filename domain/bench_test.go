package domain

import (
	"testing"
)

// benchHistory is a Gold cloud partner with n incidents on one linked contract.
func benchHistory(b *testing.B, n int) *world {
	w, a := activated(b, goldCloud)
	w.link(uMember, a)
	for range n {
		w.must(cloud(uMember, "Azure"))
	}
	return w
}

func BenchmarkFold1000Incidents(b *testing.B) {
	w := benchHistory(b, 1000)
	b.ReportAllocs()
	for b.Loop() {
		Fold(w.events)
	}
}

func BenchmarkDecideOpenIncident(b *testing.B) {
	w := benchHistory(b, 100)
	cmd := onPrem(uMember, "SQL Server", "2025")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decide(w.s, cmd, w.rules, w.now, w.ids); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEvolveOnState100Incidents(b *testing.B) {
	w := benchHistory(b, 100)
	e := w.events[len(w.events)-1]
	b.ReportAllocs()
	for b.Loop() {
		Evolve(w.s, e)
	}
}

func BenchmarkEncodeDecodeIncidentOpened(b *testing.B) {
	w := benchHistory(b, 1)
	e := w.events[len(w.events)-1]
	b.ReportAllocs()
	for b.Loop() {
		typ, data, _ := Encode(e)
		if _, err := Decode(typ, data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeIncidentOpened is what reading history costs per event: /state as of
// an instant and every cold load decode each event of the partner's stream.
func BenchmarkDecodeIncidentOpened(b *testing.B) {
	w := benchHistory(b, 1)
	typ, data, err := Encode(w.events[len(w.events)-1])
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(typ, data); err != nil {
			b.Fatal(err)
		}
	}
}
