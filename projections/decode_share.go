package projections

import (
	"context"
	"sync"

	"ledger/domain"
	"ledger/infra/eventstore"
	"ledger/infra/natsbus"
)

// sharedDecodes decodes each forwarded event once per process for all its read models.
// Every read model has its own consumer, so each event arrives here once per read
// model; decoding its body and then its domain event (personal data opened included)
// five times was ~10% of the server's CPU under command load (issue 10). The first
// worker to receive an event decodes its body, the first read model to fold it decodes
// the domain event; the others take both from here. Entries are keyed by position, which
// names one event for good (the log is never rewritten), and the last sharedDecodesSize
// events are kept: a read model lagging further behind decodes for itself.
//
// Entries hold plaintext personal data: forget drops them all, as an erasure must.
type sharedDecodes struct {
	mu    sync.Mutex
	byPos map[eventstore.Position]*sharedEvent
	ring  []eventstore.Position // the kept positions, oldest at next once full
	next  int
}

// sharedDecodesSize bounds the events kept: several batches of every read model (a
// chunk is at most 500 events) at the rates a process sustains, a few MB.
const sharedDecodesSize = 4096

// sharedEvent is one event as decoded once for every read model. Neither the recorded
// event nor the domain event is changed by anyone after it is decoded: read models only
// read events.
type sharedEvent struct {
	rec   eventstore.RecordedEvent
	once  sync.Once
	event domain.Event
	err   error
}

func newSharedDecodes() *sharedDecodes {
	return &sharedDecodes{byPos: make(map[eventstore.Position]*sharedEvent, sharedDecodesSize),
		ring: make([]eventstore.Position, 0, sharedDecodesSize)}
}

// recorded is the event whose body is body and whose headers put it at pos: decoded
// here unless another read model's worker already did.
func (s *sharedDecodes) recorded(pos eventstore.Position, body []byte) (eventstore.RecordedEvent, error) {
	s.mu.Lock()
	e := s.byPos[pos]
	s.mu.Unlock()
	if e != nil {
		return e.rec, nil
	}
	rec, err := natsbus.DecodeEvent(body, pos)
	if err != nil {
		return rec, err // not kept: the next worker reports the same damage itself
	}
	s.keep(&sharedEvent{rec: rec})
	return rec, nil
}

// keep adds e unless a worker decoding the same event at the same time kept it first,
// evicting the oldest entry when full.
func (s *sharedDecodes) keep(e *sharedEvent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	pos := e.rec.Position
	if _, ok := s.byPos[pos]; ok {
		return
	}
	if len(s.ring) < sharedDecodesSize {
		s.ring = append(s.ring, pos)
	} else {
		delete(s.byPos, s.ring[s.next])
		s.ring[s.next] = pos
		s.next = (s.next + 1) % sharedDecodesSize
	}
	s.byPos[pos] = e
}

// domainEvent is rec as a domain event: decoded once for every read model while rec is
// kept (an error too: each read model that wants rec then dead-letters it), else here.
func (s *sharedDecodes) domainEvent(rec eventstore.RecordedEvent) (domain.Event, error) {
	s.mu.Lock()
	e := s.byPos[rec.Position]
	s.mu.Unlock()
	if e == nil || e.rec.ID != rec.ID {
		return domain.Decode(rec.Type, rec.Data)
	}
	e.once.Do(func() { e.event, e.err = domain.Decode(e.rec.Type, e.rec.Data) })
	return e.event, e.err
}

// forget drops every kept event: after an erasure no decoded plaintext may outlive the
// key, and events decoded from now on read the subject as erased.
func (s *sharedDecodes) forget() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.byPos)
	s.ring, s.next = s.ring[:0], 0
}

type sharedDecodesKey struct{}

// withSharedDecodes lets the read models' Apply under ctx take their domain events from
// s (the runner's live batches; a rebuild reads the store and decodes for itself).
func withSharedDecodes(ctx context.Context, s *sharedDecodes) context.Context {
	return context.WithValue(ctx, sharedDecodesKey{}, s)
}

// decodeEvent is rec as a domain event, shared with the process's other read models
// when ctx carries the runner's sharedDecodes.
func decodeEvent(ctx context.Context, rec eventstore.RecordedEvent) (domain.Event, error) {
	if s, ok := ctx.Value(sharedDecodesKey{}).(*sharedDecodes); ok {
		return s.domainEvent(rec)
	}
	return domain.Decode(rec.Type, rec.Data)
}
