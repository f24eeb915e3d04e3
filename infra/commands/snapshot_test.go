package commands

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"ledger/domain"
)

// TestSnapshotFormatIsWhatEncodingJSONWrote: snapshots are written and read through the
// JSON v2 engine, streaming the incident log, yet the bytes are those encoding/json
// wrote before, so snapshots stored by earlier builds stay valid at the same
// PartnerSnapshotVersion; and an earlier build's snapshot reads back as the same state.
func TestSnapshotFormatIsWhatEncodingJSONWrote(t *testing.T) {
	store := stores(t)["sqlite"](t)
	ctx := context.Background()
	at := now
	x := New(store, WithClock(func() time.Time { return at }), WithIDs(fixedIDs{}), WithSnapshotEvery(0))
	rng := rand.New(rand.NewPCG(3, 5))
	const mpn = "5200001"
	for range 300 { // incidents over several leaves of the log, closes, users, contracts
		at = at.Add(time.Hour)
		st, _, err := x.LoadPartner(ctx, mpn)
		if err != nil {
			t.Fatal(err)
		}
		cmd := propertyCommand(rng, mpn, st, at)
		_, _ = x.Partner(ctx, mpn, cmd, Meta{Actor: cmd.(domain.PartnerCommand).Actor()})
	}
	st, err := x.current(ctx, domain.PartnerStream(mpn))
	if err != nil {
		t.Fatal(err)
	}
	if st.partner.IncidentLog.Len() < 20 || len(st.partner.UserByID) < 2 {
		t.Fatalf("the walk built too small a state: %d incidents, %d users", st.partner.IncidentLog.Len(), len(st.partner.UserByID))
	}
	got, err := encodeSnapshot(st)
	if err != nil {
		t.Fatal(err)
	}
	before, err := json.Marshal(snapshotData{Position: st.position, LastHash: st.lastHash, Partner: st.partner})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, before) {
		t.Fatalf("the snapshot's bytes changed:\nnow    %.300s\nbefore %.300s", got, before)
	}
	var read snapshotData
	if err := json.Unmarshal(before, &read); err != nil {
		t.Fatal(err)
	}
	readNow, err := decodeSnapshot(before)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(readNow, read) || !reflect.DeepEqual(readNow.Partner, st.partner) {
		t.Fatal("an earlier build's snapshot reads back as another state")
	}
}
