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

// decoders maps every event type that can be in a store (current and superseded) to
// its decoder; a superseded type's decoder upcasts, so it yields the current type.
var decoders = map[string]func([]byte) (Event, error){}

// current holds the types Encode writes: the newest version of each event.
var current = map[string]bool{}

// readAs maps each current type to the stored types read as it (itself included).
var readAs = map[string][]string{}

func register[T Event]() {
	var zero T
	typ := zero.EventType()
	decoders[typ] = func(data []byte) (Event, error) {
		var e T
		if err := jsonv2.Unmarshal(data, &e, decodeOptions); err != nil {
			return nil, fmt.Errorf("decode %s: %w", typ, err)
		}
		return e, nil
	}
	current[typ] = true
	readAs[typ] = append(readAs[typ], typ)
}

// registerUpcast makes a superseded stored type readable: its data decodes (strictly,
// as written) into Old, and up, a pure function, turns that into the current event.
// Every reader (commands, projections, rebuilds, history, as-of) goes through Decode,
// so none of them sees the old shape. When New is itself superseded later, register
// the new version's upcaster and compose: up(old) then the next one.
func registerUpcast[Old any, New Event](storedType string, up func(Old) New) {
	var zero New
	decoders[storedType] = func(data []byte) (Event, error) {
		var old Old
		if err := jsonv2.Unmarshal(data, &old, decodeOptions); err != nil {
			return nil, fmt.Errorf("decode %s: %w", storedType, err)
		}
		return up(old), nil
	}
	readAs[zero.EventType()] = append(readAs[zero.EventType()], storedType)
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
	registerUpcast("IncidentOpened.v1", upcastIncidentOpenedV1)
}

// EventTypes lists the current event types (the ones Encode writes), sorted.
func EventTypes() []string {
	types := make([]string, 0, len(current))
	for t := range current {
		types = append(types, t)
	}
	slices.Sort(types)
	return types
}

// StoredTypesOf lists the stored type names that Decode reads as the current type typ:
// typ itself and every superseded version of it. A reader that picks events by type
// name must pick all of them, or it would miss the events written before a change.
func StoredTypesOf(typ string) []string { return slices.Clone(readAs[typ]) }

// Encode gives an event's type name and JSON data.
func Encode(e Event) (typ string, data []byte, err error) {
	if e == nil {
		return "", nil, fmt.Errorf("encode: nil event")
	}
	typ = e.EventType()
	if !current[typ] {
		return "", nil, fmt.Errorf("encode: event type %s (%T) is not registered", typ, e)
	}
	data, err = json.Marshal(e)
	if err != nil {
		return "", nil, fmt.Errorf("encode %s: %w", typ, err)
	}
	if p, fields := currentPersonalData(), personalFields[typ]; p != nil && len(fields) > 0 {
		if data, err = p.Seal(typ, fields, data); err != nil {
			return "", nil, fmt.Errorf("encode %s: seal personal data: %w", typ, err)
		}
	}
	return typ, data, nil
}

// Decode reads an event back from its type name and JSON data as the current version of
// that event (upcasting a superseded version); unknown types are errors.
func Decode(typ string, data []byte) (Event, error) {
	decode, ok := decoders[typ]
	if !ok {
		return nil, fmt.Errorf("decode: unknown event type %q", typ)
	}
	if p, fields := currentPersonalData(), personalFields[typ]; p != nil && len(fields) > 0 {
		var err error
		if data, err = p.Open(typ, fields, data); err != nil {
			return nil, fmt.Errorf("decode %s: open personal data: %w", typ, err)
		}
	}
	return decode(data)
}
