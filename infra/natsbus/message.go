package natsbus

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	jsonv1 "github.com/go-json-experiment/json/v1"
	"github.com/nats-io/nats.go"

	"ledger/infra/eventstore"
	"ledger/infra/partition"
)

// Headers of a forwarded event. Position and PreviousPosition form the chain a
// projector checks: a message whose previous position is not the projector's
// checkpoint means events went missing in between (retention, a deleted message), and
// the projector backfills them from the event store.
const (
	HeaderPosition         = "Ledger-Position"
	HeaderPreviousPosition = "Ledger-Previous-Position"
	HeaderStream           = "Ledger-Stream"
	HeaderRevision         = "Ledger-Revision"
	HeaderEventType        = "Ledger-Event-Type"
	// HeaderPartition is "<k>/<n>": the event is in partition k of n (partition.Of its
	// stream's key), and HeaderPartitionPrevious the position of the event before it in
	// that partition, or a later position that is still before it (see Forwarder).
	HeaderPartition         = "Ledger-Partition-Of"
	HeaderPartitionPrevious = "Ledger-Partition-Previous-Position"
	// HeaderPartitionHeads is, when there are several partitions, every partition's last
	// event as of this one (partition.Heads, in its String form): with it, whoever has
	// applied this event knows how far each other partition must have got to hold every
	// event up to here (read-your-writes across partitions).
	HeaderPartitionHeads = "Ledger-Partition-Heads"
	// legacyHeaderPartition is HeaderPartition as the previous release wrote it, with
	// the partner's ID in the subject (PartitionSubject). It was renamed so that a
	// projector of that release, whose filters miss the new subjects, reads new events as
	// of one partition, not of its own count: it then never raises an idle partition's
	// checkpoint past events it cannot see. Decode still reads it.
	legacyHeaderPartition = "Ledger-Partition"
)

// PartitionLink places an event in its partition: which one of how many, and the
// position of the partition's event before it (an upper bound of it: a projector
// applying the partition treats every event of the partition at or below it as a
// predecessor, so a bound too high costs a read of the store, never a skipped event).
type PartitionLink struct {
	Partition, Of int
	Previous      eventstore.Position
	// Heads is every partition's last event as of this one; nil in one partition, and
	// on messages of releases before it.
	Heads partition.Heads
}

// Envelope is one forwarded event as a consumer sees it.
type Envelope struct {
	Event    eventstore.RecordedEvent
	Previous eventstore.Position // position of the event before it in the global log
	Part     PartitionLink       // its partition and the chain within it
}

// wireEvent is the message body. Data and metadata travel as JSON when they are JSON
// (they should be: the store takes JSON) and as base64 otherwise, so a malformed event
// still reaches the projector, which dead-letters it, instead of stalling the forwarder.
type wireEvent struct {
	ID            string              `json:"id"`
	Stream        string              `json:"stream"`
	Revision      uint64              `json:"revision"`
	Position      eventstore.Position `json:"position"`
	Type          string              `json:"type"`
	Data          json.RawMessage     `json:"data,omitempty"`
	DataBytes     []byte              `json:"dataBase64,omitempty"`
	Metadata      json.RawMessage     `json:"metadata,omitempty"`
	MetadataBytes []byte              `json:"metadataBase64,omitempty"`
	RecordedAt    time.Time           `json:"recordedAt"`
}

// ErrNotAnEvent: a message on the events subjects that the forwarder did not write.
var ErrNotAnEvent = errors.New("not a ledger event message")

// MsgID is the Nats-Msg-Id of ev: its position in the global log, which names one event
// in every store. Not the event ID: EventStoreDB lets two streams hold the same event ID
// (it checks ids only within a stream), and JetStream would drop the second event as a
// duplicate of the first.
func MsgID(ev eventstore.RecordedEvent) string { return ev.Position.String() }

// NewMsg builds the message for ev, whose predecessor in the global log is prev, on its
// partition's subject. Nats-Msg-Id is MsgID, so JetStream stores a re-published event
// once.
func NewMsg(ev eventstore.RecordedEvent, prev eventstore.Position, part PartitionLink) (*nats.Msg, error) {
	w := wireEvent{ID: ev.ID, Stream: ev.Stream, Revision: ev.Revision, Position: ev.Position,
		Type: ev.Type, RecordedAt: ev.RecordedAt}
	// Marshal validates a RawMessage as it copies it: valid JSON (every event the store
	// took, in practice) is scanned once, and only a refusal pays for telling which part
	// must travel as base64.
	w.Data, w.Metadata = rawOrNil(ev.Data), rawOrNil(ev.Metadata)
	body, err := json.Marshal(w)
	if err != nil {
		w.Data, w.DataBytes = jsonOrBytes(ev.Data)
		w.Metadata, w.MetadataBytes = jsonOrBytes(ev.Metadata)
		if body, err = json.Marshal(w); err != nil {
			return nil, fmt.Errorf("encode event %s: %w", ev.ID, err)
		}
	}
	msg := nats.NewMsg(PartitionSubject(ev.Stream, part.Partition, part.Of))
	msg.Data = body
	msg.Header.Set(nats.MsgIdHdr, MsgID(ev))
	msg.Header.Set(HeaderPosition, ev.Position.String())
	msg.Header.Set(HeaderPreviousPosition, prev.String())
	msg.Header.Set(HeaderStream, ev.Stream)
	msg.Header.Set(HeaderRevision, strconv.FormatUint(ev.Revision, 10))
	msg.Header.Set(HeaderEventType, ev.Type)
	msg.Header.Set(HeaderPartition, strconv.Itoa(part.Partition)+"/"+strconv.Itoa(part.Of))
	msg.Header.Set(HeaderPartitionPrevious, part.Previous.String())
	if len(part.Heads) > 0 {
		msg.Header.Set(HeaderPartitionHeads, part.Heads.String())
	}
	return msg, nil
}

