package domain

import (
	"encoding/json"
	"fmt"
	"slices"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// IncidentLog holds a partner's incidents in the order opened (Seq 1, 2, 3 ...). It is
// the one part of a Partner that grows with history, so it is persistent: a state made
// by Evolve shares every leaf of incidents but the one an event changes, and a change
// copies one leaf, one mid node and the short top list (one pointer per 1,024
// incidents) instead of every incident. That is what lets the command executor keep a
// partner's state and decide on it at a cost that does not grow with the number of
// incidents. The zero value is empty.
type IncidentLog struct {
	top []*incidentMid // shared between states: replaced, never modified in place
	n   int
	// A view's log (FoldSeqKeeping) holds only the incidents numbered base+1 to
	// base+keep: windowed is false in a state's log, which holds every incident from 1.
	windowed   bool
	base, keep int
}

// IncidentWindow is which incidents a view keeps: those numbered After+1 to After+Keep
// (a page of them, and the one after it that tells whether another page follows).
type IncidentWindow struct{ After, Keep int }

const (
	incidentLeafSize = 16
	incidentMidSize  = 64
	incidentsPerTop  = incidentLeafSize * incidentMidSize
)

type (
	incidentLeaf [incidentLeafSize]Incident
	incidentMid  [incidentMidSize]*incidentLeaf
)

// Len is the number of incidents held: every incident ever opened, in a state's log.
func (l IncidentLog) Len() int { return l.n }

// bySeq is the incident opened seq-th (1-based).
func (l IncidentLog) bySeq(seq int) (Incident, bool) {
	if seq <= l.base || seq > l.base+l.n {
		return Incident{}, false
	}
	i := seq - 1 - l.base
	return l.top[i/incidentsPerTop][i/incidentLeafSize%incidentMidSize][i%incidentLeafSize], true
}

// ByID finds an incident by its ID (IN-<mpnId>-<seq>).
func (l IncidentLog) ByID(incidentID string) (Incident, bool) {
	seq, ok := IncidentSeq(incidentID)
	if !ok {
		return Incident{}, false
	}
	in, ok := l.bySeq(seq)
	if !ok || in.IncidentID != incidentID {
		return Incident{}, false
	}
	return in, true
}

// All lists the incidents held in the order opened; the list is the caller's.
func (l IncidentLog) All() []Incident {
	out := make([]Incident, 0, l.n)
	for seq := l.base + 1; seq <= l.base+l.n; seq++ {
		in, _ := l.bySeq(seq)
		out = append(out, in)
	}
	return out
}

// put stores in as incident number in.Seq, which is at most Len()+1 (past the window's
// start in a view's log, whose incidents outside the window are dropped). Unless the
// log is owned by the caller (a fold building a state from scratch), the nodes on the
// way are copied first, so states sharing them stay as they were.
func (l *IncidentLog) put(in Incident, owned bool) {
	i := in.Seq - 1 - l.base
	if i < 0 || i > l.n || (l.windowed && i >= l.keep) {
		return
	}
	t, m, k := i/incidentsPerTop, i/incidentLeafSize%incidentMidSize, i%incidentLeafSize
	switch {
	case t == len(l.top) && owned:
		l.top = append(l.top, new(incidentMid))
	case t == len(l.top):
		l.top = append(slices.Clip(l.top), new(incidentMid))
	case !owned:
		l.top = slices.Clone(l.top)
		mid := *l.top[t]
		l.top[t] = &mid
	}
	mid := l.top[t]
	switch leaf := mid[m]; {
	case leaf == nil:
		mid[m] = new(incidentLeaf)
	case !owned:
		copied := *leaf
		mid[m] = &copied
	}
	mid[m][k] = in
	l.n = max(l.n, i+1)
}

// MarshalJSON writes the incidents as a list in the order opened (for snapshots).
func (l IncidentLog) MarshalJSON() ([]byte, error) { return json.Marshal(l.All()) }

// UnmarshalJSON reads the list MarshalJSON wrote.
func (l *IncidentLog) UnmarshalJSON(b []byte) error {
	var all []Incident
	if err := json.Unmarshal(b, &all); err != nil {
		return err
	}
	*l = IncidentLog{}
	for i, in := range all {
		in.Seq = i + 1
		l.put(in, true)
	}
	return nil
}

// MarshalJSONTo writes the list MarshalJSON writes, incident by incident, for the JSON
// v2 encoder: a snapshot of a long history is mostly this list, and MarshalJSON first
// copies every incident into a slice, then encoding/json scans its output once more.
func (l IncidentLog) MarshalJSONTo(enc *jsontext.Encoder) error {
	if err := enc.WriteToken(jsontext.BeginArray); err != nil {
		return err
	}
	for i := range l.n { // a pointer into the shared leaf: nothing is copied nor changed
		if err := jsonv2.MarshalEncode(enc, &l.top[i/incidentsPerTop][i/incidentLeafSize%incidentMidSize][i%incidentLeafSize]); err != nil {
			return err
		}
	}
	return enc.WriteToken(jsontext.EndArray)
}

// UnmarshalJSONFrom reads the list MarshalJSONTo wrote (as UnmarshalJSON does, null is
// the empty log), putting each incident in place without a slice of them all.
func (l *IncidentLog) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	tok, err := dec.ReadToken()
	if err != nil {
		return err
	}
	*l = IncidentLog{}
	switch tok.Kind() {
	case 'n':
		return nil
	case '[':
	default:
		return fmt.Errorf("incident log: want a list, got %v", tok.Kind())
	}
	for dec.PeekKind() != ']' {
		var in Incident
		if err := jsonv2.UnmarshalDecode(dec, &in); err != nil {
			return err
		}
		in.Seq = l.n + 1
		l.put(in, true)
	}
	_, err = dec.ReadToken()
	return err
}
