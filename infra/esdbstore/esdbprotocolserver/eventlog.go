package esdbprotocolserver

import (
	"encoding/json"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
)

// Expected-version sentinels as EventStoreDB's core encodes them; exact revisions are >= 0.
const (
	expectNoStream     int64 = -1
	expectAny          int64 = -2
	expectStreamExists int64 = -4
)

// record is one event in the log. Records are never changed once appended, so a
// snapshot of the slice can be read without the lock.
type record struct {
	id             uuid.UUID
	stream         string
	revision       uint64
	position       uint64 // commit == prepare: the record's offset in the transaction log
	eventType      string
	contentType    string
	createdTicks   int64 // .NET ticks (100 ns) since the Unix epoch, as the server writes them
	data           []byte
	customMetadata []byte
}

// proposal is an event an Append asks to write.
type proposal struct {
	id             uuid.UUID
	eventType      string
	contentType    string
	data           []byte
	customMetadata []byte
}

// appendOutcome is what the core tells the gRPC layer about one append.
type appendOutcome struct {
	deleted              bool // tombstoned, or soft-deleted and expected to exist: StreamDeleted
	wrongExpectedVersion bool
	currentRevision      int64   // last revision of the stream after the append; -1 for no stream
	last                 *record // last event written or matched idempotently; nil if none
}

// eventLog is the in-memory transaction log: the $all order, a per-stream index and the
// event-id index EventStoreDB uses for idempotent appends.
type eventLog struct {
	mu      sync.RWMutex
	records []*record
	streams map[string][]*record
	byID    map[uuid.UUID]*record
	// tombstones holds the $streamDeleted record of every hard-deleted stream.
	tombstones map[string]*record
	next       uint64        // log position of the next record
	changed    chan struct{} // closed and replaced on every write, to wake subscriptions
	now        func() time.Time
}

// firstUserPosition leaves room before the first record, as a real log starts with its
// chunk header and epoch records; position 0 must never name an event.
const firstUserPosition = 1024

func newEventLog() *eventLog {
	return &eventLog{
		streams:    map[string][]*record{},
		byID:       map[uuid.UUID]*record{},
		tombstones: map[string]*record{},
		next:       firstUserPosition,
		changed:    make(chan struct{}),
		now:        time.Now,
	}
}

// append checks the expected version and the event ids exactly as EventStoreDB's
// IndexWriter.CheckCommit does, then writes the events or answers idempotently. Writing
// to a soft-deleted stream re-creates it at its next revision, as the node's
// StorageWriterService does (SoftUndeleteStream: $tb moves to the first new revision).
func (l *eventLog) append(stream string, expected int64, events []proposal) appendOutcome {
	l.mu.Lock()
	defer l.mu.Unlock()
	current := l.lastRevision(stream)
	decision, last := l.checkCommit(stream, expected, current, events)
	switch decision {
	case commitDeleted:
		return appendOutcome{deleted: true, currentRevision: current}
	case commitWrongExpectedVersion:
		return appendOutcome{wrongExpectedVersion: true, currentRevision: current}
	case commitIdempotent:
		return appendOutcome{currentRevision: int64(last.revision), last: last}
	}
	if len(events) == 0 {
		return appendOutcome{currentRevision: current}
	}
	undeleteMetastream := isMetastream(stream) && l.metadata(strings.TrimPrefix(stream, metastreamPrefix)).softDeleted()
	undelete := l.metadata(stream).softDeleted()
	last = l.write(stream, uint64(current+1), events)
	if undelete {
		l.softUndelete(stream, current+1)
	}
	if undeleteMetastream {
		original := strings.TrimPrefix(stream, metastreamPrefix)
		l.softUndelete(original, l.lastRevision(original)+1)
	}
	l.wake()
	return appendOutcome{currentRevision: int64(last.revision), last: last}
}

// write appends events to stream from revision first on; the caller holds the lock
// and wakes subscriptions.
func (l *eventLog) write(stream string, first uint64, events []proposal) *record {
	ticks := l.now().UnixNano() / 100
	var last *record
	for i, e := range events {
		last = &record{
			id: e.id, stream: stream, revision: first + uint64(i), position: l.next,
			eventType: e.eventType, contentType: e.contentType, createdTicks: ticks,
			data: e.data, customMetadata: e.customMetadata,
		}
		l.next += recordSize(last)
		l.records = append(l.records, last)
		l.streams[stream] = append(l.streams[stream], last)
		l.byID[e.id] = last
	}
	return last
}

func (l *eventLog) wake() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// writeMetadata appends raw as stream's new metadata.
func (l *eventLog) writeMetadata(stream string, raw map[string]any) *record {
	data, _ := json.Marshal(raw) // a map of JSON values always marshals
	meta := metastreamOf(stream)
	return l.write(meta, uint64(l.lastRevision(meta)+1), []proposal{{
		id: uuid.New(), eventType: metadataEventType, contentType: "application/json", data: data, customMetadata: []byte{},
	}})
}

// softUndelete keeps stream's metadata but sets $tb to recreateFrom: the events before
// stay hidden, the stream reads again from its next revision.
func (l *eventLog) softUndelete(stream string, recreateFrom int64) {
	raw := l.rawMetadata(stream)
	raw["$tb"] = recreateFrom
	l.writeMetadata(stream, raw)
}

