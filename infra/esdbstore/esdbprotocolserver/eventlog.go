package esdbprotocolserver

import (
	"sort"
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
	next    uint64        // log position of the next record
	changed chan struct{} // closed and replaced on every write, to wake subscriptions
	now     func() time.Time
}

// firstUserPosition leaves room before the first record, as a real log starts with its
// chunk header and epoch records; position 0 must never name an event.
const firstUserPosition = 1024

func newEventLog() *eventLog {
	return &eventLog{
		streams: map[string][]*record{},
		byID:    map[uuid.UUID]*record{},
		next:    firstUserPosition,
		changed: make(chan struct{}),
		now:     time.Now,
	}
}

// append checks the expected version and the event ids exactly as EventStoreDB's
// IndexWriter.CheckCommit does, then writes the events or answers idempotently.
func (l *eventLog) append(stream string, expected int64, events []proposal) appendOutcome {
	l.mu.Lock()
	defer l.mu.Unlock()
	current := l.lastRevision(stream)
	switch decision, last := l.checkCommit(stream, expected, current, events); decision {
	case commitWrongExpectedVersion:
		return appendOutcome{wrongExpectedVersion: true, currentRevision: current}
	case commitIdempotent:
		return appendOutcome{currentRevision: int64(last.revision), last: last}
	}
	if len(events) == 0 {
		return appendOutcome{currentRevision: current}
	}
	ticks := l.now().UnixNano() / 100
	var last *record
	for i, e := range events {
		last = &record{
			id: e.id, stream: stream, revision: uint64(current + 1 + int64(i)), position: l.next,
			eventType: e.eventType, contentType: e.contentType, createdTicks: ticks,
			data: e.data, customMetadata: e.customMetadata,
		}
		l.next += recordSize(last)
		l.records = append(l.records, last)
		l.streams[stream] = append(l.streams[stream], last)
		l.byID[e.id] = last
	}
	close(l.changed)
	l.changed = make(chan struct{})
	return appendOutcome{currentRevision: int64(last.revision), last: last}
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
)

func (l *eventLog) checkCommit(stream string, expected, current int64, events []proposal) (commitDecision, *record) {
	if expected == expectStreamExists && current < 0 {
		return commitWrongExpectedVersion, nil
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