func rawOrNil(b []byte) json.RawMessage {
	if len(b) == 0 {
		return nil
	}
	return b
}

func jsonOrBytes(b []byte) (json.RawMessage, []byte) {
	if len(b) == 0 {
		return nil, nil
	}
	if json.Valid(b) {
		return json.RawMessage(b), nil
	}
	return nil, b
}

// wireDecoding reads a body as encoding/json's Unmarshal read it (v1 semantics, so every
// message stored in JetStream reads back the same), through the JSON v2 engine: one pass
// over the body instead of a validating scan and then a decoding one. Every projector
// decodes every event, so this was ~12% of the CPU under command load (issue 10).
var wireDecoding = jsonv1.DefaultOptionsV1()

// Link is what a forwarded event's headers say of it: its position, the position of
// the event before it in the global log, and its partition with the chain within it.
type Link struct {
	Position eventstore.Position
	Previous eventstore.Position
	Part     PartitionLink
}

// Decode reads a forwarded event from a message's headers and body (a jetstream.Msg
// gives them as Headers() and Data(), a stored message as Header and Data).
func Decode(h nats.Header, body []byte) (Envelope, error) {
	link, err := DecodeLink(h)
	if err != nil {
		return Envelope{}, err
	}
	ev, err := DecodeEvent(body, link.Position)
	if err != nil {
		return Envelope{}, err
	}
	return Envelope{Event: ev, Previous: link.Previous, Part: link.Part}, nil
}

// DecodeLink reads a forwarded event's headers only: cheap next to its body, which a
// process whose read models all receive the same message decodes once (DecodeEvent).
func DecodeLink(h nats.Header) (Link, error) {
	posHdr, prevHdr := h.Get(HeaderPosition), h.Get(HeaderPreviousPosition)
	if posHdr == "" || prevHdr == "" {
		return Link{}, fmt.Errorf("%w: missing %s or %s header", ErrNotAnEvent, HeaderPosition, HeaderPreviousPosition)
	}
	pos, err := eventstore.ParsePosition(posHdr)
	if err != nil {
		return Link{}, fmt.Errorf("%w: %w", ErrNotAnEvent, err)
	}
	prev, err := eventstore.ParsePosition(prevHdr)
	if err != nil {
		return Link{}, fmt.Errorf("%w: %w", ErrNotAnEvent, err)
	}
	part, err := decodePartition(h, prev)
	if err != nil {
		return Link{}, fmt.Errorf("%w: at %s: %w", ErrNotAnEvent, pos, err)
	}
	return Link{Position: pos, Previous: prev, Part: part}, nil
}

// DecodeEvent reads the body of the forwarded event whose headers say it is at pos; a
// body of another position is not that event.
func DecodeEvent(body []byte, pos eventstore.Position) (eventstore.RecordedEvent, error) {
	var w wireEvent
	if err := jsonv2.Unmarshal(body, &w, wireDecoding); err != nil {
		return eventstore.RecordedEvent{}, fmt.Errorf("%w: body at %s: %w", ErrNotAnEvent, pos, err)
	}
	if w.Position != pos {
		return eventstore.RecordedEvent{}, fmt.Errorf("%w: body position %s, header %s", ErrNotAnEvent, w.Position, pos)
	}
	ev := eventstore.RecordedEvent{ID: w.ID, Stream: w.Stream, Revision: w.Revision, Position: w.Position,
		Type: w.Type, Data: []byte(w.Data), Metadata: []byte(w.Metadata), RecordedAt: w.RecordedAt}
	if w.DataBytes != nil {
		ev.Data = w.DataBytes
	}
	if w.MetadataBytes != nil {
		ev.Metadata = w.MetadataBytes
	}
	return ev, nil
}

// decodePartition reads the partition headers; a message forwarded before partitions
// existed has none and is partition 0 of 1, whose chain is the global one.
func decodePartition(h nats.Header, prev eventstore.Position) (PartitionLink, error) {
	raw := h.Get(HeaderPartition)
	if raw == "" {
		raw = h.Get(legacyHeaderPartition)
	}
	if raw == "" {
		return PartitionLink{Partition: 0, Of: 1, Previous: prev}, nil
	}
	k, n, ok := strings.Cut(raw, "/")
	part, err1 := strconv.Atoi(k)
	of, err2 := strconv.Atoi(n)
	if !ok || err1 != nil || err2 != nil || of < 1 || part < 0 || part >= of {
		return PartitionLink{}, fmt.Errorf("%s %q: want <k>/<n> with 0 <= k < n", HeaderPartition, raw)
	}
	pp, err := eventstore.ParsePosition(h.Get(HeaderPartitionPrevious))
	if err != nil {
		return PartitionLink{}, fmt.Errorf("%s: %w", HeaderPartitionPrevious, err)
	}
	heads, err := partition.ParseHeads(h.Get(HeaderPartitionHeads), of)
	if err != nil {
		return PartitionLink{}, fmt.Errorf("%s: %w", HeaderPartitionHeads, err)
	}
	return PartitionLink{Partition: part, Of: of, Previous: pp, Heads: heads}, nil
}
