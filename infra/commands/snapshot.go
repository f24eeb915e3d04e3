package commands

import (
	"context"
	"fmt"

	jsonv2 "github.com/go-json-experiment/json"
	jsonv1 "github.com/go-json-experiment/json/v1"

	"ledger/domain"
	"ledger/infra/eventstore"
)

// snapshotData is what a partner snapshot holds besides its revision: enough to go on
// deciding and sealing without reading the stream's earlier events.
type snapshotData struct {
	Position eventstore.Position `json:"position"`
	LastHash string              `json:"lastHash"`
	Partner  domain.Partner      `json:"partner"`
	// Keys is the window of idempotency keys (idempotency.go); a snapshot written before
	// keys existed has none, and no event before it carries one.
	Keys []keptKey `json:"idempotencyKeys,omitempty"`
}

// fromSnapshot is the state the stream's snapshot holds, or the empty state when there
// is none or it is of another version (made by code that shaped or folded the state
// differently: it is ignored, never trusted) or unreadable.
func (x *Executor) fromSnapshot(ctx context.Context, stream string) streamState {
	empty := newStream()
	if x.snapshots == nil {
		return empty
	}
	snap, found, err := x.snapshots.LoadSnapshot(ctx, stream)
	switch {
	case err != nil:
		x.log.Warn("snapshot not loaded; folding the stream from its first event", "stream", stream, "err", err)
		return empty
	case !found:
		return empty
	case snap.Version != domain.PartnerSnapshotVersion:
		x.log.Debug("snapshot of another state version ignored", "stream", stream, "version", snap.Version, "want", domain.PartnerSnapshotVersion)
		return empty
	}
	data, err := decodeSnapshot(snap.Data)
	if err != nil {
		x.log.Warn("snapshot unreadable; folding the stream from its first event", "stream", stream, "err", err)
		return empty
	}
	head := streamHead{exists: true, revision: snap.Revision, position: data.Position, lastHash: data.LastHash}
	return streamState{streamHead: head, partner: data.Partner, snapshotNext: snap.Revision + 1, keys: keysOf(data.Keys)}
}

// snapshotDue reports whether st has grown by snapshotEvery events since the last
// snapshot known to be stored, or by a tenth of its history if that is more: a
// snapshot's size grows with the history (an incident in a few bytes, open or closed:
// 50,000 incidents are ~100-150 KB of JSON, not the ~18 MB they were whole), so
// spacing them in proportion keeps the encoding work per command flat.
func (x *Executor) snapshotDue(st streamState) bool {
	if x.snapshots == nil || x.snapshotEvery <= 0 || !st.exists {
		return false
	}
	return st.next()-st.snapshotNext >= max(uint64(x.snapshotEvery), st.snapshotNext/10)
}

// snapshotIfDue saves st as the stream's snapshot in the background when it is due and
// none of the stream is being saved: encoding a long history takes a while, and the
// stream's next commands need not wait for it (st is a value nothing changes).
func (x *Executor) snapshotIfDue(stream string, st streamState) {
	if !x.snapshotDue(st) {
		return
	}
	x.queuesMu.Lock()
	busy := x.snapshotting[stream]
	x.snapshotting[stream] = true
	x.queuesMu.Unlock()
	if busy {
		return
	}
	x.background.Go(func() {
		defer func() {
			x.queuesMu.Lock()
			delete(x.snapshotting, stream)
			x.queuesMu.Unlock()
		}()
		x.saveSnapshot(context.Background(), stream, st)
	})
}

// saveSnapshot stores st as the stream's snapshot. A failure only costs a longer cold
// start, so it is logged, not returned.
func (x *Executor) saveSnapshot(ctx context.Context, stream string, st streamState) {
	x.snapshotGate.RLock()
	defer x.snapshotGate.RUnlock()
	if st.epoch != x.states.current() {
		return // read before ForgetStates: it may hold what was to be forgotten
	}
	if err := x.writeSnapshot(ctx, stream, st); err != nil {
		x.log.Warn("snapshot not saved", "stream", stream, "revision", st.revision, "err", err)
		return
	}
	st.snapshotNext = st.next()
	x.states.put(stream, st)
}

func (x *Executor) writeSnapshot(ctx context.Context, stream string, st streamState) error {
	data, err := encodeSnapshot(st)
	if err != nil {
		return err
	}
	return x.snapshots.SaveSnapshot(ctx, eventstore.Snapshot{Stream: stream, Revision: st.revision, Version: domain.PartnerSnapshotVersion, Data: data})
}

// snapshotJSON encodes and decodes snapshots exactly as encoding/json did (same bytes,
// so snapshots stored before stay readable and the version need not change), through the
// JSON v2 engine: it streams the incident log (domain.IncidentLog.MarshalJSONTo) instead
// of copying it into a list and scanning the encoded list again, which was most of the
// work of a snapshot on a hot partner.
var snapshotJSON = jsonv1.DefaultOptionsV1()

func encodeSnapshot(st streamState) ([]byte, error) {
	data, err := jsonv2.Marshal(snapshotData{Position: st.position, LastHash: st.lastHash, Partner: st.partner, Keys: st.keys.list()}, snapshotJSON)
	if err != nil {
		return nil, fmt.Errorf("encode the state: %w", err)
	}
	return data, nil
}

func decodeSnapshot(b []byte) (snapshotData, error) {
	var data snapshotData
	if err := jsonv2.Unmarshal(b, &data, snapshotJSON); err != nil {
		return snapshotData{}, fmt.Errorf("decode the state: %w", err)
	}
	return data, nil
}
