package transparency

import (
	"fmt"

	"golang.org/x/mod/sumdb/tlog"

	"ledger/infra/eventstore"
)

// LeafBytes is what the tree commits to for one event: every stored byte that an
// auditor reads (stream, revision, event ID, type, data and metadata, which holds the
// chain hash), each length-prefixed so that no two different events give the same
// bytes. The position is not in it: the leaf's index in the tree is its place.
//
//	benefits-event-v1\n
//	<len>:<stream>\n <len>:<revision>\n <len>:<event id>\n <len>:<type>\n
//	<len>:<data>\n <len>:<metadata>\n
//
// (without the spaces). An auditor recomputes it from an exported or history record.
func LeafBytes(e eventstore.RecordedEvent) []byte {
	b := make([]byte, 0, 64+len(e.Stream)+len(e.ID)+len(e.Type)+len(e.Data)+len(e.Metadata))
	b = append(b, "benefits-event-v1\n"...)
	for _, part := range [][]byte{[]byte(e.Stream), fmt.Appendf(nil, "%d", e.Revision), []byte(e.ID), []byte(e.Type), e.Data, e.Metadata} {
		b = fmt.Appendf(b, "%d:", len(part))
		b = append(b, part...)
		b = append(b, '\n')
	}
	return b
}

// LeafHash is the RFC 6962 leaf hash of the event: SHA-256(0x00 || LeafBytes).
func LeafHash(e eventstore.RecordedEvent) tlog.Hash { return tlog.RecordHash(LeafBytes(e)) }
