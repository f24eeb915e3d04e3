package privacy

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"ledger/infra/sqldb"
	"ledger/infra/testkit"
)

// blockLookupsOf holds every SELECT of the key table that names ref until release is
// closed, telling started when the first one is held.
type blockLookupsOf struct {
	ref     string
	started chan struct{}
	release chan struct{}
	once    sync.Once
}

func (h *blockLookupsOf) BeforeQuery(ctx context.Context, e *bun.QueryEvent) context.Context {
	if strings.HasPrefix(strings.TrimSpace(e.Query), "SELECT") && strings.Contains(e.Query, h.ref) {
		h.once.Do(func() { close(h.started) })
		<-h.release
	}
	return ctx
}

func (*blockLookupsOf) AfterQuery(context.Context, *bun.QueryEvent) {}

// TestASlowKeyLookupDoesNotStallDecodersOfOtherSubjects: while one reference's key is
// being read from the database (a cache miss), opening values of another subject whose
// key is cached does not wait for that query: decoders are not serialised on a miss.
func TestASlowKeyLookupDoesNotStallDecodersOfOtherSubjects(t *testing.T) {
	ctx := context.Background()
	db, err := sqldb.OpenSQLite(ctx, filepath.Join(t.TempDir(), "keys.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	writer, err := OpenKeys(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	slow, err := writer.keyFor(ctx, "slow.subject@contoso.example")
	if err != nil {
		t.Fatal(err)
	}
	reader, err := OpenKeys(ctx, db) // another process: nothing cached yet
	if err != nil {
		t.Fatal(err)
	}
	cached, err := reader.keyFor(ctx, "cached.subject@contoso.example")
	if err != nil {
		t.Fatal(err)
	}
	hook := &blockLookupsOf{ref: slow.ref, started: make(chan struct{}), release: make(chan struct{})}
	db.AddQueryHook(hook)

	slowDone := make(chan error, 1)
	go func() { _, _, err := reader.keyOf(ctx, slow.ref); slowDone <- err }()
	<-hook.started
	cachedDone := make(chan error, 1)
	go func() { _, _, err := reader.keyOf(ctx, cached.ref); cachedDone <- err }()
	select {
	case err := <-cachedDone:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(testkit.HangBound): // a bound for a hang, not a speed: the cached key needs no query at all
		t.Error("opening a cached subject waited for another subject's key query")
	}
	close(hook.release)
	if err := <-slowDone; err != nil {
		t.Fatal(err)
	}
}
