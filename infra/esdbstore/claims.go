package esdbstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"ledger/infra/eventstore"
)

// Event-id claims: the contract refuses an event id that is already stored by another
// append, and the ledger relies on it (the NATS forwarder deduplicates by event id, so
// a second event with a stored id would silently never reach a projection). EventStoreDB
// does not refuse that: it checks ids only within the target stream, against its
// expected version (IndexWriter.CheckCommit), and writes an id that lives in another
// stream. No multi-stream transaction exists in the v4 protocol either.
//
// So before the append every event id is claimed for the target stream in a stream of
// its own, claimStreamPrefix+id, with expected version no-stream. The claim event's id is
// derived from (event id, target stream), which makes EventStoreDB itself answer:
//   - first claim: written;
//   - the same id for the same stream again (an idempotent retry, or a retry after a
//     crash between claim and append): idempotent success, the append goes on and the
//     server decides about the events as usual;
//   - the same id for another stream: wrong expected version, i.e. ErrDuplicateEventID,
//     before anything is written to the target stream.
//
// Claims are $-typed, so $all readers here and the server-side system-event filter skip
// them. Cost: one extra write per event. A claim left by an append that then failed
// reserves its id for that stream; ids are fresh UUIDs, so nothing else ever wants it.
const (
	claimStreamPrefix = "eventid-"
	claimEventType    = "$eventIdClaimed"
	claimConcurrency  = 16
)

var claimNamespace = uuid.MustParse("0f3b8c4e-5a57-4c1e-9a55-7f1f8c4c2d11")

type claim struct {
	Stream string `json:"stream"`
}

// claimIDs claims every event id of an append for stream, concurrently.
func (s *Store) claimIDs(ctx context.Context, stream string, events []esdb.EventData) error {
	errs := make([]error, len(events))
	limit := make(chan struct{}, claimConcurrency)
	var wg sync.WaitGroup
	for i, e := range events {
		limit <- struct{}{}
		wg.Go(func() {
			defer func() { <-limit }()
			errs[i] = s.claimID(ctx, stream, e.EventID)
		})
	}
	wg.Wait()
	for _, err := range errs {
		if errors.Is(err, eventstore.ErrDuplicateEventID) {
			return err
		}
	}
	return errors.Join(errs...)
}

func (s *Store) claimID(ctx context.Context, stream string, id uuid.UUID) error {
	data, err := json.Marshal(claim{Stream: stream})
	if err != nil {
		return fmt.Errorf("claim event id %s: %w", id, err)
	}
	_, err = s.client.AppendToStream(ctx, claimStreamPrefix+id.String(), esdb.AppendToStreamOptions{ExpectedRevision: esdb.NoStream{}}, esdb.EventData{
		EventID:     uuid.NewSHA1(claimNamespace, []byte(id.String()+"\x00"+stream)),
		EventType:   claimEventType,
		ContentType: esdb.ContentTypeJson,
		Data:        data,
	})
	var esErr *esdb.Error
	if errors.As(err, &esErr) && esErr.Code() == esdb.ErrorCodeWrongExpectedVersion {
		return fmt.Errorf("append to %s: event id %s is already stored in another stream: %w", stream, id, eventstore.ErrDuplicateEventID)
	}
	if err != nil {
		return fmt.Errorf("claim event id %s: %w", id, classify(ctx, err))
	}
	return nil
}

// reservedStream tells the streams an append may not write to: the server's own and the
// claims above.
func reservedStream(stream string) bool {
	return strings.HasPrefix(stream, "$") || strings.HasPrefix(stream, claimStreamPrefix)
}
