package domain

import (
	"encoding/json"
	"fmt"
	"slices"

	jsonv2 "github.com/go-json-experiment/json"
	jsonv1 "github.com/go-json-experiment/json/v1"
)

// decodeOptions read an event as encoding/json's Decoder with DisallowUnknownFields
// read it (the v1 semantics: names matched case-insensitively, the last of duplicate
// names wins, and so on), so that every event ever stored reads back the same. A field
// the struct does not know means the data is not what this type wrote; refusing beats
// silently dropping a fact. The v2 decoder needs no Decoder and buffer per call: history
// is read event by event, so a cold load or an as-of /state of a long history paid that
// per event (issue 10).
var decodeOptions = jsonv2.JoinOptions(jsonv1.DefaultOptionsV1(), jsonv2.RejectUnknownMembers(true))

// decoders maps every registered event type to its decoder.
var decoders = map[string]func([]byte) (Event, error){}

func register[T Event]() {
	var zero T
	decoders[zero.EventType()] = func(data []byte) (Event, error) {
		var e T
		if err := jsonv2.Unmarshal(data, &e, decodeOptions); err != nil {
			return nil, fmt.Errorf("decode %s: %w", zero.EventType(), err)
		}
		return e, nil
	}
}

func init() {
	register[PartnerEnrolled]()
	register[MembershipGranted]()
	register[MembershipEnded]()
	register[UserRegistered]()
	register[UserRolesChanged]()
	register[BenefitActivated]()
	register[ContractLinked]()
	register[IncidentOpened]()
	register[IncidentClosed]()
	register[SupportPlanPurchased]()
	register[RulesPublished]()
}

// EventTypes lists every registered event type, sorted.
func EventTypes() []string {
	types := make([]string, 0, len(decoders))
	for t := range decoders {
		types = append(types, t)
	}
	slices.Sort(types)
	return types
}

// Encode gives an event's type name and JSON data.
func Encode(e Event) (typ string, data []byte, err error) {
	if e == nil {
		return "", nil, fmt.Errorf("encode: nil event")
	}
	typ = e.EventType()
	if _, ok := decoders[typ]; !ok {
		return "", nil, fmt.Errorf("encode: event type %s (%T) is not registered", typ, e)
	}
	data, err = json.Marshal(e)
	if err != nil {
		return "", nil, fmt.Errorf("encode %s: %w", typ, err)
	}
	return typ, data, nil
}

// Decode reads an event back from its type name and JSON data; unknown types are errors.
func Decode(typ string, data []byte) (Event, error) {
	decode, ok := decoders[typ]
	if !ok {
		return nil, fmt.Errorf("decode: unknown event type %q", typ)
	}
	return decode(data)
}