// delete is the node's Delete (soft: the metadata becomes {"$tb": DeletedStream}, so
// reads answer StreamNotFound until the next append re-creates the stream) and
// Tombstone (hard: a $streamDeleted record at revision DeletedStream; reads and appends
// answer StreamDeleted for good). Both check expected like an append with no events.
func (l *eventLog) delete(stream string, expected int64, hard bool) appendOutcome {
	l.mu.Lock()
	defer l.mu.Unlock()
	current := l.lastRevision(stream)
	switch decision, _ := l.checkCommit(stream, expected, current, nil); decision {
	case commitDeleted:
		return appendOutcome{deleted: true, currentRevision: current}
	case commitWrongExpectedVersion:
		return appendOutcome{wrongExpectedVersion: true, currentRevision: current}
	}
	var last *record
	if hard {
		last = &record{
			id: uuid.New(), stream: stream, revision: uint64(deletedStream), position: l.next,
			eventType: tombstoneType, contentType: "application/octet-stream", createdTicks: l.now().UnixNano() / 100,
			data: []byte{}, customMetadata: []byte{},
		}
		l.next += recordSize(last)
		l.records = append(l.records, last)
		l.tombstones[stream] = last
	} else {
		last = l.writeMetadata(stream, map[string]any{"$tb": deletedStream})
	}
	l.wake()
	return appendOutcome{currentRevision: current, last: last}
}

// readable is what a stream read may return: the visible events (a suffix of the
// stream), or that the stream is deleted (tombstoned) or not found (never written, or
// soft-deleted).
func (l *eventLog) readable(stream string) (visible []*record, deleted, found bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.tombstones[stream] != nil {
		return nil, true, false
	}
	events := l.streams[stream]
	meta := l.metadata(stream)
	if len(events) == 0 || meta.softDeleted() {
		return nil, false, false
	}
	return events[meta.firstVisible(events, l.now()):], false, true
}

// recordSize makes positions grow like byte offsets in a real log, so that clients
// cannot get away with assuming consecutive positions.
func recordSize(r *record) uint64 {
	return uint64(96 + len(r.stream) + len(r.eventType) + len(r.data) + len(r.customMetadata))
}

type commitDecision int

const (
	commitWrite commitDecision = iota
	commitIdempotent
	commitWrongExpectedVersion // also EventStoreDB's "corrupted idempotency"
	commitDeleted              // tombstoned, or soft-deleted and expected to exist
)

func (l *eventLog) checkCommit(stream string, expected, current int64, events []proposal) (commitDecision, *record) {
	if l.tombstones[stream] != nil {
		return commitDeleted, nil
	}
	softDeleted := l.metadata(stream).softDeleted()
	if expected == expectStreamExists {
		if softDeleted {
			return commitDeleted, nil
		}
		// A stream with metadata only exists for the node: the append goes on.
		if current < 0 && len(l.streams[metastreamOf(stream)]) == 0 {
			return commitWrongExpectedVersion, nil
		}
	}
	if expected == expectAny || expected == expectStreamExists {
		// Idempotent only if every id is already in this stream; a first id that is
		// unknown (or in another stream) means a new write, a later one corruption.
		var last *record
		for i, e := range events {
			r, ok := l.byID[e.id]
			if !ok || r.stream != stream {
				if i == 0 {
					return commitWrite, nil
				}
				return commitWrongExpectedVersion, nil
			}
			last = r
		}
		if last == nil {
			return commitWrite, nil
		}
		return commitIdempotent, last
	}
	if expected < current {
		// The stream moved on: idempotent if the events after expected are these ids.
		existing := l.streams[stream]
		next := expected
		for _, e := range events {
			next++
			if next > current || existing[next].id != e.id {
				if next == expected+1 && expected == expectNoStream && softDeleted {
					return commitWrite, nil // re-creates the soft-deleted stream
				}
				return commitWrongExpectedVersion, nil
			}
		}
		if next == expected {
			return commitWrongExpectedVersion, nil
		}
		return commitIdempotent, existing[next]
	}
	if expected > current {
		return commitWrongExpectedVersion, nil
	}
	return commitWrite, nil
}

func (l *eventLog) lastRevision(stream string) int64 {
	return int64(len(l.streams[stream])) - 1
}

// stream returns a snapshot of one stream's events; ok is false if it does not exist.
func (l *eventLog) stream(name string) (events []*record, ok bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	events, ok = l.streams[name]
	return events, ok
}

// all returns a snapshot of the whole log and the channel that closes on the next write.
func (l *eventLog) all() ([]*record, <-chan struct{}) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.records, l.changed
}

// streamAndChanges is stream plus the channel that closes on the next write.
func (l *eventLog) streamAndChanges(name string) ([]*record, <-chan struct{}) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.streams[name], l.changed
}

// indexAtOrAfter is the index of the first record at or after position.
func indexAtOrAfter(records []*record, position uint64) int {
	return sort.Search(len(records), func(i int) bool { return records[i].position >= position })
}
