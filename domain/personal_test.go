package domain

import (
	"encoding/json"
	"slices"
	"testing"
)

// TestEveryStoredEventTypeDecidesItsPersonalData: each type that can be in a store
// says which members hold personal data (possibly none), and each one named is a
// string member of that type's JSON, so a new event type or a renamed member cannot
// slip personal data past crypto-shredding unnoticed.
func TestEveryStoredEventTypeDecidesItsPersonalData(t *testing.T) {
	for typ := range decoders {
		fields, ok := personalFields[typ]
		if !ok {
			t.Errorf("%s: no decision on its personal data in personalFields", typ)
			continue
		}
		var sample Event
		for _, e := range goldenSamples() {
			if slices.Contains(StoredTypesOf(e.EventType()), typ) {
				sample = e
			}
		}
		data, _ := json.Marshal(sample)
		var members map[string]any
		if err := json.Unmarshal(data, &members); err != nil {
			t.Fatal(err)
		}
		for _, f := range fields {
			if _, isString := members[f].(string); !isString {
				t.Errorf("%s: personal member %q is not a string member of its JSON", typ, f)
			}
		}
	}
	for typ := range personalFields {
		if _, ok := decoders[typ]; !ok {
			t.Errorf("personalFields names %s, which is no stored event type", typ)
		}
	}
}
