package domain

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// A log is written (for snapshots) as the list of its incidents in the order opened;
// a deciding log as an object, {"mpnId", "openers", "incidents"}, whose list holds a
// compacted incident as a number, a few bytes instead of a few hundred: its opener's
// place in openers when closed, that place's complement (-1-place) while open; and an
// incident of an unusual ID whole. Reading either gives back a log of the same kind.

// keptLogJSON is the object a deciding log is written as, for encoding/json; Incidents
// holds *Incident or int32 (writing) and json.RawMessage (reading).
type keptLogJSON[T any] struct {
	MPNID     string   `json:"mpnId"`
	Openers   []string `json:"openers"`
	Incidents []T      `json:"incidents"`
}

// MarshalJSON writes the log as MarshalJSONTo does.
func (l IncidentLog) MarshalJSON() ([]byte, error) {
	if !l.deciding {
		return json.Marshal(l.All())
	}
	out := keptLogJSON[any]{MPNID: l.mpn, Openers: l.openers, Incidents: make([]any, l.kept.n)}
	for i := range l.kept.n {
		if k := l.kept.at(i); k.whole != nil {
			out.Incidents[i] = k.whole
		} else {
			out.Incidents[i] = k.written()
		}
	}
	return json.Marshal(out)
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (l *IncidentLog) UnmarshalJSON(b []byte) error {
	*l = IncidentLog{}
	if b = bytes.TrimSpace(b); len(b) > 0 && b[0] == '{' {
		var in keptLogJSON[json.RawMessage]
		if err := json.Unmarshal(b, &in); err != nil {
			return err
		}
		l.deciding, l.mpn, l.openers = true, in.MPNID, in.Openers
		for i, raw := range in.Incidents {
			if raw[0] != '{' {
				var written int32
				if err := json.Unmarshal(raw, &written); err != nil {
					return fmt.Errorf("incident log: incident %d: %w", i+1, err)
				}
				l.kept.set(i, compacted(written), true)
				continue
			}
			var whole Incident
			if err := json.Unmarshal(raw, &whole); err != nil {
				return err
			}
			whole.Seq = i + 1
			l.put(whole, true)
		}
		return l.checkOpeners()
	}
	var all []Incident
	if err := json.Unmarshal(b, &all); err != nil {
		return err
	}
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
	if l.deciding {
		return l.marshalKeptTo(enc)
	}
	if err := enc.WriteToken(jsontext.BeginArray); err != nil {
		return err
	}
	for i := range l.whole.n { // a pointer into the shared leaf: nothing is copied nor changed
		if err := jsonv2.MarshalEncode(enc, l.whole.at(i)); err != nil {
			return err
		}
	}
	return enc.WriteToken(jsontext.EndArray)
}

func (l IncidentLog) marshalKeptTo(enc *jsontext.Encoder) error {
	err := writeTokens(enc, jsontext.BeginObject, jsontext.String("mpnId"), jsontext.String(l.mpn), jsontext.String("openers"))
	if err == nil {
		err = jsonv2.MarshalEncode(enc, l.openers)
	}
	if err == nil {
		err = writeTokens(enc, jsontext.String("incidents"), jsontext.BeginArray)
	}
	for i := 0; i < l.kept.n && err == nil; i++ {
		if k := l.kept.at(i); k.whole != nil {
			err = jsonv2.MarshalEncode(enc, k.whole)
		} else {
			err = enc.WriteToken(jsontext.Int(int64(k.written())))
		}
	}
	if err != nil {
		return err
	}
	return writeTokens(enc, jsontext.EndArray, jsontext.EndObject)
}

func writeTokens(enc *jsontext.Encoder, tokens ...jsontext.Token) error {
	for _, t := range tokens {
		if err := enc.WriteToken(t); err != nil {
			return err
		}
	}
	return nil
}

// UnmarshalJSONFrom reads what MarshalJSONTo wrote (as UnmarshalJSON does, null is the
// empty log), putting each incident in place without a slice of them all.
func (l *IncidentLog) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	*l = IncidentLog{}
	switch dec.PeekKind() {
	case 'n':
		_, err := dec.ReadToken()
		return err
	case '{':
		return l.unmarshalKeptFrom(dec)
	case '[':
	default:
		return fmt.Errorf("incident log: want a list or an object, got %v", dec.PeekKind())
	}
	if _, err := dec.ReadToken(); err != nil {
		return err
	}
	for dec.PeekKind() != ']' {
		var in Incident
		if err := jsonv2.UnmarshalDecode(dec, &in); err != nil {
			return err
		}
		in.Seq = l.whole.n + 1
		l.put(in, true)
	}
	_, err := dec.ReadToken()
	return err
}

func (l *IncidentLog) unmarshalKeptFrom(dec *jsontext.Decoder) error {
	l.deciding = true
	if _, err := dec.ReadToken(); err != nil {
		return err
	}
	for dec.PeekKind() != '}' {
		name, err := dec.ReadToken()
		if err != nil {
			return err
		}
		switch name.String() {
		case "mpnId":
			err = jsonv2.UnmarshalDecode(dec, &l.mpn)
		case "openers":
			err = jsonv2.UnmarshalDecode(dec, &l.openers)
		case "incidents":
			err = l.unmarshalKeptList(dec)
		default:
			err = dec.SkipValue()
		}
		if err != nil {
			return err
		}
	}
	if _, err := dec.ReadToken(); err != nil {
		return err
	}
	return l.checkOpeners()
}

func (l *IncidentLog) unmarshalKeptList(dec *jsontext.Decoder) error {
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '[' {
		return fmt.Errorf("incident log: want a list of incidents: %v", err)
	}
	for dec.PeekKind() != ']' {
		if err := l.readKept(dec); err != nil {
			return err
		}
	}
	_, err := dec.ReadToken()
	return err
}

// readKept reads the next incident of a deciding log: a compacted one (a number) or
// an incident.
func (l *IncidentLog) readKept(dec *jsontext.Decoder) error {
	i := l.kept.n
	if dec.PeekKind() == '0' { // read as a token: decoding into an int32 cost a third of a snapshot's read
		tok, err := dec.ReadToken()
		if err != nil {
			return err
		}
		written, err := tok.Int()
		if err != nil || written > math.MaxInt32 || written < math.MinInt32 {
			return fmt.Errorf("incident log: incident %d: opener %v: %w", i+1, tok, err)
		}
		l.kept.set(i, compacted(int32(written)), true)
		return nil
	}
	var in Incident
	if err := jsonv2.UnmarshalDecode(dec, &in); err != nil {
		return err
	}
	in.Seq = i + 1
	l.put(in, true)
	return nil
}

// written is the number a compacted incident is written as: its opener's place once
// closed, the place's complement (-1-place) while open.
func (k keptIncident) written() int32 {
	if k.open {
		return ^k.opener
	}
	return k.opener
}

// compacted is the incident written as w.
func compacted(w int32) keptIncident {
	if w < 0 {
		return keptIncident{opener: ^w, open: true}
	}
	return keptIncident{opener: w}
}

// checkOpeners: every compacted incident names an opener the log holds.
func (l *IncidentLog) checkOpeners() error {
	for i := range l.kept.n {
		if k := l.kept.at(i); k.whole == nil && (k.opener < 0 || int(k.opener) >= len(l.openers)) {
			return fmt.Errorf("incident log: incident %d names opener %d of %d", i+1, k.opener, len(l.openers))
		}
	}
	return nil
}
